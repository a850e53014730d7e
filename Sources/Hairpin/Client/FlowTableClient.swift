// A synchronous Flow Table API client over any MessageTransport (the twin's Unix socket today,
// a generic netlink socket with the module): resolve the family through nlctrl, send one
// request, collect everything up to its ACK or error. For flow-table-ctl, the demo and tests.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Posix

public enum FlowTableClientError: Error, CustomStringConvertible {
    /// The peer closed the connection.
    case closed
    /// No complete answer within the call's timeout (seconds).
    case timedOut(Double)
    /// nlctrl does not know the family (is unft loaded / the twin running?).
    case familyNotFound(String)
    /// nlctrl answered GETFAMILY with an error other than ENOENT.
    case familyLookupFailed(String, errno: Int32, message: String?)
    case transport(TransportError)
    /// The request could not be encoded.
    case encode(EncodeError)
    /// A message of the answer could not be decoded.
    case malformedReply(DecodeError)
    /// The connection could not be opened.
    case socket(SocketError)

    public var description: String {
        switch self {
        case .closed: return "the twin closed the connection"
        case let .timedOut(s): return "no answer within \(Self.format(s)) s"
        case let .familyNotFound(name):
            return
                "generic netlink family \(name) not found: load unft, or start the twin with `flow-table-hairpind --twin`"
        case let .familyLookupFailed(name, e, message):
            return "looking up family \(name) failed: \(Sys.errorText(e))" + (message.map { ": \($0)" } ?? "")
        case let .transport(e): return e.description
        case let .encode(e): return "cannot encode the request: \(e)"
        case let .malformedReply(e): return "malformed reply: \(e)"
        case let .socket(e): return e.description
        }
    }

    static func format(_ s: Double) -> String {
        s.isFinite && abs(s) < 1e15 && s == s.rounded() ? String(Int(s)) : String(s)
    }

    static func from(_ e: TransportError, timeout: Double) -> FlowTableClientError {
        switch e {
        case .closed: return .closed
        case .timedOut: return .timedOut(timeout)
        default: return .transport(e)
        }
    }
}

/// Everything that came back for one request.
public struct FlowTableReply: Sendable {
    /// Reply messages in order: a getter's reply, GET_FLOWS pages, SET/DEL reports.
    public var messages: [FlowTableMessage] = []
    /// SET/DEL with ABORT_LOG / CONT_LOG: the failed flows, each with `error` set.
    public var report: [Flow] = []
    /// 0, or the positive errno of the final NLMSG_ERROR.
    public var errno: Int32 = 0
    /// The extended-ack text (NLMSGERR_ATTR_MSG), if any.
    public var errorMessage: String?
    /// The missing-attribute extended ack (NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MISS_NEST:
    /// the offset in the request of the nest it is missing from; nil at the top level).
    public var missingType: UInt32?
    public var missingNest: UInt32?
    /// Whether NLMSG_DONE ended a multi-part reply.
    public var done = false
    /// Whether the answer ended with an NLMSG_ERROR (ACK or error) rather than a reply alone
    /// (requests sent without NLM_F_ACK).
    public var acknowledged = false

    public init() {}

    public var succeeded: Bool { errno == 0 }

    /// The missing-attribute extended ack in words: "missing attribute IDENTIFIER (2)", with
    /// "in the nest at byte N" when not at the top level (nested types are numbers: the nest
    /// says which set).
    public var missingText: String? {
        guard let t = missingType else { return nil }
        guard let nest = missingNest else {
            return "missing attribute "
                + (UInt16(exactly: t).flatMap { NFL.Attr.names[$0] }.map { "\($0) (\(t))" } ?? "\(t)")
        }
        return "missing attribute \(t) in the nest at byte \(nest)"
    }

    /// All flows of the reply messages (the GET_FLOWS pages joined).
    public var flows: [Flow] { messages.flatMap { $0.attributes.flows ?? [] } }

    /// The first reply message's attributes (a getter's payload).
    public var attributes: FlowTableAttributes? { messages.first?.attributes }
}

public final class FlowTableClient {
    public let transport: MessageTransport
    /// Default per-call timeout in seconds.
    public var timeout: Double
    /// net_flow_nl's id, once resolved (or given).
    public private(set) var familyID: UInt16?
    /// The nlmsg_pid put in requests; 0 lets the other side fill in (as the kernel does).
    public var port: UInt32 = 0
    private var sequence: UInt32
    private var writer = NetlinkWriter(capacity: 4096)
    private var buffer: [UInt8] = []

    public init(transport: MessageTransport, timeout: Double = 10, familyID: UInt16? = nil) {
        self.transport = transport
        self.timeout = timeout
        self.familyID = familyID
        // Distinct starting points per client make stray replies easy to spot in a trace.
        sequence = UInt32(truncatingIfNeeded: MonotonicClock.now() / 1000) | 1
    }

    /// Connects to the twin's API socket (the default path unless given).
    public convenience init(path: String? = nil, timeout: Double = 10) throws(FlowTableClientError) {
        let connection: UnixSeqpacketConnection
        do { connection = try UnixSeqpacketConnection.connect(path: path ?? TwinSocketPaths.default.api) } catch {
            throw .socket(error)
        }
        self.init(transport: connection, timeout: timeout)
    }

    public func close() { transport.close() }

    /// The next nlmsg_seq.
    public func nextSequence() -> UInt32 {
        sequence &+= 1
        if sequence == 0 { sequence = 1 }
        return sequence
    }

    // MARK: families

    /// Resolves net_flow_nl (once) and remembers it.
    @discardableResult
    public func resolveFamily() throws(FlowTableClientError) -> UInt16 {
        if let familyID { return familyID }
        let f = try lookupFamily(NFL.familyName)
        familyID = f.id
        return f.id
    }

    /// CTRL_CMD_GETFAMILY for any family name, over this client's transport.
    public func lookupFamily(_ name: String, timeout: Double? = nil) throws(FlowTableClientError) -> Controller.Family {
        try FlowTableClient.lookupFamily(
            name, over: transport, sequence: nextSequence(), port: port,
            timeout: timeout ?? self.timeout, buffer: &buffer)
    }

    /// CTRL_CMD_GETFAMILY over any transport (the listener resolves nfl_hairpin with it).
    public static func lookupFamily(
        _ name: String, over transport: MessageTransport, sequence: UInt32, port: UInt32 = 0,
        timeout: Double, buffer: inout [UInt8]
    ) throws(FlowTableClientError) -> Controller.Family {
        var w = NetlinkWriter(capacity: 64)
        Controller.getFamily(name, sequence: sequence, port: port, into: &w)
        return try lookupFamily(
            request: w, name: name, over: transport, sequence: sequence, timeout: timeout, buffer: &buffer)
    }

    /// CTRL_CMD_GETFAMILY by id: the family a captured message's nlmsg_type names.
    public static func lookupFamily(
        id: UInt16, over transport: MessageTransport, sequence: UInt32, port: UInt32 = 0,
        timeout: Double, buffer: inout [UInt8]
    ) throws(FlowTableClientError) -> Controller.Family {
        var w = NetlinkWriter(capacity: 64)
        Controller.getFamily(id: id, sequence: sequence, port: port, into: &w)
        return try lookupFamily(
            request: w, name: "id \(id)", over: transport, sequence: sequence, timeout: timeout, buffer: &buffer)
    }

    static func lookupFamily(
        request w: NetlinkWriter, name: String, over transport: MessageTransport, sequence: UInt32,
        timeout: Double, buffer: inout [UInt8]
    ) throws(FlowTableClientError) -> Controller.Family {
        try send(w, over: transport, timeout: timeout)
        var family: Controller.Family?
        let deadline = MonotonicClock.now() + MonotonicClock.nanoseconds(timeout)
        while true {
            let n = try receive(over: transport, into: &buffer, deadline: deadline, timeout: timeout)
            let result: Result<Bool, FlowTableClientError> = buffer.withUnsafeBytes { raw in
                var it = NetlinkMessageIterator(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                do throws(DecodeError) {
                    while let m = try it.next() {
                        guard m.header.sequence == sequence else { continue }
                        if m.header.type == Netlink.typeError {
                            let ack = try NetlinkAck.decode(m)
                            if ack.error == 0 { return .success(true) }
                            if ack.error == -Int32(Errno.ENOENT) { return .failure(.familyNotFound(name)) }
                            return .failure(.familyLookupFailed(name, errno: 0 &- ack.error, message: ack.message))
                        }
                        if m.header.type == Controller.familyID {
                            family = try Controller.decodeFamily(m)
                        }
                    }
                } catch { return .failure(.malformedReply(error)) }
                return .success(false)
            }
            if try result.get() { break }
        }
        guard let family else { throw .familyNotFound(name) }
        return family
    }

    // MARK: calls

    /// Sends `attributes` as a `command` request (NLM_F_REQUEST|NLM_F_ACK) and collects the
    /// answer. Errors from the other side (a non-zero NLMSG_ERROR) are in the reply, not
    /// thrown; thrown are only transport failures, timeouts and undecodable answers.
    public func call(
        _ command: NFL.Command, _ attributes: FlowTableAttributes,
        timeout: Double? = nil
    ) throws(FlowTableClientError) -> FlowTableReply {
        try call(command: command.rawValue, attributes, flags: Netlink.flagRequest | Netlink.flagAck, timeout: timeout)
    }

    /// Any command byte and flags (tests send unknown commands and requests without ACK). A
    /// dump (NLM_F_DUMP) ends at NLMSG_DONE: the kernel never ACKs one, NLM_F_ACK or not.
    public func call(
        command: UInt8, _ attributes: FlowTableAttributes, flags: UInt16,
        timeout: Double? = nil
    ) throws(FlowTableClientError) -> FlowTableReply {
        let family = try resolveFamily()
        let seq = nextSequence()
        let message = FlowTableMessage(
            header: NetlinkHeader(type: family, flags: flags, sequence: seq, port: port),
            command: command, attributes: attributes)
        writer.reset()
        do { try message.encode(into: &writer) } catch { throw .encode(error) }
        let t = timeout ?? self.timeout
        try Self.send(writer, over: transport, timeout: t)
        let dump = flags & Netlink.flagDump == Netlink.flagDump
        return try collect(
            command: command, sequence: seq, expectAck: flags & Netlink.flagAck != 0 && !dump, timeout: t)
    }

    /// Sends bytes as they are (malformed ones included) and collects the answer to `sequence`.
    public func call(
        raw packet: [UInt8], sequence: UInt32, command: UInt8, expectAck: Bool = true,
        timeout: Double? = nil
    ) throws(FlowTableClientError) -> FlowTableReply {
        try resolveFamily()
        let t = timeout ?? self.timeout
        let sent: Result<Void, TransportError> = packet.withUnsafeBytes { raw in
            do throws(TransportError) { try transport.send(raw); return .success(()) } catch { return .failure(error) }
        }
        if case let .failure(e) = sent { throw .from(e, timeout: t) }
        return try collect(command: command, sequence: sequence, expectAck: expectAck, timeout: t)
    }

    /// Reads messages for `sequence` until NLMSG_ERROR (ACK or error); without an ACK asked
    /// for, a single reply or NLMSG_DONE ends it too. Messages for other sequence numbers
    /// (a late answer to a call that timed out) are skipped.
    func collect(
        command: UInt8, sequence seq: UInt32, expectAck: Bool,
        timeout: Double
    ) throws(FlowTableClientError) -> FlowTableReply {
        var reply = FlowTableReply()
        let family = familyID ?? 0
        let isBatch = command == NFL.Command.setFlows.rawValue || command == NFL.Command.delFlows.rawValue
        let deadline = MonotonicClock.now() + MonotonicClock.nanoseconds(timeout)
        while true {
            let n = try Self.receive(over: transport, into: &buffer, deadline: deadline, timeout: timeout)
            let finished: Result<Bool, DecodeError> = buffer.withUnsafeBytes { raw in
                var it = NetlinkMessageIterator(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                do throws(DecodeError) {
                    while let m = try it.next() {
                        guard m.header.sequence == seq else { continue }
                        switch m.header.type {
                        case Netlink.typeError:
                            let ack = try NetlinkAck.decode(m)
                            reply.errno = 0 &- ack.error
                            reply.errorMessage = ack.message
                            reply.missingType = ack.missingType
                            reply.missingNest = ack.missingNest
                            reply.acknowledged = true
                            return .success(true)
                        case Netlink.typeDone:
                            reply.done = true
                            // A dump that failed ends with its errno and text in DONE.
                            let done = try NetlinkDone.decode(m)
                            if done.error < 0 {
                                reply.errno = 0 &- done.error
                                reply.errorMessage = done.message
                            }
                            if !expectAck { return .success(true) }
                        case family:
                            let msg = try FlowTableMessage.decode(m, familyID: family, requireShape: true)
                            reply.messages.append(msg)
                            if isBatch { reply.report.append(contentsOf: msg.attributes.flows ?? []) }
                            if !expectAck && !m.header.isMulti { return .success(true) }
                        default:
                            continue
                        }
                    }
                } catch { return .failure(error) }
                return .success(false)
            }
            switch finished {
            case .success(true): return reply
            case .success(false): continue
            case let .failure(e): throw .malformedReply(e)
            }
        }
    }

    // MARK: conveniences

    /// A getter (GET_TABLES … GET_TABLE_GRAPH) for `ifindex`.
    public func get(_ command: NFL.Command, ifindex: UInt32, timeout: Double? = nil) throws(FlowTableClientError)
        -> FlowTableReply
    {
        try call(command, .device(ifindex), timeout: timeout)
    }

    public func getFlows(ifindex: UInt32, _ selector: FlowSelector, timeout: Double? = nil) throws(FlowTableClientError)
        -> FlowTableReply
    {
        var a = FlowTableAttributes.device(ifindex)
        a.selector = selector
        // A dump, as the kernel's clients read a list: pages, then NLMSG_DONE, never an ACK
        // (a do answers one message, which a big table does not fit).
        return try call(
            command: NFL.Command.getFlows.rawValue, a, flags: Netlink.flagRequest | Netlink.flagDump,
            timeout: timeout)
    }

    /// SET_FLOWS; `strategy` nil sends no FLOWS_ERROR (the default, ABORT).
    public func setFlows(
        ifindex: UInt32, _ flows: [Flow], strategy: ErrorStrategy? = nil,
        timeout: Double? = nil
    ) throws(FlowTableClientError) -> FlowTableReply {
        try call(.setFlows, Self.flowsRequest(ifindex, flows, strategy), timeout: timeout)
    }

    public func delFlows(
        ifindex: UInt32, _ flows: [Flow], strategy: ErrorStrategy? = nil,
        timeout: Double? = nil
    ) throws(FlowTableClientError) -> FlowTableReply {
        try call(.delFlows, Self.flowsRequest(ifindex, flows, strategy), timeout: timeout)
    }

    /// The attributes of a SET_FLOWS or DEL_FLOWS request.
    private static func flowsRequest(_ ifindex: UInt32, _ flows: [Flow], _ strategy: ErrorStrategy?)
        -> FlowTableAttributes
    {
        var a = FlowTableAttributes.device(ifindex)
        a.flows = flows
        a.errorStrategy = strategy
        return a
    }

    // MARK: transport helpers

    static func send(_ w: NetlinkWriter, over transport: MessageTransport, timeout: Double) throws(FlowTableClientError)
    {
        let sent: Result<Void, TransportError> = w.withUnsafeBytes { raw in
            do throws(TransportError) { try transport.send(raw); return .success(()) } catch { return .failure(error) }
        }
        if case let .failure(e) = sent { throw .from(e, timeout: timeout) }
    }

    static func receive(
        over transport: MessageTransport, into buffer: inout [UInt8], deadline: UInt64,
        timeout: Double
    ) throws(FlowTableClientError) -> Int {
        let now = MonotonicClock.now()
        guard now < deadline else { throw .timedOut(timeout) }
        do { return try transport.receive(into: &buffer, timeout: Double(deadline - now) / 1e9) } catch {
            throw .from(error, timeout: timeout)
        }
    }
}
