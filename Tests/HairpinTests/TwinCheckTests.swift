// The twin decides whether to forward an API request with a check-only walk over its bytes
// (checkAPIRequest, FlowTableMessage.check) instead of the typed decode it used before
// (legacyCheckAPIRequest, kept for this test). For generated requests (the daemon's model's
// flows, every strategy, known and unknown devices, getters) and many malformed variants of
// them, the two must agree: same verdict, same errno, same extended-ack text, and for an
// accepted request the same preamble, strategy and flow count.
#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Testing
@testable import Hairpin

@Suite("Twin request check")
struct TwinCheckTests {
    func request(_ r: inout SeededGenerator, _ gen: inout FlowGenerator) throws -> [UInt8] {
        let commands: [NFL.Command] = [.setFlows, .setFlows, .delFlows, .getFlows, .getTables, .getTableGraph]
        let command = commands[Int(r.next() % UInt64(commands.count))]
        var a = FlowTableAttributes.device(r.next() % 8 == 0 ? ifindex + 1 : ifindex)
        if r.next() % 16 == 0 { a.identifierType = UInt32(r.next() % 3) }
        switch command {
        case .setFlows, .delFlows:
            a.flows = gen.flows(count: Int(1 + r.next() % 8))
            if r.next() % 2 == 0 { a.errorStrategy = ErrorStrategy(rawValue: UInt32(r.next() % 6)) }
        case .getFlows:
            a.selector = FlowSelector(table: UInt32(r.next() % 6), minPriority: r.next() % 2 == 0 ? 3 : nil)
        default: break
        }
        return try FlowTableMessage(
            familyID: 0x1c, command: command, isRequest: true,
            sequence: UInt32(truncatingIfNeeded: r.next()), attributes: a
        ).encoded()
    }

    func mutate(_ bytes: [UInt8], _ r: inout SeededGenerator) -> [UInt8] {
        var b = bytes
        let attrs = AttributeIterator.headerOffsets(ofGenericMessage: b)
        let at = attrs[Int(r.next() % UInt64(attrs.count))]
        let len = Int(b[at]) | Int(b[at + 1]) << 8
        switch r.next() % 6 {
        case 0: b[at + 2] = UInt8(r.next() % 12)  // type: unknown, repeated, missing
        case 1: b[at] = UInt8(truncatingIfNeeded: len + [-4, -1, 1, 4][Int(r.next() % 4)])  // length off
        case 2: if len > 4 { b[at + 4 + Int(r.next() % UInt64(len - 4))] = [0, 0xC3, 0xFF, 7][Int(r.next() % 4)] }
        case 3:  // cut, nlmsg_len fixed
            b.removeSubrange((at + Int(r.next() % UInt64(len)))...)
            b.withUnsafeMutableBytes { $0.storeBytes(of: UInt32($0.count), toByteOffset: 0, as: UInt32.self) }
        case 4:  // removed, parents not told
            b.removeSubrange(at..<min(b.count, at + ((len + 3) & ~3)))
            b.withUnsafeMutableBytes { $0.storeBytes(of: UInt32($0.count), toByteOffset: 0, as: UInt32.self) }
        default: b[Int(r.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: r.next())
        }
        return b
    }

    @Test func walkGivesTheDecodersVerdictsErrnosAndTexts() throws {
        let dir = try tempDirectory("ftc")
        defer { rmdir(dir) }
        let twin = try UnftTwin(UnftTwin.Configuration(paths: TwinSocketPaths(directory: dir)))
        var r = SeededGenerator(seed: 42)
        var gen = FlowGenerator(model: DefaultModel.model, seed: 11)
        var accepted = 0, refused = 0
        var errnos: Set<Int32> = []
        for i in 0..<1500 {
            let good = try request(&r, &gen)
            for (j, bytes) in ([good] + (0..<5).map { _ in mutate(good, &r) }).enumerated() {
                bytes.withUnsafeBytes { raw in
                    var it = NetlinkMessageIterator(raw)
                    guard let view = try? it.next() else { return }  // broken framing: refused before
                    switch (twin.legacyCheckAPIRequest(view), twin.checkAPIRequest(view)) {
                    case let (.failure(old), .failure(new)):
                        #expect(old == new, "request \(i) variant \(j)")
                        refused += 1
                        errnos.insert(new.errno)
                    case let (.success(m), .success(s)):
                        let a = m.attributes
                        #expect(
                            s.identifier == a.identifier && s.identifierType == a.identifierType
                                && s.errorStrategy == a.errorStrategy && s.command == m.command
                                && s.flowCount == (a.flows?.count ?? 0) && s.header == m.header,
                            "request \(i) variant \(j)")
                        accepted += 1
                    case let (old, new):
                        Issue.record("request \(i) variant \(j): typed decode \(old), walk \(new)")
                    }
                }
            }
        }
        #expect(accepted > 1000, "\(accepted) accepted")
        #expect(refused > 4000, "\(refused) refused")
        #expect(errnos == [EINVAL], "errnos: \(errnos)")
    }
}
