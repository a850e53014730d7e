// `flowtrace show` and `stats` read an ENCAP with the decoder's reader (EncapHeader): what the
// decoder refuses is a malformed message there too, with the decoder's words for it.
import Testing
import LibFlowTable
@testable import FlowTrace

struct SummaryEncapTests {
    let families = FamilyTable([Controller.Family(id: 0x1d, name: NFLH.familyName, version: 1, maxAttr: 2, ops: [])])

    static func nla(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        let n = 4 + payload.count
        return [UInt8(n & 0xff), UInt8(n >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + payload
            + [UInt8](repeating: 0, count: (4 - n % 4) % 4)
    }
    static func u32(_ type: UInt16, _ v: UInt32) -> [UInt8] { nla(type, withUnsafeBytes(of: v) { Array($0) }) }
    static func u64(_ type: UInt16, _ v: UInt64) -> [UInt8] { nla(type, withUnsafeBytes(of: v) { Array($0) }) }

    /// A hairpin ENCAP message whose ENCAP nest (byte 20; children from 24) holds `children`.
    static func encap(_ children: [UInt8]) -> [UInt8] {
        let body = [NFLH.Command.encap.rawValue, 1, 0, 0] + nla(NFLH.Attr.encap | 0x8000, children)
        let len = UInt32(16 + body.count)
        return withUnsafeBytes(of: len) { Array($0) } + [0x1d, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + body
    }

    func summary(_ m: [UInt8]) -> MessageSummary {
        m.withUnsafeBytes { SummaryDecoder.summarize($0, families: families) }
    }

    @Test func wellFormedEncapIsSummarised() {
        let s = summary(Self.encap(Self.u32(1, 1) + Self.u32(2, 6) + Self.u64(4, 9) + Self.u32(3, 0)))
        #expect(s.kind == .hairpin && s.apiCommand == 6 && s.encapSeq == 9 && s.status == 0)
    }

    @Test(
        arguments: [
            (u32(1, 1) + u32(2, 6) + u64(4, 9) + u32(2, 7), "ENCAP at byte 52: attribute CMD appears more than once"),
            (u32(1, 1) + u64(4, 9), "ENCAP at byte 20: required attribute CMD is missing"),
            (u32(1, 1) + nla(2, [6, 0]) + u64(4, 9), "ENCAP.CMD at byte 32: payload is 2 bytes, expected 4 (u32)"),
            (
                u32(1, 1) + u32(2, 6) + u64(4, 9) + u32(8, 1),
                "ENCAP.MORE at byte 52: payload is 4 bytes, expected 0 (flag)"
            ),
            (u32(1, 1) + u32(2, 6) + u64(4, 9) + u32(40, 0), "ENCAP at byte 52: unknown attribute type 40"),
        ] as [([UInt8], String)])
    func malformedEncapIsMalformed(_ children: [UInt8], _ reason: String) {
        let s = summary(Self.encap(children))
        #expect(s.kind == .malformed)
        #expect(s.malformedReason == reason)
    }
}
