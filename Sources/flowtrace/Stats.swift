// flowtrace stats: what a trace contains, in numbers.

import AnyFamily
import ArgumentParser
import FlowTrace
import LibFlowTable
import LiveCapture
import YNL

#if canImport(Glibc)
import Glibc
#endif

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Count a trace: messages and calls per command, errors by errno, latency percentiles, flows per table.",
        discussion: """
            Other families (an nlmon capture of every family) are counted per family and operation,
            named from their YNL specs (see `flowtrace specs`): requests, answers, messages of no
            call (notifications), errors by errno with the extended ACK texts.
            --failed lists every request of any family that got an error (family, operation, errno,
            extended ACK text, frames) and every request with no answer at all.
            Examples:
              flowtrace stats trace.pcapng
              flowtrace stats trace.pcapng --json > stats.json
              flowtrace stats capture.pcapng --failed
            """)

    @OptionGroup var input: TraceInputArguments
    var file: String { input.file }

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "List the requests that failed or got no answer (any family).")
    var failed = false

    @Flag(
        name: .customLong("by-process"),
        help: "Count messages per process (the pid and command `flowtrace capture` records).")
    var byProcess = false

    @Option(
        name: .customLong("spec-dir"),
        help: ArgumentHelp("Also search this folder for YNL specs of other families (repeatable).", valueName: "dir"))
    var specDirs: [String] = []

    func run() throws {
        let bar = showReadProgress(label: "stats")
        let reader = try openTrace(file)
        var stats = TraceStats()
        stats.tracksFailures = failed
        // The counts of what could be read are printed even when the trace is cut or damaged.
        var failure: Error?
        // --by-process counts in the same pass, from the call ids that pass already gives.
        stats.tracksProcesses = byProcess
        // Specs are indexed when a family other than ours first needs them (a trace of our two
        // families never does), and parsed only for the families the trace holds.
        let dirs = specDirs
        let catalog = FamilyCatalog(load: {
            YNLSpecLibrary.load(
                YNLSpecLibrary.searchPath(specDirs: dirs),
                report: { _, e in fputs("flowtrace stats: \(e) (its family is counted by number)\n", stderr) })
        })
        // What the specs cannot say of the other families' messages, in the same pass (printed
        // by the plain listing only).
        var coverage = SpecCoverage()
        if !byProcess && !failed {
            stats.otherFamilyRecord = { netlink, netlinkProtocol, families, frame in
                coverage.add(
                    netlink, netlinkProtocol: netlinkProtocol, families: families, frame: frame, catalog: catalog)
            }
        }
        do {
            try stats.add(contentsOf: reader)
        } catch {
            failure = error
        }
        stats.otherFamilyRecord = nil
        bar?.finish()
        let damage =
            failure.map { ($0 as? TraceFileError).map(reader.failureMessage) ?? "\($0)" } ?? reader.truncationMessage
        if byProcess {
            let rows = stats.processes.sorted { ($0.value.messages, $1.key.pid) > ($1.value.messages, $0.key.pid) }
            if json {
                print(
                    JSONValue.array(
                        rows.map { p, c in
                            .object([
                                JSONMember("pid", .int(Int64(p.pid))), JSONMember("comm", .string(p.command)),
                                JSONMember("messages", .number(UInt64(c.messages))),
                                JSONMember("requests", .number(UInt64(c.requests))),
                                JSONMember("errors", .number(UInt64(c.errors))),
                            ])
                        }
                    ).serialized(style: .pretty))
            } else {
                print("pid      command          messages  requests  errors")
                for (p, c) in rows {
                    print(
                        Self.pad("\(p.pid)", 8) + " " + Self.pad(p.command, 16) + " "
                            + Self.pad("\(c.messages)", 8, right: true)
                            + " " + Self.pad("\(c.requests)", 9, right: true) + " "
                            + Self.pad("\(c.errors)", 7, right: true))
                }
            }
        } else if failed {
            if json {
                print(Self.failedJSON(stats, catalog, truncation: damage).serialized(style: .pretty))
            } else {
                print(Self.failedTable(stats, catalog))
            }
        } else if json {
            var o = Self.json(stats, truncation: damage)
            if case .object(var m) = o {
                m.append(JSONMember("families", Self.familiesJSON(stats, catalog)))
                if !stats.familyOperations.isEmpty { m += coverage.json }
                o = .object(m)
            }
            print(o.serialized(style: .pretty))
        } else {
            print(Self.table(stats))
            if !stats.familyOperations.isEmpty { print(""); print(Self.familiesTable(stats, catalog)) }
            if let text = coverage.table { print(""); print(text) }
        }
        fflush(stdout)
        finishTrace(reader, error: failure)
    }

    static let percentiles: [Double] = [50, 90, 99, 99.9]

    /// Messages of other families their spec decodes only in part (attributes it does not
    /// define, shown by number) or not at all, per family and operation, with the frame of the
    /// first.
    struct SpecCoverage {
        var undefined: [String: (family: String, op: String, messages: Int, frame: Int, attrs: [String])] = [:]
        var failed: [String: (family: String, op: String, messages: Int, frame: Int, error: String)] = [:]

        var json: [JSONMember] {
            [
                JSONMember(
                    "undefined_attrs",
                    .array(
                        undefined.keys.sorted().compactMap { undefined[$0] }.map { r in
                            .object([
                                JSONMember("family", .string(r.family)), JSONMember("op", .string(r.op)),
                                JSONMember("messages", .number(UInt64(r.messages))),
                                JSONMember("first_frame", .number(UInt64(r.frame))),
                                JSONMember("attrs", .array(r.attrs.map { .string($0) })),
                            ])
                        })),
                JSONMember(
                    "decode_errors",
                    .array(
                        failed.keys.sorted().compactMap { failed[$0] }.map { r in
                            .object([
                                JSONMember("family", .string(r.family)), JSONMember("op", .string(r.op)),
                                JSONMember("messages", .number(UInt64(r.messages))),
                                JSONMember("first_frame", .number(UInt64(r.frame))),
                                JSONMember("first_error", .string(r.error)),
                            ])
                        })),
            ]
        }

        var table: String? {
            var out: [String] = []
            if !undefined.isEmpty {
                out.append("messages with attributes their spec does not define (shown by number):")
                for k in undefined.keys.sorted() {
                    guard let r = undefined[k] else { continue }
                    out.append(
                        "  \(r.family) \(r.op): \(r.messages) (first: frame \(r.frame)), attr \(r.attrs.joined(separator: ", "))"
                    )
                }
            }
            if !failed.isEmpty {
                out.append("messages their spec cannot decode:")
                for k in failed.keys.sorted() {
                    guard let r = failed[k] else { continue }
                    out.append("  \(r.family) \(r.op): \(r.messages), first: frame \(r.frame): \(r.error)")
                }
            }
            return out.isEmpty ? nil : out.joined(separator: "\n")
        }

        mutating func add(
            _ netlink: UnsafeRawBufferPointer, netlinkProtocol: UInt16, families: FamilyTable, frame: Int,
            catalog: FamilyCatalog
        ) {
            // nlctrl is read by FlowTrace itself (show does not decode it with a spec either).
            if netlinkProtocol == NetlinkPseudoHeader.protocolGeneric, netlink.count >= Netlink.headerLength,
                netlink.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == Controller.familyID
            {
                return
            }
            var it = NetlinkMessageIterator(netlink)
            while let m = try? it.next() {
                switch catalog.decode(m, protocol: netlinkProtocol, families: families) {
                case .decoded(let y)?:
                    let paths = y.undefinedAttributes
                    if paths.isEmpty { continue }
                    let k = y.family + "\u{0}" + y.operation
                    var row = undefined[k] ?? (y.family, y.operation, 0, frame, [])
                    row.messages += 1
                    for p in paths where !row.attrs.contains(p) { row.attrs.append(p) }
                    undefined[k] = row
                case .failed(let family, let op, let error)?:
                    let k = family + "\u{0}" + (op ?? "?")
                    var row = failed[k] ?? (family, op ?? "?", 0, frame, "\(error)")
                    row.messages += 1
                    failed[k] = row
                default:
                    break
                }
            }
        }
    }

    static func table(_ s: TraceStats) -> String {
        var out: [String] = []
        let secs = Double(s.durationNanoseconds) / 1e9
        out.append(
            "records \(s.records) (\(s.synthetic) snapshot, \(s.malformed) malformed), duration \(String(format3(secs)))s"
        )
        out.append("")
        out.append("leg      command          messages   calls  errors   p50        p90        p99        p99.9")
        let byCommand = s.byCommand
        for key in byCommand.keys.sorted() {
            guard let c = byCommand[key] else { continue }
            let name = NFL.Command(rawValue: key.command)?.name ?? "cmd \(key.command)"
            var line =
                pad(key.leg.description, 8) + " " + pad(name, 16) + " " + pad("\(c.messages)", 10, right: true)
                + " " + pad("\(c.calls)", 7, right: true) + " " + pad("\(c.errors.values.reduce(0, +))", 7, right: true)
            for p in percentiles {
                line +=
                    "  " + pad(c.latency.totalCount > 0 ? TraceLine.latency(c.latency.valueAtPercentile(p)) : "-", 9)
            }
            out.append(line)
        }
        if !s.errnos.isEmpty {
            out.append("")
            out.append(
                "errors: "
                    + s.errnos.sorted { $0.key < $1.key }.map { "\(Errno.display($0.key)) \($0.value)" }.joined(
                        separator: ", "))
        }
        if !s.added.isEmpty || !s.removed.isEmpty {
            out.append("")
            out.append("table    added    removed")
            for t in Set(s.added.keys).union(s.removed.keys).sorted() {
                out.append(
                    pad("\(t)", 8) + " " + pad("\(s.added[t] ?? 0)", 8, right: true) + " "
                        + pad("\(s.removed[t] ?? 0)", 10, right: true))
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
                for p in percentiles {
                    lat.append(
                        JSONMember("p\(p == 99.9 ? "99.9" : String(Int(p)))", .number(c.latency.valueAtPercentile(p))))
                }
                lat.append(JSONMember("max", .number(c.latency.max)))
            }
            commands.append(
                .object([
                    JSONMember("leg", .string(key.leg.description)),
                    JSONMember("cmd", .string(NFL.Command(rawValue: key.command)?.name ?? "\(key.command)")),
                    JSONMember("messages", .number(UInt64(c.messages))),
                    JSONMember("calls", .number(UInt64(c.calls))),
                    JSONMember(
                        "errors",
                        .object(
                            c.errors.sorted { $0.key < $1.key }.map {
                                JSONMember(Errno.display($0.key), .number(UInt64($0.value)))
                            })),
                    JSONMember("latency_ns", .object(lat)),
                ]))
        }
        var o: [JSONMember] = [
            JSONMember("records", .number(UInt64(s.records))),
            JSONMember("snapshot_records", .number(UInt64(s.synthetic))),
            JSONMember("malformed", .number(UInt64(s.malformed))),
            JSONMember("duration_ns", .number(s.durationNanoseconds)),
            JSONMember("commands", .array(commands)),
            JSONMember(
                "errors",
                .object(
                    s.errnos.sorted { $0.key < $1.key }.map {
                        JSONMember(Errno.display($0.key), .number(UInt64($0.value)))
                    })),
            JSONMember(
                "flows_added",
                .object(s.added.sorted { $0.key < $1.key }.map { JSONMember("\($0.key)", .number(UInt64($0.value))) })),
            JSONMember(
                "flows_removed",
                .object(s.removed.sorted { $0.key < $1.key }.map { JSONMember("\($0.key)", .number(UInt64($0.value))) })
            ),
        ]
        if let truncation { o.append(JSONMember("truncation", .string(truncation))) }
        return .object(o)
    }

    /// Other families' operations, named, in name order.
    static func familyRows(_ s: TraceStats, _ catalog: FamilyCatalog) -> [(
        family: String, op: String, counts: FamilyOperationCounts
    )] {
        var merged: [String: (family: String, op: String, counts: FamilyOperationCounts)] = [:]
        for (key, c) in s.familyOperations {
            let n = catalog.names(key)
            let k = n.family + "\u{0}" + n.operation
            var row = merged[k] ?? (n.family, n.operation, FamilyOperationCounts())
            row.counts.requests += c.requests
            row.counts.answers += c.answers
            row.counts.unpaired += c.unpaired
            for (e, n) in c.errors { row.counts.errors[e, default: 0] += n }
            for (e, texts) in c.errorTexts {
                for (t, n) in texts { row.counts.errorTexts[e, default: [:]][t, default: 0] += n }
            }
            merged[k] = row
        }
        return merged.values.sorted { ($0.family, $0.op) < ($1.family, $1.op) }
    }

    static func familiesTable(_ s: TraceStats, _ catalog: FamilyCatalog) -> String {
        var out = ["family           operation                 requests  answers  no-call   errors"]
        var errorLines: [String] = []
        for r in familyRows(s, catalog) {
            let c = r.counts
            out.append(
                pad(r.family, 16) + " " + pad(r.op, 24) + " " + pad("\(c.requests)", 9, right: true)
                    + " " + pad("\(c.answers)", 8, right: true) + " " + pad("\(c.unpaired)", 8, right: true)
                    + " " + pad("\(c.errors.values.reduce(0, +))", 8, right: true))
            for (e, n) in c.errors.sorted(by: { $0.key < $1.key }) {
                let texts = (c.errorTexts[e] ?? [:]).sorted { $0.key < $1.key }.map {
                    "\"\($0.key)\"" + ($0.value > 1 ? " x\($0.value)" : "")
                }
                errorLines.append(
                    "  \(r.family) \(r.op): \(Errno.display(e)) \(n)"
                        + (texts.isEmpty ? "" : " " + texts.joined(separator: ", ")))
            }
        }
        if !errorLines.isEmpty { out.append(""); out.append("errors by family and operation:"); out += errorLines }
        return out.joined(separator: "\n")
    }

    static func familiesJSON(_ s: TraceStats, _ catalog: FamilyCatalog) -> JSONValue {
        .array(
            familyRows(s, catalog).map { r in
                let c = r.counts
                return .object([
                    JSONMember("family", .string(r.family)), JSONMember("op", .string(r.op)),
                    JSONMember("requests", .number(UInt64(c.requests))),
                    JSONMember("answers", .number(UInt64(c.answers))),
                    JSONMember("no_call", .number(UInt64(c.unpaired))),
                    JSONMember(
                        "errors",
                        .array(
                            c.errors.sorted { $0.key < $1.key }.map { e, n in
                                .object([
                                    JSONMember("errno", .string(Errno.display(e))),
                                    JSONMember("count", .number(UInt64(n))),
                                    JSONMember(
                                        "messages",
                                        .object(
                                            (c.errorTexts[e] ?? [:]).sorted { $0.key < $1.key }
                                                .map { JSONMember($0.key, .number(UInt64($0.value))) })),
                                ])
                            })),
                ])
            })
    }

    static func requestJSON(_ r: FailedRequest, _ catalog: FamilyCatalog) -> JSONValue {
        let n = catalog.names(r.operation)
        var o: [JSONMember] = [
            JSONMember("family", .string(n.family)), JSONMember("op", .string(n.operation)),
            JSONMember("call", .number(UInt64(r.call))), JSONMember("frame", .number(UInt64(r.requestFrame))),
        ]
        if let e = r.errno {
            o.append(JSONMember("errno", .string(Errno.display(e))))
            o.append(JSONMember("error", .int(Int64(e))))
            o.append(JSONMember("error_frame", .number(UInt64(r.answerFrame))))
            if let m = r.message { o.append(JSONMember("message", .string(m))) }
        }
        return .object(o)
    }

    static func failedJSON(_ s: TraceStats, _ catalog: FamilyCatalog, truncation: String?) -> JSONValue {
        var o: [JSONMember] = [
            JSONMember("failed", .array(s.failedRequests.map { requestJSON($0, catalog) })),
            JSONMember("unanswered", .array(s.unansweredRequests.map { requestJSON($0, catalog) })),
        ]
        if let truncation { o.append(JSONMember("truncation", .string(truncation))) }
        return .object(o)
    }

    static func failedTable(_ s: TraceStats, _ catalog: FamilyCatalog) -> String {
        var out: [String] = []
        let failed = s.failedRequests, open = s.unansweredRequests
        out.append("\(failed.count) request\(failed.count == 1 ? "" : "s") failed, \(open.count) got no answer")
        if !failed.isEmpty {
            out.append("")
            out.append("frame    call    family           operation                errno         error frame  message")
            for r in failed {
                let n = catalog.names(r.operation)
                out.append(
                    pad("\(r.requestFrame)", 8) + " " + pad("#\(r.call)", 7) + " " + pad(n.family, 16) + " "
                        + pad(n.operation, 24)
                        + " " + pad(r.errno.map { Errno.display($0) } ?? "-", 13) + " " + pad("\(r.answerFrame)", 12)
                        + (r.message.map { " \"\($0)\"" } ?? ""))
            }
        }
        if !open.isEmpty {
            out.append("")
            out.append("no answer:")
            out.append("frame    call    family           operation")
            for r in open {
                let n = catalog.names(r.operation)
                out.append(
                    pad("\(r.requestFrame)", 8) + " " + pad("#\(r.call)", 7) + " " + pad(n.family, 16) + " "
                        + n.operation)
            }
        }
        return out.joined(separator: "\n")
    }

    static func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
        s.count >= w
            ? s
            : (right ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
    }

    static func format3(_ x: Double) -> String { String(Double(Int(x * 1000)) / 1000) }
}
