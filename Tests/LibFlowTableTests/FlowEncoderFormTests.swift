// FlowTableCodec.isEncoderForm(flow:) against the encoder itself: for a FLOW element the
// decoder accepts, it must say true exactly when encoding the decoded flow gives the element's
// bytes back (a backend then answers GET_FLOWS with the stored bytes, unchanged). Checked on
// random flows as encoded, on byte mutations of them, and on the forms a client may send that
// the encoder does not write (nests without NLA_F_NESTED, attributes out of order, a string
// without its NUL, the last attribute without its padding).
import Testing
@testable import LibFlowTable

struct FlowEncoderFormTests {
    /// The flow decoded from `element`, or nil when the decoder refuses it.
    static func decode(_ element: [UInt8]) -> Flow? {
        element.withUnsafeBytes { raw -> Flow? in
            var it = AttributeIterator(raw, baseOffset: 0)
            do throws(DecodeError) {
                guard let a = try it.next(), it.isAtEnd else { return nil }
                return try FlowTableCodec.decodeFlow(a, depth: 2)
            } catch { return nil }
        }
    }

    static func encode(_ f: Flow, markNests: Bool = true) -> [UInt8] {
        var w = NetlinkWriter(capacity: 256)
        w.markNests = markNests
        try! FlowTableCodec.encode(f, into: &w)
        return w.bytes
    }

    static func isEncoderForm(_ element: [UInt8]) -> Bool {
        element.withUnsafeBytes { FlowTableCodec.isEncoderForm(flow: $0) }
    }

    /// Compares the check with the encoder on `element`; returns whether the decoder accepted it.
    @discardableResult
    static func compare(_ element: [UInt8], _ what: @autoclosure () -> String) -> Bool {
        guard let f = decode(element) else { return false }
        let same = encode(f) == element
        #expect(isEncoderForm(element) == same, "\(what()): encoder gives \(same ? "the same" : "other") bytes")
        return true
    }

    /// The element's top-level attributes (offset, padded length).
    static func children(_ element: [UInt8]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var p = 4
        while p + 4 <= element.count {
            let len = Int(element[p]) | Int(element[p + 1]) << 8
            guard len >= 4 else { break }
            out.append((p, min((len + 3) & ~3, element.count - p)))
            p += (len + 3) & ~3
        }
        return out
    }

    @Test func encodedFlowsAreInEncoderForm() {
        var r = SplitMix64(seed: 14)
        for i in 0..<2_000 {
            let e = Self.encode(RandomModel.flow(&r))
            #expect(Self.isEncoderForm(e), "flow \(i)")
        }
    }

    @Test func mutatedFlowsAgreeWithTheEncoder() {
        var r = SplitMix64(seed: 7)
        var accepted = 0, differing = 0
        for i in 0..<3_000 {
            let e = Self.encode(RandomModel.flow(&r))
            for k in 0..<8 {
                var m = e
                let at = Int(r.next() % UInt64(m.count))
                switch k % 4 {
                case 0: m[at] ^= 0x80  // flags (NLA_F_NESTED) and high bits
                case 1: m[at] = UInt8(truncatingIfNeeded: r.next())
                case 2: m[at] = 0
                default: m[at] ^= UInt8(1 << (r.next() % 8))
                }
                if Self.compare(m, "flow \(i) byte \(at)") {
                    accepted += 1
                    if !Self.isEncoderForm(m) { differing += 1 }
                }
            }
        }
        // Enough of the mutations are valid and not in the encoder's form to mean something.
        #expect(accepted > 5_000 && differing > 500, "\(accepted) accepted, \(differing) not in form")
    }

    @Test func formsTheEncoderDoesNotWrite() {
        var r = SplitMix64(seed: 3)
        var cases = 0
        for i in 0..<500 {
            var f = RandomModel.flow(&r)
            f.error = nil
            f.matches = [RandomModel.fieldRef(&r, withValue: true)]
            f.actions = [
                Action(
                    name: "fwd", uid: 1,
                    signature: [ActionArg(name: nil, type: .u8, value: FieldValue(rawBits: 1, byteCount: 1))])
            ]
            let e = Self.encode(f)

            // Nests without NLA_F_NESTED.
            let unmarked = Self.encode(f, markNests: false)
            #expect(Self.compare(unmarked, "flow \(i) unmarked") && !Self.isEncoderForm(unmarked))

            // TABLE and UID swapped.
            let kids = Self.children(e)
            var swapped = Array(e[0..<4])
            swapped += e[kids[1].0..<kids[1].0 + kids[1].1]
            swapped += e[kids[0].0..<kids[0].0 + kids[0].1]
            swapped += e[(kids[1].0 + kids[1].1)...]
            #expect(Self.compare(swapped, "flow \(i) swapped") && !Self.isEncoderForm(swapped))

            // The action's NAME without its NUL: "fwd\0" → "fwdx".
            if let n = e.indices.dropLast(3).first(where: {
                e[$0] == 0x66 && e[$0 + 1] == 0x77 && e[$0 + 2] == 0x64 && e[$0 + 3] == 0
            }) {
                var m = e
                m[n + 3] = 0x78
                #expect(Self.compare(m, "flow \(i) no NUL") && !Self.isEncoderForm(m))
                cases += 1
            }

            // The last attribute (ACTIONS) without the padding of its last value (1 byte + 3 pad).
            var cut = Array(e.dropLast(3))
            for at in [0] + [kids.last!.0] {
                let len = Int(cut[at]) | Int(cut[at + 1]) << 8
                cut[at] = UInt8((len - 3) & 0xff); cut[at + 1] = UInt8((len - 3) >> 8)
            }
            // Every nest down to the value ends where the value did: shorten those too.
            var p = kids.last!.0 + 4
            while p + 4 <= cut.count {
                let len = Int(cut[p]) | Int(cut[p + 1]) << 8
                if p + len == cut.count + 3 {
                    cut[p] = UInt8((len - 3) & 0xff); cut[p + 1] = UInt8((len - 3) >> 8)
                    p += 4
                } else if p + len >= cut.count {
                    break  // the value itself
                } else {
                    p += (len + 3) & ~3
                }
            }
            #expect(Self.compare(cut, "flow \(i) unpadded") && !Self.isEncoderForm(cut))
        }
        #expect(cases == 500)
    }
}
