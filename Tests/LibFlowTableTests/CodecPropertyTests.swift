import Testing
import PropertyBased
@testable import LibFlowTable

/// Random messages of every command survive encode → decode unchanged, and re-encoding the
/// decoded message gives the same bytes.
struct CodecPropertyTests {
    static let messages = Generator<FlowTableMessage, Shrink.None<FlowTableMessage>> { seeded in
        var rng = SplitMix64(seed: seeded.next())
        let cmd = NFL.Command.allCases[Int(rng.next() % UInt64(NFL.Command.allCases.count))]
        let isRequest = rng.next() % 2 == 0
        let layout = FlowsLayout.of(command: cmd.rawValue, isRequest: isRequest)
        return FlowTableMessage(familyID: UInt16.random(in: 0x10...0xffff, using: &rng), command: cmd,
                                isRequest: isRequest, sequence: UInt32.random(in: 0...UInt32.max, using: &rng),
                                port: UInt32.random(in: 0...UInt32.max, using: &rng),
                                attributes: RandomModel.attributes(&rng, layout: layout))
    }

    @Test func flowTableMessagesRoundTrip() async {
        await propertyCheck(count: 400, input: Self.messages) { m in
            do {
                let bytes = try m.encoded()
                let back = try FlowTableMessage.decode(bytes, familyID: m.header.type, requireShape: false)
                #expect(back.attributes == m.attributes)
                #expect(back.command == m.command)
                #expect(back.header.sequence == m.header.sequence)
                #expect(back.header.length == UInt32(bytes.count))
                #expect(try back.encoded() == bytes)
            } catch {
                Issue.record("round trip failed: \(error)")
            }
        }
    }

    static let encaps = Generator<HairpinMessage, Shrink.None<HairpinMessage>> { seeded in
        var rng = SplitMix64(seed: seeded.next())
        let cmd = UInt32(rng.next() % 11)
        let isAnswer = rng.next() % 2 == 0
        var e = HairpinEncap(command: cmd, status: isAnswer ? UInt32(rng.next() % 140) : nil,
                             sequence: rng.next())
        e.attributes = RandomModel.maybe(&rng) { r in RandomModel.attributes(&r, layout: e.flowsLayout) }
        e.results = RandomModel.maybe(&rng) { r in
            RandomModel.list(&r, max: 4) { r in FlowResult(index: RandomModel.u32(&r), errno: UInt32(r.next() % 140)) }
        }
        e.part = RandomModel.maybe(&rng, RandomModel.u32)
        e.more = rng.next() % 2 == 0
        e.errorMessage = RandomModel.maybe(&rng, RandomModel.name)
        return HairpinMessage(header: NetlinkHeader(type: 0x20, flags: 0, sequence: 0, port: 0),
                              command: NFLH.Command.encap.rawValue, encap: e)
    }

    @Test func hairpinMessagesRoundTrip() async {
        await propertyCheck(count: 400, input: Self.encaps) { m in
            do {
                let bytes = try m.encoded()
                let back = try HairpinMessage.decode(bytes)
                #expect(back.encap == m.encap)
                #expect(try back.encoded() == bytes)
            } catch {
                Issue.record("round trip failed: \(error)")
            }
        }
    }
}
