// Harness for the twin tests: a twin on its own thread with sockets in a fresh temp directory,
// a scripted fake listener (deliberately not Sources/Hairpin/Daemon: the twin is tested against
// the contract, not against the daemon), and raw peers that speak bytes. Every wait is bounded.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
@testable import Hairpin
import Posix

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

let ifindex: UInt32 = UnftTwin.Device.default.ifindex

/// A flow whose size is ~100 bytes on the wire; `uid` varies its values.
func testFlow(uid: UInt32, table: UInt32 = 1, priority: UInt32 = 1) -> Flow {
    Flow(
        table: table, uid: uid, priority: priority,
        matches: [
            FieldRef(
                instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xffff, type: .u16))
        ],
        actions: [Action(uid: 5, signature: [ActionArg(type: .u32, value: FieldValue(UInt64(uid), type: .u32))])])
}

/// A fresh directory under /tmp (mkdtemp), named `prefix`.XXXXXX; the caller removes it.
func tempDirectory(_ prefix: String = "ftt") throws -> String {
    var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
    guard let p = template.withUnsafeMutableBufferPointer({ b in b.baseAddress.flatMap { mkdtemp($0) } }) else {
        throw TestFailure("mkdtemp failed")
    }
    return String(cString: p)
}

/// A twin in a temp directory, running on its own thread.
final class TwinHarness {
    let directory: String
    let twin: UnftTwin
    let log = PosixLocked<[String]>([])

    init(
        timeout: Double = 5, devices: [UnftTwin.Device] = [.default],
        hook: UnftTwin.Hook? = nil
    ) throws {
        directory = try tempDirectory()
        var config = UnftTwin.Configuration(
            devices: devices, timeout: timeout,
            paths: TwinSocketPaths(directory: directory))
        config.onMessage = hook
        let log = self.log
        config.onLog = { line in log.withLock { $0.append(line) } }
        twin = try UnftTwin(config)
        try twin.start()
    }

    deinit {
        twin.stop()
        unlink(paths.api)
        unlink(paths.hairpin)
        rmdir(directory)
    }

    var paths: TwinSocketPaths { twin.configuration.paths }

    func client(timeout: Double = 5) throws -> FlowTableClient {
        FlowTableClient(transport: try UnixSeqpacketConnection.connect(path: paths.api), timeout: timeout)
    }

    func rawAPI() throws -> RawPeer { RawPeer(try UnixSeqpacketConnection.connect(path: paths.api)) }
    func rawHairpin() throws -> RawPeer { RawPeer(try UnixSeqpacketConnection.connect(path: paths.hairpin)) }

    /// Waits (bounded) until `condition` holds on the counters.
    @discardableResult
    func waitFor(_ what: String, timeout: Double = 2, _ condition: (UnftTwin.Counters) -> Bool) throws
        -> UnftTwin.Counters
    {
        let deadline = MonotonicClock.now() + MonotonicClock.nanoseconds(timeout)
        while true {
            let c = twin.counters
            if condition(c) { return c }
            if MonotonicClock.now() > deadline { throw TestFailure("timed out waiting for \(what); counters \(c)") }
            usleep(2_000)
        }
    }
}

/// One netlink message received, copied.
struct Received {
    var header: NetlinkHeader
    var bytes: [UInt8]

    var ack: NetlinkAck? {
        guard header.type == Netlink.typeError else { return nil }
        return bytes.withUnsafeBytes { raw in
            (try? NetlinkMessageView.single(raw)).flatMap { try? NetlinkAck.decode($0) }
        }
    }

    func flowTable(family: UInt16 = 0x1c) throws -> FlowTableMessage {
        try FlowTableMessage.decode(bytes, familyID: family)
    }

    func hairpin(family: UInt16 = 0x1d) throws -> HairpinMessage {
        try HairpinMessage.decode(bytes, familyID: family)
    }
}

/// A connection that sends bytes and reads messages, with timeouts.
final class RawPeer {
    let connection: UnixSeqpacketConnection
    var buffer: [UInt8] = []
    var packets: [Int] = []

    init(_ c: UnixSeqpacketConnection) { connection = c }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try connection.send($0) }
    }

    /// The messages of the next packet.
    func receive(timeout: Double = 2) throws -> [Received] {
        let n = try connection.receive(into: &buffer, timeout: timeout)
        packets.append(n)
        return try buffer.withUnsafeBytes { raw in
            var it = NetlinkMessageIterator(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            var out: [Received] = []
            while let m = try it.next() { out.append(Received(header: m.header, bytes: [UInt8](m.bytes))) }
            return out
        }
    }

    /// Messages until an NLMSG_ERROR for `sequence` (included).
    /// `dump`: the answer ends at NLMSG_DONE (a dump is never ACKed), else at NLMSG_ERROR.
    func exchange(_ bytes: [UInt8], sequence: UInt32, timeout: Double = 2, dump: Bool = false) throws -> [Received] {
        try send(bytes)
        return try collect(sequence: sequence, timeout: timeout, dump: dump)
    }

    func collect(sequence: UInt32, timeout: Double = 2, dump: Bool = false) throws -> [Received] {
        var out: [Received] = []
        let deadline = MonotonicClock.now() + MonotonicClock.nanoseconds(timeout)
        while MonotonicClock.now() < deadline {
            for m in try receive(timeout: Double(deadline - MonotonicClock.now()) / 1e9) {
                out.append(m)
                if m.header.sequence == sequence
                    && (m.header.type == Netlink.typeError || (dump && m.header.type == Netlink.typeDone))
                {
                    return out
                }
            }
        }
        throw TestFailure(
            "no \(dump ? "NLMSG_DONE or " : "")NLMSG_ERROR for seq \(sequence) within \(timeout) s; got \(out.map(\.header))"
        )
    }

    func close() { connection.close() }
}

/// Bytes of a hairpin request message.
func hairpinBytes(
    _ command: NFLH.Command, sequence: UInt32, flags: UInt16 = Netlink.flagRequest | Netlink.flagAck,
    listener: HairpinListener? = nil, encap: HairpinEncap? = nil, family: UInt16 = 0x1d
) throws -> [UInt8] {
    try HairpinMessage(
        header: NetlinkHeader(type: family, flags: flags, sequence: sequence, port: 0),
        command: command.rawValue, listener: listener, encap: encap
    ).encoded()
}

/// A scripted listener on the hairpin socket: registers, reassembles ENCAP requests, and for
/// each one asks `rule` which answers to send now (none, its own, or held-back ones).
final class FakeListener {
    typealias Rule = (HairpinEncap, FakeListener) -> [HairpinEncap]

    let connection: UnixSeqpacketConnection
    let family: UInt16
    let port: UInt32?
    private let rule: Rule
    private var thread: PosixThread?
    private let state = PosixLocked(State())
    private let sendLock = PosixLocked(UInt32(1000))

    struct State {
        var stop = false
        var requests: [HairpinEncap] = []
        /// Raw ENCAP request messages (parts), as received.
        var requestMessages: [HairpinMessage] = []
        var acks: [UInt32: NetlinkAck] = [:]
        /// Messages each answer went out as, by SEQ.
        var answerParts: [UInt64: Int] = [:]
        var failure: String?
    }

    /// Send all parts of an answer in one packet (several netlink messages), not one each.
    let partsInOnePacket: Bool
    /// The netlink flags of the answers `rule` gives (flow-table-hairpind: NLM_F_REQUEST only).
    let answerFlags: UInt16

    init(
        path: String, partsInOnePacket: Bool = false, answerFlags: UInt16 = Netlink.flagRequest | Netlink.flagAck,
        rule: @escaping Rule
    ) throws {
        self.partsInOnePacket = partsInOnePacket
        self.answerFlags = answerFlags
        connection = try UnixSeqpacketConnection.connect(path: path)
        var buffer: [UInt8] = []
        family = try FlowTableClient.lookupFamily(
            NFLH.familyName, over: connection, sequence: 1, timeout: 2,
            buffer: &buffer
        ).id
        self.rule = rule
        let peer = RawPeer(connection)
        let answer = try peer.exchange(
            try hairpinBytes(
                .setListener, sequence: 2, listener: HairpinListener(),
                family: family), sequence: 2)
        guard let ack = answer.last?.ack, ack.error == 0 else {
            throw TestFailure("SET_LISTENER failed: \(String(describing: answer.last?.ack))")
        }
        port = ack.header.port
        thread = try PosixThread { [self] in run() }
    }

    var requests: [HairpinEncap] { state.withLock { $0.requests } }
    var requestMessages: [HairpinMessage] { state.withLock { $0.requestMessages } }
    var failure: String? { state.withLock { $0.failure } }
    /// Every ACK and error received so far, by the nlmsg seq it answers.
    var acks: [UInt32: NetlinkAck] { state.withLock { $0.acks } }
    func answerParts(_ sequence: UInt64) -> Int? { state.withLock { $0.answerParts[sequence] } }
    func ack(_ sequence: UInt32) -> NetlinkAck? { state.withLock { $0.acks[sequence] } }

    /// Waits (bounded) until `count` whole requests came in; returns them.
    @discardableResult
    func waitForRequests(_ count: Int, timeout: Double = 2) throws -> [HairpinEncap] {
        let deadline = MonotonicClock.now() + MonotonicClock.nanoseconds(timeout)
        while MonotonicClock.now() < deadline {
            let r = requests
            if r.count >= count { return r }
            usleep(1_000)
        }
        throw TestFailure("the listener got \(requests.count) requests, not \(count)")
    }

    /// Waits (bounded) for the ACK of the answer sent with netlink `sequence`.
    func waitForAck(_ sequence: UInt32, timeout: Double = 2) throws -> NetlinkAck {
        let deadline = MonotonicClock.now() + MonotonicClock.nanoseconds(timeout)
        while MonotonicClock.now() < deadline {
            if let a = ack(sequence) { return a }
            usleep(2_000)
        }
        throw TestFailure("no ACK for the listener's message \(sequence)")
    }

    /// A fresh netlink sequence number for a message of ours.
    func nextSequence() -> UInt32 {
        sendLock.withLock { s -> UInt32 in
            s += 1
            return s
        }
    }

    /// Sends raw bytes on the listener's connection (its thread collects the ACK).
    func sendBytes(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try connection.send($0) }
    }

    /// Sends an answer (split into parts when large) with `flags` (default `answerFlags`);
    /// returns the netlink sequence number of each part.
    @discardableResult
    func send(_ answer: HairpinEncap, flags: UInt16? = nil) -> [UInt32] {
        var seqs: [UInt32] = []
        let parts = answer.parts()
        state.withLock { $0.answerParts[answer.sequence] = parts.count }
        var together: [UInt8] = []
        for p in parts {
            let seq = nextSequence()
            seqs.append(seq)
            do {
                let bytes = try hairpinBytes(
                    .encap, sequence: seq, flags: flags ?? answerFlags, encap: p, family: family)
                if partsInOnePacket {
                    together += bytes
                } else {
                    try bytes.withUnsafeBytes { try connection.send($0) }
                }
            } catch {
                state.withLock { $0.failure = "send failed: \(error)" }
            }
        }
        if partsInOnePacket {
            do { try together.withUnsafeBytes { try connection.send($0) } } catch {
                state.withLock { $0.failure = "send failed: \(error)" }
            }
        }
        return seqs
    }

    private func run() {
        var buffer: [UInt8] = []
        var assembler = EncapAssembler()
        while !state.withLock({ $0.stop }) {
            let n: Int
            do { n = try connection.receive(into: &buffer, timeout: 0.01) } catch TransportError.timedOut {
                continue
            } catch {
                if !state.withLock({ $0.stop }) { state.withLock { $0.failure = "receive: \(error)" } }
                return
            }
            var answers: [HairpinEncap] = []
            buffer.withUnsafeBytes { raw in
                var it = NetlinkMessageIterator(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                while let m = try? it.next() {
                    if m.header.type == Netlink.typeError {
                        if let a = try? NetlinkAck.decode(m) { state.withLock { $0.acks[a.header.sequence] = a } }
                        continue
                    }
                    let msg: HairpinMessage
                    do { msg = try HairpinMessage.decode(m, familyID: family) } catch {
                        state.withLock { $0.failure = "undecodable message from the twin: \(m.header) \(error)" }
                        continue
                    }
                    // GET_LISTENER replies (to our own requests) carry no ENCAP.
                    guard msg.knownCommand == .encap else { continue }
                    guard let e = msg.encap else {
                        state.withLock { $0.failure = "ENCAP without ENCAP from the twin: \(m.header)" }
                        continue
                    }
                    state.withLock { $0.requestMessages.append(msg) }
                    do {
                        if let whole = try assembler.add(e) {
                            state.withLock { $0.requests.append(whole) }
                            answers += rule(whole, self)
                        }
                    } catch {
                        state.withLock { $0.failure = "parts: \(error)" }
                    }
                }
            }
            for a in answers { send(a) }
        }
    }

    /// Stops the thread and closes the connection (the twin sees the listener go away).
    func stop() {
        state.withLock { $0.stop = true }
        thread?.join()
        thread = nil
        connection.close()
    }

    deinit { stop() }
}

extension HairpinEncap {
    /// The OK answer skeleton for a request.
    func answer(
        status: UInt32 = 0, attributes: FlowTableAttributes? = nil, results: [FlowResult]? = nil,
        errorMessage: String? = nil
    ) -> HairpinEncap {
        HairpinEncap(
            commandType: commandType, command: command, status: status, sequence: sequence,
            attributes: attributes, results: results, errorMessage: errorMessage)
    }
}
