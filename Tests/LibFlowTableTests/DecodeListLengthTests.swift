import Testing
@testable import LibFlowTable

/// The typed decoder makes a list's array by its length (one element, two, more), so every
/// length is held here: each decodes to the model it was encoded from, and a bad element at
/// any place, or stray bytes after the last, is the error the check-only walk gives, with the
/// element's path.
struct DecodeListLengthTests {
    func ref(_ i: Int) -> FieldRef {
        FieldRef(
            instance: UInt32(i + 1), header: 1, field: UInt32(i + 2), maskType: .exact, type: .u32,
            value: FieldValue(UInt64(i), type: .u32), mask: FieldValue(0xffff_ffff, type: .u32))
    }

    func action(_ i: Int, args: Int) -> Action {
        Action(
            uid: UInt32(i + 1),
            signature: (0..<args).map {
                ActionArg(name: "arg\($0)", type: .u32, value: FieldValue(UInt64($0), type: .u32))
            })
    }

    @Test(arguments: 0...5)
    func everyLengthDecodesToWhatWasEncoded(n: Int) throws {
        var attributes = FlowTableAttributes.device(7)
        attributes.flows = (0..<n).map { f in
            Flow(
                table: 2, uid: UInt32(f + 1), priority: 1, matches: (0..<n).map(ref),
                actions: (0..<n).map { action($0, args: n) })
        }
        let message = FlowTableMessage(
            familyID: 0x1c, command: .setFlows, isRequest: true, sequence: 1, attributes: attributes)
        let bytes = try message.encoded()
        #expect(try FlowTableMessage.decode(bytes, requireShape: false).attributes == attributes)
    }

    /// A SET_FLOWS request whose one flow has the match list `matches` (FIELD_REF elements,
    /// then `stray` bytes inside the MATCHES nest).
    func setFlows(matches: [[UInt8]], stray: [UInt8] = []) -> [UInt8] {
        let list = Wire.nla(5 | 0x8000, matches.flatMap { $0 } + stray)
        let flow = Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 1), list])
        return Wire.genl(
            type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: 6, [Wire.u32(1, 1), Wire.u32(2, 7), Wire.nest(8, [flow])])
    }

    func wireRef(valueBytes: Int) -> [UInt8] {
        Wire.nest(
            1,
            [
                Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 2), Wire.u32(5, 1), Wire.u32(6, 4),
                Wire.nla(7, [UInt8](repeating: 1, count: valueBytes)),
            ])
    }

    func errors(_ bytes: [UInt8]) -> (decode: DecodeError?, check: DecodeError?) {
        var d: DecodeError?, c: DecodeError?
        do { _ = try FlowTableMessage.decode(bytes) } catch { d = error }
        do { _ = try bytes.withUnsafeBytes { try FlowTableMessage.check($0) } } catch { c = error as? DecodeError }
        return (d, c)
    }

    @Test(arguments: 1...5)
    func aBadElementAtEveryPlace(n: Int) {
        for bad in 0..<n {
            let matches = (0..<n).map { wireRef(valueBytes: $0 == bad ? 9 : 4) }
            let (d, c) = errors(setFlows(matches: matches))
            #expect(d?.reason == .payloadLength(expected: "1 to 8 (binary integer)", got: 9))
            #expect(d?.pathString == "FLOWS.FLOW[0].MATCHES.FIELD_REF[\(bad)].VALUE")
            #expect(d != nil && d == c)
        }
    }

    @Test(arguments: 0...5)
    func strayBytesAfterTheLastElement(n: Int) {
        let matches = (0..<n).map { _ in wireRef(valueBytes: 4) }
        let (d, c) = errors(setFlows(matches: matches, stray: [0xaa, 0xbb]))
        #expect(d?.reason == .trailingBytes(2))
        #expect(d?.pathString == "FLOWS.FLOW[0].MATCHES")
        #expect(d != nil && d == c)
    }
}
