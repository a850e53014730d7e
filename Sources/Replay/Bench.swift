// `flowtrace bench`: each trace into each backend, in process, from the trace's starting state
// every run: a warm-up run, then timed runs. Per command the latency distribution (the
// service's time from a request handed over to its answer's last message ready, whichever path
// serves the call, HdrHistogram), throughput of that time, and the share of it spent inside the
// backend's own operations; per backend the same for all calls (the headline), the wall-clock
// rate of the whole replay, peak memory and the tcam's entry moves. Every run also verifies, so a backend that answers differently shows up here too.
// Rendered as a terminal table, JSON, and a hand-written SVG chart.

import FlowTrace
import Hairpin
import Histogram
import LibFlowTable
import Posix

public struct BenchOptions {
    public var runs = 5
    public var warmup = 1
    public var defaultModel: PipelineModel = DefaultModel.model
    /// Called after each run (warm-up included).
    public var progress: (() -> Void)?

    public init() {}
}

public struct CommandBench: Sendable {
    public var command: String
    /// Per run (the same every run: the trace does not change).
    public var calls = 0
    public var flows = 0
    /// Over all timed runs, nanoseconds.
    public var p50: UInt64 = 0
    public var p90: UInt64 = 0
    public var p99: UInt64 = 0
    public var p999: UInt64 = 0
    public var max: UInt64 = 0
    /// Mean latency: service nanoseconds per call.
    public var mean = 0.0
    /// Calls per second of time spent in this command (calls / Σ latency).
    public var callsPerSecond = 0.0
    /// Flows per second of time spent in this command (every flow of a batch counts).
    public var flowsPerSecond = 0.0
    /// Backend operations (insert, delete, get) per run, and the mean nanoseconds of one.
    public var backendOperations = 0
    public var backendNanosecondsPerOperation = 0.0

    public init(command: String) { self.command = command }

    /// The service's own cost per call: the mean less the time inside backend operations.
    /// The same service serves every backend, so this should not depend on the backend.
    public var outsideBackendPerCall: Double {
        guard calls > 0 else { return 0 }
        return Swift.max(0, mean - Double(backendOperations) * backendNanosecondsPerOperation / Double(calls))
    }
}

public struct BackendBench: Sendable {
    public var file: String
    public var backend: String
    public var runs = 0
    /// Calls and request messages of one run.
    public var calls = 0
    public var messages = 0
    /// Service calls/s of each timed run (calls / Σ latency of that run).
    public var runRates: [Double] = []
    /// calls / wall-clock time of each timed run (the whole replay: reading the trace,
    /// pairing and comparing answers, the service), and the wall-clock time of all of them.
    public var wallRates: [Double] = []
    public var wallNanoseconds: UInt64 = 0
    public var commands: [CommandBench] = []
    /// getrusage ru_maxrss after the runs, and the resident size before the first (the
    /// preloaded trace, the program): their difference is about what the backend state took.
    public var peakMemory = 0
    public var baselineMemory = 0
    /// tcam only: entry moves of one run.
    public var entryMoves: Int?
    /// Answers that differed from the recorded ones in the first run.
    public var divergent = 0
    /// Whether peakMemory is this backend's alone (measured in a process of its own).
    public var isolated = false

    public init(file: String, backend: String) {
        self.file = file
        self.backend = backend
    }

    /// The headline: service calls/s of all timed runs together, Σ calls / Σ latency — the
    /// `all` row's figure (within the min–max of the runs).
    public var serviceRate: Double { overall.callsPerSecond }

    /// Calls / wall-clock time, all timed runs together (as `serviceRate`, so never above it).
    public var wallRate: Double {
        wallNanoseconds == 0 ? 0 : Double(calls * runs) / (Double(wallNanoseconds) / 1e9)
    }

    /// Entry moves per flow inserted or deleted (SET_FLOWS and DEL_FLOWS flows of a run): the
    /// update cost of the TCAM papers; 0 for a backend that moves nothing.
    public var movesPerUpdate: Double {
        let updated = commands.filter { $0.command == "SET_FLOWS" || $0.command == "DEL_FLOWS" }.reduce(0) {
            $0 + $1.flows
        }
        return updated == 0 ? 0 : Double(entryMoves ?? 0) / Double(updated)
    }

    /// Messages per second of service time.
    public var messagesPerSecond: Double { calls == 0 ? 0 : serviceRate * Double(messages) / Double(calls) }

    /// Every command together, for the chart: the slowest command's percentiles would hide the
    /// rest, so the overall distribution is kept separately.
    public var overall = CommandBench(command: "all")
}

public enum Bench {
    /// Replays `source` into `backend`: warm-up runs, then timed runs.
    public static func run(
        _ source: PreloadedSource, backend: BackendKind,
        options: BenchOptions
    ) throws(ReplayError) -> BackendBench {
        var result = BackendBench(file: source.name, backend: backend.rawValue)
        var replayOptions = ReplayOptions(timing: .topSpeed)
        replayOptions.defaultModel = options.defaultModel
        replayOptions.log = { _ in }
        replayOptions.backendTiming = { BackendTiming() }
        result.baselineMemory = currentResidentBytes()
        var merged: [UInt8: CommandTiming] = [:]
        var all = CommandTiming()
        for k in 0..<(max(0, options.warmup) + max(1, options.runs)) {
            do { try source.rewind() } catch { throw .trace(error) }
            let replayer = BackendReplayer(kind: backend, options: replayOptions)
            let report = try replayer.run(source, target: "backend:\(backend.rawValue)")
            // SIGINT: the runs done so far are the result; the one cut short is not counted.
            if Interrupt.requested { break }
            if k == 0 {
                result.calls = report.calls
                result.messages = report.messages
                result.divergent = report.divergent
                result.entryMoves = report.entryMoves
            }
            options.progress?()
            guard k >= options.warmup else { continue }
            result.runs += 1
            result.wallRates.append(report.callsPerSecond)
            result.wallNanoseconds += report.elapsedNanoseconds
            var run = CommandTiming()
            for (c, t) in report.commands {
                if merged[c] == nil { merged[c] = CommandTiming() }
                merged[c]?.add(t)
                all.add(t)
                run.calls += t.calls
                run.serviceNanoseconds += t.serviceNanoseconds
            }
            result.runRates.append(run.serviceCallsPerSecond)
        }
        let runs = max(1, result.runs)
        result.commands = merged.sorted { $0.key < $1.key }.map { c, t in summarize(commandName(c), t, runs: runs) }
        result.overall = summarize("all", all, runs: runs)
        result.peakMemory = peakResidentBytes()
        return result
    }

    static func summarize(_ name: String, _ t: CommandTiming, runs: Int) -> CommandBench {
        var c = CommandBench(command: name)
        c.calls = t.calls / runs
        c.flows = t.flows / runs
        let h = t.latency
        guard h.totalCount > 0 else { return c }
        c.p50 = h.valueAtPercentile(50)
        c.p90 = h.valueAtPercentile(90)
        c.p99 = h.valueAtPercentile(99)
        c.p999 = h.valueAtPercentile(99.9)
        c.max = h.max
        let busy = Double(t.serviceNanoseconds) / 1e9
        if busy > 0 {
            c.mean = Double(t.serviceNanoseconds) / Double(t.calls)
            c.callsPerSecond = Double(t.calls) / busy
            c.flowsPerSecond = Double(t.flows) / busy
        }
        c.backendOperations = t.backendOperations / runs
        if t.backendOperations > 0 {
            c.backendNanosecondsPerOperation = Double(t.backendNanoseconds) / Double(t.backendOperations)
        }
        return c
    }
}

// MARK: JSON (the --json file, and how an isolated worker hands its result back)

extension CommandBench {
    public var json: JSONValue {
        .object([
            JSONMember("cmd", .string(command)), JSONMember("calls", .number(UInt64(calls))),
            JSONMember("flows", .number(UInt64(flows))),
            JSONMember("p50_ns", .number(p50)), JSONMember("p90_ns", .number(p90)), JSONMember("p99_ns", .number(p99)),
            JSONMember("p99.9_ns", .number(p999)), JSONMember("max_ns", .number(max)),
            JSONMember("mean_ns", .double(mean)),
            JSONMember("calls_per_second", .double(callsPerSecond)),
            JSONMember("flows_per_second", .double(flowsPerSecond)),
            JSONMember("service_ns_per_call", .double(mean)),
            JSONMember("outside_backend_ns_per_call", .double(outsideBackendPerCall)),
            JSONMember("backend_ops", .number(UInt64(backendOperations))),
            JSONMember("backend_ns_per_op", .double(backendNanosecondsPerOperation)),
        ])
    }

    public init(json: JSONValue) {
        self.init(command: json["cmd"]?.stringValue ?? "?")
        calls = Int(json["calls"]?.int64Value ?? 0)
        flows = Int(json["flows"]?.int64Value ?? 0)
        p50 = json["p50_ns"]?.uint64Value ?? 0
        p90 = json["p90_ns"]?.uint64Value ?? 0
        p99 = json["p99_ns"]?.uint64Value ?? 0
        p999 = json["p99.9_ns"]?.uint64Value ?? 0
        max = json["max_ns"]?.uint64Value ?? 0
        mean = json["mean_ns"].flatMap(doubleValue) ?? 0
        callsPerSecond = json["calls_per_second"].flatMap(doubleValue) ?? 0
        flowsPerSecond = json["flows_per_second"].flatMap(doubleValue) ?? 0
        backendOperations = Int(json["backend_ops"]?.int64Value ?? 0)
        backendNanosecondsPerOperation = json["backend_ns_per_op"].flatMap(doubleValue) ?? 0
    }
}

func doubleValue(_ v: JSONValue) -> Double? {
    switch v {
    case let .double(d): return d
    case let .int(i): return Double(i)
    default: return v.uint64Value.map { Double($0) }
    }
}

extension BackendBench {
    public var json: JSONValue {
        var o: [JSONMember] = [
            JSONMember("file", .string(file)), JSONMember("backend", .string(backend)),
            JSONMember("runs", .number(UInt64(runs))), JSONMember("calls", .number(UInt64(calls))),
            JSONMember("messages", .number(UInt64(messages))),
            JSONMember("calls_per_second", .double(serviceRate)),
            JSONMember("messages_per_second", .double(messagesPerSecond)),
            JSONMember("run_calls_per_second", .array(runRates.map(JSONValue.double))),
            JSONMember("wall_calls_per_second", .double(wallRate)),
            JSONMember("wall_ns", .number(wallNanoseconds)),
            JSONMember("run_wall_calls_per_second", .array(wallRates.map(JSONValue.double))),
            JSONMember("peak_rss_bytes", .number(UInt64(peakMemory))),
            JSONMember("baseline_rss_bytes", .number(UInt64(baselineMemory))),
            JSONMember("isolated", .bool(isolated)),
            JSONMember("divergent", .number(UInt64(divergent))),
        ]
        if let m = entryMoves {
            o.append(JSONMember("tcam_entry_moves", .number(UInt64(m))))
            o.append(JSONMember("moves_per_update", .double(movesPerUpdate)))
        }
        o.append(JSONMember("all", overall.json))
        o.append(JSONMember("commands", .array(commands.map(\.json))))
        return .object(o)
    }

    public init(json: JSONValue) {
        self.init(file: json["file"]?.stringValue ?? "?", backend: json["backend"]?.stringValue ?? "?")
        runs = Int(json["runs"]?.int64Value ?? 0)
        calls = Int(json["calls"]?.int64Value ?? 0)
        messages = Int(json["messages"]?.int64Value ?? 0)
        runRates = json["run_calls_per_second"]?.elements?.compactMap(doubleValue) ?? []
        wallRates = json["run_wall_calls_per_second"]?.elements?.compactMap(doubleValue) ?? []
        wallNanoseconds = json["wall_ns"]?.uint64Value ?? 0
        peakMemory = Int(json["peak_rss_bytes"]?.int64Value ?? 0)
        baselineMemory = Int(json["baseline_rss_bytes"]?.int64Value ?? 0)
        isolated = json["isolated"]?.boolValue ?? false
        divergent = Int(json["divergent"]?.int64Value ?? 0)
        entryMoves = json["tcam_entry_moves"]?.int64Value.map { Int($0) }
        if let a = json["all"] { overall = CommandBench(json: a) }
        commands = json["commands"]?.elements?.map(CommandBench.init(json:)) ?? []
    }
}

// MARK: the table

public enum BenchReport {
    public static func table(_ results: [BackendBench], runs: Int, warmup: Int) -> String {
        var out: [String] = []
        var files: [String] = []
        for r in results where !files.contains(r.file) { files.append(r.file) }
        for f in files {
            let rs = results.filter { $0.file == f }
            guard let first = rs.first else { continue }
            out.append(
                "\(f): \(first.calls) calls, \(first.messages) messages per run; \(runs) run(s) after \(warmup) warm-up per backend"
            )
            let heads = [8, 11, 11, 21, 12, 10, 10, 11, 8]
            out.append(
                row(
                    [
                        "backend", "calls/s", "msgs/s", "min–max calls/s", "wall calls/s", "peak RSS", "Δ RSS",
                        "tcam moves",
                        "diverged",
                    ], heads))
            for r in rs {
                let lo = r.runRates.min() ?? 0, hi = r.runRates.max() ?? 0
                out.append(
                    row(
                        [
                            r.backend, num(r.serviceRate), num(r.messagesPerSecond), "\(num(lo))–\(num(hi))",
                            num(r.wallRate), bytes(r.peakMemory) + (r.isolated ? "" : "*"),
                            bytes(max(0, r.peakMemory - r.baselineMemory)), r.entryMoves.map(String.init) ?? "-",
                            "\(r.divergent)",
                        ], heads))
            }
            out.append("")
            let cols = [8, 16, 8, 9, 11, 11, 9, 9, 9, 9, 9, 9, 12, 9, 9]
            out.append(
                row(
                    [
                        "backend", "command", "calls", "flows", "calls/s", "flows/s", "p50", "p90", "p99", "p99.9",
                        "max",
                        "service", "backend ops", "backend", "outside",
                    ], cols))
            out.append(
                row(["", "", "", "", "", "", "", "", "", "", "", "per call", "per run", "per op", "per call"], cols))
            for r in rs {
                for c in r.commands + [r.overall] {
                    out.append(
                        row(
                            [
                                r.backend, c.command, "\(c.calls)", "\(c.flows)", num(c.callsPerSecond),
                                num(c.flowsPerSecond),
                                TraceLine.latency(c.p50), TraceLine.latency(c.p90), TraceLine.latency(c.p99),
                                TraceLine.latency(c.p999), TraceLine.latency(c.max),
                                TraceLine.latency(UInt64(c.mean.rounded())),
                                "\(c.backendOperations)",
                                c.backendOperations > 0
                                    ? TraceLine.latency(UInt64(c.backendNanosecondsPerOperation.rounded())) : "-",
                                c.backendOperations > 0
                                    ? TraceLine.latency(UInt64(c.outsideBackendPerCall.rounded())) : "-",
                            ],
                            cols))
                }
            }
            out.append("")
        }
        out.append(
            "calls/s: calls / the time the service took (a request handed to the service → its answer's last "
                + "message ready, whichever path serves it), all timed runs together: the `all` row's figure; "
                + "min–max over the runs. wall calls/s: calls / the whole replay's wall time (reading the trace, "
                + "pairing and comparing answers, the service), all timed runs together. Per command: latency is "
                + "that service time; service per call its mean; backend per op the mean time of one backend "
                + "operation (insert, delete, get) inside it; outside per call the service per call less the "
                + "backend's share (the service's own cost, the same code for every backend). Flows count every "
                + "flow of a batch.")
        if results.contains(where: { !$0.isolated }) {
            out.append("* peak RSS of the whole process so far (--no-isolate): not this backend's alone")
        }
        return out.joined(separator: "\n")
    }

    public static func row(_ cells: [String], _ widths: [Int]) -> String {
        var s = ""
        for (i, c) in cells.enumerated() {
            let w = i < widths.count ? widths[i] : 10
            s += c.count >= w ? c + " " : c + String(repeating: " ", count: w - c.count) + " "
        }
        return s
    }

    public static func num(_ x: Double) -> String {
        guard x.isFinite, abs(x) < 1e15 else { return "-" }
        if x >= 1e6 { return String(Double(Int(x / 1e4)) / 100) + "M" }
        if x >= 1e4 { return String(Double(Int(x / 10)) / 100) + "k" }
        return String(Int(x.rounded()))
    }

    static func bytes(_ n: Int) -> String {
        if n >= 1 << 30 { return String(Double((n * 100) >> 30) / 100) + " GiB" }
        if n >= 1 << 20 { return String(Double((n * 10) >> 20) / 10) + " MiB" }
        if n >= 1 << 10 { return String(n >> 10) + " KiB" }
        return "\(n) B"
    }

    public static func json(_ results: [BackendBench], runs: Int, warmup: Int) -> JSONValue {
        .object([
            JSONMember("runs", .number(UInt64(runs))), JSONMember("warmup", .number(UInt64(warmup))),
            JSONMember("machine", .string(SVGChart.machineDescription())),
            JSONMember("version", .string(FlowTraceInfo.version)),
            JSONMember("results", .array(results.map(\.json))),
        ])
    }
}
