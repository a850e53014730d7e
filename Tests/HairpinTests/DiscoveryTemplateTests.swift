// The discovery getters on the byte path (DiscoveryTemplates through ByteService.answerCall)
// against the typed path, through the whole ListenerLoop: the same packets go to a loop with its
// byte path and to one without (byteService = nil), for every backend. Every message the two loops
// send must be the same bytes (nlmsg_seq included: both number their messages the same way),
// and their statistics and the service counters must end equal. The packets are every getter
// for three devices (one whose GET_HEADERS answer is too big for one message), and odd or
// malformed getter requests, which the byte path must decline so the typed path answers them
// (with its errors, EINVAL from the decoder's message, ENODEV, EOPNOTSUPP) or drops them.
import Testing
import LibFlowTable
@testable import Hairpin

@Suite("DiscoveryTemplates") struct DiscoveryTemplateTests {
    static let family: UInt16 = 0x1d

    /// Packets in from a list, packets out into a list; closed when the list is used up.
    final class QueueTransport: MessageTransport {
        let incoming: [[UInt8]]
        var next = 0
        var sent: [[UInt8]] = []

        init(_ incoming: [[UInt8]]) { self.incoming = incoming }

        func send(_ packet: UnsafeRawBufferPointer) throws(TransportError) { sent.append(Array(packet)) }

        func receive(into buffer: inout [UInt8], timeout: Double?) throws(TransportError) -> Int {
            guard next < incoming.count else { throw .closed }
            let p = incoming[next]
            next += 1
            guard p.count <= buffer.count else { throw .truncated(p.count) }
            buffer.replaceSubrange(0..<p.count, with: p)
            return p.count
        }

        var fileDescriptor: Int32 { -1 }
        func close() {}
    }

    /// One ENCAP request; `encap` writes the ENCAP nest's content.
    static func raw(_ encap: (inout NetlinkWriter) throws -> Void) throws -> [UInt8] {
        var w = NetlinkWriter(capacity: 256)
        let start = w.beginMessage(type: family, flags: Netlink.flagRequest, sequence: 1, port: 0)
        w.genericHeader(command: NFLH.Command.encap.rawValue, version: NFLH.version)
        let n = w.beginNest(NFLH.Attr.encap)
        try encap(&w)
        try w.endNest(n)
        w.endMessage(start)
        return w.bytes
    }

    /// A getter with CMD_TYPE, CMD, SEQ and ATTR{preamble} (the usual request), with hooks
    /// for the odd variants.
    static func getter(
        _ cmd: UInt32, seq: UInt64, ifindex: UInt32, idType: UInt32? = NFL.IdentifierType.ifindex,
        cmdType: UInt32 = NFLH.EncapCmdType.nflCommand, withAttr: Bool = true,
        encapExtra: (inout NetlinkWriter) -> Void = { _ in },
        attrExtra: (inout NetlinkWriter) -> Void = { _ in }
    ) throws -> [UInt8] {
        try raw { w in
            w.put(NFLH.EncapAttr.cmdType, u32: cmdType)
            w.put(NFLH.EncapAttr.cmd, u32: cmd)
            w.put(NFLH.EncapAttr.seq, u64: seq)
            encapExtra(&w)
            if withAttr {
                let a = w.beginNest(NFLH.EncapAttr.attr)
                if let idType { w.put(NFL.Attr.identifierType, u32: idType) }
                w.put(NFL.Attr.identifier, u32: ifindex)
                attrExtra(&w)
                try w.endNest(a)
            }
        }
    }

    /// The default model with so many headers that GET_HEADERS needs more than one message.
    static var bigModel: PipelineModel {
        var m = DefaultModelSource.model
        let base = m.headers
        for k in 1...400 {
            for var h in base {
                h.uid += UInt32(k * 1000)
                m.headers.append(h)
            }
        }
        return m
    }

    /// Every getter for devices 7, 8 and 9 (9: the big model), then odd requests.
    static func workload() throws -> [[UInt8]] {
        var packets: [[UInt8]] = []
        var seq: UInt64 = 0x1_0000_0000
        func s() -> UInt64 { seq += 1; return seq }
        let getters = (0...4).map(UInt32.init)
        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 1)
        for _ in 0..<3 {
            for ifindex: UInt32 in [7, 8, 9] {
                for c in getters { packets.append(try getter(c, seq: s(), ifindex: ifindex)) }
            }
            // A SET in between (the byte path for hash, typed otherwise), then two getters in one packet.
            let set = HairpinMessage(
                header: NetlinkHeader(type: family, flags: Netlink.flagRequest, sequence: 2, port: 0),
                command: NFLH.Command.encap.rawValue,
                encap: HairpinEncap(
                    command: UInt32(NFL.Command.setFlows.rawValue), sequence: s(),
                    attributes: FlowTableAttributes(
                        identifierType: NFL.IdentifierType.ifindex,
                        identifier: 7, flows: gen.flows(count: 1))))
            packets.append(try set.encoded())
            packets.append(try getter(0, seq: s(), ifindex: 8) + getter(4, seq: s(), ifindex: 7))
        }
        for c in getters {
            packets += [
                try getter(c, seq: s(), ifindex: 7, idType: 3),  // not IFINDEX: EINVAL
                try getter(c, seq: s(), ifindex: 0),  // no device: ENODEV
                try getter(c, seq: s(), ifindex: 7, idType: nil),  // no preamble: EINVAL
                try getter(c, seq: s(), ifindex: 7, withAttr: false),  // no ATTR: EINVAL
                try getter(c, seq: s(), ifindex: 7, cmdType: 2),  // EOPNOTSUPP
                try getter(c, seq: s(), ifindex: 7, attrExtra: { $0.put(NFL.Attr.flowsError, u32: 1) }),  // answered
                try getter(c, seq: s(), ifindex: 7, encapExtra: { $0.put(NFLH.EncapAttr.status, u32: 0) }),  // an answer: EINVAL
                try getter(c, seq: s(), ifindex: 7, encapExtra: { $0.put(NFLH.EncapAttr.part, u32: 0) }),  // one part: answered
                try getter(c, seq: s(), ifindex: 7, encapExtra: { $0.put(NFLH.EncapAttr.pad, u64: 0) }),  // PAD: answered
                try getter(c, seq: s(), ifindex: 7, attrExtra: { $0.put(NFL.Attr.identifier, u32: 8) }),  // repeat: malformed
                try getter(c, seq: s(), ifindex: 7, attrExtra: { $0.put(NFL.Attr.tables, u32: 8) }),  // bad TABLES: malformed
                try getter(c, seq: s(), ifindex: 7, encapExtra: { $0.put(NFLH.EncapAttr.cmd, u32: c) }),  // CMD twice: malformed
                try raw { w in  // SEQ as u32: dropped
                    w.put(NFLH.EncapAttr.cmdType, u32: 1); w.put(NFLH.EncapAttr.cmd, u32: c);
                    w.put(NFLH.EncapAttr.seq, u32: 5)
                },
                try raw { w in  // ATTR's bytes cut
                    w.put(NFLH.EncapAttr.cmdType, u32: 1); w.put(NFLH.EncapAttr.cmd, u32: c);
                    w.put(NFLH.EncapAttr.seq, u64: s())
                    [UInt8]([7, 0]).withUnsafeBytes { w.put(NFLH.EncapAttr.attr, bytes: $0) }
                },
                // The first part of a call, a getter while it is pending (typed), its last part.
                try getter(
                    c, seq: 77, ifindex: 7,
                    encapExtra: {
                        $0.put(NFLH.EncapAttr.part, u32: 0); $0.putFlag(NFLH.EncapAttr.more)
                    }),
                try getter(c, seq: s(), ifindex: 8),
                try getter(c, seq: 77, ifindex: 7, encapExtra: { $0.put(NFLH.EncapAttr.part, u32: 1) }),
                try getter(c, seq: s(), ifindex: 8),
            ]
        }
        // Not getters: UPDATE_FLOWS (EOPNOTSUPP) and an unknown command.
        packets.append(try getter(UInt32(NFL.Command.updateFlows.rawValue), seq: s(), ifindex: 7))
        packets.append(try getter(200, seq: s(), ifindex: 7))
        return packets
    }

    typealias Run = (
        sent: [[UInt8]], stats: ListenerStatistics,
        counters: HairpinCounters, answeredFast: Int, injected: Int
    )

    static func run(
        _ packets: [[UInt8]], backend: BackendKind, bytePath: Bool,
        faults: FaultInjector? = nil
    ) throws -> Run {
        let registry = DeviceRegistry(model: DefaultModelSource.model, backend: backend, models: [9: bigModel])
        let service = HairpinService(devices: registry)
        service.faults = faults
        let transport = QueueTransport(packets)
        let loop = ListenerLoop(transport: transport, familyID: family, service: service, log: { _ in })
        loop.pollInterval = nil
        if !bytePath { loop.byteService = nil }
        _ = try loop.run()
        return (
            transport.sent, loop.statistics, service.counters, loop.byteService?.answered ?? 0,
            service.faults?.injectedCount ?? 0
        )
    }

    /// The packets through a loop without its byte path and one with it: every message sent must
    /// be the same bytes, the statistics and counters equal.
    static func runBoth(_ packets: [[UInt8]], backend: BackendKind) throws -> (typed: Run, bytes: Run) {
        let typed = try run(packets, backend: backend, bytePath: false)
        let bytes = try run(packets, backend: backend, bytePath: true)
        #expect(bytes.sent.count == typed.sent.count)
        for (k, (a, b)) in zip(bytes.sent, typed.sent).enumerated() where a != b {
            Issue.record("answer message \(k) differs (\(a.count) vs \(b.count) bytes)")
            break
        }
        #expect(bytes.stats == typed.stats)
        #expect(bytes.counters == typed.counters)
        return (typed, bytes)
    }

    @Test(arguments: [BackendKind.dummy, .hash, .tss, .tcam])
    func answersAreByteIdenticalToTheTypedPath(backend: BackendKind) throws {
        let packets = try Self.workload()
        let (typed, bytes) = try Self.runBoth(packets, backend: backend)
        // 3 rounds × (devices 7 and 8: 5 getters, device 9: 4 (GET_HEADERS is too big) + 2 in
        // one packet), and per getter the one after a call's last part (the odd ones that the
        // typed path answers normally, with another ATTR attribute, PART 0 or PAD, are its own
        // too); the 3 SETs (every backend is served by the byte path).
        let expected = 3 * (14 + 2) + 5 + 3
        #expect(bytes.answeredFast == expected)
        // Every kind of answer is there: successes, errors, parts of the big one.
        let getHeaders = typed.counters.commands[UInt32(NFL.Command.getHeaders.rawValue)]
        #expect((getHeaders?.requests ?? 0) > 10)
        #expect(typed.counters.commands[0]?.errors[Errno.ENODEV] == 1)
        #expect(typed.stats.malformedAnswered > 10)
        #expect(typed.stats.malformedDropped == 5)
        // The big GET_HEADERS answer cannot be one message (nor split: only flows are): the
        // typed way answers EMSGSIZE.
        let statuses = typed.sent.compactMap { try? HairpinMessage.decode($0, familyID: Self.family).encap?.status }
        #expect(statuses.filter { $0 == Errno.EMSGSIZE }.count == 3)
    }

    /// With faults to inject (--inject) every call goes through the typed path and its injector.
    @Test func faultsKeepTheTypedPath() throws {
        let packets = try Self.workload()
        let spec = try FaultSpec.parse("get_tables:error=ENOSPC:when=2", defaultSide: .backend)
        let typed = try Self.run(packets, backend: .hash, bytePath: false, faults: FaultInjector(specs: [spec]))
        let bytes = try Self.run(packets, backend: .hash, bytePath: true, faults: FaultInjector(specs: [spec]))
        #expect(bytes.answeredFast == 0)
        #expect(bytes.sent == typed.sent)
        #expect(bytes.counters == typed.counters)
        #expect(typed.injected == 1)
        #expect(bytes.injected == 1)
    }
}

/// GET_FLOWS through the whole ListenerLoop, byte path against typed, for every backend: whole
/// answers and answers in parts (a table over the parts budget), priority windows, reads after
/// changes, and a GET_FLOWS while another call's parts are pending (typed). Every message sent
/// must be the same bytes, nlmsg_seq included.
extension DiscoveryTemplateTests {
    static func getFlowsWorkload() throws -> (packets: [[UInt8]], getFlows: Int) {
        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 23)
        var draw = ByteServiceTests.Draw(state: 23)
        let tables = gen.usableTables.map(\.uid)
        var seq: UInt64 = 1000
        func s() -> UInt64 {
            seq += 1
            return seq
        }
        var packets: [[UInt8]] = []
        var getFlows = 0
        func get(_ selector: FlowSelector) throws {
            packets.append(try ByteServiceTests.request(.getFlows, seq: s(), ifindex: 7, selector: selector))
            getFlows += 1
        }
        var priorities: [UInt32] = []
        for n in 0..<900 {
            let flow = gen.flows(count: 1)[0]
            priorities.append(flow.priority)
            packets.append(try ByteServiceTests.request(.setFlows, seq: s(), ifindex: 7, flows: [flow]))
            if n % 150 == 149 {
                for t in tables { try get(FlowSelector(table: t)) }
            }
        }
        for _ in 0..<30 {
            let t = tables[draw.next(tables.count)]
            let a = priorities[draw.next(priorities.count)], b = priorities[draw.next(priorities.count)]
            try get(FlowSelector(table: t, minPriority: min(a, b), maxPriority: max(a, b)))
            try get(FlowSelector(table: t))
        }
        // A call in parts pending: the GET_FLOWS in between goes typed (the loop's bookkeeping).
        packets.append(
            try getter(
                0, seq: 77, ifindex: 7,
                encapExtra: {
                    $0.put(NFLH.EncapAttr.part, u32: 0); $0.putFlag(NFLH.EncapAttr.more)
                }))
        try get(FlowSelector(table: tables[0]))
        packets.append(try getter(0, seq: 77, ifindex: 7, encapExtra: { $0.put(NFLH.EncapAttr.part, u32: 1) }))
        try get(FlowSelector(table: tables[0]))
        return (packets, getFlows)
    }

    @Test(arguments: [BackendKind.dummy, .hash, .tss, .tcam])
    func getFlowsInPartsIsByteIdenticalToTheTypedPath(backend: BackendKind) throws {
        let (packets, getFlows) = try Self.getFlowsWorkload()
        let (typed, bytes) = try Self.runBoth(packets, backend: backend)
        // Answers in parts were sent (more messages than calls answered).
        #expect(typed.stats.answersSent > typed.stats.calls + 20)
        // Every SET and every GET_FLOWS on the byte path but the one while parts were pending.
        #expect(bytes.answeredFast == 900 + getFlows - 1)
    }
}
