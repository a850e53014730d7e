// flowtrace load: many concurrent clients driving NDOs through a running twin (the module's
// stand-in), each over its own API connection, as fast as the twin answers. For load tests of
// the twin, the daemon and the recorder: every call must be answered, none twice, and a
// recorded trace must hold each call exactly once (`flowtrace audit`).

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import Posix
import LiveCapture

#if canImport(Glibc)
import Glibc
#endif

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive NDO calls through a running twin from several concurrent clients.",
        discussion: """
            Each client installs a flow, reads it back (GET_FLOWS on its table and
            priority) and deletes it, over and over (--mix), with flows of its own (uids
            and priorities no other client uses), so the device's state stays small and
            no call should fail. Prints calls/s, errors by errno, and each client's
            count; --watch-pid samples a process's resident memory at every tenth of the
            run.
            Exit status: 0 every call answered without error; 1 some calls failed or
            went unanswered (counted in the report); 2 the load could not start.

            Examples:
              flow-table-hairpind --twin --record load.pcapng &
              flowtrace load --clients 8 --calls 1000000 --watch-pid $!
              flowtrace audit load.pcapng
            """)

    @Option(help: "Concurrent clients, each on its own connection.")
    var clients = 8

    @Option(help: "Calls in all (shared out evenly between the clients).")
    var calls = 100_000

    @Option(help: "The twin's API socket (default: that of flow-table-ctl).")
    var socket: String?

    @Option(help: "The device: a name the twin published, or an ifindex.")
    var device = "unft0"

    @Option(help: "The calls each client repeats, in order: set, get, del, tables (GET_TABLES), comma separated.")
    var mix = "set,get,del"

    @Option(help: "Seconds a call may take before it counts as unanswered.")
    var timeout: Double = 10

    @Option(help: "Seed of the flows' match fields.")
    var seed: UInt64 = 1

    @Option(help: "Sample this process's resident memory (VmRSS) at each tenth of the run, e.g. the daemon's pid.")
    var watchPid: Int32?

    @Flag(help: "Print the report as JSON.")
    var json = false

    enum Step: String { case set, get, del, tables }

    func validate() throws {
        guard (1...1024).contains(clients) else { throw ValidationError("--clients takes 1 to 1024") }
        guard calls >= clients else { throw ValidationError("--calls must be at least --clients (\(clients))") }
        guard timeout > 0, timeout.isFinite else {
            throw ValidationError("--timeout takes a positive number of seconds")
        }
        _ = try steps()
    }

    func steps() throws -> [Step] {
        let parts = mix.split(separator: ",").map { String($0).trimmingCharacters(in: " ") }
        var out: [Step] = []
        for p in parts {
            guard let s = Step(rawValue: p) else {
                throw ValidationError("--mix \(mix): unknown call \(p) (use set, get, del, tables)")
            }
            out.append(s)
        }
        guard !out.isEmpty else { throw ValidationError("--mix needs at least one call, e.g. set,get,del") }
        return out
    }

    func paths() -> TwinSocketPaths {
        guard let socket else { return .default }
        let dir = socket.lastIndex(of: "/").map { String(socket[...$0]) } ?? ""
        return TwinSocketPaths(api: socket, hairpin: dir + TwinSocketPaths.hairpinFileName)
    }

    func run() throws {
        let steps = try steps()
        let paths = paths()
        let ifindex: UInt32
        if let n = UInt32(device) {
            ifindex = n
        } else {
            let names = LoopbackSession.readDevices(paths: paths)
            guard let i = names[device] else {
                fail(
                    "load: no unft device named \(device) at \(paths.api)"
                        + (names.isEmpty
                            ? " (is a twin running? start one with `flow-table-hairpind --twin`)"
                            : "; the twin has \(names.keys.sorted().joined(separator: ", "))"))
            }
            ifindex = i
        }
        // The flows: a table of the default model's each client can use, fields from the generator.
        var generator = FlowGenerator(model: DefaultModel.model, seed: seed)
        guard let table = generator.usableTables.first else { fail("load: the default model has no usable table") }
        let progress = PosixLocked(0)
        var results: [ClientResult] = []
        let resultBox = PosixLocked([ClientResult?](repeating: nil, count: clients))
        var threads: [PosixThread] = []
        Interrupt.install()
        let t0 = MonotonicClock.now()
        for k in 0..<clients {
            let share = calls / clients + (k < calls % clients ? 1 : 0)
            // Own uids and priority per client: no two clients' flows can clash.
            var flows: [Flow] = []
            for i in 0..<16 {
                flows.append(generator.flow(in: table, uid: UInt32(1_000_000 * (k + 1) + i), priority: UInt32(k + 1)))
            }
            let timeout = self.timeout
            do {
                threads.append(
                    try PosixThread {
                        let r = Self.client(
                            index: k, calls: share, steps: steps, flows: flows, ifindex: ifindex,
                            path: paths.api, timeout: timeout, progress: progress)
                        resultBox.withLock { $0[k] = r }
                    })
            } catch {
                fail("load: cannot start client \(k): \(error)")
            }
        }
        var samples: [(percent: Int, rss: Int)] = []
        if let pid = watchPid {
            var next = 0
            while next <= 100 {
                let done = progress.withLock { $0 }
                let finished = resultBox.withLock { $0.allSatisfy { $0 != nil } } || Interrupt.requested
                if done * 100 >= next * calls || finished {
                    samples.append((next, Self.residentBytes(pid: pid)))
                    next += 10
                    continue
                }
                usleep(20_000)
            }
        }
        for t in threads { t.join() }
        let elapsed = Double(MonotonicClock.now() - t0) / 1e9
        results = resultBox.withLock { $0.compactMap { $0 } }
        let report = LoadReport(clients: results, elapsed: elapsed, samples: samples, requested: calls)
        print(json ? report.json().serialized(style: .pretty) : report.text())
        if Interrupt.requested { exitInterrupted() }
        if !report.clean { throw ExitCode(1) }
    }

    struct ClientResult {
        var index: Int
        var calls = 0
        var answered = 0
        var errors: [Int32: Int] = [:]
        /// Calls that got no answer (timeout, connection lost); the client stops at the first.
        var unanswered = 0
        var failure: String?
    }

    static func client(
        index: Int, calls: Int, steps: [Step], flows: [Flow], ifindex: UInt32, path: String,
        timeout: Double, progress: PosixLocked<Int>
    ) -> ClientResult {
        var r = ClientResult(index: index)
        let c: FlowTableClient
        do {
            c = try FlowTableClient(path: path, timeout: timeout)
            try c.resolveFamily()
        } catch {
            r.failure = "client \(index): cannot connect to \(path): \(error)"
            r.unanswered = calls
            return r
        }
        defer { c.close() }
        var pending = 0
        var flow = 0
        for n in 0..<calls {
            // SIGINT: the calls made so far are the report; the rest are not counted as requested.
            if Interrupt.requested { break }
            let step = steps[n % steps.count]
            if n % steps.count == 0 && n > 0 { flow = (flow + 1) % flows.count }
            let f = flows[flow]
            r.calls += 1
            do {
                let reply: FlowTableReply
                switch step {
                case .set: reply = try c.setFlows(ifindex: ifindex, [f])
                case .del: reply = try c.delFlows(ifindex: ifindex, [f])
                case .get:
                    reply = try c.getFlows(
                        ifindex: ifindex, FlowSelector(table: f.table, minPriority: f.priority, maxPriority: f.priority)
                    )
                case .tables: reply = try c.get(.getTables, ifindex: ifindex)
                }
                r.answered += 1
                if reply.errno != 0 { r.errors[reply.errno, default: 0] += 1 }
            } catch {
                r.unanswered = calls - n
                r.failure = "client \(index), call \(n + 1) (\(step.rawValue)): \(error)"
                break
            }
            pending += 1
            if pending == 256 {
                progress.withLock { $0 += pending }
                pending = 0
            }
        }
        progress.withLock { $0 += pending }
        return r
    }

    /// VmRSS of a process, bytes (0 when it cannot be read).
    static func residentBytes(pid: Int32) -> Int {
        let fd = open("/proc/\(pid)/status", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        for line in String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.dropFirst(6).filter { $0.isNumber }
            return (Int(String(digits)) ?? 0) * 1024
        }
        return 0
    }
}

struct LoadReport {
    var clients: [Load.ClientResult]
    var elapsed: Double
    var samples: [(percent: Int, rss: Int)]
    var requested: Int

    var calls: Int { clients.reduce(0) { $0 + $1.calls } }
    var answered: Int { clients.reduce(0) { $0 + $1.answered } }
    var unanswered: Int { clients.reduce(0) { $0 + $1.unanswered } }
    var errors: [Int32: Int] {
        clients.reduce(into: [:]) { acc, c in for (e, n) in c.errors { acc[e, default: 0] += n } }
    }
    var errorCount: Int { errors.values.reduce(0, +) }
    var clean: Bool { unanswered == 0 && errorCount == 0 && answered == requested }
    /// RSS growth from the 10% sample to the last one (the start-up allocations excluded).
    var growth: Int? {
        guard let base = samples.first(where: { $0.percent == 10 })?.rss, let last = samples.last?.rss else {
            return nil
        }
        return last - base
    }

    func text() -> String {
        let rate = elapsed > 0 ? Double(answered) / elapsed : 0
        var s =
            "load: \(answered) of \(requested) calls answered by \(clients.count) clients in "
            + String(format3(elapsed)) + " s, \(Int(rate)) calls/s; errors: "
            + (errors.isEmpty
                ? "none"
                : errors.sorted { $0.key < $1.key }.map { "\(Errno.display($0.key)) \($0.value)" }.joined(
                    separator: ", "))
        if unanswered > 0 { s += "; unanswered: \(unanswered)" }
        if Interrupt.requested { s += "; \(Interrupt.reason) after \(calls) calls" }
        for c in clients {
            s += "\n  client \(c.index): \(c.answered) answered"
            if !c.errors.isEmpty { s += ", \(c.errors.values.reduce(0, +)) errors" }
            if let f = c.failure { s += " — stopped: \(f)" }
        }
        if !samples.isEmpty {
            s += "\n  watched RSS: " + samples.map { "\($0.percent)% \($0.rss >> 10) KiB" }.joined(separator: ", ")
            if let g = growth { s += "\n  growth from 10% to the end: \(g >> 10) KiB" }
        }
        return s
    }

    func json() -> JSONValue {
        var o: [JSONMember] = [
            JSONMember("requested", .int(Int64(requested))),
            JSONMember("calls", .int(Int64(calls))),
            JSONMember("answered", .int(Int64(answered))),
            JSONMember("unanswered", .int(Int64(unanswered))),
            JSONMember("seconds", .double(elapsed)),
            JSONMember("interrupted", .bool(Interrupt.requested)),
            JSONMember("calls_per_second", .double(elapsed > 0 ? Double(answered) / elapsed : 0)),
            JSONMember(
                "errors",
                .object(
                    errors.sorted { $0.key < $1.key }.map { JSONMember(Errno.display($0.key), .int(Int64($0.value))) })),
            JSONMember(
                "clients",
                .array(
                    clients.map { c in
                        .object([
                            JSONMember("client", .int(Int64(c.index))), JSONMember("calls", .int(Int64(c.calls))),
                            JSONMember("answered", .int(Int64(c.answered))),
                            JSONMember("errors", .int(Int64(c.errors.values.reduce(0, +)))),
                            JSONMember("failure", c.failure.map { .string($0) } ?? .null),
                        ])
                    })),
        ]
        if !samples.isEmpty {
            o.append(
                JSONMember(
                    "rss",
                    .array(
                        samples.map {
                            .object([
                                JSONMember("percent", .int(Int64($0.percent))),
                                JSONMember("bytes", .int(Int64($0.rss))),
                            ])
                        })))
            o.append(JSONMember("rss_growth_bytes", growth.map { .int(Int64($0)) } ?? .null))
        }
        return .object(o)
    }
}

func format3(_ x: Double) -> String {
    let ms = Int((x * 1000).rounded())
    let frac = String(ms % 1000)
    return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}
