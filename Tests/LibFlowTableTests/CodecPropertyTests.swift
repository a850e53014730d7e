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
        return FlowTableMessage(
            familyID: UInt16.random(in: 0x10...0xffff, using: &rng), command: cmd,
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
        var e = HairpinEncap(
            command: cmd, status: isAnswer ? UInt32(rng.next() % 140) : nil,
            sequence: rng.next())
        e.attributes = RandomModel.maybe(&rng) { r in RandomModel.attributes(&r, layout: e.flowsLayout) }
        e.results = RandomModel.maybe(&rng) { r in
            RandomModel.list(&r, max: 4) { r in FlowResult(index: RandomModel.u32(&r), errno: UInt32(r.next() % 140)) }
        }
        e.part = RandomModel.maybe(&rng, RandomModel.u32)
        e.more = rng.next() % 2 == 0
        e.errorMessage = RandomModel.maybe(&rng, RandomModel.name)
        return HairpinMessage(
            header: NetlinkHeader(type: 0x20, flags: 0, sequence: 0, port: 0),
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

/// Random models survive model → JSON text → model, and model → netlink → JSON → model.
struct JSONPropertyTests {
    static let attributeSets = Generator<FlowTableAttributes, Shrink.None<FlowTableAttributes>> { seeded in
        var rng = SplitMix64(seed: seeded.next())
        // ErrorStrategy JSON is a name or a number; both round-trip.
        return RandomModel.attributes(&rng, layout: rng.next() % 2 == 0 ? .list : .selector)
    }

    @Test func attributesRoundTripThroughJSONText() async {
        await propertyCheck(count: 300, input: Self.attributeSets) { a in
            do {
                let text = a.extendedJSON().serialized(style: .pretty)
                let back = try FlowTableAttributes(extendedJSON: try FlowTableJSON.parse(text))
                #expect(back == a)
                // Compact output parses to the same value.
                let compact = a.extendedJSON().serialized(style: .compact)
                #expect(try FlowTableAttributes(extendedJSON: try FlowTableJSON.parse(compact)) == a)
            } catch {
                Issue.record("JSON round trip failed: \(error)")
            }
        }
    }

    @Test func netlinkThenJSONThenNetlinkGivesTheSameBytes() async {
        await propertyCheck(count: 200, input: CodecPropertyTests.messages) { m in
            do {
                let bytes = try m.encoded()
                let decoded = try FlowTableMessage.decode(bytes, requireShape: false)
                let viaJSON = try FlowTableAttributes(
                    extendedJSON: try FlowTableJSON.parse(
                        decoded.attributes.extendedJSON().serialized(style: .compact)))
                var again = decoded
                again.attributes = viaJSON
                #expect(try again.encoded() == bytes)
            } catch {
                Issue.record("netlink/JSON round trip failed: \(error)")
            }
        }
    }
}
