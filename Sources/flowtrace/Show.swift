// flowtrace show: one line per message, like tcpdump; -V the decoded tree; --json JSON lines.

import AnyFamily
import ArgumentParser
import FlowTrace
import LibFlowTable
import LiveCapture
import Replay
import YNL

#if canImport(Glibc)
import Glibc
#endif

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a trace, one line per message.",
        discussion: """
            Lines read: time, call id (#N: every message of one call, on both legs, carries the
            same number; spec/trace-format.md "Calls"), leg (api/hairpin), direction (>k toward the
            kernel side, >u toward user space), family, command, device, sequence, status, a
            summary, and +latency on answers.
            --command shows whole calls (their ACKs and errors too); --status error shows the
            answers that failed and, when the trace is a file, the requests they answer.
            Examples:
              flowtrace show trace.pcapng
              flowtrace show trace.pcapng --command SET_FLOWS --status error
              flowtrace show trace.pcapng --call 7
              flowtrace show trace.pcapng -V --seq 42
              flowtrace show trace.pcapng --json | jq .
            """)

    @OptionGroup var input: TraceInputArguments
    var file: String { input.file }

    @Flag(name: .customShort("V"), help: "Print each message fully decoded.")
    var verbose = false

    @Flag(help: "One JSON object per message.")
    var json = false

    @Option(help: "Only messages of this API command (e.g. SET_FLOWS, get-flows).")
    var command: String?

    @Option(help: "Only messages for this device ifindex.")
    var device: UInt32?

    @Option(help: "Only answers with this status: ok, error, or an errno name or number.")
    var status: String?

    @Option(help: "Only messages with this sequence number (ENCAP SEQ or nlmsg_seq).")
    var seq: UInt64?

    @Option(help: "Only the messages of this call (the #N column; both legs).")
    var call: Int?

    @Option(help: "Only this leg: api or hairpin.")
    var leg: String?

    @Option(name: .customShort("c"), help: "Stop after this many lines.")
    var count: Int?

    @Flag(help: "Also print the synthetic snapshot records written at the start of each file.")
    var snapshot = false

    @Option(
        name: .customLong("spec-dir"),
        help: ArgumentHelp("Also search this folder for YNL specs of other families (repeatable).", valueName: "dir"))
    var specDirs: [String] = []

    func run() throws {
        // Only when the lines go to a file: on the terminal they would interleave with the bar.
        let bar = showReadProgress(label: "show", onlyIf: stdoutIsFile())
        let reader = try openTrace(file)
        let wantCommand = try command.map(Self.parseCommand)
        let wantStatus = try status.map(Self.parseStatus)
        let wantLeg: TraceLeg? = try leg.map {
            switch $0.lowercased() {
            case "api": return .api
            case "hairpin": return .hairpin
            default: throw ToolError("--leg takes api or hairpin, not \($0)")
            }
        }
        // --status error also shows the requests of the calls that failed: a first pass finds
        // those calls (not possible on stdin, where only the answers are shown).
        var failedCalls = Set<Int>()
        if let wantStatus, file != "-" {
            failedCalls = try Self.callsAnswered(file, status: wantStatus)
        }
        var calls = CallTracker()
        var printed = 0
        var out = OutputBuffer()
        let dirs = specDirs
        // A spec is parsed when its family first shows up; one that does not load is said then.
        let view = FamilyView(
            catalog: FamilyCatalog(load: {
                YNLSpecLibrary.load(
                    YNLSpecLibrary.searchPath(specDirs: dirs),
                    report: { _, e in fputs("flowtrace show: \(e) (its family is shown by number)\n", stderr) })
            }))
        while true {
            let record: TraceRecord?
            do { record = try reader.next() } catch {
                out.flush()
                finishTrace(reader, error: error)
                return
            }
            guard let record else { break }
            let frame = reader.frameNumber
            let families = reader.families
            let s = SummaryDecoder.summarize(
                record.netlink, families: families, netlinkProtocol: record.netlinkProtocol)
            let process = record.comment.flatMap(NetlinkProcess.init(comment:))
            let e = calls.observe(
                s, families: families, timestamp: record.timestamp, frame: frame, synthetic: record.synthetic,
                process: process?.pid)
            let recorded = families.leg(of: record)
            let recLeg = recorded != .unknown ? recorded : e.leg
            if record.synthetic && !snapshot { continue }
            if let call, e.call != call { continue }
            if let wantLeg, recLeg != wantLeg { continue }
            if let wantCommand, (e.command != 0xff ? e.command : s.apiCommand) != wantCommand { continue }
            if let device, s.ifindex != device { continue }
            if let seq, s.encapSeq != seq && UInt64(s.netlinkSeq) != seq && s.ackedSeq.map(UInt64.init) != seq {
                continue
            }
            if let wantStatus {
                let isRequestOfFailed =
                    (e.role == .apiRequest || e.role == .encapRequest) && failedCalls.contains(e.call)
                if !isRequestOfFailed {
                    guard let st = s.status, s.isAnswer, Self.matches(st, wantStatus) else { continue }
                }
            }
            let latency = e.final || s.kind == .flowTable ? e.latency : nil
            let other = FamilyView.describes(s, e)
            if json {
                var extra = other ? view.jsonMembers(record, s, e, families: families) : []
                if let process {
                    extra.append(JSONMember("pid", .number(UInt32(bitPattern: process.pid))))
                    extra.append(JSONMember("comm", .string(process.command)))
                }
                out.write(
                    Self.jsonLine(s, record: record, leg: recLeg, latency: latency, call: e, frame: frame, extra: extra)
                )
            } else {
                let text = other ? view.lineText(record, s, e, families: families) : nil
                let line = TraceLine.format(
                    s, record: record, leg: recLeg, latency: latency, call: e.call, familyText: text)
                out.write(process.map { line + "  [\($0)]" } ?? line)
                if verbose { out.write(Self.tree(record, families: families, frame: frame, call: e, view: view)) }
            }
            printed += 1
            if let count, printed >= count { break }
        }
        out.flush()
        bar?.finish()
        if count.map({ printed < $0 }) ?? true { finishTrace(reader) }
    }

    enum StatusFilter { case ok, error, errno(Int32) }

    static func matches(_ st: Int32, _ want: StatusFilter) -> Bool {
        switch want {
        case .ok: return st == 0
        case .error: return st != 0
        case let .errno(e): return st == e
        }
    }

    /// The calls with an answer of this status (a first pass over the file).
    static func callsAnswered(_ file: String, status: StatusFilter) throws -> Set<Int> {
        let reader = try openTrace(file)
        var calls = CallTracker()
        var out = Set<Int>()
        do {
            while let r = try reader.next() {
                let s = SummaryDecoder.summarize(
                    r.netlink, families: reader.families, netlinkProtocol: r.netlinkProtocol)
                let e = calls.observe(
                    s, families: reader.families, timestamp: r.timestamp, frame: reader.frameNumber,
                    synthetic: r.synthetic, process: r.comment.flatMap(NetlinkProcess.init(comment:))?.pid)
                if e.call > 0, s.isAnswer, let st = s.status, matches(st, status) { out.insert(e.call) }
            }
        } catch {
            throw ToolError("\(error) (after frame \(reader.frameNumber))")
        }
        return out
    }

    static func parseStatus(_ text: String) throws -> StatusFilter {
        switch text.lowercased() {
        case "ok", "0": return .ok
        case "error", "err", "fail": return .error
        default:
            if let n = Int32(text) { return .errno(abs(n)) }
            if let n = Errno.number(text) { return .errno(Int32(n)) }
            throw ToolError("--status takes ok, error, an errno name (EEXIST) or a number, not \(text)")
        }
    }

    static func parseCommand(_ text: String) throws -> UInt8 {
        let norm = String(text.uppercased().map { $0 == "-" ? "_" : $0 })
        if let c = NFL.Command.allCases.first(where: { $0.name == norm || $0.name == "GET_" + norm }) {
            return c.rawValue
        }
        if norm == "GET_HEADER_GRAPH" { return NFL.Command.getHeaderGraph.rawValue }
        if let n = UInt8(text) { return n }
        throw ToolError("unknown command \(text); one of \(NFL.Command.allCases.map(\.name).joined(separator: ", "))")
    }

    static func jsonLine(
        _ s: MessageSummary, record: TraceRecord, leg: TraceLeg, latency: UInt64?, call e: CallEvent,
        frame: Int, extra: [JSONMember] = []
    ) -> String {
        var m: [JSONMember] = [
            JSONMember("frame", .number(UInt64(frame))),
            JSONMember("time_ns", .number(record.timestamp)),
            JSONMember("leg", .string(leg.description)),
            JSONMember(
                "direction",
                .string(
                    record.direction == .toKernel ? "to_kernel" : record.direction == .toUser ? "to_user" : "unknown")),
            JSONMember("kind", .string("\(s.kind)")),
        ]
        if record.synthetic { m.append(JSONMember("synthetic", .bool(true))) }
        if e.call > 0 {
            m.append(JSONMember("call", .number(UInt64(e.call))))
            if e.requestFrame > 0 { m.append(JSONMember("request_in", .number(UInt64(e.requestFrame)))) }
            if s.kind == .ack || s.kind == .error || s.kind == .done, let name = NFL.Command(rawValue: e.command)?.name
            {
                m.append(JSONMember("call_cmd", .string(name)))
            }
        }
        if let c = s.apiCommandName { m.append(JSONMember("cmd", .string(c))) }
        if s.kind == .hairpin {
            m.append(JSONMember("hairpin_cmd", .string(NFLH.Command(rawValue: s.command)?.name ?? "\(s.command)")))
        }
        if s.kind == .flowTable { m.append(JSONMember("request", .bool(s.isRequest))) }
        if let i = s.ifindex { m.append(JSONMember("ifindex", .number(i))) }
        m.append(JSONMember("nlmsg_seq", .number(s.netlinkSeq)))
        m.append(JSONMember("port", .number(s.port)))
        if let e = s.encapSeq { m.append(JSONMember("seq", .number(e))) }
        if let a = s.ackedSeq { m.append(JSONMember("acked_seq", .number(a))) }
        if let st = s.status { m.append(JSONMember("status", .int(Int64(st)))) }
        if s.hasFlows { m.append(JSONMember("flows", .number(UInt64(s.flowCount)))) }
        if let t = s.firstTable { m.append(JSONMember("table", .number(t))) }
        if let t = s.selectorTable { m.append(JSONMember("table", .number(t))) }
        if s.resultCount > 0 {
            m.append(JSONMember("results", .number(UInt64(s.resultCount))))
            m.append(JSONMember("failed", .number(UInt64(s.failedResults))))
        }
        if let p = s.part { m.append(JSONMember("part", .number(p))); m.append(JSONMember("more", .bool(s.more))) }
        if let text = s.text(in: record.netlink) { m.append(JSONMember("message", .string(text))) }
        if s.missingType != 0 {
            m.append(JSONMember("missing_type", .number(s.missingType)))
            if s.missingNest != 0 { m.append(JSONMember("missing_nest", .number(s.missingNest))) }
        }
        if let r = s.malformedReason { m.append(JSONMember("malformed", .string(r))) }
        if let l = latency { m.append(JSONMember("latency_ns", .number(l))) }
        m += extra
        return JSONValue.object(m).serialized(style: .compact)
    }

    /// The whole message decoded with the typed model, as indented JSON under the line.
    static func tree(_ record: TraceRecord, families: FamilyTable, frame: Int, call: CallEvent, view: FamilyView)
        -> String
    {
        var lines: [String] = [
            "frame \(frame)" + (call.call > 0 ? ", call \(call.call)" : "")
                + (call.requestFrame > 0 ? ", request in frame \(call.requestFrame)" : "")
        ]
        do {
            var it = NetlinkMessageIterator(record.netlink)
            while let m = try it.next() {
                var node: [JSONMember] = [
                    JSONMember("nlmsg_len", .number(m.header.length)),
                    JSONMember("nlmsg_type", .number(UInt32(m.header.type))),
                    JSONMember("nlmsg_flags", .string("0x" + String(m.header.flags, radix: 16))),
                    JSONMember("nlmsg_seq", .number(m.header.sequence)),
                    JSONMember("nlmsg_pid", .number(m.header.port)),
                ]
                let generic = record.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric
                var other = !generic
                if generic, case .other = families.kind(ofType: m.header.type) { other = true }
                if generic, case .unknown = families.kind(ofType: m.header.type) { other = true }
                if other, let members = view.tree(m, protocol: record.netlinkProtocol, families: families) {
                    node += members
                    lines.append(JSONValue.object(node).serialized(style: .pretty))
                    continue
                }
                switch generic ? families.kind(ofType: m.header.type) : .control(m.header.type) {
                case .flowTable:
                    node += MessageJSON.members(try FlowTableMessage.decode(m, requireShape: false))
                case .hairpin:
                    node += MessageJSON.members(try HairpinMessage.decode(m), errnoNames: false)
                case .control(Netlink.typeError):
                    let ack = try NetlinkAck.decode(m)
                    node.append(JSONMember("error", .int(Int64(ack.error))))
                    if let t = ack.message { node.append(JSONMember("message", .string(t))) }
                    if let t = ack.missingType { node.append(JSONMember("missing_type", .number(t))) }
                    if let n = ack.missingNest { node.append(JSONMember("missing_nest", .number(n))) }
                case .controller:
                    if let f = try? Controller.decodeFamily(m) {
                        node.append(
                            JSONMember(
                                "family",
                                .object([JSONMember("id", .number(UInt32(f.id))), JSONMember("name", .string(f.name))]))
                        )
                    }
                default:
                    break
                }
                lines.append(JSONValue.object(node).serialized(style: .pretty))
            }
        } catch {
            lines.append("    (cannot decode: \(error))")
        }
        return lines.joined(separator: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { "    " + $0 }.joined(separator: "\n")
    }
}

/// Buffered stdout: one write per 64 KiB instead of one per line.
struct OutputBuffer {
    var bytes: [UInt8] = []

    mutating func write(_ line: String) {
        bytes.append(contentsOf: line.utf8)
        bytes.append(0x0a)
        if bytes.count >= 65536 { flush() }
    }

    mutating func flush() {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            off += n
        }
        bytes.removeAll(keepingCapacity: true)
    }
}
