// Every call of a trace, one entry per call id (CallTracker): its command, device, frames,
// times on both legs, outcome and flow counts, and what is out of place in it. What `flowtrace
// audit` judges and `flowtrace export` writes. Memory grows with the number of calls.

import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

/// One call as the trace shows it.
public struct CallInfo: Sendable {
    public var id: Int
    public var command: UInt8 = 0xff
    public var ifindex: UInt32?
    /// The file (index into the files read) and the first and last frame of the call in it.
    public var file = 0
    public var firstFrame = 0
    public var lastFrame = 0
    public var apiRequestFrame = 0
    public var apiFinalFrame = 0
    public var encapRequestFrame = 0
    public var encapAnswerFrame = 0
    public var apiStart: UInt64?
    public var apiEnd: UInt64?
    public var encapStart: UInt64?
    public var encapEnd: UInt64?
    public var apiRequests = 0
    /// The request asked for a dump (NLM_F_DUMP): its NLMSG_DONE is its final answer.
    public var dump = false
    /// Final API answers: the ACK or error, or a dump's NLMSG_DONE.
    public var apiFinals = 0
    public var replies = 0
    public var dones = 0
    public var encapRequestParts = 0
    public var encapRequestDone = false
    public var encapAnswerParts = 0
    public var encapAnswerDone = false
    /// ENCAP answers that asked for an ACK (traces before the daemon stopped asking), and the ACKs.
    public var acksAsked = 0
    public var acks = 0
    public var encapSeq: UInt64?
    /// The final API answer's errno (0 = ACK).
    public var status: Int32?
    /// The ENCAP answer's STATUS (the first non-zero of its parts).
    public var encapStatus: Int32?
    /// unft's refusal of the ENCAP answer.
    public var hairpinRefusal: Int32?
    /// Flows the request carries (SET/DEL_FLOWS), the ENCAP answer carries and the API replies carry (GET_FLOWS).
    var earlyReplyReported = false
    public var requestFlows = 0
    public var answerFlows = 0
    public var replyFlows = 0
    /// API replies without a flow (a GET_FLOWS page, a SET/DEL_FLOWS report).
    public var emptyReplies = 0
    /// API replies with NLM_F_MULTI: GET_FLOWS pages (a do's one reply has no flag).
    public var multiReplies = 0
    /// The request's FLOWS_ERROR strategy (SET/DEL_FLOWS), as unft forwarded it.
    public var strategy: UInt32?
    /// Results of the ENCAP answer that failed (ECANCELED ones not counted): what a *_LOG report lists.
    public var failedFlows = 0

    public init(id: Int) { self.id = id }

    public var commandName: String {
        NFL.Command(rawValue: command)?.name ?? (command == 0xff ? "?" : "cmd \(command)")
    }

    /// The outcome the caller saw: the final API answer, else (a hairpin-only recording) the ENCAP STATUS.
    public var outcome: Int32? { status ?? hairpinRefusal ?? encapStatus }

    /// Flows the call moved: those set or deleted, or read back.
    public var flows: Int { command == NFL.Command.getFlows.rawValue ? max(answerFlows, replyFlows) : requestFlows }

    public var start: UInt64? { apiStart ?? encapStart }
    public var apiLatency: UInt64? { apiStart.flatMap { s in apiEnd.map { $0 >= s ? $0 - s : 0 } } }
    public var hairpinLatency: UInt64? { encapStart.flatMap { s in encapEnd.map { $0 >= s ? $0 - s : 0 } } }
}

/// Something out of place, at a frame.
public struct CallFinding: Hashable, Sendable, CustomStringConvertible {
    /// The file's name when several were read; nil for one.
    public var file: String?
    public var frame: Int
    public var call: Int
    public var text: String

    public var description: String {
        (file.map { "\($0): " } ?? "") + "frame \(frame)" + (call > 0 ? " (call \(call))" : "") + ": " + text
    }
}

public struct CallLog {
    public private(set) var calls: [CallInfo] = []
    /// Numbers every family's calls, as `flowtrace show` does, so that the ids audit and export
    /// name are show's; only our calls are kept and audited.
    public private(set) var tracker = CallTracker()
    /// Where each call of ours is in `calls`, by id (other families' calls take ids too).
    var position: [Int: Int] = [:]
    /// Findings made while reading, in frame order (the end-of-file checks are `CallAudit`'s).
    public internal(set) var findings: [CallFinding] = []
    public internal(set) var findingCount = 0
    public var keepFindings = 50
    public private(set) var records = 0
    /// Records that belong to none of our calls (nlctrl and other families, registration, the
    /// snapshot).
    public private(set) var outside = 0
    /// Whether any API request was seen: then every call must have one.
    public private(set) var sawAPIRequest = false
    var lastTimestamp: UInt64?
    var lastTimestampFrame = 0
    var lastEncapSeq: UInt64?
    var lastEncapSeqFrame = 0
    var fileIndex = 0
    var fileName: String?
    /// nlctrl and listener registration exchanges (audited; they belong to no call).
    var control = ControlExchanges()

    public init() {}

    /// Starts the next file of a set read as one stream (a rotated trace): calls go on across it.
    public mutating func beginFile(_ index: Int, name: String?) {
        fileIndex = index
        fileName = name
        control.fileName = name
    }

    mutating func find(_ frame: Int, _ call: Int, _ text: String) {
        findingCount += 1
        if findings.count < keepFindings {
            findings.append(CallFinding(file: fileName, frame: frame, call: call, text: text))
        }
    }

    /// Feeds one record; `frame` is its 1-based frame number in its file.
    public mutating func add(_ record: TraceRecord, families: FamilyTable, frame: Int) {
        records += 1
        let ts = record.timestamp
        // Only the recorder promises time order (it stamps in the order it writes); nlmon stamps
        // each message on the CPU that sent it, so a kernel capture may step back a few µs.
        if !record.synthetic, record.leg != .unknown {
            if let last = lastTimestamp, ts < last {
                find(
                    frame, 0,
                    "timestamp \(last - ts) ns earlier than frame \(lastTimestampFrame)'s: records out of order")
            }
            lastTimestamp = ts
            lastTimestampFrame = frame
        }
        let s = SummaryDecoder.summarize(record.netlink, families: families)
        var e = tracker.observe(
            s, families: families, timestamp: ts, frame: frame, synthetic: record.synthetic,
            process: record.comment.flatMap(NetlinkProcess.init(comment:))?.pid)
        if !record.synthetic, record.netlink.count >= Netlink.headerLength {
            let flags = record.netlink.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
            var found: [(Int, String)] = []
            if control.observe(s, e, flags: flags, families: families, frame: frame, report: { found.append(($0, $1)) })
            {
                e = CallEvent()
            }
            for (f, text) in found { find(f, 0, text) }
        }
        if e.role == .familyRequest || e.role == .familyAnswer {
            // Another family's call (nlctrl's is audited as a control exchange above).
            outside += 1
            return
        }
        if e.replacedCall > 0 {
            find(
                frame, e.call,
                "an API request with the port and seq of call \(e.replacedCall), which is still open (duplicated request?)"
            )
        }
        if e.orphan {
            find(frame, 0, "\(Self.roleText(e.role, s)) matches no call: its request is missing or comes later")
        }
        guard e.call > 0 else {
            outside += 1
            return
        }
        let i: Int
        if let known = position[e.call] {
            i = known
        } else {
            var c = CallInfo(id: e.call)
            c.file = fileIndex
            c.firstFrame = frame
            i = calls.count
            position[e.call] = i
            calls.append(c)
        }
        var c = calls[i]
        if e.command != 0xff { c.command = e.command }
        c.lastFrame = frame
        update(&c, e, s, record: record, frame: frame)
        calls[i] = c
    }

    static func roleText(_ role: CallRole, _ s: MessageSummary) -> String {
        let cmd = s.apiCommandName.map { " " + $0 } ?? ""
        switch role {
        case .apiReply: return "an API reply\(cmd)"
        case .apiDone: return "an NLMSG_DONE"
        case .apiFinal: return "a final API \(s.kind == .ack ? "ACK" : "error")"
        case .encapRequest: return "ENCAP\(cmd) request part \(s.part ?? 0) SEQ \(s.encapSeq ?? 0)"
        case .encapAnswer: return "an ENCAP\(cmd) answer\(s.part.map { " part \($0)" } ?? "") SEQ \(s.encapSeq ?? 0)"
        default: return "a message"
        }
    }

    static let answerMayBeMissing: Set<Int32> = [Int32(Errno.ETIMEDOUT), Int32(Errno.ENOTCONN)]

    mutating func update(_ c: inout CallInfo, _ e: CallEvent, _ s: MessageSummary, record: TraceRecord, frame: Int) {
        let ts = record.timestamp
        let call = c.id
        switch e.role {
        case .apiRequest:
            sawAPIRequest = true
            c.apiRequests += 1
            c.apiRequestFrame = frame
            c.apiStart = ts
            c.ifindex = s.ifindex
            c.requestFlows = s.flowCount
            c.dump = s.isDump
            if c.strategy == nil { c.strategy = s.strategy }
        case .encapRequest:
            let part = Int(s.part ?? 0)
            if c.encapRequestFrame == 0 {
                c.encapRequestFrame = frame
                c.encapStart = ts
                c.encapSeq = s.encapSeq
                if c.ifindex == nil { c.ifindex = s.ifindex }
                if c.apiRequests == 0 { c.requestFlows = 0 }
                if let st = s.strategy { c.strategy = st }
                if let seq = s.encapSeq {
                    if let last = lastEncapSeq, seq <= last {
                        find(
                            frame, call,
                            "ENCAP SEQ \(seq) after SEQ \(last) (frame \(lastEncapSeqFrame)): SEQs go backwards")
                    }
                    lastEncapSeq = seq
                    lastEncapSeqFrame = frame
                }
            }
            if c.encapRequestDone {
                find(frame, call, "ENCAP request part \(part) after the request's last part (duplicated record?)")
            } else if part != c.encapRequestParts {
                find(frame, call, "ENCAP request part \(part) where part \(c.encapRequestParts) was due")
            } else if c.encapAnswerParts > 0 {
                find(frame, call, "ENCAP request part \(part) after the answer began")
            }
            if !c.encapRequestDone {
                c.encapRequestParts = max(c.encapRequestParts, part + 1)
                if !s.more { c.encapRequestDone = true }
                if c.apiRequests == 0 { c.requestFlows += s.flowCount }
            }
        case .encapAnswer:
            let part = Int(s.part ?? 0)
            if !c.encapRequestDone {
                find(frame, call, "ENCAP answer before the request's last part")
            }
            if c.encapAnswerDone {
                find(frame, call, "ENCAP answer part \(part) after the answer's last part (duplicated record?)")
            } else if part != c.encapAnswerParts {
                find(frame, call, "ENCAP answer part \(part) where part \(c.encapAnswerParts) was due")
            }
            if c.apiFinals > 0, !Self.answerMayBeMissing.contains(c.status ?? 0) {
                find(frame, call, "ENCAP answer after the call's final API answer (frame \(c.apiFinalFrame))")
            }
            if !c.encapAnswerDone {
                c.encapAnswerParts = max(c.encapAnswerParts, part + 1)
                if let st = s.status, st != 0, c.encapStatus == nil || c.encapStatus == 0 { c.encapStatus = st }
                if c.encapStatus == nil { c.encapStatus = s.status }
                c.answerFlows += s.flowCount
                c.failedFlows += s.failedResults - s.canceledResults
                if record.netlink.count >= Netlink.headerLength,
                    record.netlink.loadUnaligned(fromByteOffset: 6, as: UInt16.self) & Netlink.flagAck != 0
                {
                    c.acksAsked += 1
                }
                if e.final {
                    c.encapAnswerDone = true
                    c.encapAnswerFrame = frame
                    c.encapEnd = ts
                }
            }
        case .hairpinAck:
            c.acks += 1
            if let st = s.status, st != 0 { c.hairpinRefusal = st }
        case .apiReply, .apiDone:
            if c.encapRequestFrame > 0 && !c.encapAnswerDone && !c.earlyReplyReported {
                // Once per call: every later page would say the same.
                c.earlyReplyReported = true
                find(frame, call, "API \(e.role == .apiDone ? "NLMSG_DONE" : "reply") before the ENCAP answer")
            }
            if c.dones > 0 {
                find(frame, call, "API \(e.role == .apiDone ? "NLMSG_DONE" : "reply") after the call's NLMSG_DONE")
            }
            if e.role == .apiDone {
                c.dones += 1
                if e.final {
                    // A dump's NLMSG_DONE carries its outcome: 0, or the -errno that cut it short.
                    var done = s
                    let m = record.netlink
                    let error =
                        m.count >= Netlink.headerLength + 4 ? m.loadUnaligned(fromByteOffset: 16, as: Int32.self) : 0
                    done.status = error == 0 ? 0 : 0 &- error
                    final(&c, done, ts: ts, frame: frame)
                }
            } else {
                c.replies += 1
                c.replyFlows += s.flowCount
                if s.flowCount == 0 { c.emptyReplies += 1 }
                if record.netlink.count >= Netlink.headerLength,
                    record.netlink.loadUnaligned(fromByteOffset: 6, as: UInt16.self) & Netlink.flagMulti != 0
                {
                    c.multiReplies += 1
                }
            }
        case .apiFinal:
            final(&c, s, ts: ts, frame: frame)
        case .none, .familyRequest, .familyAnswer:
            break
        }
    }

    /// The call's final API answer: its ACK or error, or a dump's NLMSG_DONE.
    mutating func final(_ c: inout CallInfo, _ s: MessageSummary, ts: UInt64, frame: Int) {
        c.apiFinals += 1
        c.apiFinalFrame = frame
        c.apiEnd = ts
        c.status = s.status
        if c.encapRequestFrame > 0 && !c.encapAnswerDone && !Self.answerMayBeMissing.contains(s.status ?? 0) {
            find(frame, c.id, "final API answer before the ENCAP answer")
        }
    }
}
