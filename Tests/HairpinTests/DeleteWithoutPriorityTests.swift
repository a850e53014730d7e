// A DEL_FLOWS names a flow by table and uid only (the spec's del-flows rule,
// spec/backend-contract.md): a request without PRIORITY deletes the flow on the twin and on the
// daemon's byte path, end to end.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import LibFlowTable
@testable import Hairpin
import Posix

/// `bytes` (one netlink message; genl header, then attributes) without the `count` bytes at
/// `at`, which must be a whole attribute: every nest holding it, and the message, shrink.
func removingAttribute(_ bytes: [UInt8], at: Int, count: Int) -> [UInt8] {
    var b = bytes
    func put32(_ o: Int, _ v: Int) { for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
    func len16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    put32(0, Int(b[0]) | Int(b[1]) << 8 | Int(b[2]) << 16 | Int(b[3]) << 24 - count)
    var o = Netlink.headerLength + 4, end = b.count
    while o < end, o != at {
        let l = len16(o)
        if o < at && at < o + l {
            b[o] = UInt8((l - count) & 0xff); b[o + 1] = UInt8((l - count) >> 8)
            end = o + l
            o += 4
        } else {
            o += (l + 3) & ~3
        }
    }
    b.removeSubrange(at..<(at + count))
    return b
}

/// The offset of the PRIORITY attribute (u32, type 4) right after the UID attribute `uid`.
func priorityOffset(_ bytes: [UInt8], uid: UInt32, priority: UInt32) -> Int? {
    let le = { (v: UInt32) in (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    let pattern: [UInt8] =
        [8, 0, UInt8(NFL.FlowAttr.uid), 0] + le(uid) + [8, 0, UInt8(NFL.FlowAttr.priority), 0] + le(priority)
    guard bytes.count >= pattern.count else { return nil }
    for i in 0...(bytes.count - pattern.count) where Array(bytes[i..<(i + pattern.count)]) == pattern { return i + 8 }
    return nil
}

@Suite("DeleteWithoutPriority", .serialized) struct DeleteWithoutPriorityTests {
    @Test(arguments: BackendKind.allCases)
    func theBytePathDeletesByTableAndUid(kind: BackendKind) throws {
        let s = HairpinService(model: DefaultModelSource.model, backend: kind)
        let fast = ByteService(service: s, answerFamilyID: ByteServiceTests.family)
        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 11)
        let flow = gen.flows(count: 1)[0]
        let set = try ByteServiceTests.request(.setFlows, seq: 1, ifindex: 7, flows: [flow])
        #expect(set.withUnsafeBytes { fast.answer($0, requestFamilyID: ByteServiceTests.family) { _ in } })
        let full = try ByteServiceTests.request(.delFlows, seq: 2, ifindex: 7, flows: [flow])
        let at = try #require(priorityOffset(full, uid: flow.uid, priority: flow.priority))
        let del = removingAttribute(full, at: at, count: 8)
        // The typed decoder agrees that the request is well formed.
        #expect(
            try HairpinMessage.decode(del, familyID: ByteServiceTests.family).encap?.attributes?.flows?.first?.uid
                == flow.uid)
        #expect(del.withUnsafeBytes { fast.answer($0, requestFamilyID: ByteServiceTests.family) { _ in } })
        #expect(s.devices.existingState(for: 7)?.backend.totalCount == 0)
    }

    @Test func theTwinAndTheDaemonDeleteByTableAndUid() throws {
        let h = try TwinHarness()
        let service = HairpinService(model: DefaultModelSource.model, backend: .hash)
        let loop = ListenerLoop(
            transport: try UnixSeqpacketConnection.connect(path: h.paths.hairpin),
            familyID: h.twin.configuration.hairpinFamilyID, service: service, log: { _ in })
        try loop.register()
        let thread = try PosixThread { _ = try? loop.run() }
        defer { loop.stop(); thread.join() }

        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 12)
        let flow = gen.flows(count: 1)[0]
        let set = try h.client().setFlows(ifindex: ifindex, [flow])
        #expect(set.errno == 0 && set.acknowledged)
        #expect(service.devices.existingState(for: ifindex)?.backend.totalCount == 1)

        let request = FlowTableMessage(
            header: NetlinkHeader(
                type: h.twin.configuration.flowTableFamilyID,
                flags: Netlink.flagRequest | Netlink.flagAck, sequence: 77, port: 0),
            command: NFL.Command.delFlows.rawValue,
            attributes: FlowTableAttributes(
                identifierType: NFL.IdentifierType.ifindex, identifier: ifindex,
                flows: [flow]))
        let full = try request.encoded()
        let at = try #require(priorityOffset(full, uid: flow.uid, priority: flow.priority))
        let peer = try h.rawAPI()
        defer { peer.close() }
        let answer = try peer.exchange(removingAttribute(full, at: at, count: 8), sequence: 77, timeout: 5)
        let ack = try #require(answer.last)
        #expect(ack.header.type == Netlink.typeError)
        // NLMSG_ERROR's error field (0: ACK), right after the netlink header.
        #expect(ack.bytes.count >= 20 && ack.bytes[16..<20].allSatisfy { $0 == 0 })
        #expect(service.devices.existingState(for: ifindex)?.backend.totalCount == 0)
    }
}
