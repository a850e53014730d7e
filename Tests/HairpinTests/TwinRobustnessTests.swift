// Hostile and slow peers: the twin must neither crash nor hang, and must keep serving others.

#if canImport(Glibc)
import Glibc
#endif
import Testing
import LibFlowTable
@testable import Hairpin
import Posix

/// xorshift64*: reproducible byte soup without a dependency.
private struct Xorshift {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

/// Mutates `bytes`: flipped bytes, a cut, an extension, or a header field set to an extreme.
private func mutate(_ bytes: [UInt8], _ rng: inout Xorshift) -> [UInt8] {
    var b = bytes
    switch rng.below(5) {
    case 0:
        for _ in 0...rng.below(4) where !b.isEmpty { b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
    case 1:
        b = Array(b.prefix(rng.below(b.count + 1)))
    case 2:
        b += (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    case 3:
        // An attribute length somewhere after the headers set to 0xffff or 0.
        if b.count > 24 {
            let at = 20 + 4 * rng.below((b.count - 20) / 4)
            b[at] = rng.below(2) == 0 ? 0xff : 0
            if at + 1 < b.count { b[at + 1] = b[at] }
        }
    default:
        // A header field: flags, or the command byte.
        if b.count > 16 { b[rng.below(2) == 0 ? 6 : 16] = UInt8(truncatingIfNeeded: rng.next()) }
    }
    return b
}

@Suite("unft twin: hostile and slow peers") struct TwinRobustnessTests {
    @Test func survivesMutatedMessagesOnBothLegs() throws {
        let h = try TwinHarness(timeout: 0.3)
        let l = try FakeListener(path: h.paths.hairpin) { req, _ in
            // Echoes the request's attributes (a selector cannot go back: answers use the list layout).
            var a = req.attributes
            a?.selector = nil
            a?.errorStrategy = nil
            return [
                req.answer(
                    attributes: a,
                    results: (req.attributes?.flows ?? []).indices.map {
                        FlowResult(index: UInt32($0), errno: 0)
                    })
            ]
        }
        defer { l.stop() }
        var a = FlowTableAttributes.device(ifindex)
        a.flows = [testFlow(uid: 1), testFlow(uid: 2)]
        a.errorStrategy = .continueLog
        var sel = FlowTableAttributes.device(ifindex)
        sel.selector = FlowSelector(table: 1, minPriority: 2)
        var getFamily = NetlinkWriter()
        Controller.getFamily(NFL.familyName, sequence: 1, port: 0, into: &getFamily)
        let apiSeeds: [[UInt8]] = [
            try FlowTableMessage(familyID: 0x1c, command: .setFlows, isRequest: true, sequence: 1, attributes: a)
                .encoded(),
            try FlowTableMessage(familyID: 0x1c, command: .getFlows, isRequest: true, sequence: 2, attributes: sel)
                .encoded(),
            try FlowTableMessage(
                familyID: 0x1c, command: .getTables, isRequest: true, sequence: 3,
                attributes: .device(ifindex)
            ).encoded(),
            getFamily.bytes,
        ]
        let hairpinSeeds: [[UInt8]] = [
            try hairpinBytes(
                .encap, sequence: 4,
                encap: HairpinEncap(
                    command: 6, status: 0, sequence: 1, attributes: a,
                    results: [FlowResult(index: 0, errno: 17)])),
            try hairpinBytes(.setListener, sequence: 5, listener: HairpinListener()),
            try hairpinBytes(.getListener, sequence: 6, listener: HairpinListener()),
        ]
        var rng = Xorshift(seed: 20150213)
        let api = try h.rawAPI()
        for i in 0..<1500 {
            var packet = mutate(apiSeeds[rng.below(apiSeeds.count)], &rng)
            if i % 7 == 0 { packet += mutate(apiSeeds[rng.below(apiSeeds.count)], &rng) }  // two in one packet
            if packet.isEmpty { continue }  // an empty packet would end the connection
            try api.send(packet)
            // Read whatever came back so far; the twin never waits for us.
            while (try? api.receive(timeout: 0)) != nil {}
            if i % 3 == 0 {
                try l.sendBytes(mutate(hairpinSeeds[rng.below(hairpinSeeds.count)], &rng).nonEmpty)
            }
        }
        api.close()
        // Still serving: a fresh client's call goes through the same listener.
        let r = try h.client().get(.getTables, ifindex: ifindex)
        #expect(r.errno == 0 || r.errno == EINVAL)  // the echo rule answers a getter without TABLES
        let ok = try h.client().setFlows(ifindex: ifindex, [testFlow(uid: 9)])
        #expect(ok.errno == 0)
        #expect(h.twin.counters.listenerPort == l.port)
        #expect(l.failure == nil)
    }

    @Test func slowReaderIsQueuedWhileOthersAreServed() throws {
        let h = try TwinHarness()
        let many = (1...20_000).map { testFlow(uid: UInt32($0), table: 2) }
        let l = try FakeListener(path: h.paths.hairpin) { req, _ in
            var a = FlowTableAttributes.device(ifindex)
            if req.command == UInt32(NFL.Command.getFlows.rawValue) { a.flows = many } else { a.tables = [] }
            return [req.answer(attributes: a)]
        }
        defer { l.stop() }
        let slow = try h.rawAPI()
        var sel = FlowTableAttributes.device(ifindex)
        sel.selector = FlowSelector(table: 2)
        try slow.send(
            try FlowTableMessage(
                header: NetlinkHeader(
                    type: 0x1c, flags: Netlink.flagRequest | Netlink.flagDump,
                    sequence: 5, port: 0),
                command: NFL.Command.getFlows.rawValue, attributes: sel
            ).encoded())
        try h.waitFor("the answer") { $0.answers == 1 }
        // ~2.6 MB of pages do not fit the socket: the rest waits in the twin, which meanwhile
        // serves another client. A twin that waited for the slow reader (who reads only after
        // this) would never answer, and the client's timeout would fail the call; no wall-clock
        // bound, which a loaded machine breaks.
        let other = try h.client().get(.getTables, ifindex: ifindex)
        #expect(other.errno == 0)
        let got = try slow.collect(sequence: 5, timeout: 10, dump: true)
        let flows = try got.filter { $0.header.type == 0x1c }.flatMap { try $0.flowTable().attributes.flows ?? [] }
        #expect(flows == many)
        #expect(got.last?.header.type == Netlink.typeDone)
        #expect(h.log.withLock { $0 }.isEmpty)
    }

    @Test func nonRequestsAndControlMessagesAreOnlyAcked() throws {
        let h = try TwinHarness()
        let raw = try h.rawAPI()
        // NLMSG_NOOP with NLM_F_ACK: ACKed; a net_flow_nl reply-shaped message without
        // NLM_F_REQUEST: ignored (nothing comes back), then ACKed when it asks.
        var noop = NetlinkWriter()
        let s = noop.beginMessage(type: Netlink.typeNoop, flags: Netlink.flagAck, sequence: 3, port: 0)
        noop.endMessage(s)
        #expect(try raw.exchange(noop.bytes, sequence: 3).map { $0.ack?.error } == [0])
        let reply = try FlowTableMessage(
            familyID: 0x1c, command: .getTables, isRequest: false, sequence: 4,
            attributes: .device(ifindex)
        ).encoded()
        try raw.send(reply)
        #expect(throws: TransportError.timedOut) { try raw.receive(timeout: 0.05) }
        // A hairpin message on the API socket: not a family there.
        let wrong = try raw.exchange(
            try hairpinBytes(.getListener, sequence: 6, listener: HairpinListener()), sequence: 6)
        #expect(wrong.last?.ack?.error == -ENOENT)
        // A dump request: net_flow_nl has none.
        let dump = try FlowTableMessage(
            header: NetlinkHeader(
                type: 0x1c, flags: Netlink.flagRequest | Netlink.flagAck | 0x300,
                sequence: 7, port: 0),
            command: 0, attributes: .device(ifindex)
        ).encoded()
        #expect(try raw.exchange(dump, sequence: 7).last?.ack?.error == -EOPNOTSUPP)
        // An nlctrl dump lists both families, then NLMSG_DONE.
        var w = NetlinkWriter()
        let d = w.beginMessage(type: Controller.familyID, flags: Netlink.flagRequest | 0x300, sequence: 8, port: 0)
        w.genericHeader(command: Controller.Command.getFamily, version: 1)
        w.endMessage(d)
        try raw.send(w.bytes)
        var names: [String] = []
        var sawDone = false
        while !sawDone {
            for m in try raw.receive() {
                if m.header.type == Netlink.typeDone { sawDone = true; continue }
                names.append(
                    try m.bytes.withUnsafeBytes { try Controller.decodeFamily(try NetlinkMessageView.single($0)).name })
            }
        }
        #expect(names == [NFL.familyName, NFLH.familyName])
    }
}

@Suite("unft twin: lifecycle") struct TwinLifecycleTests {
    @Test func runStopsThroughTheStopDescriptorAndCleansUp() throws {
        let dir = try tempDirectory("ftl")
        defer { rmdir(dir) }
        let twin = try UnftTwin(UnftTwin.Configuration(paths: TwinSocketPaths(directory: dir)))
        let returned = PosixLocked(false)
        let thread = try PosixThread {
            try? twin.run()
            returned.withLock { $0 = true }
        }
        // Up once a client can connect.
        var client: UnixSeqpacketConnection?
        let deadline = MonotonicClock.now() + 2_000_000_000
        while client == nil && MonotonicClock.now() < deadline {
            client = try? UnixSeqpacketConnection.connect(path: twin.configuration.paths.api)
            if client == nil { usleep(1_000) }
        }
        let c = try #require(client)
        // What a SIGTERM handler would do.
        var b: UInt8 = 1
        #expect(write(twin.stopFileDescriptor, &b, 1) == 1)
        let stopDeadline = MonotonicClock.now() + 2_000_000_000
        while !returned.withLock({ $0 }) && MonotonicClock.now() < stopDeadline { usleep(1_000) }
        #expect(returned.withLock { $0 })
        thread.join()
        // Connections are closed and the socket files gone.
        var buffer: [UInt8] = []
        #expect(throws: TransportError.closed) { try c.receive(into: &buffer, timeout: 1) }
        var st = stat()
        #expect(lstat(twin.configuration.paths.api, &st) != 0 && lstat(twin.configuration.paths.hairpin, &st) != 0)
        // A stopped twin does not start again; stop is idempotent.
        twin.stop()
        try twin.start()
        #expect(twin.counters.connections == 0)
    }

    @Test func secondTwinOnTheSamePathsIsRefused() throws {
        let h = try TwinHarness()
        let other = try UnftTwin(UnftTwin.Configuration(paths: h.paths))
        #expect(throws: SocketError.addressInUse(path: h.paths.api)) { try other.start() }
        // The first one is unharmed.
        var buffer: [UInt8] = []
        let c = try UnixSeqpacketConnection.connect(path: h.paths.hairpin)
        #expect(
            try FlowTableClient.lookupFamily(NFLH.familyName, over: c, sequence: 1, timeout: 2, buffer: &buffer).id
                == 0x1d)
    }
}

private extension Array where Element == UInt8 {
    /// An empty packet would end the connection; keep one byte.
    var nonEmpty: [UInt8] { isEmpty ? [0] : self }
}
