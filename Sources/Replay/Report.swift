// What a replay (or a diff) found: counts, the first divergence in full (both answers decoded
// side by side, differing lines marked), a list of the following ones, timing. As text for
// people and as JSON for scripts (`--json`).

import FlowTrace
import Histogram
import LibFlowTable

/// One answer that differs.
public struct Divergence: Sendable {
    /// The call's number in this replay (1-based) and the frame (1-based, as Wireshark numbers
    /// it) of the request that started it.
    public var call: Int
    public var frame: Int
    public var timestamp: UInt64
    public var leg: TraceLeg
    /// The Flow Table API command of the call (a name, or the number when unknown).
    public var command: String
    public var ifindex: UInt32?
    /// ENCAP SEQ (hairpin leg) or the client's nlmsg_seq (API leg), as recorded.
    public var sequence: UInt64?
    /// Which message of the answer differs first (0-based).
    public var message: Int
    /// Why, in one line.
    public var reason: String
    /// Both answers, every message normalised (spec/replay.md).
    public var recorded: [[UInt8]]
    public var replayed: [[UInt8]]
    /// Overrides the title (diff names records of two files).
    public var label: String?
    /// The request, in one line, when known.
    public var request: String?

    public init(
        call: Int, frame: Int, timestamp: UInt64, leg: TraceLeg, command: String, ifindex: UInt32?,
        sequence: UInt64?, message: Int, reason: String, recorded: [[UInt8]], replayed: [[UInt8]]
    ) {
        self.call = call
        self.frame = frame
        self.timestamp = timestamp
        self.leg = leg
        self.command = command
        self.ifindex = ifindex
        self.sequence = sequence
        self.message = message
        self.reason = reason
        self.recorded = recorded
        self.replayed = replayed
    }

    /// "SET_FLOWS dev 1000 seq 7 (call 12, frame 57, hairpin leg)"
    public var title: String {
        if let label { return label }
        var t = command
        if let i = ifindex { t += " dev \(i)" }
        if let s = sequence { t += " seq \(s)" }
        return t + " (call \(call), frame \(frame), \(leg) leg)"
    }

    /// The differing message of both sides as pretty JSON lines, aligned by a line diff.
    public var sideBySide: SideBySide {
        SideBySide(left: Self.lines(recorded, message), right: Self.lines(replayed, message))
    }

    static func lines(_ messages: [[UInt8]], _ index: Int) -> [String] {
        guard index < messages.count else { return ["(no such message)"] }
        return MessageJSON.json(messages[index]).serialized(style: .pretty)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    public func json(maxLines: Int = 400) -> JSONValue {
        let sbs = sideBySide
        var changed: [JSONValue] = []
        for r in sbs.changes.prefix(maxLines) {
            changed.append(
                .object([
                    JSONMember("recorded", r.left.map(JSONValue.string) ?? .null),
                    JSONMember("replayed", r.right.map(JSONValue.string) ?? .null),
                ]))
        }
        var o: [JSONMember] = [
            JSONMember("call", .number(UInt64(call))),
            JSONMember("frame", .number(UInt64(frame))),
            JSONMember("time_ns", .number(timestamp)),
            JSONMember("leg", .string(leg.description)),
            JSONMember("cmd", .string(command)),
        ]
        if let i = ifindex { o.append(JSONMember("ifindex", .number(i))) }
        if let s = sequence { o.append(JSONMember("seq", .number(s))) }
        o.append(JSONMember("message", .number(UInt64(message))))
        o.append(JSONMember("reason", .string(reason)))
        if let request { o.append(JSONMember("request", .string(request))) }
        o.append(JSONMember("recorded", .array(recorded.map(MessageJSON.json))))
        o.append(JSONMember("replayed", .array(replayed.map(MessageJSON.json))))
        o.append(JSONMember("changed_lines", .array(changed)))
        return .object(o)
    }

    /// The report block for people.
    public func text(leftTitle: String = "recorded", rightTitle: String = "replayed") -> String {
        var out = ["first divergence: \(title)"]
        if let request { out.append("  request: \(request)") }
        out.append("  \(reason)")
        if recorded.count != replayed.count {
            out.append(
                "  the \(leftTitle) answer has \(recorded.count) message(s), the \(rightTitle) one \(replayed.count); "
                    + "message \(message + 1) is shown")
        } else if recorded.count > 1 {
            out.append("  message \(message + 1) of \(recorded.count) differs")
        }
        out.append(sideBySide.render(leftTitle: leftTitle, rightTitle: rightTitle))
        return out.joined(separator: "\n")
    }
}

/// A later divergence, in one line.
public struct DivergenceSummary: Sendable {
    public var call: Int
    public var frame: Int
    public var command: String
    public var ifindex: UInt32?
    public var sequence: UInt64?
    public var reason: String

    public init(_ d: Divergence) {
        call = d.call
        frame = d.frame
        command = d.command
        ifindex = d.ifindex
        sequence = d.sequence
        reason = d.reason
    }

    public var json: JSONValue {
        var o: [JSONMember] = [
            JSONMember("call", .number(UInt64(call))), JSONMember("frame", .number(UInt64(frame))),
            JSONMember("cmd", .string(command)),
        ]
        if let i = ifindex { o.append(JSONMember("ifindex", .number(i))) }
        if let s = sequence { o.append(JSONMember("seq", .number(s))) }
        o.append(JSONMember("reason", .string(reason)))
        return .object(o)
    }
}

/// Per command: calls, flows, how long the target took: one clock reading when the request is
/// handed to the service (whichever path serves it), one when its answer's last message is
/// ready. `flows` counts every flow of a batch.
public struct CommandTiming {
    public var calls = 0
    public var flows = 0
    /// Σ latency (exact; the histogram's mean is bucketed).
    public var serviceNanoseconds: UInt64 = 0
    /// Inside the backend's own operations (ReplayOptions.backendTiming; 0 when not measured).
    public var backendOperations = 0
    public var backendNanoseconds: UInt64 = 0
    public var latency = Histogram<UInt64>(
        highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
    public init() {}

    mutating func add(_ t: CommandTiming) {
        calls += t.calls
        flows += t.flows
        serviceNanoseconds += t.serviceNanoseconds
        backendOperations += t.backendOperations
        backendNanoseconds += t.backendNanoseconds
        latency.add(t.latency)
    }

    /// Calls per second of service time: calls / Σ latency.
    public var serviceCallsPerSecond: Double {
        serviceNanoseconds == 0 ? 0 : Double(calls) / (Double(serviceNanoseconds) / 1e9)
    }
}

public struct ReplayReport {
    public var file: String
    public var target: String
    public var timing: Timing
    public var loops = 1
    /// Calls sent to the target (a multi-part request counts once) and request messages.
    public var calls = 0
    public var messages = 0
    /// Answers compared, and of those the ones that differ.
    public var compared = 0
    public var divergent = 0
    /// Calls whose answer could not be checked: the trace holds none (it ends first, or the
    /// recording's listener never answered), or the recorded one was a timeout.
    public var unverified = 0
    /// Recorded calls not sent: answered ENOTCONN in the recording (no listener then), so they
    /// did nothing there and must do nothing here.
    public var skipped = 0
    /// Recorded answers to no request of this replay (the request is not in the file).
    public var strayAnswers = 0
    /// The frame (1-based, as Wireshark numbers them) of the first unverified call's request
    /// and of the first stray answer.
    public var firstUnverifiedFrame: Int?
    public var firstStrayFrame: Int?
    /// The user accepts an incomplete trace (--allow-incomplete): unverified calls and stray
    /// answers do not fail the replay.
    public var allowIncomplete = false
    /// Which legs' messages were compared with the recorded ones ("api", "hairpin").
    public var legs: [TraceLeg] = []
    public var first: Divergence?
    public var later: [DivergenceSummary] = []
    public var elapsedNanoseconds: UInt64 = 0
    public var pacing: PacingStats?
    public var commands: [UInt8: CommandTiming] = [:]
    /// How the starting state was made, in one line.
    public var startingState = ""
    /// Warnings, one line each (also printed on stderr as they happen).
    public var notes: [String] = []
    /// Where the trace is cut, when it ends inside a block (the tool then exits 2, as tshark).
    public var truncation: String?
    /// Set when the replay could not go on (the target stopped answering, a damaged trace, or
    /// the user ended --step).
    public var stopped: String?
    public var stoppedByUser = false
    /// Peak resident memory (getrusage ru_maxrss), bytes.
    public var peakMemory: Int = 0
    /// backend:tcam — entries the replay's inserts and deletes moved (installing the starting
    /// state not counted).
    public var entryMoves: Int?

    public init(file: String, target: String, timing: Timing) {
        self.file = file
        self.target = target
        self.timing = timing
    }

    /// Everything matched, every call was compared (unless an incomplete trace is accepted),
    /// and the replay ran to its end (or the user ended it).
    public var succeeded: Bool { divergent == 0 && (stopped == nil || stoppedByUser) && (allowIncomplete || complete) }

    /// Every call had its request and its recorded answer.
    public var complete: Bool { unverified == 0 && strayAnswers == 0 }

    mutating func unverifiedCall(frame: Int) {
        unverified += 1
        firstUnverifiedFrame = min(firstUnverifiedFrame ?? frame, frame)
    }

    mutating func strayAnswer(frame: Int) {
        strayAnswers += 1
        firstStrayFrame = min(firstStrayFrame ?? frame, frame)
    }

    /// "calls without a recorded answer: 3, the first at frame 17; …", nil when complete.
    public var incompleteness: String? {
        var parts: [String] = []
        if unverified > 0 {
            parts.append(
                "\(unverified) call(s) without a recorded answer"
                    + (firstUnverifiedFrame.map { ", the first at frame \($0)" } ?? ""))
        }
        if strayAnswers > 0 {
            parts.append(
                "\(strayAnswers) recorded answer(s) without their request"
                    + (firstStrayFrame.map { ", the first at frame \($0)" } ?? ""))
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// The replay could not go on for a reason other than the user.
    public var troubled: Bool { stopped != nil && !stoppedByUser }

    /// Calls / the replay's wall-clock time (reading, pairing, comparing, the target).
    public var callsPerSecond: Double {
        elapsedNanoseconds == 0 ? 0 : Double(calls) / (Double(elapsedNanoseconds) / 1e9)
    }

    /// Every command's timing together (the `all` row).
    public var overall: CommandTiming {
        var all = CommandTiming()
        for t in commands.values { all.add(t) }
        return all
    }

    mutating func add(_ d: Divergence, keep: Int) {
        divergent += 1
        if first == nil {
            first = d
        } else if later.count < keep {
            later.append(DivergenceSummary(d))
        }
    }

    public func text() -> String {
        var out: [String] = []
        let secs = Double(elapsedNanoseconds) / 1e9
        var head = "replay \(file) → \(target): \(calls) calls"
        if loops > 1 { head += " (\(loops) loops)" }
        head += ", \(compared) answers compared, \(divergent) divergent"
        out.append(head)
        if !legs.isEmpty { out.append("  legs compared: \(legs.map(\.description).joined(separator: ", "))") }
        var detail = "  \(timing), \(format(secs)) s, \(Int(callsPerSecond)) calls/s (wall clock)"
        if skipped > 0 { detail += "; \(skipped) skipped (recorded ENOTCONN: no listener then)" }
        out.append(detail)
        if let missing = incompleteness {
            out.append(
                "  incomplete trace: \(missing)"
                    + (allowIncomplete
                        ? " (accepted: --allow-incomplete)" : "; the replay fails (--allow-incomplete accepts it)"))
        }
        let all = overall
        if all.calls > 0 {
            out.append(
                "  service: \(all.calls) timed calls, \(format(Double(all.serviceNanoseconds) / 1e6)) ms, "
                    + "\(Int(all.serviceCallsPerSecond)) calls/s (request handed over → answer ready)")
        }
        if !startingState.isEmpty { out.append("  starting state: \(startingState)") }
        if let p = pacing, p.paced > 0 {
            out.append(
                "  pacing: \(p.paced) requests, achieved \(format(p.achievedRate)) /s, lateness mean "
                    + "\(TraceLine.latency(UInt64(p.meanLateness))) max \(TraceLine.latency(p.maxLateness))")
        }
        if let stopped { out.append("  stopped: \(stopped)") }
        if let first {
            out.append("")
            out.append(first.text())
            if divergent > 1 {
                out.append("")
                out.append(
                    "\(divergent) divergent answers in all\(later.count < divergent - 1 ? " (the first \(later.count + 1) listed)" : ""):"
                )
                out.append("  call \(first.call) frame \(first.frame): \(first.command): \(first.reason)")
                for d in later {
                    var line = "  call \(d.call) frame \(d.frame): \(d.command)"
                    if let i = d.ifindex { line += " dev \(i)" }
                    if let s = d.sequence { line += " seq \(s)" }
                    out.append(line + ": \(d.reason)")
                }
            } else {
                out.append("")
                out.append("1 divergent answer in all.")
            }
        }
        return out.joined(separator: "\n")
    }

    public func json() -> JSONValue {
        var o: [JSONMember] = [
            JSONMember("file", .string(file)),
            JSONMember("target", .string(target)),
            JSONMember("timing", .string(timing.description)),
            JSONMember("loops", .number(UInt64(loops))),
            JSONMember("calls", .number(UInt64(calls))),
            JSONMember("messages", .number(UInt64(messages))),
            JSONMember("compared", .number(UInt64(compared))),
            JSONMember("divergent", .number(UInt64(divergent))),
            JSONMember("unverified", .number(UInt64(unverified))),
            JSONMember("skipped", .number(UInt64(skipped))),
            JSONMember("stray_answers", .number(UInt64(strayAnswers))),
            JSONMember("legs", .array(legs.map { .string($0.description) })),
            JSONMember("complete", .bool(complete)),
            JSONMember("elapsed_ns", .number(elapsedNanoseconds)),
            JSONMember("calls_per_second", .double(callsPerSecond)),
            JSONMember("starting_state", .string(startingState)),
            JSONMember("ok", .bool(succeeded)),
        ]
        if let stopped { o.append(JSONMember("stopped", .string(stopped))) }
        if let f = firstUnverifiedFrame { o.append(JSONMember("first_unverified_frame", .number(UInt64(f)))) }
        if let f = firstStrayFrame { o.append(JSONMember("first_stray_frame", .number(UInt64(f)))) }
        if let m = entryMoves { o.append(JSONMember("tcam_entry_moves", .number(UInt64(m)))) }
        if let p = pacing, p.paced > 0 {
            o.append(
                JSONMember(
                    "pacing",
                    .object([
                        JSONMember("paced", .number(UInt64(p.paced))),
                        JSONMember("achieved_rate", .double(p.achievedRate)),
                        JSONMember("mean_lateness_ns", .double(p.meanLateness)),
                        JSONMember("max_lateness_ns", .number(p.maxLateness)),
                    ])))
        }
        func timingJSON(_ t: CommandTiming) -> JSONValue {
            var m: [JSONMember] = [
                JSONMember("calls", .number(UInt64(t.calls))), JSONMember("flows", .number(UInt64(t.flows))),
            ]
            if t.latency.totalCount > 0 {
                for p in [50.0, 90, 99, 99.9] {
                    m.append(
                        JSONMember(
                            "p\(p == 99.9 ? "99.9" : String(Int(p)))_ns", .number(t.latency.valueAtPercentile(p))))
                }
                m.append(JSONMember("max_ns", .number(t.latency.max)))
            }
            m.append(JSONMember("service_ns", .number(t.serviceNanoseconds)))
            m.append(JSONMember("calls_per_second", .double(t.serviceCallsPerSecond)))
            if t.backendOperations > 0 {
                m.append(JSONMember("backend_ops", .number(UInt64(t.backendOperations))))
                m.append(JSONMember("backend_ns", .number(t.backendNanoseconds)))
            }
            return .object(m)
        }
        var cmds: [JSONMember] = []
        for (c, t) in commands.sorted(by: { $0.key < $1.key }) {
            cmds.append(JSONMember(commandName(c), timingJSON(t)))
        }
        o.append(JSONMember("commands", .object(cmds)))
        // calls_per_second above is wall clock; this one is the service's, as each command's.
        o.append(JSONMember("all", timingJSON(overall)))
        if let first { o.append(JSONMember("first_divergence", first.json())) }
        o.append(JSONMember("divergences", .array(later.map(\.json))))
        o.append(JSONMember("notes", .array(notes.map(JSONValue.string))))
        return .object(o)
    }

    func format(_ x: Double) -> String {
        guard x.isFinite, abs(x) < 1e15 else { return "-" }
        if x >= 100 { return String(Int(x.rounded())) }
        return String(Double(Int(x * 1000)) / 1000)
    }
}

/// "SET_FLOWS", or the number of a command the spec does not know.
func commandName(_ c: UInt8) -> String { NFL.Command(rawValue: c)?.name ?? "command \(c)" }
func commandName(_ c: UInt32?) -> String {
    guard let c else { return "?" }
    return UInt8(exactly: c).map(commandName) ?? "command \(c)"
}

/// One line for a normalised message: what `flowtrace show` prints, without time and leg.
public func describeMessage(_ message: [UInt8]) -> String {
    let families = FamilyTable([
        .flowTable(id: Normalizer.canonicalFlowTableID), .hairpin(id: Normalizer.canonicalHairpinID),
    ])
    return message.withUnsafeBytes { raw -> String in
        let s = SummaryDecoder.summarize(raw, families: families)
        var out: String
        switch s.kind {
        case .flowTable: out = "\(s.apiCommandName ?? "?") \(s.isRequest ? "request" : "reply")"
        case .hairpin:
            out = "ENCAP \(s.apiCommandName ?? "?") \(s.status == nil ? "request" : "answer")"
        case .ack: out = "ACK"
        case .error: out = "ERROR"
        case .done: out = "DONE"
        case .controller: out = "nlctrl"
        case .other: out = "type \(s.familyID)"
        case .malformed: out = "MALFORMED \(s.malformedReason ?? "")"
        }
        if let i = s.ifindex { out += " dev \(i)" }
        if let st = s.status { out += " \(Errno.display(st))" }
        let d = s.detail
        if !d.isEmpty { out += " " + d }
        if let text = s.text(in: raw) { out += " \"\(text)\"" }
        return out
    }
}
