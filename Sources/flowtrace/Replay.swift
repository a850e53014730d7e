// flowtrace replay: feed a trace back into a backend, the twin, a running twin or the kernel
// module and check every answer against the recorded one (spec/replay.md).

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import Replay
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a trace into a target and compare every answer with the recorded one.",
        discussion: """
            Targets:
              backend:NAME  dummy, hash, tss or tcam in process, fed the hairpin leg
              twin[:NAME]   the twin + a listener (backend NAME) started for the replay
              socket:PATH   a running twin's API socket (flow-table-hairpind --twin)
              kernel:DEV    the unft module (devices by name, comma-separated)
            Timing: backend targets default to --topspeed, the others to recorded timing.
            Exit status: 0 every call compared and all answers matched; 1 answers diverged, or
            the trace is incomplete (calls without a recorded answer, answers without their
            request; --allow-incomplete accepts that); 2 the replay could not run or stopped
            (message on stderr). The twin target compares both legs (API and hairpin).
            Details: spec/replay.md.

            Examples:
              flowtrace replay bug.pcapng --target backend:tcam
              flowtrace replay bug.pcapng --target twin -x 10 --json > report.json
              flowtrace replay bug.pcapng --target socket:/run/flowtrace/unft.sock --step
            A trace recorded with --inject carries markers on the calls a fault hit; the replay
            injects the same faults into the same calls (backend and twin targets) and says so.
            """)

    @OptionGroup var input: TraceInputArguments

    @Option(
        help: "backend:dummy|hash|tss|tcam, twin[:BACKEND], socket:PATH or kernel:DEV[,DEV…].",
        completion: Completions.target)
    var target: String

    @Flag(help: "Send each request as soon as the previous one is answered.")
    var topspeed = false

    @Option(name: [.customShort("x"), .long], help: "Recorded timing, this many times faster.")
    var multiplier: Double?

    @Option(help: "A fixed rate, in requests per second.")
    var rate: Double?

    @Option(help: "Replay the trace this many times, each from the starting state (0: until Ctrl-C).")
    var loop: Int = 1

    @Flag(help: "One request per line typed on stdin; prints each request and its answer.")
    var step = false

    @Flag(help: "Load every record before replaying (for benchmarks; streaming is the default).")
    var preload = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "API targets: seconds one call may take before the target counts as gone.")
    var timeout: Double = 10

    @Option(
        name: .customLong("map-ifindex"),
        help: "API targets: RECORDED=TARGET, send the trace's device RECORDED as TARGET (repeatable).")
    var mapIfindex: [String] = []

    @Flag(help: "socket/kernel targets: keep the target's flows instead of installing the trace's starting state.")
    var keepState = false

    @Option(
        help:
            "twin target: record the replay session to this pcapng file ('-': stdout; the report then goes to stderr).")
    var record: String?

    @Option(help: "A model directory for devices the trace's snapshot does not describe (default: the built-in model).")
    var model: String?

    @Flag(
        help:
            "Do not inject the trace's recorded faults again (flow-table-hairpind --inject); their calls then diverge.")
    var noReinject = false

    @Flag(
        help:
            "Accept an incomplete trace: calls without a recorded answer and answers without their request do not fail the replay."
    )
    var allowIncomplete = false

    func run() throws {
        // kernel:DEV speaks generic netlink to the unft module.
        Replayer.kernelTransport = { try GenlSocketTransport() }
        Interrupt.install()
        let bar = step ? nil : showReadProgress(label: "replay")
        do {
            let report = try execute()
            bar?.finish()
            let text = json ? report.json().serialized(style: .pretty) : report.text()
            // --record -: the trace owns stdout.
            if record == "-" { fputs(text + "\n", stderr) } else { print(text) }
            if Interrupt.requested { exitInterrupted() }
            // A cut trace: the report of what could be replayed, then the cut, exit 2 (tshark).
            if let t = report.truncation { fail("\(TraceInput.displayName(input.file)): \(t)") }
            if report.troubled, let why = report.stopped { fail(why) }
            if !report.succeeded { throw ExitCode(1) }
        } catch let e as ReplayError {
            fail("\(e)")
        } catch let e as ToolError {
            fail(e.description)
        }
    }

    func execute() throws -> ReplayReport {
        // The fault scan and --loop read the trace again: stdin is read once, into a file.
        var file = input.file
        if file == "-" && !step {
            do { file = try TraceInput.rereadable(file) } catch { throw ToolError("\(error)") }
        }
        let parsed = try ReplayTarget.parse(target)
        var options = ReplayOptions(timing: try timing(for: parsed))
        guard loop >= 0 else { throw ToolError("--loop takes a count (0: until interrupted)") }
        guard timeout > 0, timeout.isFinite else { throw ToolError("--timeout takes a positive number of seconds") }
        options.loops = loop
        options.timeout = timeout
        options.keepState = keepState
        options.allowIncomplete = allowIncomplete
        options.recordPath = record
        if record != nil, case .twin = parsed {
        } else if record != nil {
            throw ToolError("--record works with the twin target only")
        }
        for m in mapIfindex {
            let parts = m.split(separator: "=")
            guard parts.count == 2, let a = UInt32(parts[0]), let b = UInt32(parts[1]) else {
                throw ToolError("--map-ifindex takes RECORDED=TARGET, e.g. 1000=5, not \(m)")
            }
            options.ifindexMap[a] = b
        }
        if let model {
            do { options.defaultModel = try ModelLoader.load(directory: model) } catch { throw ToolError("\(error)") }
        }
        if step {
            guard file != "-" else { throw ToolError("--step reads stdin: the trace must be a file") }
            guard !json else { throw ToolError("--step prints as it goes: it does not go with --json") }
            options.step = LineStepper()
            // The user sets the pace: a schedule would only count the time spent reading.
            options.timing = .topSpeed
        }
        if !noReinject {
            do { options.faultPlan = try FaultPlan.scan(path: file) } catch { throw ToolError("\(error)") }
        }
        let source: RecordSource
        do {
            let isBackend: Bool
            if case .backend = parsed { isBackend = true } else { isBackend = false }
            // A backend needs only the hairpin leg's requests and answers: the rest is dropped
            // as it is read.
            let filter = isBackend ? Replayer.backendRecords : nil
            if preload {
                source = try PreloadedSource(path: file, filter: filter)
            } else if isBackend {
                // The records `filter` keeps, dropped without a closure or a TraceRecord each.
                source = try ReadAheadSource(path: file, dropping: Replayer.backendSkip)
            } else {
                source = try ReadAheadSource(path: file)
            }
        } catch {
            throw ToolError("\(error)")
        }
        return try Replayer(target: parsed, options: options).run(source)
    }

    func timing(for target: ReplayTarget) throws -> Timing {
        let chosen = [topspeed, multiplier != nil, rate != nil].filter { $0 }.count
        guard chosen <= 1 else { throw ToolError("choose one of --topspeed, --multiplier and --rate") }
        if topspeed { return .topSpeed }
        if let multiplier {
            guard multiplier > 0, multiplier.isFinite else { throw ToolError("--multiplier takes a positive number") }
            return .recorded(multiplier: multiplier)
        }
        if let rate {
            guard rate > 0, rate.isFinite else {
                throw ToolError("--rate takes a positive number of requests per second")
            }
            return .rate(rate)
        }
        return target.defaultTiming
    }
}

/// "flowtrace: …" on stderr and exit status 2 (1 means "answers differ").
func fail(_ text: String) -> Never {
    var line = "flowtrace: \(text)\n"
    line.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    exit(2)
}

/// --step: each request is shown and sent when a line comes on stdin ("q" or end of input stops).
final class LineStepper: StepControl {
    func before(request: String) -> Bool {
        print(request)
        print("  [Enter: send, q: stop] ", terminator: "")
        fflush(stdout)
        guard let line = readLine(strippingNewline: true) else { return false }
        return line.trimmingCharacters(in: " \t") != "q"
    }

    func after(answer: [String], matched: Bool?) {
        for a in answer { print("  " + a) }
        if let matched { print(matched ? "  = matches the recorded answer" : "  ≠ DIFFERS from the recorded answer") }
        fflush(stdout)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
