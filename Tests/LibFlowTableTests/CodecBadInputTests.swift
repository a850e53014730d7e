import Testing
@testable import LibFlowTable

/// Malformed messages are rejected with an error that names the attribute path, the byte
/// offset and the reason. Offsets are counted from the start of the message.
struct CodecBadInputTests {
    let preamble = [Wire.u32(1, 1), Wire.u32(2, 7)]

    func decodeError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> DecodeError? {
        do {
            _ = try FlowTableMessage.decode(bytes)
            Issue.record("decoded without error", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    func setFlows(_ flowsNest: [UInt8]) -> [UInt8] {
        Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 6, preamble + [flowsNest])
    }

    @Test func emptyAndShortBuffers() {
        #expect(decodeError([])?.reason == .truncated(needed: 16, available: 0))
        #expect(decodeError([1, 2, 3])?.reason == .truncated(needed: 16, available: 3))
        // nlmsg_len says 16 but there is no genl header.
        let e = decodeError(Wire.le32(16) + Wire.le16(0x1c) + Wire.le16(5) + Wire.le32(1) + Wire.le32(1))
        #expect(e?.reason == .truncated(needed: 20, available: 16))
    }

    @Test func messageLengthLargerThanBuffer() {
        var m = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 0, preamble)
        m.replaceSubrange(0..<4, with: Wire.le32(UInt32(m.count + 4)))
        let e = decodeError(m)
        #expect(e?.reason == .badMessageLength(UInt32(m.count + 4)))
        #expect(e?.offset == 0)
    }

    @Test func attributeLengthPastItsNest() {
        // FLOW nest claims 200 bytes inside a FLOWS nest of 12.
        let bogus = Wire.le16(200) + Wire.le16(1) + Wire.le32(0)
        let flows = Wire.le16(UInt16(4 + bogus.count)) + Wire.le16(8) + bogus
        let e = decodeError(setFlows(flows))
        #expect(e?.reason == .badAttributeLength(200))
        #expect(e?.path == ["FLOWS"])
        #expect(e?.offset == 20 + 16 + 4)  // headers, preamble, FLOWS header
    }

    @Test func attributeLengthBelowHeader() {
        let e = decodeError(Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 0, [Wire.le16(2) + Wire.le16(1)]))
        #expect(e?.reason == .badAttributeLength(2))
        #expect(e?.offset == 20)
    }

    @Test func trailingBytesAfterLastAttribute() {
        // A nest whose payload is one whole u32 attribute plus 2 stray bytes.
        let inner = Wire.u32(1, 3) + [0xaa, 0xbb]
        let flows = Wire.le16(UInt16(4 + inner.count)) + Wire.le16(8) + inner + [0, 0]
        let m = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 5, preamble + [flows])
        let e = decodeError(m)
        #expect(e?.reason == .trailingBytes(2))
        #expect(e?.path == ["FLOWS"])
    }

    @Test func wrongIntegerWidthNamesTheAttribute() {
        let flow = Wire.nest(1, [Wire.u32(2, 1), Wire.nla(3, [1, 0]), Wire.u32(4, 5)])
        let e = decodeError(
            setFlows(Wire.nest(8, [Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 1)]), flow])))
        #expect(e?.reason == .payloadLength(expected: "4 (u32)", got: 2))
        #expect(e?.path == ["FLOWS", "FLOW[1]", "UID"])
        #expect(e?.pathString == "FLOWS.FLOW[1].UID")
    }

    @Test func valueLongerThanEightBytes() {
        let ref = Wire.nest(
            1,
            [
                Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 2), Wire.u32(5, 1), Wire.u32(6, 4),
                Wire.nla(7, [UInt8](repeating: 1, count: 9)),
            ])
        let flow = Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 1), Wire.nest(5, [ref])])
        let e = decodeError(setFlows(Wire.nest(8, [flow])))
        #expect(e?.reason == .payloadLength(expected: "1 to 8 (binary integer)", got: 9))
        #expect(e?.pathString == "FLOWS.FLOW[0].MATCHES.FIELD_REF[0].VALUE")
    }

    @Test func missingRequiredAttribute() {
        let flow = Wire.nest(1, [Wire.u32(2, 1), Wire.u32(4, 1)])  // no UID
        let e = decodeError(setFlows(Wire.nest(8, [flow])))
        #expect(e?.reason == .missingAttribute("UID"))
        #expect(e?.pathString == "FLOWS.FLOW[0]")
        #expect(e?.offset == 20 + 16 + 4)
    }

    @Test func unknownAndRepeatedAttributes() {
        let unknownTop = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 0, preamble + [Wire.u32(42, 1)])
        #expect(decodeError(unknownTop)?.reason == .unknownAttribute(42))
        #expect(decodeError(unknownTop)?.offset == 36)
        let repeated = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 0, preamble + [Wire.u32(2, 8)])
        #expect(decodeError(repeated)?.reason == .repeatedAttribute("IDENTIFIER"))
        let flow = Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 1), Wire.u32(4, 2)])
        let e = decodeError(setFlows(Wire.nest(8, [flow])))
        #expect(e?.reason == .repeatedAttribute("PRIORITY"))
        #expect(e?.pathString == "FLOWS.FLOW[0]")
    }

    @Test func listElementOfWrongType() {
        let e = decodeError(setFlows(Wire.nest(8, [Wire.nest(2, [])])))
        #expect(e?.pathString == "FLOWS.FLOW[0]")
        if case .notAllowed = e?.reason {} else { Issue.record("expected notAllowed, got \(String(describing: e))") }
    }

    @Test func selectorRejectsFlowList() {
        // A GET_FLOWS request with a FLOW nest where TABLE belongs.
        let m = Wire.genl(
            type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 5,
            preamble + [Wire.nest(8, [Wire.nest(1, [Wire.u32(2, 1)])])])
        let e = decodeError(m)
        #expect(e?.reason == .payloadLength(expected: "4 (u32)", got: 8))
        #expect(e?.pathString == "FLOWS.TABLE")
        let noTable = Wire.genl(
            type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 5, preamble + [Wire.nest(8, [Wire.u32(2, 1)])])
        #expect(decodeError(noTable)?.reason == .missingAttribute("TABLE"))
    }

    @Test func invalidStrings() {
        let bad = Wire.nest(1, [Wire.nla(1, [0x66, 0xff, 0xfe, 0]), Wire.u32(2, 1), Wire.nest(3, [])])
        let m = Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 1, cmd: 1, preamble + [Wire.nest(4, [bad])])
        let e = decodeError(m)
        #expect(e?.reason == .invalidString)
        #expect(e?.pathString == "HEADERS.HEADER[0].NAME")
        let inner = Wire.nest(1, [Wire.nla(1, [0x61, 0, 0x62, 0]), Wire.u32(2, 1), Wire.nest(3, [])])
        let m2 = Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 1, cmd: 1, preamble + [Wire.nest(4, [inner])])
        #expect(decodeError(m2)?.reason == .invalidString)
    }

    @Test func wrongFamilyAndSecondMessage() {
        let m = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 0, preamble)
        #expect(throws: DecodeError(.wrongFamily(expected: 0x1d, got: 0x1c), at: 4)) {
            try FlowTableMessage.decode(m, familyID: 0x1d)
        }
        let e = decodeError(m + m)
        if case .notAllowed = e?.reason {} else { Issue.record("expected notAllowed, got \(String(describing: e))") }
        #expect(e?.offset == m.count)
    }

    @Test func nestingIsBounded() {
        // A list nest inside a list nest … deeper than the limit: HEADERS > HEADER > FIELDS > …
        // cannot nest arbitrarily by schema, so use the generic depth guard through decodeList.
        var nest = Wire.nest(1, [])
        for _ in 0..<40 { nest = Wire.nest(1, [nest]) }
        let e = decodeError(Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 1, cmd: 1, preamble + [Wire.nest(4, [nest])]))
        #expect(e != nil)
    }

    @Test func truncationAtEveryByteIsAnErrorNeverACrash() throws {
        var a = FlowTableAttributes.device(7)
        a.flows = [CodecGoldenTests.flow, CodecGoldenTests.flow]
        let full = try FlowTableMessage(familyID: 0x1c, command: .setFlows, isRequest: true, attributes: a).encoded()
        for cut in 0..<full.count {
            var bytes = Array(full[0..<cut])
            if cut >= 4 { bytes.replaceSubrange(0..<4, with: Wire.le32(UInt32(cut))) }
            #expect(throws: DecodeError.self) { try FlowTableMessage.decode(bytes) }
        }
    }

    @Test func shapeOfEachCommand() throws {
        // A SET_FLOWS request without FLOWS is well formed but incomplete.
        let noFlows = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 6, preamble)
        #expect(decodeError(noFlows)?.reason == .missingAttribute("FLOWS"))
        #expect(decodeError(noFlows)?.offset == noFlows.count)
        _ = try FlowTableMessage.decode(noFlows, requireShape: false)
        // TABLES in a GET_HEADERS reply does not belong.
        let tables = Wire.nest(3, [])
        let wrong = Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 1, cmd: 1, preamble + [tables, Wire.nest(4, [])])
        if case .notAllowed = decodeError(wrong)?.reason {
        } else {
            Issue.record("TABLES accepted in GET_HEADERS reply")
        }
        let noPreamble = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 0, [])
        #expect(decodeError(noPreamble)?.reason == .missingAttribute("IDENTIFIER_TYPE"))
        let unknownCmd = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 11, preamble)
        #expect(decodeError(unknownCmd)?.reason == .unknownCommand(11))
        let emptyBatch = Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 7, preamble + [Wire.nest(8, [])])
        if case .notAllowed = decodeError(emptyBatch)?.reason {} else { Issue.record("empty DEL_FLOWS accepted") }
    }

    @Test func errorDescriptionIsReadable() {
        let e = DecodeError(.missingAttribute("UID"), at: 40, path: ["FLOWS", "FLOW[0]"])
        #expect(e.description == "FLOWS.FLOW[0] at byte 40: required attribute UID is missing")
    }

    @Test func hairpinEncapNeedsSeq() {
        let m = Wire.genl(
            type: 0x1d, flags: 0, seq: 0, pid: 0, cmd: 3, [Wire.nest(1, [Wire.u32(1, 1), Wire.u32(2, 6)])])
        #expect(throws: DecodeError(.missingAttribute("SEQ"), at: 20, path: ["ENCAP"])) {
            try HairpinMessage.decode(m)
        }
        let badSeq = Wire.genl(
            type: 0x1d, flags: 0, seq: 0, pid: 0, cmd: 3,
            [Wire.nest(1, [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u32(4, 1)])])
        #expect(throws: DecodeError(.payloadLength(expected: "8 (u64)", got: 4), at: 40, path: ["ENCAP", "SEQ"])) {
            try HairpinMessage.decode(badSeq)
        }
    }
}
