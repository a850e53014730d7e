// ListenerLoop over socketpair(AF_UNIX, SOCK_SEQPACKET): the test plays unft on one end (raw
// bytes in and out, as the twin would), the loop runs on the other in a thread of its own.
import Foundation
import Testing
import LibFlowTable
@testable import Hairpin
import Posix

#if canImport(Glibc)
import Glibc
#endif

private let family: UInt16 = 0x1d

// MARK: a minimal transport for tests

/// A MessageTransport on one end of a socketpair. The real Unix-socket transport lives in
/// Sources/Hairpin/Transport; this one is just enough for the loop's tests.
final class SocketPairTransport: MessageTransport {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    var fileDescriptor: Int32 { fd }

    func send(_ packet: UnsafeRawBufferPointer) throws(TransportError) {
        let n = Glibc.send(fd, packet.baseAddress, packet.count, Int32(MSG_NOSIGNAL))
        if n < 0 {
            if errno == EPIPE || errno == ECONNRESET { throw .closed }
            throw .system("send", errno)
        }
    }

    func receive(into buffer: inout [UInt8], timeout: Double?) throws(TransportError) -> Int {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, timeout.map { Int32($0 * 1000) } ?? -1)
        if r == 0 { throw .timedOut }
        if r < 0 { throw .system("poll", errno) }
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
        if n < 0 {
            if errno == ECONNRESET { throw .closed }
            throw .system("recv", errno)
        }
        if n == 0 { throw .closed }  // the peer's end is closed (SEQPACKET EOF)
        if n > buffer.count { throw .truncated(n) }
        return n
    }

    func close() { _ = Glibc.close(fd) }
}

/// Mutable state shared with the loop's thread, under the one lock type.
typealias Locked = PosixLocked

extension PosixLocked {
    func with<R>(_ body: (inout Value) -> R) -> R { withLock(body) }

    var get: Value { withLock { $0 } }
}

/// unft's end: raw packets, and the listener loop on the other end running in a thread.
final class Harness: @unchecked Sendable {
    let peer: Int32
    let transport: SocketPairTransport
    let service: HairpinService
    let loop: ListenerLoop
    let logs = Locked<[String]>([])
    let seen = Locked<[(ListenerLoop.Direction, [UInt8])]>([])
    let outcome = Locked<Result<ListenerLoop.StopReason, ListenerError>?>(nil)
    let finished = DispatchSemaphore(value: 0)

    init(model: PipelineModel = DefaultModelSource.model) throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0 else {
            throw TransportError.system("socketpair", errno)
        }
        peer = fds[0]
        transport = SocketPairTransport(fd: fds[1])
        service = HairpinService(model: model, backend: .hash)
        loop = ListenerLoop(transport: transport, familyID: family, service: service)
        let logs = self.logs, seen = self.seen
        loop.log = { line in logs.with { $0.append(line) } }
        loop.onMessage = { direction, bytes in seen.with { $0.append((direction, Array(bytes))) } }
        loop.pollInterval = 0.05
    }

    /// Runs register() (unless told not to) and run() in a thread.
    func start(register: Bool = true) {
        let loop = self.loop, outcome = self.outcome, finished = self.finished
        let thread = Thread {
            do throws(ListenerError) {
                if register { try loop.register(timeout: 5) }
                let reason = try loop.run()
                outcome.with { $0 = .success(reason) }
            } catch {
                outcome.with { $0 = .failure(error) }
            }
            finished.signal()
        }
        thread.start()
    }

    /// Waits for the loop's thread; nil when it did not end in time.
    func wait(seconds: Double = 10) -> Result<ListenerLoop.StopReason, ListenerError>? {
        guard finished.wait(timeout: .now() + seconds) == .success else { return nil }
        return outcome.get
    }

    func send(_ bytes: [UInt8]) {
        let n = bytes.withUnsafeBytes { Glibc.send(peer, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(n == bytes.count)
    }

    /// The next packet from the listener, or nil after `seconds`.
    func receive(seconds: Double = 5) -> [UInt8]? {
        var p = pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        let n = buffer.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Array(buffer[0..<n])
    }

    /// The next packet decoded as one hairpin message.
    func receiveMessage(sourceLocation: SourceLocation = #_sourceLocation) throws -> HairpinMessage {
        let bytes = try #require(receive(), "no packet from the listener", sourceLocation: sourceLocation)
        return try HairpinMessage.decode(bytes, familyID: family)
    }

    /// Plays unft's part of registration: reads SET_LISTENER and answers `error` (0 = ACK).
    func acceptRegistration(
        error: Int32 = 0, message: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let m = try receiveMessage(sourceLocation: sourceLocation)
        #expect(m.knownCommand == .setListener, sourceLocation: sourceLocation)
        #expect(m.listener == HairpinListener(type: NFLH.ListenerType.encap, port: nil), sourceLocation: sourceLocation)
        #expect(m.header.flags == Netlink.flagRequest | Netlink.flagAck, sourceLocation: sourceLocation)
        acknowledge(m.header, error: error, message: message)
    }

    /// Sends NLMSG_ERROR for a message of the listener.
    func acknowledge(_ request: NetlinkHeader, error: Int32 = 0, message: String? = nil) {
        send(
            NetlinkAck(
                header: NetlinkHeader(type: Netlink.typeError, flags: 0, sequence: request.sequence, port: 0),
                error: error, request: request, message: message
            ).encoded())
    }

    /// Sends ENCAP request(s) as unft does: no NLM_F_REQUEST, seq 0, pid 0; one packet per part.
    func sendRequest(_ encap: HairpinEncap, split: Bool = true) throws {
        for part in split ? encap.parts() : [encap] {
            send(
                try HairpinMessage(
                    header: NetlinkHeader(type: family, flags: 0, sequence: 0, port: 0),
                    command: NFLH.Command.encap.rawValue, encap: part
                ).encoded())
        }
    }

    /// Receives a whole answer (all parts). Each part is NLM_F_REQUEST only, so it gets no ACK
    /// (unft ACKs an accepted answer only when asked).
    func receiveAnswer(sourceLocation: SourceLocation = #_sourceLocation) throws -> HairpinEncap {
        var assembler = EncapAssembler()
        while true {
            let m = try receiveMessage(sourceLocation: sourceLocation)
            #expect(m.knownCommand == .encap, sourceLocation: sourceLocation)
            #expect(m.header.flags == Netlink.flagRequest, sourceLocation: sourceLocation)
            #expect(m.header.type == family, sourceLocation: sourceLocation)
            if m.header.flags & Netlink.flagAck != 0 { acknowledge(m.header) }
            let part = try #require(m.encap, sourceLocation: sourceLocation)
            if let whole = try assembler.add(part) { return whole }
        }
    }

    func closePeer() { _ = Glibc.close(peer) }

    deinit { transport.close() }
}

@Suite("ListenerLoop", .serialized) struct ListenerLoopTests {
    @Test func registersAnswersAndReturnsWhenClosed() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration()

        let request = request(.getTables, ifindex: 3, seq: 1)
        try h.sendRequest(request)
        let answer = try h.receiveAnswer()
        expectEcho(answer, request)
        #expect(answer.status == 0)
        #expect(answer.attributes?.tables == DefaultModelSource.model.tables)
        #expect(answer.attributes?.identifier == 3)

        // DEL is answered as DEL, over the wire too.
        try h.sendRequest(setFlows([L2.flow(1)], ifindex: 3, seq: 2))
        #expect(try h.receiveAnswer().status == 0)
        let del = setFlows([L2.flow(1)], ifindex: 3, seq: 3, cmd: .delFlows)
        try h.sendRequest(del)
        let d = try h.receiveAnswer()
        expectEcho(d, del)
        #expect(d.results == [FlowResult(index: 0, errno: 0)])

        h.closePeer()
        guard case .success(let reason)? = h.wait() else {
            Issue.record("the loop did not return after the peer closed")
            return
        }
        #expect(reason == .closed)
        #expect(h.loop.isRegistered)
        let stats = h.loop.statistics
        // The answers asked for no ACK and got none.
        #expect(stats.calls == 3 && stats.answersSent == 3 && stats.answerAcks == 0)
        #expect(stats.answerErrors.isEmpty && stats.malformedDropped == 0)
        // The hook saw everything: SET_LISTENER and the answers out; its ACK and the requests in.
        let seen = h.seen.get
        #expect(seen.filter { $0.0 == .sent }.count == 1 + stats.answersSent)
        #expect(seen.filter { $0.0 == .received }.count == 1 + stats.encapMessages)
        // Answers carry increasing netlink sequence numbers after SET_LISTENER's.
        let sequences = seen.filter { $0.0 == .sent }.map { bytes in
            bytes.1.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
        }
        #expect(sequences == [1, 2, 3, 4])
    }

    @Test func refusedRegistrationIsAClearError() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration(error: -16, message: "port 4711 is the listener")
        guard case .failure(let error)? = h.wait() else {
            Issue.record("register did not fail")
            return
        }
        #expect(error == .registrationRefused(errno: 16, message: "port 4711 is the listener"))
        #expect(error.description == "SET_LISTENER: another listener is registered (EBUSY): port 4711 is the listener")
        #expect(!h.loop.isRegistered)
        h.closePeer()
    }

    @Test func closedDuringRegistration() throws {
        let h = try Harness()
        h.start()
        _ = h.receive()
        h.closePeer()
        guard case .failure(let error)? = h.wait() else {
            Issue.record("register did not fail")
            return
        }
        #expect(error == .closedDuringRegistration)
    }

    @Test func multiPartSetFlowsIsOneBatch() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration()
        let flows = (1...3000).map { L2.flow(UInt32($0), prio: UInt32($0 % 5)) }
        let request = setFlows(flows, .abort, ifindex: 9, seq: 77)
        #expect(request.parts().count > 2)
        try h.sendRequest(request)
        let answer = try h.receiveAnswer()
        expectEcho(answer, request)
        #expect(answer.status == 0)
        #expect(answer.results?.count == 3000)
        #expect(answer.results?.allSatisfy { $0.errno == 0 } == true)
        #expect(answer.results?.map(\.index) == (0..<3000).map { UInt32($0) })

        // A multi-part batch that fails at its last flow rolls back all the flows of its own
        // (l2_fdb holds 4096: 1096 more fit).
        var failing = (3001...4096).map { L2.flow(UInt32($0), prio: 1) }
        failing[1095] = L2.flow(5)  // uid 5 is stored already
        let failingRequest = setFlows(failing, ifindex: 9, seq: 78)
        #expect(failingRequest.parts().count > 1)
        try h.sendRequest(failingRequest)
        let refused = try h.receiveAnswer()
        #expect(refused.status == 17)
        #expect(refused.results?.count == 1096)
        #expect(refused.errorMessage == "flow 1095 (table 2 uid 5): duplicate uid")

        // And the big table comes back in parts.
        try h.sendRequest(getFlows(ifindex: 9))
        let all = try h.receiveAnswer()
        #expect(all.attributes?.flows?.count == 3000)
        #expect(all.attributes?.flows?.first == L2.flow(5, prio: 0))

        h.closePeer()
        #expect(h.wait() != nil)
        // One batch each, although each came in several messages.
        #expect(h.service.counters.commands[6]?.requests == 2)
        #expect(h.service.devices.existingState(for: 9)?.backend.count(table: L2.table) == 3000)
        #expect(h.loop.statistics.encapMessages > 6)
    }

    @Test func malformedRequestIsAnsweredEINVAL() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration()

        // ENCAP{CMD_TYPE, CMD=SET_FLOWS, SEQ=99, ATTR{an attribute net_flow_nl does not have}}.
        var w = NetlinkWriter()
        let start = w.beginMessage(type: family, flags: 0, sequence: 0, port: 0)
        w.genericHeader(command: NFLH.Command.encap.rawValue, version: 1)
        let encap = w.beginNest(NFLH.Attr.encap)
        w.put(NFLH.EncapAttr.cmdType, u32: 1)
        w.put(NFLH.EncapAttr.cmd, u32: 6)
        w.put(NFLH.EncapAttr.seq, u64: 99)
        let attr = w.beginNest(NFLH.EncapAttr.attr)
        w.put(77, u32: 1)
        try w.endNest(attr)
        try w.endNest(encap)
        w.endMessage(start)
        h.send(w.bytes)

        let answer = try h.receiveAnswer()
        #expect(answer.sequence == 99 && answer.command == 6 && answer.commandType == 1)
        #expect(answer.status == 22)
        let message = answer.errorMessage ?? ""
        #expect(message.contains("ENCAP.ATTR") && message.contains("unknown attribute type 77"), "\(message)")
        #expect(answer.attributes == nil && answer.results == nil)

        // Without a readable SEQ there is nothing to answer: dropped, and the loop goes on.
        w.reset()
        let s2 = w.beginMessage(type: family, flags: 0, sequence: 0, port: 0)
        w.genericHeader(command: NFLH.Command.encap.rawValue, version: 1)
        let e2 = w.beginNest(NFLH.Attr.encap)
        w.put(NFLH.EncapAttr.cmd, u32: 6)
        w.put(NFLH.EncapAttr.seq, u32: 5)  // 4 bytes: not a u64
        try w.endNest(e2)
        w.endMessage(s2)
        h.send(w.bytes)
        // A packet that is not even a netlink message.
        h.send([1, 2, 3])

        try h.sendRequest(request(.getHeaders, seq: 100))
        let next = try h.receiveAnswer()
        #expect(next.sequence == 100 && next.status == 0)

        h.closePeer()
        #expect(h.wait() != nil)
        #expect(h.loop.statistics.malformedAnswered == 1)
        #expect(h.loop.statistics.malformedDropped == 2)
        #expect(h.service.counters.malformed == 1)
        #expect(h.logs.get.contains { $0.contains("without a readable SEQ") })
        // The recorder's hook saw every byte, the unsplittable packet too.
        #expect(h.seen.get.contains { $0.0 == .received && $0.1 == [1, 2, 3] })
    }

    @Test func brokenPartSequenceIsOneEINVAL() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration()
        let parts = setFlows((1...3000).map { L2.flow(UInt32($0)) }, seq: 55).parts()
        #expect(parts.count >= 3)
        // Part 0 is lost: part 1 is out of order; the remaining parts are dropped silently.
        for part in parts.dropFirst() { try h.sendRequest(part, split: false) }
        let answer = try h.receiveAnswer()
        #expect(answer.sequence == 55 && answer.status == 22)
        #expect(answer.errorMessage == "ENCAP seq 55: part 1 arrived, part 0 was expected")
        // The next call is answered normally, and nothing else came before it.
        try h.sendRequest(request(.getActions, seq: 56))
        #expect(try h.receiveAnswer().sequence == 56)
        h.closePeer()
        #expect(h.wait() != nil)
        #expect(h.service.devices.existingState(for: 7)?.backend.count(table: L2.table) ?? 0 == 0)
    }

    @Test func errorAckForAnAnswerIsReportedNotFatal() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration()
        try h.sendRequest(request(.getTables, seq: 31))
        let m = try h.receiveMessage()
        // unft gave up on seq 31 (timeout): it refuses the late answer.
        h.acknowledge(m.header, error: -2, message: "no pending call with seq 31")
        try h.sendRequest(request(.getTables, seq: 32))
        #expect(try h.receiveAnswer().sequence == 32)
        h.closePeer()
        #expect(h.wait() != nil)
        #expect(h.loop.statistics.answerErrors == [2: 1])
        #expect(
            h.logs.get.contains {
                $0.contains("ENCAP seq 31") && $0.contains("ENOENT") && $0.contains("no pending call with seq 31")
            })
    }

    @Test func aRefusedAnswerNamesItsCallAfterMoreThanTheRingsSize() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration()
        // More answers than the ring holds, none ACKed: getters (ByteService's templates)
        // and GET_FLOWS (the typed path) in turn.
        let n = AnswerRing.size + 50
        var headers: [NetlinkHeader] = []
        for k in 0..<n {
            let seq = UInt64(5000 + k)
            var r = k % 2 == 0 ? request(.getTables, seq: seq) : getFlows()
            r.sequence = seq
            try h.sendRequest(r)
            let m = try h.receiveMessage()
            if m.header.flags != Netlink.flagRequest || m.encap?.sequence != seq {
                Issue.record("answer \(k): flags \(m.header.flags), SEQ \(String(describing: m.encap?.sequence))")
                break
            }
            headers.append(m.header)
        }
        try #require(headers.count == n)
        // unft refuses three of them: the last two (one of each path) and the first, whose ring
        // slot a later answer has taken.
        let refused = [n - 1, n - 2, 0]
        for k in refused { h.acknowledge(headers[k], error: -2, message: "no call waits for it") }
        // A call after the refusals: once it is answered, the loop has read them.
        try h.sendRequest(request(.getActions, seq: 99))
        #expect(try h.receiveAnswer().sequence == 99)
        h.closePeer()
        #expect(h.wait() != nil)
        #expect(h.loop.statistics.answerErrors == [2: refused.count])
        #expect(h.loop.statistics.answerAcks == 0)
        let logs = h.logs.get.filter { $0.hasPrefix("unft refused the answer") }
        #expect(logs.count == refused.count, "\(logs)")
        for k in refused.prefix(2) {
            #expect(
                logs.contains { $0.contains("to ENCAP seq \(5000 + k) (nlmsg seq \(headers[k].sequence))") },
                "answer \(k): \(logs)")
        }
        // The first answer's slot holds answer AnswerRing.size's: its ENCAP seq is not guessed.
        let first = try #require(logs.first { $0.contains("(nlmsg seq \(headers[0].sequence))") }, "\(logs)")
        #expect(!first.contains("ENCAP seq"), "\(first)")
        #expect(first.contains("ENOENT") && first.contains("no call waits for it"))
    }

    @Test func stopFlagEndsTheLoop() throws {
        let h = try Harness()
        h.start()
        try h.acceptRegistration()
        h.loop.stop()
        guard case .success(let reason)? = h.wait() else {
            Issue.record("the loop did not stop")
            return
        }
        #expect(reason == .stopped)
        h.closePeer()
    }

    @Test func transportClosedWithoutRegistrationReturns() throws {
        let h = try Harness()
        h.start(register: false)
        try h.sendRequest(request(.getTables, seq: 8))
        #expect(try h.receiveAnswer().status == 0)
        h.closePeer()
        guard case .success(let reason)? = h.wait() else {
            Issue.record("the loop did not return")
            return
        }
        #expect(reason == .closed)
    }
}
