// flowtrace stats: what a trace contains, in numbers.

import ArgumentParser
import FlowTrace
import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Count a trace: messages and calls per command, errors by errno, latency percentiles, flows per table.",
        discussion: """
        Examples:
          flowtrace stats trace.pcapng
          flowtrace stats trace.pcapng --json > stats.json
        """)

    @OptionGroup var input: TraceInputArguments
    var file: String { input.file }

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let bar = showReadProgress(label: "stats")
        let reader = try openTrace(file)
        var stats = TraceStats()
        // The counts of what could be read are printed even when the trace is cut or damaged.
        var failure: Error?
        do {
            try stats.add(contentsOf: reader)
        } catch {
            failure = error
        }
        bar?.finish()
        let damage = failure.map { ($0 as? TraceFileError).map(reader.failureMessage) ?? "\($0)" } ?? reader.truncationMessage
        if json {
            print(Self.json(stats, truncation: damage).serialized(style: .pretty))
        } else {
            print(Self.table(stats))
        }
        fflush(stdout)
        finishTrace(reader, error: failure)
    }

    static let percentiles: [Double] = [50, 90, 99, 99.9]

    static func table(_ s: TraceStats) -> String {
        var out: [String] = []
        let secs = Double(s.durationNanoseconds) / 1e9
        out.append("records \(s.records) (\(s.synthetic) snapshot, \(s.malformed) malformed), duration \(String(format3(secs)))s")
        out.append("")
        out.append("leg      command          messages   calls  errors   p50        p90        p99        p99.9")
        let byCommand = s.byCommand
        for key in byCommand.keys.sorted() {
            guard let c = byCommand[key] else { continue }
            let name = NFL.Command(rawValue: key.command)?.name ?? "cmd \(key.command)"
            var line = pad(key.leg.description, 8) + " " + pad(name, 16) + " " + pad("\(c.messages)", 10, right: true)
                + " " + pad("\(c.calls)", 7, right: true) + " " + pad("\(c.errors.values.reduce(0, +))", 7, right: true)
            for p in percentiles {
                line += "  " + pad(c.latency.totalCount > 0 ? TraceLine.latency(c.latency.valueAtPercentile(p)) : "-", 9)
            }
            out.append(line)
        }
        if !s.errnos.isEmpty {
            out.append("")
            out.append("errors: " + s.errnos.sorted { $0.key < $1.key }.map { "\(Errno.display($0.key)) \($0.value)" }.joined(separator: ", "))
        }
        if !s.added.isEmpty || !s.removed.isEmpty {
            out.append("")
            out.append("table    added    removed")
            for t in Set(s.added.keys).union(s.removed.keys).sorted() {
                out.append(pad("\(t)", 8) + " " + pad("\(s.added[t] ?? 0)", 8, right: true) + " " + pad("\(s.removed[t] ?? 0)", 10, right: true))
            }
        }
        return out.joined(separator: "\n")
    }

    static func json(_ s: TraceStats, truncation: String?) -> JSONValue {
        var commands: [JSONValue] = []
        let byCommand = s.byCommand
        for key in byCommand.keys.sorted() {
            guard let c = byCommand[key] else { continue }
            var lat: [JSONMember] = [JSONMember("count", .number(c.latency.totalCount))]
            if c.latency.totalCount > 0 {
                for p in percentiles { lat.append(JSONMember("p\(p == 99.9 ? "99.9" : String(Int(p)))", .number(c.latency.valueAtPercentile(p)))) }
                lat.append(JSONMember("max", .number(c.latency.max)))
            }
            commands.append(.object([
                JSONMember("leg", .string(key.leg.description)),
                JSONMember("cmd", .string(NFL.Command(rawValue: key.command)?.name ?? "\(key.command)")),
                JSONMember("messages", .number(UInt64(c.messages))),
                JSONMember("calls", .number(UInt64(c.calls))),
                JSONMember("errors", .object(c.errors.sorted { $0.key < $1.key }.map { JSONMember(Errno.display($0.key), .number(UInt64($0.value))) })),
                JSONMember("latency_ns", .object(lat)),
            ]))
        }
        var o: [JSONMember] = [
            JSONMember("records", .number(UInt64(s.records))),
            JSONMember("snapshot_records", .number(UInt64(s.synthetic))),
            JSONMember("malformed", .number(UInt64(s.malformed))),
            JSONMember("duration_ns", .number(s.durationNanoseconds)),
            JSONMember("commands", .array(commands)),
            JSONMember("errors", .object(s.errnos.sorted { $0.key < $1.key }.map { JSONMember(Errno.display($0.key), .number(UInt64($0.value))) })),
            JSONMember("flows_added", .object(s.added.sorted { $0.key < $1.key }.map { JSONMember("\($0.key)", .number(UInt64($0.value))) })),
            JSONMember("flows_removed", .object(s.removed.sorted { $0.key < $1.key }.map { JSONMember("\($0.key)", .number(UInt64($0.value))) })),
        ]
        if let truncation { o.append(JSONMember("truncation", .string(truncation))) }
        return .object(o)
    }

    static func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
        s.count >= w ? s : (right ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
    }

    static func format3(_ x: Double) -> String { String(Double(Int(x * 1000)) / 1000) }
}
