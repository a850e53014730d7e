// The call id: one number for every message of one NDO call across both legs (the API
// request, the ENCAP request and answer parts, a hairpin refusal of the answer, the API replies,
// NLMSG_DONE and the final ACK/error; a dump's final answer is its NLMSG_DONE). Derived from the messages alone, in file order, by the
// rule in spec/trace-format.md ("Calls"), so that the Wireshark plugin (which cannot read the
// recorder's pairing option) computes the same numbers; it works the same on nlmon captures of
// the kernel module. One pass, memory only for the calls open at once.

import LibFlowTable

/// Which part of its call a message is.
public enum CallRole: UInt8, Sendable {
    /// Belongs to no call: registration, the snapshot, a notification, or an answer that matches
    /// nothing.
    case none
    case apiRequest, apiReply, apiDone, apiFinal
    case encapRequest, encapAnswer
    /// unft's NLMSG_ERROR refusing an ENCAP answer (or the ACK of one, in older traces).
    case hairpinAck
    /// A request of another family (nlctrl included, or another netlink protocol), and its
    /// answers: replies, NLMSG_DONE, the ACK or error.
    case familyRequest, familyAnswer
}

/// What `CallTracker.observe` says about one message.
public struct CallEvent: Sendable {
    /// 1, 2, 3 … in the order calls begin; 0 when the message belongs to no call.
    public var call = 0
    public var role = CallRole.none
    /// The call's Flow Table API command (an ACK does not say it); 0xff when unknown.
    public var command: UInt8 = 0xff
    /// The leg the message travelled on, told from its content (an ACK by the header it echoes).
    public var leg = TraceLeg.unknown
    /// The API request's or the ENCAP request's frame (1-based), on the messages after it.
    public var requestFrame = 0
    /// Time since the call's request on its leg: the API request for API answers, the first
    /// ENCAP request part for ENCAP answers.
    public var latency: UInt64?
    /// The message ends its call on its leg: the API's final ACK/error, the last ENCAP answer part.
    public var final = false
    /// This message began the call.
    public var opened = false
    /// An answer (or a later part) whose call is unknown: its request is not before it.
    public var orphan = false
    /// An API request that reused the (port, seq) of a call still open: that call's id.
    public var replacedCall = 0
    /// A call of another family (`familyRequest`/`familyAnswer`): the request's nlmsg_type
    /// (family id, or message type of its protocol), its genl command, and its protocol.
    public var requestType: UInt16 = 0
    public var requestCommand: UInt8 = 0
    public var netlinkProtocol: UInt16 = NetlinkPseudoHeader.protocolGeneric

    public init() {}

    /// The message is an answer of the call whose request was frame `frame` at `start`.
    @inline(__always)
    mutating func answers(call: Int, command: UInt8, frame: Int, start: UInt64, at timestamp: UInt64) {
        self.call = call
        self.command = command
        requestFrame = frame
        latency = timestamp >= start ? timestamp - start : 0
    }
}

public struct CallTracker {
    /// Calls numbered so far.
    public private(set) var calls = 0

    struct APICall {
        var call: Int
        var command: UInt8
        var start: UInt64
        var frame: Int
        /// The waiting queue it was put in.
        var queue: Int32
        /// NLM_F_DUMP: NLMSG_DONE is its final answer (a dump is never ACKed).
        var dump = false
    }

    struct EncapCall {
        var call: Int
        var command: UInt8
        var start: UInt64
        var frame: Int
    }

    /// Open API calls by (port, nlmsg_seq).
    var apiCalls = FlatTable<APICall>(placeholder: APICall(call: 0, command: 0, start: 0, frame: 0, queue: -1))
    /// Calls on the hairpin leg by ENCAP SEQ, until their last answer part.
    var encapCalls = FlatTable<EncapCall>(placeholder: EncapCall(call: 0, command: 0, start: 0, frame: 0))
    /// API calls waiting for their ENCAP, per (command, ifindex): index into `queues`.
    var queueIndex = FlatTable<Int32>(placeholder: -1, capacity: 64)
    var queues: [[Int]] = []
    /// Open calls of other families by (protocol, port, seq). Not on our families' path.
    struct FamilyKey: Hashable {
        var netlinkProtocol: UInt16
        var port: UInt32
        var seq: UInt32
    }
    struct FamilyCall {
        var call: Int
        var type: UInt16
        var command: UInt8
        var start: UInt64
        var frame: Int
        var dump: Bool
        var ack: Bool
        /// The pid of the process that sent the request, or of its first answer naming one
        /// (a request sent with nlmsg_pid 0 carries no port, so no process); nil: not known.
        var process: Int32?
    }
    var familyCalls: [FamilyKey: FamilyCall] = [:]
    /// The last ENCAP answers by nlmsg_seq & (size - 1): (nlmsg_seq, call, command).
    var answerRing = [(key: UInt64, call: Int, command: UInt8)](
        repeating: (UInt64.max, 0, 0), count: CallTracker.ringSize)
    static let ringSize = 256

    /// Whether requests of other families (nlctrl included, and other protocols) open calls.
    /// Off, only our calls are numbered; show, stats, audit and export keep it on and agree.
    public let otherFamilies: Bool

    public init(otherFamilies: Bool = true) { self.otherFamilies = otherFamilies }

    /// The number of calls still open (waiting for an answer on either leg).
    public var openCalls: Int { apiCalls.count + encapCalls.count + familyCalls.count }

    /// Feeds the next message of the file (the record's first message, summarised). `frame` is
    /// the record's 1-based frame number; `synthetic` records belong to no call. `process`: the
    /// pid its comment names (`NetlinkProcess`), which keeps apart the calls of two processes
    /// that held the same port one after the other.
    @inline(__always)
    public mutating func observe(
        _ s: MessageSummary, families: FamilyTable, timestamp: UInt64, frame: Int,
        synthetic: Bool = false, process: Int32? = nil
    ) -> CallEvent {
        var e = CallEvent()
        if synthetic { return e }
        switch s.kind {
        case .flowTable:
            e.leg = .api
            if s.isRequest {
                apiRequest(s, timestamp: timestamp, frame: frame, into: &e)
            } else {
                apiAnswer(s, role: .apiReply, timestamp: timestamp, into: &e)
            }
        case .done:
            guard s.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric else {
                familyAnswer(s, final: .done, timestamp: timestamp, process: process, into: &e)
                break
            }
            e.leg = .api
            apiAnswer(s, role: .apiDone, timestamp: timestamp, into: &e)
            // Not an API call's: another family's dump, else an API orphan as before.
            if e.orphan, !familyCalls.isEmpty {
                var other = CallEvent()
                familyAnswer(s, final: .done, timestamp: timestamp, process: process, into: &other)
                if !other.orphan { e = other }
            }
        case .ack, .error:
            guard s.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric else {
                familyAnswer(s, final: .ack, timestamp: timestamp, process: process, into: &e)
                break
            }
            switch families.fastKind(ofType: s.familyID) {
            case .hairpin:
                e.leg = .hairpin
                hairpinAck(s, into: &e)
            case .flowTable:
                e.leg = .api
                apiAnswer(s, role: .apiFinal, timestamp: timestamp, into: &e)
            case .other, .controller:
                familyAnswer(s, final: .ack, timestamp: timestamp, process: process, into: &e)
            default:
                break
            }
        case .controller:
            // nlctrl's requests (GETFAMILY…) are calls as any family's; the kernel's
            // notifications (nlmsg_pid and nlmsg_seq 0) answer nothing.
            guard otherFamilies else { break }
            if s.isRequest {
                familyRequest(s, timestamp: timestamp, frame: frame, process: process, into: &e)
            } else if s.port != 0 || s.netlinkSeq != 0 {
                familyAnswer(s, final: .reply, timestamp: timestamp, process: process, into: &e)
            }
        case .other:
            guard otherFamilies else { break }
            if s.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric && s.familyID < Netlink.minFamilyType { break }
            if s.isRequest {
                familyRequest(s, timestamp: timestamp, frame: frame, process: process, into: &e)
            } else {
                familyAnswer(s, final: .reply, timestamp: timestamp, process: process, into: &e)
            }
        case .hairpin:
            e.leg = .hairpin
            guard s.command == NFLH.Command.encap.rawValue, let seq = s.encapSeq,
                seq < Self.snapshotSequenceBase
            else { return e }
            if s.status == nil {
                encapRequest(s, seq: seq, timestamp: timestamp, frame: frame, into: &e)
            } else {
                encapAnswer(s, seq: seq, timestamp: timestamp, into: &e)
            }
        default:
            break
        }
        return e
    }

    /// A request of another family opens a call, remembered by (protocol, nlmsg_pid, nlmsg_seq)
    /// (replacing an open one with the same key; a replaced call of another process is no
    /// duplicate: that process is gone and its port was given to this one).
    mutating func familyRequest(
        _ s: MessageSummary, timestamp: UInt64, frame: Int, process: Int32?, into e: inout CallEvent
    ) {
        calls += 1
        e.call = calls
        e.role = .familyRequest
        e.opened = true
        e.requestType = s.familyID
        e.requestCommand = s.command
        e.netlinkProtocol = s.netlinkProtocol
        let key = FamilyKey(netlinkProtocol: s.netlinkProtocol, port: s.port, seq: s.netlinkSeq)
        if let old = familyCalls[key], Self.sameProcess(old.process, process) { e.replacedCall = old.call }
        familyCalls[key] = FamilyCall(
            call: calls, type: s.familyID, command: s.command, start: timestamp, frame: frame,
            dump: s.isDump, ack: s.wantsAck, process: process)
    }

    enum FamilyAnswerKind { case reply, done, ack }

    /// Two messages may be of one call unless both name their process and the processes differ.
    @inline(__always)
    static func sameProcess(_ a: Int32?, _ b: Int32?) -> Bool { a == nil || b == nil || a == b }

    /// A reply, NLMSG_DONE or ACK/error of another family's call: by (protocol, port, seq), else
    /// (protocol, 0, seq), skipping a call of another process. Final: the ACK or error; a dump's
    /// NLMSG_DONE; the reply of a request that asked for neither a dump nor an ACK.
    mutating func familyAnswer(
        _ s: MessageSummary, final kind: FamilyAnswerKind, timestamp: UInt64, process: Int32?,
        into e: inout CallEvent
    ) {
        guard otherFamilies else { return }
        e.role = .familyAnswer
        e.netlinkProtocol = s.netlinkProtocol
        let seq = kind == .ack ? (s.ackedSeq ?? s.netlinkSeq) : s.netlinkSeq
        var key = FamilyKey(netlinkProtocol: s.netlinkProtocol, port: s.port, seq: seq)
        var found = familyCalls[key].flatMap { Self.sameProcess($0.process, process) ? $0 : nil }
        if found == nil, s.port != 0 {
            key.port = 0
            found = familyCalls[key].flatMap { Self.sameProcess($0.process, process) ? $0 : nil }
        }
        guard var c = found else {
            e.orphan = true
            return
        }
        if c.process == nil, let process {
            // The first answer naming a process names the call's (its request had no port).
            c.process = process
            familyCalls[key] = c
        }
        e.call = c.call
        e.requestType = c.type
        e.requestCommand = c.command
        e.requestFrame = c.frame
        e.latency = timestamp >= c.start ? timestamp - c.start : 0
        let last: Bool
        switch kind {
        case .ack: last = true
        case .done: last = c.dump
        case .reply: last = !c.dump && !c.ack
        }
        if last {
            e.final = true
            familyCalls[key] = nil
        }
    }

    /// ENCAP SEQs from here up are the recorder's snapshot (Hairpin's Snapshot.snapshotSequenceBase).
    static let snapshotSequenceBase: UInt64 = 1 << 63

    @inline(__always)
    static func apiKey(port: UInt32, seq: UInt32) -> UInt64 { UInt64(port) << 32 | UInt64(seq) }

    @inline(__always)
    static func queueKey(command: UInt8, ifindex: UInt32?) -> UInt64 {
        UInt64(command) << 40 | (ifindex.map { 1 << 32 | UInt64($0) } ?? 0)
    }

    @inline(__always)
    mutating func apiRequest(_ s: MessageSummary, timestamp: UInt64, frame: Int, into e: inout CallEvent) {
        calls += 1
        let command = s.command
        e.call = calls
        e.role = .apiRequest
        e.command = command
        e.opened = true
        let key = Self.apiKey(port: s.port, seq: s.netlinkSeq)
        let old = apiCalls.find(key)
        if old >= 0 {
            let replaced = apiCalls.value(at: old)
            e.replacedCall = replaced.call
            unqueue(replaced)
        }
        let qk = Self.queueKey(command: command, ifindex: s.ifindex)
        var q = queueIndex.find(qk)
        if q < 0 {
            queues.append([])
            q = queueIndex.set(qk, Int32(queues.count - 1))
        }
        let queue = queueIndex.value(at: q)
        queues[Int(queue)].append(calls)
        apiCalls.set(
            key,
            APICall(
                call: calls, command: command, start: timestamp, frame: frame, queue: queue,
                dump: s.isDump))
    }

    @inline(__always)
    mutating func unqueue(_ c: APICall) {
        guard c.queue >= 0 else { return }
        let q = Int(c.queue)
        if let i = queues[q].firstIndex(of: c.call) { queues[q].remove(at: i) }
    }

    /// A reply, DONE or the final ACK/error of an API call: by (port, seq), else (0, seq) for a
    /// request sent with nlmsg_pid 0 (the answers carry the port the other side gave it). A
    /// dump's NLMSG_DONE is final too: an ACK after it matches no call.
    @inline(__always)
    mutating func apiAnswer(_ s: MessageSummary, role: CallRole, timestamp: UInt64, into e: inout CallEvent) {
        e.role = role
        let seq = role == .apiFinal ? (s.ackedSeq ?? s.netlinkSeq) : s.netlinkSeq
        var slot = apiCalls.find(Self.apiKey(port: s.port, seq: seq))
        if slot < 0, s.port != 0 { slot = apiCalls.find(Self.apiKey(port: 0, seq: seq)) }
        guard slot >= 0 else {
            e.orphan = true
            return
        }
        let c = apiCalls.value(at: slot)
        e.answers(call: c.call, command: c.command, frame: c.frame, start: c.start, at: timestamp)
        if role == .apiFinal || (role == .apiDone && c.dump) {
            e.final = true
            unqueue(c)
            apiCalls.remove(slot: slot)
        }
    }

    @inline(__always)
    mutating func encapRequest(_ s: MessageSummary, seq: UInt64, timestamp: UInt64, frame: Int, into e: inout CallEvent)
    {
        e.role = .encapRequest
        let command = s.apiCommand ?? 0xff
        e.command = command
        let known = encapCalls.find(seq)
        if known >= 0 {
            // A later part, or the same request again.
            let c = encapCalls.value(at: known)
            e.call = c.call
            e.command = c.command
            e.requestFrame = c.frame
            return
        }
        guard (s.part ?? 0) == 0 else {
            e.orphan = true
            return
        }
        var call = 0
        let q = queueIndex.find(Self.queueKey(command: command, ifindex: s.ifindex))
        if q >= 0 {
            let queue = Int(queueIndex.value(at: q))
            if !queues[queue].isEmpty { call = queues[queue].removeFirst() }
        }
        if call == 0 {
            // No API call waits for it: a recording of the hairpin leg alone.
            calls += 1
            call = calls
            e.opened = true
        }
        e.call = call
        encapCalls.set(seq, EncapCall(call: call, command: command, start: timestamp, frame: frame))
    }

    @inline(__always)
    mutating func encapAnswer(_ s: MessageSummary, seq: UInt64, timestamp: UInt64, into e: inout CallEvent) {
        e.role = .encapAnswer
        let slot = encapCalls.find(seq)
        guard slot >= 0 else {
            e.orphan = true
            e.command = s.apiCommand ?? 0xff
            return
        }
        let c = encapCalls.value(at: slot)
        e.answers(call: c.call, command: c.command, frame: c.frame, start: c.start, at: timestamp)
        if !s.more {
            e.final = true
            encapCalls.remove(slot: slot)
        }
        answerRing[Int(s.netlinkSeq) & (Self.ringSize - 1)] = (UInt64(s.netlinkSeq), c.call, c.command)
    }

    /// unft's NLMSG_ERROR/ACK of an ENCAP answer: the answer whose nlmsg_seq it echoes, among the
    /// last ones (the listener numbers its messages; the port may differ between the two).
    @inline(__always)
    mutating func hairpinAck(_ s: MessageSummary, into e: inout CallEvent) {
        let seq = s.ackedSeq ?? s.netlinkSeq
        let i = Int(seq) & (Self.ringSize - 1)
        let entry = answerRing[i]
        // Kept after use: an ACK written twice then belongs to the call too (and shows as one too many).
        guard entry.key == UInt64(seq) else { return }
        e.role = .hairpinAck
        e.call = entry.call
        e.command = entry.command
    }
}
