// StrictWalk, rule by rule: each rule of the generated descriptors fails on a crafted nest with the
// decoder's error (reason, byte offset, path), and the typed decoder and the check-only walk give
// that same error for the same bytes inside a message.

import Testing
@testable import LibFlowTable

@Suite struct StrictWalkTests {
    // A valid FLOW element's attributes (table, uid, priority).
    static let table = Wire.u32(NFL.FlowAttr.table, 2)
    static let uid = Wire.u32(NFL.FlowAttr.uid, 1001)
    static let priority = Wire.u32(NFL.FlowAttr.priority, 10)

    /// Walks the nest `bytes` (one attribute) as `set`, checking everything inside as the
    /// check-only walk does; the error, or nil.
    static func walkError(_ bytes: [UInt8], _ set: AttributeSetID) -> DecodeError? {
        bytes.withUnsafeBytes { raw -> DecodeError? in
            var it = AttributeIterator(raw, baseOffset: 0)
            do throws(DecodeError) {
                guard let nest = try it.next() else { return nil }
                try FlowTableCodec.checkNest(nest, set, depth: 2)
                return nil
            } catch { return error }
        }
    }

    /// Walks `bytes` as the attributes of `set` with StrictWalk.walk alone (no nests followed).
    static func flatError(_ bytes: [UInt8], _ set: AttributeSetID) -> DecodeError? {
        bytes.withUnsafeBytes { raw -> DecodeError? in
            do throws(DecodeError) {
                _ = try StrictWalk.walk(AttributeIterator(raw, baseOffset: 0), nestOffset: 0, set) { _, _ in }
                return nil
            } catch { return error }
        }
    }

    @Test func aValidFlowPasses() {
        #expect(Self.walkError(Wire.nest(1, [Self.table, Self.uid, Self.priority]), .nflFlow) == nil)
        #expect(Self.flatError(Self.table + Self.uid + Self.priority, .nflFlow) == nil)
    }

    @Test func unknownType() {
        let e = Self.flatError(Self.table + Self.uid + Self.priority + Wire.u32(9, 0), .nflFlow)
        #expect(e == DecodeError(.unknownAttribute(9), at: 24))
        // A type the set reserves (UNSPEC, 0) is unknown too.
        #expect(Self.flatError(Wire.u32(0, 0) + Self.table, .nflFlow) == DecodeError(.unknownAttribute(0), at: 0))
    }

    @Test func wrongLengthOfAnInteger() {
        let e = Self.flatError(Self.table + Wire.nla(NFL.FlowAttr.uid, [1, 2]) + Self.priority, .nflFlow)
        #expect(e == DecodeError(.payloadLength(expected: "4 (u32)", got: 2), at: 8, path: ["UID"]))
        let seq = Self.flatError(Wire.u32(NFLH.EncapAttr.seq, 1), .nflhEncap)
        #expect(seq == DecodeError(.payloadLength(expected: "8 (u64)", got: 4), at: 0, path: ["SEQ"]))
    }

    @Test func wrongLengthOfABinaryAndAFlag() {
        let ref = [
            Wire.u32(NFL.FieldRefAttr.instance, 1), Wire.u32(NFL.FieldRefAttr.header, 1),
            Wire.u32(NFL.FieldRefAttr.field, 1), Wire.u32(NFL.FieldRefAttr.maskType, 1),
            Wire.u32(NFL.FieldRefAttr.type, 3),
        ]
        for n in [0, 9] {
            let e = Self.flatError(
                ref.flatMap { $0 } + Wire.nla(NFL.FieldRefAttr.value, [UInt8](repeating: 1, count: n)), .nflFieldRef)
            #expect(
                e == DecodeError(.payloadLength(expected: "1 to 8 (binary integer)", got: n), at: 40, path: ["VALUE"]))
        }
        for n in [1, 8] {
            #expect(
                Self.flatError(
                    ref.flatMap { $0 } + Wire.nla(NFL.FieldRefAttr.value, [UInt8](repeating: 1, count: n)), .nflFieldRef
                ) == nil)
        }
        let more = Self.flatError(Wire.nla(NFLH.EncapAttr.more, [1]), .nflhEncap)
        #expect(more == DecodeError(.payloadLength(expected: "0 (flag)", got: 1), at: 0, path: ["MORE"]))
    }

    @Test func repeatedAttribute() {
        let e = Self.flatError(Self.table + Self.uid + Self.table + Self.priority, .nflFlow)
        #expect(e == DecodeError(.repeatedAttribute("TABLE"), at: 16))
    }

    @Test func missingRequiredAttribute() {
        // The first missing one by number, at the nest's offset.
        let e = Self.walkError(Wire.nest(1, [Self.priority]), .nflFlow)
        #expect(e == DecodeError(.missingAttribute("TABLE"), at: 0))
        #expect(Self.flatError(Self.table + Self.priority, .nflFlow) == DecodeError(.missingAttribute("UID"), at: 0))
        // A set without required attributes (an action's NAME and SIGNATURE are optional).
        #expect(Self.flatError(Wire.u32(NFL.ActionAttr.uid, 5), .nflAction) == nil)
        #expect(
            Self.flatError(Wire.str(NFL.ActionAttr.name, "x"), .nflAction)
                == DecodeError(.missingAttribute("UID"), at: 0))
    }

    @Test func strings() {
        let uid = Wire.u32(NFL.ActionAttr.uid, 5)
        // With or without the trailing NUL.
        #expect(Self.flatError(uid + Wire.str(NFL.ActionAttr.name, "port"), .nflAction) == nil)
        #expect(Self.flatError(uid + Wire.nla(NFL.ActionAttr.name, Array("port".utf8)), .nflAction) == nil)
        #expect(Self.flatError(uid + Wire.str(NFL.ActionAttr.name, "pört"), .nflAction) == nil)
        // A NUL inside, or not UTF-8.
        for bad: [UInt8] in [[0x70, 0, 0x72, 0], [0x70, 0xff, 0]] {
            let e = Self.flatError(uid + Wire.nla(NFL.ActionAttr.name, bad), .nflAction)
            #expect(e == DecodeError(.invalidString, at: 8, path: ["NAME"]))
        }
    }

    @Test func listWrappers() {
        // FLOWS holds FLOW (1) elements only; a message's 20-byte header, then the preamble (16),
        // then FLOWS (4), whose second element starts after the first (28).
        let flows = Wire.nest(NFL.Attr.flows, [Wire.nest(1, [Self.table, Self.uid, Self.priority]), Wire.nest(2, [])])
        let m = Wire.genl(
            type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: NFL.Command.setFlows.rawValue,
            [Wire.u32(NFL.Attr.identifierType, 1), Wire.u32(NFL.Attr.identifier, 7), flows])
        let expected = DecodeError(
            .notAllowed("list element has type 2, expected FLOW (1)"), at: 20 + 16 + 4 + 28,
            path: ["FLOWS", "FLOW[1]"])
        #expect(Self.messageErrors(m) == [expected, expected])
        // A table's ACTIONS repeat ACTION_ATTR_UID (2): another type is unknown. The table:
        // its header (4), NAME (8), UID, SOURCE, SIZE (8 each), empty MATCHES (4), then ACTIONS,
        // whose payload starts 4 bytes in, and its second element 8 bytes after that.
        let actions = Wire.nest(NFL.TableAttr.actions, [Wire.u32(2, 1), Wire.u32(1, 2)])
        let table = Wire.nest(
            1,
            [
                Wire.str(NFL.TableAttr.name, "t"), Wire.u32(NFL.TableAttr.uid, 1),
                Wire.u32(NFL.TableAttr.source, 1), Wire.u32(NFL.TableAttr.size, 1),
                Wire.nest(NFL.TableAttr.matches, []), actions,
            ])
        #expect(
            Self.walkError(table, .nflTable)
                == DecodeError(.unknownAttribute(1), at: 4 + 8 + 8 + 8 + 8 + 4 + 4 + 8, path: ["ACTIONS", "UID[1]"]))
        // An element with a payload its descriptor refuses: a u32 list (HDRS) with a short one.
        let node = Wire.nest(
            1,
            [
                Wire.str(NFL.HeaderNodeAttr.name, "n"), Wire.u32(NFL.HeaderNodeAttr.uid, 1),
                Wire.nest(NFL.HeaderNodeAttr.hdrs, [Wire.u32(1, 1), Wire.nla(1, [1])]),
                Wire.nest(NFL.HeaderNodeAttr.jump, []),
            ])
        #expect(
            Self.walkError(node, .nflHeaderNode)
                == DecodeError(
                    .payloadLength(expected: "4 (u32)", got: 1), at: 4 + 8 + 8 + 4 + 8,
                    path: ["HDRS", "VALUE[1]"]))
    }

    @Test func nextNodeOnlyInAJumpEntry() {
        let ref = [
            Wire.u32(NFL.FieldRefAttr.instance, 1), Wire.u32(NFL.FieldRefAttr.header, 1),
            Wire.u32(NFL.FieldRefAttr.field, 1), Wire.u32(NFL.FieldRefAttr.maskType, 1),
            Wire.u32(NFL.FieldRefAttr.type, 0),
        ]
        let withNext = Wire.nest(1, [Wire.u32(NFL.FieldRefAttr.nextNode, 3)] + ref)
        // The field-ref set's variants at its two places (generator hints): a match refuses
        // NEXT_NODE, a jump entry requires it; the set itself does neither.
        #expect(
            Self.walkError(withNext, .nflFieldRefInFieldRefList)
                == DecodeError(.notAllowed("NEXT_NODE is only allowed in a jump entry"), at: 4))
        #expect(Self.walkError(withNext, .nflFieldRefInJumpList) == nil)
        #expect(
            Self.walkError(Wire.nest(1, ref), .nflFieldRefInJumpList)
                == DecodeError(.missingAttribute("NEXT_NODE"), at: 0))
        #expect(Self.walkError(Wire.nest(1, ref), .nflFieldRefInFieldRefList) == nil)
        #expect(Self.walkError(withNext, .nflFieldRef) == nil)
        #expect(Self.walkError(Wire.nest(1, ref), .nflFieldRef) == nil)
        // The lists nest those variants.
        #expect(StrictWalk.elementSet(of: .nflFieldRefList) == .nflFieldRefInFieldRefList)
        #expect(StrictWalk.elementSet(of: .nflJumpList) == .nflFieldRefInJumpList)
    }

    @Test func theSelectorRefusesFlows() {
        let e = Self.walkError(
            Wire.nest(1, [Wire.u32(NFL.TableFlowsAttr.table, 1), Wire.nest(NFL.TableFlowsAttr.flows, [])]),
            .nflTableFlows)
        #expect(e == DecodeError(.notAllowed("FLOWS is not allowed in a GET_FLOWS selector"), at: 12))
    }

    /// The decoder's and the check-only walk's errors for a message.
    static func messageErrors(_ m: [UInt8]) -> [DecodeError?] {
        var decoded: DecodeError?, checked: DecodeError?
        do throws(DecodeError) { _ = try FlowTableMessage.decode(m) } catch { decoded = error }
        m.withUnsafeBytes { raw in
            do throws(DecodeError) { _ = try FlowTableMessage.check(raw) } catch { checked = error }
        }
        return [decoded, checked]
    }

    @Test func aMissingAttributeInsideAMessage() {
        let flows = Wire.nest(
            NFL.Attr.flows,
            [
                Wire.nest(1, [Self.table, Self.uid, Self.priority]),
                Wire.nest(1, [Self.table, Self.priority]),
            ])
        let m = Wire.genl(
            type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: NFL.Command.setFlows.rawValue,
            [Wire.u32(NFL.Attr.identifierType, 1), Wire.u32(NFL.Attr.identifier, 7), flows])
        let errors = Self.messageErrors(m)
        #expect(
            errors.map { $0?.description }
                == Array(repeating: "FLOWS.FLOW[1] at byte 68: required attribute UID is missing", count: 2))
    }
}
