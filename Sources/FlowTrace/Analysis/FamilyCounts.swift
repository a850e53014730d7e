// What `flowtrace stats` counts of the families other than our two (devlink, ethtool, rtnetlink…
// in an nlmon capture), and, when asked, which requests of any family failed or got no answer.
// FlowTrace knows no spec: families are kept by the name NEWFAMILY gave (or their id) and
// operations by genl command or message type; the tool names them from the specs.

import LibFlowTable

/// One operation of one family, as the wire says it.
public struct FamilyOperationKey: Hashable, Sendable, Comparable {
    public var netlinkProtocol: UInt16
    /// The generic family's name from the trace's NEWFAMILY records; nil when none named its id
    /// (and always for other protocols, whose families are the protocol itself).
    public var family: String?
    /// The generic family id, or the message type of another protocol.
    public var type: UInt16
    /// The genl command (0 for other protocols).
    public var command: UInt8

    public init(netlinkProtocol: UInt16, family: String?, type: UInt16, command: UInt8) {
        self.netlinkProtocol = netlinkProtocol
        self.family = family
        self.type = type
        self.command = command
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.netlinkProtocol, a.family ?? "", a.type, a.command) < (b.netlinkProtocol, b.family ?? "", b.type, b.command)
    }
}

public struct FamilyOperationCounts: Sendable {
    public var requests = 0
    /// Replies, NLMSG_DONE and ACKs/errors paired with a request.
    public var answers = 0
    /// Messages of no call: notifications, answers whose request is not in the trace.
    public var unpaired = 0
    public var errors: [Int32: Int] = [:]
    /// The extended ACK texts of the errors, per errno.
    public var errorTexts: [Int32: [String: Int]] = [:]
    public init() {}
}

/// A request that failed or got no answer.
public struct FailedRequest: Sendable {
    public var operation: FamilyOperationKey
    public var call: Int
    public var requestFrame: Int
    /// The error's frame; 0 for a request with no answer.
    public var answerFrame = 0
    /// A positive errno; nil for a request with no answer.
    public var errno: Int32?
    public var message: String?
}

/// What `flowtrace stats --by-process` counts of one process.
public struct ProcessCounts: Sendable, Equatable {
    public var messages = 0
    public var requests = 0
    /// Answers carrying an error.
    public var errors = 0
    public init(messages: Int = 0, requests: Int = 0, errors: Int = 0) {
        self.messages = messages
        self.requests = requests
        self.errors = errors
    }
}

extension TraceStats {
    /// Counts one record for `--by-process`. A request sent with nlmsg_pid 0 (iproute2, genl,
    /// YNL) carries no port to name its process; its call's answers do, so it counts for the
    /// process of the first answer of its call that names one.
    /// Counts the record `add` just kept (`lastEvent`) for its process.
    @inline(never)
    mutating func countProcess(_ p: NetlinkProcess?) {
        let isRequest = lastRequest, failed = lastFailed, call = lastEvent.call
        guard let p else {
            if isRequest, call != 0 { unnamedRequests[call, default: 0] += 1 }
            return
        }
        var c = processes[p] ?? ProcessCounts()
        c.messages += 1
        if isRequest { c.requests += 1 }
        if call != 0, !isRequest, let n = unnamedRequests.removeValue(forKey: call) {
            c.messages += n
            c.requests += n
        }
        if failed { c.errors += 1 }
        processes[p] = c
    }

    /// Counts one message of a call or family other than our two.
    @inline(never)
    mutating func countFamily(
        _ s: MessageSummary, _ e: CallEvent, netlink: UnsafeRawBufferPointer, families: FamilyTable
    ) {
        let key: FamilyOperationKey
        if e.call > 0 {
            key = Self.operationKey(
                protocol: e.netlinkProtocol, type: e.requestType, command: e.requestCommand, families: families)
        } else if s.kind == .other {
            key = Self.operationKey(
                protocol: s.netlinkProtocol, type: s.familyID, command: s.command, families: families)
        } else {
            return
        }
        var c = familyOperations[key] ?? FamilyOperationCounts()
        if e.role == .familyRequest {
            c.requests += 1
        } else if e.call > 0 {
            c.answers += 1
        } else {
            c.unpaired += 1
        }
        if s.kind == .error, let st = s.status {
            c.errors[st, default: 0] += 1
            if let text = s.text(in: netlink) { c.errorTexts[st, default: [:]][text, default: 0] += 1 }
        }
        familyOperations[key] = c
    }

    static func operationKey(protocol p: UInt16, type: UInt16, command: UInt8, families: FamilyTable)
        -> FamilyOperationKey
    {
        let generic = p == NetlinkPseudoHeader.protocolGeneric
        return FamilyOperationKey(
            netlinkProtocol: p, family: generic ? families.name(forID: type) : nil, type: type,
            command: generic ? command : 0)
    }

    /// Follows requests to their answers for `failedRequests` and `unansweredRequests`.
    @inline(never)
    mutating func trackFailure(
        _ s: MessageSummary, _ e: CallEvent, netlink: UnsafeRawBufferPointer, families: FamilyTable,
        frame: Int
    ) {
        guard e.call > 0 else { return }
        switch e.role {
        case .apiRequest:
            let key = FamilyOperationKey(
                netlinkProtocol: NetlinkPseudoHeader.protocolGeneric, family: NFL.familyName,
                type: families.flowTableID ?? 0, command: e.command)
            openRequests[e.call] = FailedRequest(operation: key, call: e.call, requestFrame: frame)
        case .familyRequest:
            let key = Self.operationKey(
                protocol: e.netlinkProtocol, type: e.requestType, command: e.requestCommand, families: families)
            openRequests[e.call] = FailedRequest(operation: key, call: e.call, requestFrame: frame)
        case .apiReply, .apiDone, .apiFinal, .familyAnswer:
            guard var r = openRequests[e.call] else { return }
            r.answerFrame = frame
            if s.kind == .error || (s.kind == .done && (s.status ?? 0) != 0), let st = s.status, st != 0 {
                r.errno = st
                r.message = s.text(in: netlink)
                failedRequests.append(r)
                openRequests[e.call] = nil
            } else if e.final {
                openRequests[e.call] = nil
            } else {
                openRequests[e.call] = r
            }
        default:
            break
        }
    }

    /// Requests still waiting at the end of the trace with no answer at all, by frame.
    public var unansweredRequests: [FailedRequest] {
        openRequests.values.filter { $0.answerFrame == 0 }.sorted { $0.requestFrame < $1.requestFrame }
    }
}
