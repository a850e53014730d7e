// A trace's calls for the tools people look at: Chrome trace-event JSON (what Perfetto and
// chrome://tracing open) with one track per leg and device and one slice per call, and CSV with
// one row per call (pandas, DuckDB). Built on CallLog.

import LibFlowTable

public enum CallExport {
    /// Reads the files (a rotated set in order, or one) into their calls.
    public static func calls(paths: [String]) throws(TraceFileError) -> [CallInfo] {
        let read = try read(paths: paths)
        if let error = read.error { throw error }
        return read.calls
    }

    /// The calls of every file up to the first damage, and that damage: a malformed block (the
    /// error) or a file cut short (its message); a reader shows what it could read, then this.
    public static func read(paths: [String]) throws(TraceFileError)
        -> (calls: [CallInfo], error: TraceFileError?, truncation: String?)
    {
        var log = CallLog()
        log.keepFindings = 0
        for (index, path) in paths.enumerated() {
            let reader = try TraceReader(path: path)
            log.beginFile(index, name: nil)
            do {
                while let r = try reader.next() { log.add(r, families: reader.families, frame: reader.frameNumber) }
            } catch {
                return (log.calls, error.after(frame: reader.frameNumber), nil)
            }
            if let cut = reader.truncationMessage { return (log.calls, nil, cut) }
        }
        return (log.calls, nil, nil)
    }

    static let apiProcess = 1, hairpinProcess = 2

    /// The trace-event JSON object: "X" complete events with ts/dur in microseconds from the first
    /// call's start (absolute times do not fit a double to the nanosecond), "M" metadata naming
    /// each process (leg) and thread (device).
    public static func perfetto(_ calls: [CallInfo], name: String) -> JSONValue {
        let origin = calls.compactMap { $0.start }.min() ?? 0
        func us(_ ns: UInt64) -> JSONValue { .double(Double(ns &- origin) / 1000) }
        var events: [JSONValue] = []
        var threads = Set<[Int]>()
        for c in calls {
            let tid = c.ifindex.map(Int.init) ?? 0
            var args: [JSONMember] = [
                JSONMember("call", .int(Int64(c.id))),
                JSONMember("status", .string(statusText(c))),
                JSONMember("errno", c.outcome.map { .int(Int64($0)) } ?? .null),
                JSONMember("flows", .int(Int64(c.flows))),
                JSONMember("first_frame", .int(Int64(c.firstFrame))),
                JSONMember("last_frame", .int(Int64(c.lastFrame))),
            ]
            if let d = c.ifindex { args.append(JSONMember("ifindex", .number(UInt64(d)))) }
            for (pid, start, end, frame) in [
                (apiProcess, c.apiStart, c.apiEnd, c.apiRequestFrame),
                (hairpinProcess, c.encapStart, c.encapEnd, c.encapRequestFrame),
            ] {
                guard let start else { continue }
                // An unanswered call (cut trace, timed-out answer) lasts to its last record's time: none.
                let dur = end.map { $0 >= start ? $0 - start : 0 } ?? 0
                threads.insert([pid, tid])
                events.append(
                    .object([
                        JSONMember("name", .string(c.commandName)),
                        JSONMember("cat", .string(pid == apiProcess ? "api" : "hairpin")),
                        JSONMember("ph", .string("X")),
                        JSONMember("ts", us(start)),
                        JSONMember("dur", .double(Double(dur) / 1000)),
                        JSONMember("pid", .int(Int64(pid))),
                        JSONMember("tid", .int(Int64(tid))),
                        JSONMember(
                            "args",
                            .object(
                                args + [
                                    JSONMember("request_frame", .int(Int64(frame))),
                                    JSONMember("answered", .bool(end != nil)),
                                ])),
                    ]))
            }
        }
        var meta: [JSONValue] = []
        for (pid, label) in [(apiProcess, "api leg (net_flow_nl)"), (hairpinProcess, "hairpin leg (nfl_hairpin)")]
        where threads.contains(where: { $0[0] == pid }) {
            meta.append(
                .object([
                    JSONMember("name", .string("process_name")), JSONMember("ph", .string("M")),
                    JSONMember("pid", .int(Int64(pid))),
                    JSONMember("args", .object([JSONMember("name", .string(label))])),
                ]))
        }
        for t in threads.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            meta.append(
                .object([
                    JSONMember("name", .string("thread_name")), JSONMember("ph", .string("M")),
                    JSONMember("pid", .int(Int64(t[0]))), JSONMember("tid", .int(Int64(t[1]))),
                    JSONMember(
                        "args", .object([JSONMember("name", .string(t[1] == 0 ? "no device" : "ifindex \(t[1])"))])),
                ]))
        }
        return .object([
            JSONMember("traceEvents", .array(meta + events)),
            JSONMember("displayTimeUnit", .string("ns")),
            JSONMember(
                "otherData",
                .object([
                    JSONMember("trace", .string(name)), JSONMember("origin_ns", .number(origin)),
                    JSONMember("calls", .int(Int64(calls.count))),
                ])),
        ])
    }

    static func statusText(_ c: CallInfo) -> String {
        guard let o = c.outcome else { return "unanswered" }
        return o == 0 ? "ok" : "error"
    }

    public static let csvHeader =
        "call,command,device,start_ns,api_latency_ns,hairpin_latency_ns,status,errno,flows,first_frame,last_frame"

    /// One row per call; empty cells for what the call does not have.
    public static func csv(_ calls: [CallInfo]) -> String {
        var out = csvHeader + "\n"
        for c in calls {
            let errno = c.outcome.flatMap { $0 == 0 ? nil : Errno.display($0) } ?? ""
            let cells: [String] = [
                "\(c.id)", c.commandName, c.ifindex.map { "\($0)" } ?? "", c.start.map { "\($0)" } ?? "",
                c.apiLatency.map { "\($0)" } ?? "", c.hairpinLatency.map { "\($0)" } ?? "", statusText(c), errno,
                "\(c.flows)", "\(c.firstFrame)", "\(c.lastFrame)",
            ]
            out += cells.map(csvCell).joined(separator: ",") + "\n"
        }
        return out
    }

    static func csvCell(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\"" : s
    }
}
