// The listener's side of the hairpin leg on a transport: register with SET_LISTENER, then
// receive ENCAP requests, put split calls back together, answer each through HairpinService and
// send the answer (split again when it is too big for one message). spec/two-leg-contract.md,
// "Listener registration", "Parts" and "Errors of the hairpin leg itself".
//
// Differences from the original hairpind on purpose:
// * SET_LISTENER carries no pid: unft registers the sending port;
// * a malformed request is answered EINVAL with the decoder's message when its SEQ can be read,
//   instead of being dropped so the kernel waits forever;
// * an error ACK for an answer is counted and logged with the ENCAP seq it belongs to, and
//   nothing about the leg kills the loop except the transport closing;
// * answers are sent without NLM_F_ACK (`answerFlags`): unft reports a refused answer either
//   way (netlink acks errors always), and an ACK of each accepted one cost unft a message and
//   the listener a receive per call. SET_LISTENER still asks: registration waits for it.
//
// One receive buffer and one NetlinkWriter serve the whole life of the loop: apart from the
// decoded model values, a call allocates nothing here.
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the listener cannot go on.
public enum ListenerError: Error, Hashable, CustomStringConvertible {
    /// The transport failed (other than closing, which ends `run` normally).
    case transport(TransportError)
    /// unft answered SET_LISTENER with an error (positive errno) and maybe an extended-ack text.
    case registrationRefused(errno: UInt32, message: String?)
    /// No ACK for SET_LISTENER in time.
    case registrationTimedOut
    /// The transport closed before SET_LISTENER was acknowledged.
    case closedDuringRegistration
    /// SET_LISTENER could not be encoded (cannot happen for a correct codec).
    case encode(EncodeError)

    public var description: String {
        switch self {
        case .transport(let e):
            return "hairpin transport: \(e)"
        case let .registrationRefused(errno, message):
            var text: String
            switch errno {
            case Errno.EBUSY: text = "another listener is registered"
            case Errno.EPERM: text = "not permitted (CAP_NET_ADMIN, or the socket's permissions)"
            default: text = "refused"
            }
            text = "SET_LISTENER: \(text) (\(Errno.display(unsigned: errno)))"
            if let message, !message.isEmpty { text += ": \(message)" }
            return text
        case .registrationTimedOut:
            return "SET_LISTENER: no acknowledgement from unft"
        case .closedDuringRegistration:
            return "SET_LISTENER: the connection closed before unft acknowledged"
        case .encode(let e):
            return "SET_LISTENER: \(e)"
        }
    }
}

/// What the loop saw and did, for statistics and tests.
public struct ListenerStatistics: Hashable, Sendable {
    public var packetsReceived = 0
    public var messagesReceived = 0
    /// ENCAP messages received (each part counts).
    public var encapMessages = 0
    /// Whole calls answered (including malformed ones answered EINVAL).
    public var calls = 0
    /// ENCAP answer messages sent (each part counts).
    public var answersSent = 0
    /// ACKs (error 0) received for our answers. The listener's answers do not ask for one
    /// (no NLM_F_ACK, `ListenerLoop.answerFlags`), so unft and its twin send none: this stays 0
    /// unless a peer ACKs unasked. A refused answer is counted in `answerErrors`.
    public var answerAcks = 0
    /// Error ACKs for our answers, by positive errno (e.g. ENOENT: unft no longer waited for it).
    public var answerErrors: [UInt32: Int] = [:]
    /// Malformed ENCAP requests answered EINVAL (SEQ readable).
    public var malformedAnswered = 0
    /// Malformed messages dropped (no readable SEQ, or not an ENCAP at all).
    public var malformedDropped = 0
    /// Packets larger than the receive buffer.
    public var truncatedPackets = 0
    /// Well-formed messages the listener has no use for (other families, other commands).
    public var unexpectedMessages = 0

    public init() {}
}

/// Drives one MessageTransport connected to unft (the twin's hairpin socket, or a generic
/// netlink socket bound to the nfl_hairpin family). Single-threaded: `register` and `run`
/// are called from one thread; only `stop()` may be called from another.
public final class ListenerLoop {
    public enum Direction: Sendable {
        case sent
        case received
    }

    public enum StopReason: Sendable {
        /// The transport closed (unft went away).
        case closed
        /// `stop()` was called.
        case stopped
    }

    public let transport: any MessageTransport
    /// The nfl_hairpin family id (resolved by the caller through nlctrl).
    public let familyID: UInt16
    public let service: HairpinService

    // The settings below are read on every call: exclusivity(unchecked), set before `run`.
    /// Called for every message sent or received, with exactly its bytes (valid only during the
    /// call): the recorder's hook.
    @exclusivity(unchecked) public var onMessage: ((Direction, UnsafeRawBufferPointer) -> Void)?
    /// Where problems are reported (default: stderr).
    public var log: (String) -> Void
    /// Log every call answered, not only problems.
    @exclusivity(unchecked) public var verbose = false
    /// How long one receive waits before the stop flag is looked at again; nil: block until a
    /// packet comes (then only the transport closing ends `run`).
    @exclusivity(unchecked) public var pollInterval: Double? = 0.2

    @exclusivity(unchecked) public private(set) var statistics = ListenerStatistics()
    /// Whether unft acknowledged SET_LISTENER.
    public private(set) var isRegistered = false

    /// The service on bytes (the discovery getters and successful SET/DEL calls, every backend;
    /// nil: every call typed). On by default; it declines whatever it cannot answer exactly as
    /// the typed path. A replay feeding this loop answers through this one too.
    @exclusivity(unchecked) public var byteService: ByteService?

    /// Whether answers are remembered by nlmsg seq (AnswerRing) to name the call in an error
    /// ACK. A transport that never refuses an answer (a replay feeding a trace) turns this off:
    /// two stores per answer for nothing.
    @exclusivity(unchecked) public var tracksAcknowledgements = true

    /// The netlink flags of every ENCAP answer: NLM_F_REQUEST only. unft ACKs an answer only
    /// when asked and reports a refused one (-ENOENT, -EINVAL, -EPERM …) either way, so asking
    /// would only add an ACK to build, send and receive per call.
    public static let answerFlags: UInt16 = Netlink.flagRequest

    // The hot state below is exclusivity(unchecked): the loop runs on one thread (see the class
    // comment), and the dynamic access checks would be a visible share of a replayed call.
    private let bufferSize: Int
    @exclusivity(unchecked) private var buffer: [UInt8]
    @exclusivity(unchecked) private var writer = NetlinkWriter(capacity: 64 * 1024)
    /// Where each message of `writer` starts, for sending them one per packet.
    @exclusivity(unchecked) private var messageStarts: [Int] = []
    @exclusivity(unchecked) private var assembler = EncapAssembler()
    /// Calls whose parts broke the sequence and were already answered EINVAL: their remaining
    /// parts are dropped silently rather than answered again.
    @exclusivity(unchecked) private var failedCalls: Set<UInt64> = []
    /// nlmsg_seq of our recent answers → the ENCAP SEQ they answer (for the log).
    @exclusivity(unchecked) private var recentAnswers = AnswerRing()
    @exclusivity(unchecked) private var lastSequence: UInt32 = 0
    private var registrationSequence: UInt32?
    private var registrationResult: NetlinkAck?
    /// A send failure inside packet processing, acted on once the packet is done.
    @exclusivity(unchecked) private var sendFailure: TransportError?
    private let stopFlag = StopFlag()

    static let maxFailedCalls = 1024

    /// - Parameter receiveBufferSize: the largest packet accepted; an ENCAP part is at most
    ///   about 64 KiB, and a packet may hold several messages.
    public init(
        transport: any MessageTransport, familyID: UInt16, service: HairpinService,
        receiveBufferSize: Int = 256 * 1024,
        log: @escaping (String) -> Void = { ListenerLoop.standardError($0) }
    ) {
        self.transport = transport
        self.familyID = familyID
        self.service = service
        self.log = log
        bufferSize = max(receiveBufferSize, 4096)
        buffer = [UInt8](repeating: 0, count: bufferSize)
        byteService = ByteService(service: service, answerFamilyID: familyID)
    }

    /// Writes one line to stderr.
    public static func standardError(_ line: String) {
        var text = "flow-table-hairpind: " + line + "\n"
        text.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    }

    // MARK: registration

    /// Sends SET_LISTENER{TYPE=ENCAP} (no port: unft registers the sender's) and waits for its
    /// ACK. Requests arriving meanwhile are handled as usual.
    public func register(timeout: Double = 5) throws(ListenerError) {
        let sequence = nextSequence()
        let message = HairpinMessage(
            header: NetlinkHeader(
                type: familyID, flags: Netlink.flagRequest | Netlink.flagAck,
                sequence: sequence, port: 0),
            command: NFLH.Command.setListener.rawValue, listener: HairpinListener(type: NFLH.ListenerType.encap))
        writer.reset()
        do throws(EncodeError) { try message.encode(into: &writer) } catch { throw .encode(error) }
        registrationSequence = sequence
        registrationResult = nil
        defer { registrationSequence = nil }
        // withUnsafeBytes rethrows untyped errors: carry the transport's out as a value.
        let sent: TransportError? = writer.withUnsafeBytes { raw in
            do throws(TransportError) { try transport.send(raw) } catch { return error }
            onMessage?(.sent, raw)
            return nil
        }
        if let sent {
            if sent == .closed { throw .closedDuringRegistration }
            throw .transport(sent)
        }

        let deadline = ContinuousClock.now + .milliseconds(Int64(max(timeout, 0) * 1000))
        while registrationResult == nil {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw .registrationTimedOut }
            let seconds = Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
            if try receiveOnce(timeout: seconds) == .closed { throw .closedDuringRegistration }
        }
        if let ack = registrationResult, ack.error != 0 {
            throw .registrationRefused(errno: ack.error.magnitude, message: ack.message)
        }
        isRegistered = true
    }

    // MARK: the loop

    /// Receives and answers until the transport closes or `stop()` is called.
    @discardableResult
    public func run() throws(ListenerError) -> StopReason {
        while !stopFlag.isSet {
            if try receiveOnce(timeout: pollInterval) == .closed { return .closed }
        }
        return .stopped
    }

    /// Handles every packet the transport has ready without waiting, then returns: how a
    /// listener on the twin's own thread is driven (InProcessHairpinLink). Returns `.closed`
    /// when the transport closed, else `.stopped` (nothing more is waiting).
    @discardableResult
    public func serveWaiting() throws(ListenerError) -> StopReason {
        while true {
            switch try receiveOnce(timeout: 0) {
            case .packet: continue
            case .idle: return .stopped
            case .closed: return .closed
            }
        }
    }

    /// Makes `run` return within one poll interval. Safe from any thread.
    public func stop() { stopFlag.set() }

    private enum Received { case packet, idle, closed }

    private func receiveOnce(timeout: Double?) throws(ListenerError) -> Received {
        // A transport may have resized the buffer to the packet; give it back its full size.
        if buffer.count != bufferSize { buffer = [UInt8](repeating: 0, count: bufferSize) }
        let n: Int
        do throws(TransportError) {
            n = try transport.receive(into: &buffer, timeout: timeout)
        } catch {
            switch error {
            case .timedOut: return .idle
            case .closed: return .closed
            case .truncated(let size):
                statistics.truncatedPackets += 1
                log("dropped a \(size)-byte packet larger than the \(bufferSize)-byte receive buffer")
                return .packet
            case .system(_, let e) where e == EINTR:
                return .idle
            case .system:
                throw .transport(error)
            }
        }
        guard n >= 0, n <= buffer.count else {
            statistics.truncatedPackets += 1
            log("the transport reported \(n) bytes for a \(buffer.count)-byte buffer; packet dropped")
            return .packet
        }
        statistics.packetsReceived += 1
        buffer.withUnsafeBytes { raw in
            process(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
        }
        if let failure = sendFailure {
            sendFailure = nil
            if failure == .closed { return .closed }
            throw .transport(failure)
        }
        return .packet
    }

    /// Every netlink message of one packet.
    private func process(_ packet: UnsafeRawBufferPointer) {
        var messages = NetlinkMessageIterator(packet)
        while sendFailure == nil {
            let m: NetlinkMessageView
            do throws(DecodeError) {
                guard let next = try messages.next() else { return }
                m = next
            } catch {
                statistics.malformedDropped += 1
                log("dropped the rest of a \(packet.count)-byte packet: \(error)")
                // The recorder still gets the bytes: a trace of a bad packet is what debugs it.
                if error.offset >= 0, error.offset < packet.count {
                    onMessage?(.received, UnsafeRawBufferPointer(rebasing: packet[error.offset...]))
                }
                return
            }
            statistics.messagesReceived += 1
            onMessage?(.received, m.bytes)
            switch m.header.type {
            case Netlink.typeError: acknowledgement(m)
            case Netlink.typeNoop, Netlink.typeDone: break
            case familyID: hairpin(m)
            default:
                statistics.unexpectedMessages += 1
                log("ignored a message of type \(m.header.type) (not the hairpin family \(familyID))")
            }
        }
    }

    // MARK: incoming messages

    /// An ACK or error for SET_LISTENER or for one of our answers.
    private func acknowledgement(_ m: NetlinkMessageView) {
        let ack: NetlinkAck
        do throws(DecodeError) { ack = try NetlinkAck.decode(m) } catch {
            statistics.malformedDropped += 1
            log("dropped a malformed NLMSG_ERROR: \(error)")
            return
        }
        let sequence = ack.request.sequence
        if let r = registrationSequence, sequence == r {
            registrationResult = ack
            return
        }
        if ack.error == 0 {
            statistics.answerAcks += 1
            return
        }
        let errno = ack.error.magnitude
        statistics.answerErrors[errno, default: 0] += 1
        let call = recentAnswers.sequence(answeredBy: sequence)
        var text = "unft refused the answer"
        if let call { text += " to ENCAP seq \(call)" }
        text += " (nlmsg seq \(sequence)): \(Errno.display(unsigned: errno))"
        if errno == Errno.ENOENT { text += " (unft no longer waits for it: timed out or answered)" }
        if let message = ack.message, !message.isEmpty { text += ": \(message)" }
        log(text)
    }

    private func hairpin(_ m: NetlinkMessageView) {
        if answeredFast(m) { return }
        let message: HairpinMessage
        do throws(DecodeError) {
            message = try HairpinMessage.decode(m, familyID: familyID)
        } catch {
            malformed(m, error)
            return
        }
        guard message.command == NFLH.Command.encap.rawValue, let encap = message.encap else {
            statistics.unexpectedMessages += 1
            log("ignored a hairpin message with command \(message.command) (only ENCAP requests are expected)")
            return
        }
        statistics.encapMessages += 1
        let sequence = encap.sequence
        if !failedCalls.isEmpty && failedCalls.contains(sequence) {
            // The rest of a call already answered EINVAL; its last part ends the matter.
            if !encap.more { failedCalls.remove(sequence) }
            return
        }
        let call: HairpinEncap?
        do throws(EncapAssembler.Failure) {
            call = try assembler.add(encap)
        } catch {
            if encap.more {
                if failedCalls.count >= Self.maxFailedCalls { failedCalls.removeAll(keepingCapacity: true) }
                failedCalls.insert(sequence)
            }
            statistics.malformedAnswered += 1
            answer(
                service.malformed(
                    sequence: sequence, command: encap.command, commandType: encap.commandType,
                    message: error.description))
            return
        }
        guard let call else { return }
        let result = service.handle(call)
        if verbose || result.status != 0 { log(Self.summary(call, result)) }
        answer(result)
    }

    /// The discovery getters, GET_FLOWS (in parts too), and SET_FLOWS / DEL_FLOWS that succeed,
    /// answered from the request's bytes by ByteService (byte-identical to the typed answer; anything else it declines
    /// having changed nothing). Not while parts of another call are pending or a call is being
    /// dropped (the typed path's bookkeeping decides those), nor when every call is logged.
    private func answeredFast(_ m: NetlinkMessageView) -> Bool {
        guard let fast = byteService, !verbose, assembler.pendingCount == 0, failedCalls.isEmpty else { return false }
        let first = lastSequence == UInt32.max ? 1 : lastSequence + 1
        // Every message of the answer (a GET_FLOWS may have parts) takes the next nlmsg_seq, as
        // the typed path numbers them; once a send fails the rest are not sent.
        var sequence = first
        var messages = 0
        let answered = fast.answerCall(m.bytes, requestFamilyID: familyID, nlmsgSequence: first) { answer in
            if messages > 0 { sequence = sequence == UInt32.max ? 1 : sequence + 1 }
            messages += 1
            guard sendFailure == nil else { return }
            do throws(TransportError) {
                try transport.send(answer)
            } catch {
                sendFailure = error
                if error != .closed { log("sending the answer to ENCAP seq \(fast.lastSequence) failed: \(error)") }
                return
            }
            statistics.answersSent += 1
            onMessage?(.sent, answer)
        }
        guard answered else { return false }
        lastSequence = sequence
        statistics.encapMessages += 1
        statistics.calls += 1
        if tracksAcknowledgements {
            // The call's SEQ is known once answered (the getters set it last).
            var noted = first
            for _ in 0..<messages {
                recentAnswers.note(nlmsgSequence: noted, sequence: fast.lastSequence)
                noted = noted == UInt32.max ? 1 : noted + 1
            }
        }
        return true
    }

    /// A hairpin message the decoder refused: answered EINVAL if it is an ENCAP whose SEQ can be
    /// read, else dropped (unft then times out; nothing better is possible without a SEQ).
    private func malformed(_ m: NetlinkMessageView, _ error: DecodeError) {
        guard let salvaged = Self.salvage(m) else {
            statistics.malformedDropped += 1
            log("dropped a malformed hairpin message without a readable SEQ: \(error)")
            return
        }
        statistics.malformedAnswered += 1
        log("malformed ENCAP seq \(salvaged.sequence), answered EINVAL: \(error)")
        // Any parts collected under this SEQ belong to a call that is now answered.
        assembler.drop(sequence: salvaged.sequence)
        answer(
            service.malformed(
                sequence: salvaged.sequence, command: salvaged.command ?? UInt32.max,
                commandType: salvaged.commandType ?? NFLH.EncapCmdType.nflCommand,
                message: error.description))
    }

    /// SEQ (and CMD, CMD_TYPE when readable) of an ENCAP the strict decoder refused
    /// (EncapHeader.salvage: the replay pairs such a call by the same reading).
    static func salvage(_ m: NetlinkMessageView) -> (sequence: UInt64, command: UInt32?, commandType: UInt32?)? {
        EncapHeader.salvage(message: m.bytes)
    }

    static func summary(_ call: HairpinEncap, _ answer: HairpinEncap) -> String {
        let name = UInt8(exactly: call.command).flatMap(NFL.Command.init(rawValue:))?.name ?? "command \(call.command)"
        var text = "\(name) seq \(call.sequence)"
        if let ifindex = call.attributes?.identifier { text += " ifindex \(ifindex)" }
        if let flows = call.attributes?.flows { text += ", \(flows.count) flows" }
        text += ": \(Errno.display(unsigned: answer.status ?? 0))"
        if let message = answer.errorMessage { text += ": \(message)" }
        return text
    }

    // MARK: outgoing

    /// Sends an answer, split into parts when it does not fit one message. All parts are encoded
    /// before the first is sent, so an answer that cannot be encoded is replaced by an EMSGSIZE
    /// answer instead of being sent in part.
    private func answer(_ answer: HairpinEncap) {
        statistics.calls += 1
        writer.reset()
        messageStarts.removeAll(keepingCapacity: true)
        do throws(EncodeError) {
            // The common case costs one encoding and no parts array: an answer within the budget
            // is exactly what parts() would return whole (as the twin's encodeEncap).
            let sequenceBefore = lastSequence
            var whole = false
            do throws(EncodeError) {
                try encode(answer)
                whole = writer.count <= Parts.defaultBudget
            } catch {}
            if !whole {
                // The parts reuse the nlmsg seqs (and note them again in the ring).
                lastSequence = sequenceBefore
                writer.reset()
                messageStarts.removeAll(keepingCapacity: true)
                for part in answer.parts() { try encode(part) }
            }
        } catch {
            log("the answer to ENCAP seq \(answer.sequence) cannot be encoded (\(error)); answering EMSGSIZE")
            writer.reset()
            messageStarts.removeAll(keepingCapacity: true)
            let failure = HairpinEncap(
                commandType: answer.commandType, command: answer.command,
                status: Errno.EMSGSIZE, sequence: answer.sequence,
                errorMessage: "the answer cannot be encoded: \(error)")
            do throws(EncodeError) { try encode(failure) } catch {
                log("the EMSGSIZE answer to ENCAP seq \(answer.sequence) cannot be encoded either: \(error)")
                return
            }
        }
        writer.withUnsafeBytes { raw in
            for k in messageStarts.indices where sendFailure == nil {
                let start = messageStarts[k]
                let end = k + 1 < messageStarts.count ? messageStarts[k + 1] : raw.count
                let message = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                do throws(TransportError) {
                    try transport.send(message)
                } catch {
                    sendFailure = error
                    if error != .closed { log("sending the answer to ENCAP seq \(answer.sequence) failed: \(error)") }
                    return
                }
                statistics.answersSent += 1
                onMessage?(.sent, message)
            }
        }
    }

    /// Appends one ENCAP answer message to `writer`.
    private func encode(_ part: HairpinEncap) throws(EncodeError) {
        let sequence = nextSequence()
        let start = writer.count
        let message = HairpinMessage(
            header: NetlinkHeader(type: familyID, flags: Self.answerFlags, sequence: sequence, port: 0),
            command: NFLH.Command.encap.rawValue, encap: part)
        try message.encode(into: &writer)
        messageStarts.append(start)
        if tracksAcknowledgements { recentAnswers.note(nlmsgSequence: sequence, sequence: part.sequence) }
    }

    /// The nlmsg_seq of our next request: increasing, never 0.
    private func nextSequence() -> UInt32 {
        lastSequence = lastSequence == UInt32.max ? 1 : lastSequence + 1
        return lastSequence
    }
}

/// A flag set from one thread and read by another.
final class StopFlag: Sendable {
    private let value = PosixLocked(false)

    func set() { value.withLock { $0 = true } }

    var isSet: Bool { value.withLock { $0 } }
}
