// The one ENCAP reader (EncapHeader): every malformed ENCAP gives the typed decoder's error
// (the texts it gave before the reader existed), the reader and the decoder agree on what they
// read, and hostile bytes never trap it.
import Testing
@testable import LibFlowTable

struct EncapHeaderTests {
    /// An ENCAP message (hairpin family 0x1d, genl command ENCAP) with these ENCAP children.
    /// The nest starts at byte 20, its children at 24.
    func encap(_ children: [[UInt8]]) -> [UInt8] {
        Wire.genl(type: 0x1d, flags: 0, seq: 0, pid: 0, cmd: 3, [Wire.nest(1, children)])
    }

    let cmdType = Wire.u32(1, 1)  // bytes 24..<32
    let cmd = Wire.u32(2, 6)  // 32..<40
    let seq = Wire.u64(4, 77)  // 40..<52

    /// The decoder's error and the reader's, which must be the same.
    func errors(_ m: [UInt8]) -> (decoder: String?, reader: String?) {
        var decoder: String?, reader: String?
        do throws(DecodeError) { _ = try HairpinMessage.decode(m) } catch { decoder = error.description }
        m.withUnsafeBytes { b in
            do throws(DecodeError) { _ = try EncapHeader(message: b) } catch { reader = error.description }
        }
        return (decoder, reader)
    }

    /// The reader requires what the spec requires (spec/hints: CMD_TYPE, CMD, SEQ): the same
    /// generated fact as the descriptor walk's and the kernel module's tables.
    @Test func requiresWhatTheSpecRequires() {
        let bits: UInt64 = 1 << 1 | 1 << 2 | 1 << 4
        #expect(AttributeSetID.nflhEncap.descriptor.required == bits)
        #expect(NFLH.EncapAttr.required == AttributeSetID.nflhEncap.descriptor.required)
    }

    @Test(
        arguments: [
            // Missing each required attribute.
            ([1, 4], "ENCAP at byte 20: required attribute CMD is missing"),
            ([2, 4], "ENCAP at byte 20: required attribute CMD_TYPE is missing"),
            ([1, 2], "ENCAP at byte 20: required attribute SEQ is missing"),
        ] as [([UInt16], String)])
    func missingAttribute(_ present: [UInt16], _ expected: String) {
        var children: [[UInt8]] = []
        if present.contains(1) { children.append(cmdType) }
        if present.contains(2) { children.append(cmd) }
        if present.contains(4) { children.append(seq) }
        let (decoder, reader) = errors(encap(children))
        #expect(decoder == expected)
        #expect(reader == expected)
    }

    @Test(
        arguments: [
            // Bad lengths: u32, u64, flag.
            (
                [Wire.u32(1, 1), Wire.nla(2, [6, 0]), Wire.u64(4, 77)],
                "ENCAP.CMD at byte 32: payload is 2 bytes, expected 4 (u32)"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u32(4, 77)],
                "ENCAP.SEQ at byte 40: payload is 4 bytes, expected 8 (u64)"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.u32(3, 0), Wire.u64(3, 0)],
                "ENCAP at byte 60: attribute STATUS appears more than once"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.u32(8, 1)],
                "ENCAP.MORE at byte 52: payload is 4 bytes, expected 0 (flag)"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.u64(3, 0)],
                "ENCAP.STATUS at byte 52: payload is 8 bytes, expected 4 (u32)"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.nla(7, [])],
                "ENCAP.PART at byte 52: payload is 0 bytes, expected 4 (u32)"
            ),
            // Duplicates.
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.u32(2, 7)],
                "ENCAP at byte 52: attribute CMD appears more than once"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.u64(4, 78)],
                "ENCAP at byte 52: attribute SEQ appears more than once"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.nest(5, []), Wire.nest(5, [])],
                "ENCAP at byte 56: attribute ATTR appears more than once"
            ),
            // Unknown types, below and above 64.
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.u32(40, 0)],
                "ENCAP at byte 52: unknown attribute type 40"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), Wire.u32(100, 0)],
                "ENCAP at byte 52: unknown attribute type 100"
            ),
            // Truncated nest: a child running past the nest, and bytes too few for a header.
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.le16(12) + Wire.le16(4) + Wire.le32(77)],
                "ENCAP at byte 40: nla_len 12 is below 4 or runs past the end of its enclosing attribute"
            ),
            (
                [Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 77), [0, 0]],
                "ENCAP at byte 52: 2 trailing bytes after the last attribute"
            ),
            (
                [Wire.u32(1, 1), Wire.le16(2) + Wire.le16(2)],
                "ENCAP at byte 32: nla_len 2 is below 4 or runs past the end of its enclosing attribute"
            ),
        ] as [([[UInt8]], String)])
    func malformed(_ children: [[UInt8]], _ expected: String) {
        let (decoder, reader) = errors(encap(children))
        #expect(decoder == expected)
        #expect(reader == expected)
    }

    @Test func readsInPlace() throws {
        let m = encap([
            cmdType, cmd, Wire.u32(3, 22), seq, Wire.u32(7, 2), Wire.nla(8, []),
            Wire.str(9, "no"), Wire.nla(10, [0, 0, 0, 0]), Wire.nest(6, []), Wire.nest(5, [Wire.u32(2, 9)]),
        ])
        try m.withUnsafeBytes { b in
            let h = try #require(try EncapHeader(message: b))
            #expect(h.commandType == 1 && h.command == 6 && h.status == 22 && h.sequence == 77)
            #expect(h.part == 2 && h.more && h.isAnswer)
            #expect(b.loadUnaligned(fromByteOffset: h.sequenceOffset, as: UInt64.self) == 77)
            #expect(try h.errorMessage?.string() == "no")
            #expect(h.results?.payload.count == 0)
            #expect(h.attributes?.payload.count == 8)
            let all: UInt16 = 0b111_1111_1110  // types 1 to 10
            #expect(h.present == all)
        }
        // Not an ENCAP message, or no ENCAP in it: nil, no error.
        let listener = Wire.genl(type: 0x1d, flags: 0, seq: 0, pid: 0, cmd: 1, [Wire.nest(2, [Wire.u32(1, 1)])])
        try listener.withUnsafeBytes { b in
            let h = try EncapHeader(message: b)
            #expect(h == nil)
        }
        let empty = Wire.genl(type: 0x1d, flags: 0, seq: 0, pid: 0, cmd: 3, [])
        try empty.withUnsafeBytes { b in
            let h = try EncapHeader(message: b)
            #expect(h == nil)
        }
    }

    /// Differential, on every message of the encoder and every byte of it changed: when the
    /// decoder accepts a message, the reader reads the decoder's values; when the reader
    /// refuses one, so does the decoder. Nothing traps.
    @Test func agreesWithTheDecoder() throws {
        var encaps: [HairpinEncap] = []
        var rng = SplitMix64(seed: 14)
        for command in [NFL.Command.setFlows, .delFlows, .getFlows, .getTables] {
            for status: UInt32? in [nil, 0, 22] {
                var e = HairpinEncap(
                    commandType: NFLH.EncapCmdType.nflCommand, command: UInt32(command.rawValue),
                    status: status, sequence: rng.next())
                e.attributes = FlowTableAttributes(identifierType: NFL.IdentifierType.ifindex, identifier: 3)
                if status == 22 { e.errorMessage = "bad" }
                if status != nil && command != .getTables { e.results = [FlowResult(index: 0, errno: status ?? 0)] }
                if command == .setFlows { e.part = 1; e.more = true }
                encaps.append(e)
            }
        }
        var variants = 0
        for e in encaps {
            let bytes = try HairpinMessage(
                header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 0, port: 0),
                command: NFLH.Command.encap.rawValue, encap: e
            ).encoded()
            for k in -1..<bytes.count {
                for flip: UInt8 in k < 0 ? [0] : [0xff, 0x01, 0x80, 0x04] {
                    var v = bytes
                    if k >= 0 { v[k] ^= flip }
                    let decoded = try? HairpinMessage.decode(v)
                    var header: EncapHeader?, refused = false
                    v.withUnsafeBytes { b in
                        do throws(DecodeError) { header = try EncapHeader(message: b) } catch { refused = true }
                    }
                    if let d = decoded?.encap, v[16] == NFLH.Command.encap.rawValue {
                        let h = try #require(header, "byte \(k) ^ \(flip)")
                        let same = h.commandType == d.commandType && h.command == d.command && h.sequence == d.sequence
                        let same2 = h.status == d.status && h.part == d.part && h.more == d.more
                        #expect(same && same2, "byte \(k) ^ \(flip)")
                    }
                    if refused { #expect(decoded == nil, "byte \(k) ^ \(flip): reader refused, decoder accepted") }
                    variants += 1
                }
            }
            let sequence = try bytes.withUnsafeBytes { b throws(DecodeError) in try EncapHeader(message: b)?.sequence }
            #expect(sequence == e.sequence)
        }
        #expect(variants > 1000)
    }
}
