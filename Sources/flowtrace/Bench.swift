// flowtrace bench: each trace into each backend, in process: throughput, latency percentiles,
// peak memory, tcam entry moves. Each (trace, backend) pair runs in a process of its own by
// default, so getrusage's peak resident size is that backend's and not the largest so far.

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import Replay
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark backends by replaying traces into them: throughput, latency percentiles, memory.",
        discussion: """
            Every run starts from the trace's starting state in a fresh daemon core, at top speed,
            with the trace preloaded. A warm-up run is not counted. Runs verify too: the table's
            last column counts answers that differ from the recorded ones.

            --lookups PACKETS asks instead which flow each packet hits: the flows the trace leaves
            installed (or --acl-rules N, an acl-like rule set of N flows in ingress_acl) go into
            every backend, then every packet is looked up in every table holding flows, through the
            same call and clock for each; lookups/s per backend (tss: its tuple count) and a check
            that all backends chose the same flow (a disagreement prints the packet and both flows,
            exit status 1). PACKETS: `derived` (one packet matching each flow, plus random misses),
            a ClassBench trace file (src_ip dst_ip sport dport proto [flags] [filter#], decimal) or
            a pcap/pcapng capture of Ethernet frames (headers parsed).

            --update-cost measures updates in the literature's terms instead: per backend at each
            of --sizes flows (acl-like rules), inserts/s and deletes/s, TCAM entry moves per
            insert and delete, tss tuples, backend bytes per flow.

            Examples:
              flowtrace bench t.pcapng
              flowtrace bench a.pcapng b.pcapng --backends hash,tcam --runs 10 --json bench.json --svg bench.svg
              flowtrace bench t.pcapng --lookups derived
              flowtrace bench --acl-rules 10000 --lookups derived --backends tss,tcam
              flowtrace bench t.pcapng --lookups acl1_trace
              flowtrace bench --update-cost --sizes 1000,10000,100000
            """)

    @Argument(help: "Trace files, gzip-compressed or not ('-' for stdin).")
    var positional: [String] = []

    @Option(
        name: .customShort("r"),
        help: ArgumentHelp("A trace file (repeatable; the same as the arguments).", valueName: "file"))
    var readFiles: [String] = []

    var files: [String] { readFiles + positional }

    @Option(help: "Backends, comma-separated.")
    var backends: String = "dummy,hash,tss,tcam"

    @Option(help: "Timed runs per trace and backend.")
    var runs: Int = 5

    @Option(help: "Warm-up runs (not counted).")
    var warmup: Int = 1

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Write an SVG chart (latency percentiles and throughput per backend) to this file.")
    var svg: String?

    @Option(help: "A model directory for devices the traces' snapshots do not describe.")
    var model: String?

    @Flag(help: "Run every backend in this process (peak memory is then the process's so far).")
    var noIsolate = false

    @Flag(help: .hidden)
    var worker = false

    @Option(
        help: ArgumentHelp(
            "Benchmark packet lookups: 'derived', a ClassBench trace file or a pcap/pcapng of Ethernet frames.",
            valueName: "packets"))
    var lookups: String?

    @Option(help: ArgumentHelp("With --lookups: an acl-like rule set of N flows instead of a trace's.", valueName: "n"))
    var aclRules: Int?

    @Option(
        help: ArgumentHelp(
            "With --lookups derived: random packets added to the one per flow (default: a quarter of the flows).",
            valueName: "n"))
    var misses: Int?

    @Option(help: ArgumentHelp("With --lookups: the device (ifindex) of a trace with several.", valueName: "ifindex"))
    var device: UInt32?

    @Flag(
        help:
            "Measure update cost (inserts/s, deletes/s, TCAM moves per update, tss tuples, bytes per flow) at --sizes.")
    var updateCost = false

    @Option(help: ArgumentHelp("With --update-cost: table sizes, comma-separated.", valueName: "n,n"))
    var sizes: String = "1000,10000,100000"

    @Option(
        help: ArgumentHelp("With --update-cost: updates (a delete and an insert) timed at each size.", valueName: "n"))
    var updates: Int = 2000

    @Option(help: "Seed of generated rules and packets.")
    var seed: UInt64 = 1

    @Option(help: .hidden)
    var progressDone: Int = 0

    @Option(help: .hidden)
    var progressTotal: Int = 0

    func run() throws {
        var kinds: [BackendKind] = []
        for name in backends.split(separator: ",") {
            guard let k = BackendKind(rawValue: String(name)) else {
                fail("unknown backend \(name): one of \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kinds.append(k)
        }
        if updateCost {
            runUpdateCost(kinds)
            return
        }
        if let lookups {
            runLookups(lookups, kinds)
            return
        }
        guard aclRules == nil else { fail("--acl-rules goes with --lookups") }
        guard !kinds.isEmpty, !files.isEmpty else { fail("bench needs a trace and a backend") }
        guard files.filter({ $0 == "-" }).count <= 1 else { fail("stdin ('-') can be given once") }
        // Each backend reads the trace again: stdin is read once, into a file.
        var files = self.files
        do { files = try files.map(TraceInput.rereadable) } catch { fail("\(error)") }
        guard (1...10_000).contains(runs), (0...1000).contains(warmup) else {
            fail("--runs takes 1 to 10000, --warmup 0 to 1000")
        }
        var options = BenchOptions()
        options.runs = runs
        options.warmup = warmup
        if let model {
            do { options.defaultModel = try ModelLoader.load(directory: model) } catch { fail("\(error)") }
        }
        let perPair = warmup + runs
        let total = progressTotal > 0 ? progressTotal : files.count * kinds.count * perPair
        let bar = ProgressBar(total: total, label: "bench")
        Interrupt.install()

        if worker {
            // One file, one backend: the result as JSON on stdout for the parent.
            guard files.count == 1, kinds.count == 1 else { fail("--worker takes one file and one backend") }
            // In a process group of its own (spawnWorker): its progress line must not stop it
            // on a terminal set to `stty tostop`.
            signal(SIGTTOU, SIG_IGN)
            var done = progressDone
            options.progress = {
                done += 1
                bar.update(done, note: "\(kinds[0].rawValue) \(files[0])")
            }
            let result = measure(files[0], kinds[0], options)
            var r = result
            r.isolated = true
            print(r.json.serialized(style: .compact))
            if Interrupt.requested { exitInterrupted() }
            return
        }

        var results: [BackendBench] = []
        var done = 0
        pairs: for f in files {
            for k in kinds {
                if Interrupt.requested { break pairs }
                if noIsolate {
                    options.progress = {
                        done += 1
                        bar.update(done, note: "\(k.rawValue) \(f)")
                    }
                    results.append(measure(f, k, options))
                } else {
                    var r = spawnWorker(file: f, backend: k, done: done, total: total)
                    r.file = TraceInput.displayName(f)  // the worker knows stdin's copy by its /proc path
                    results.append(r)
                    done += perPair
                    bar.update(done, note: "\(k.rawValue) \(f)")
                }
            }
        }
        bar.finish()
        if Interrupt.requested { results.removeAll { $0.runs == 0 } }
        // Interrupted: the runs each backend did (the fewest, when they differ).
        let runs = Interrupt.requested ? results.map(\.runs).min() ?? 0 : self.runs
        print(BenchReport.table(results, runs: runs, warmup: warmup))
        if Interrupt.requested { print("bench: \(Interrupt.reason): the table holds the runs done so far") }
        if let json {
            do { try FlowTableJSON.write(BenchReport.json(results, runs: runs, warmup: warmup), toFile: json) } catch {
                fail("\(error)")
            }
        }
        if let svg {
            let text = SVGChart.render(results, context: SVGChart.Context(runs: runs, warmup: warmup))
            do { try FlowTableJSON.writeText(text, toFile: svg) } catch { fail("\(error)") }
        }
        if Interrupt.requested { exitInterrupted() }
    }

    func measure(_ file: String, _ kind: BackendKind, _ options: BenchOptions) -> BackendBench {
        let source: PreloadedSource
        do { source = try PreloadedSource(path: file, filter: Replayer.backendRecords) } catch { fail("\(error)") }
        do { return try Bench.run(source, backend: kind, options: options) } catch { fail("\(file): \(error)") }
    }

    /// Runs `flowtrace bench --worker FILE --backends K` and reads its JSON line.
    func spawnWorker(file: String, backend: BackendKind, done: Int, total: Int) -> BackendBench {
        var args = [
            "flowtrace", "bench", "--worker", file, "--backends", backend.rawValue, "--runs", "\(runs)",
            "--warmup", "\(warmup)", "--progress-done", "\(done)", "--progress-total", "\(total)",
        ]
        if let model { args += ["--model", model] }
        let exe = selfExecutable()
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fail("pipe: \(Sys.errorText(errno))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // The worker in a process group of its own: Ctrl-C on the terminal reaches it once,
        // passed on by this process (Interrupt.child), not twice (a second SIGINT ends a job at once).
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        var pid = pid_t()
        let rc = posix_spawn(&pid, exe, &actions, &attr, &argv, environ)
        close(fds[1])
        // SIGINT here reaches the worker too, which then reports the runs it has done.
        if rc == 0 { Interrupt.child = pid }
        defer { Interrupt.child = 0 }
        guard rc == 0 else {
            close(fds[0])
            fail("cannot start \(exe): \(Sys.errorText(rc))")
        }
        let output = Sys.readToEnd(fds[0]).bytes ?? []
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        // 130: the worker was interrupted; its output holds the runs done.
        if exited && code == Interrupt.exitStatus { Interrupt.request() }
        guard exited, code == 0 || code == Interrupt.exitStatus else {
            fail(
                "the benchmark of \(backend.rawValue) on \(file) failed ("
                    + (exited ? "exit status \(code)" : "signal \(status & 0x7f)") + ")")
        }
        guard let value = try? FlowTableJSON.parse(bytes: output) else {
            fail("the benchmark of \(backend.rawValue) on \(file) printed no result")
        }
        return BackendBench(json: value)
    }

    /// This program's path, to start the workers.
    func selfExecutable() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 {
            buf[n] = 0
            return String(cString: buf)
        }
        return CommandLine.arguments.first ?? "flowtrace"
    }
}

extension FlowTableJSON {
    /// Writes text (the SVG) to a file.
    static func writeText(_ text: String, toFile path: String) throws {
        if let failed = Array(text.utf8).withUnsafeBytes({ Sys.writeFile(path, contents: $0) }) {
            throw ToolError(
                "cannot \(failed.step == .create ? "create" : "write") \(path): \(Sys.errorText(failed.errno))")
        }
    }
}
