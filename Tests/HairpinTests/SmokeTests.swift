import Testing
import LibFlowTable

@Test func matchSetIgnoresOrder() {
    let a = FieldRef(
        instance: 1, header: 1, field: 2, maskType: .exact, type: .u16,
        value: FieldValue(0x800, type: .u16), mask: FieldValue(0xffff, type: .u16))
    let b = FieldRef(
        instance: 1, header: 3, field: 10, maskType: .exact, type: .u8,
        value: FieldValue(6, type: .u8), mask: FieldValue(0xff, type: .u8))
    #expect(MatchSet([a, b]) == MatchSet([b, a]))
    #expect(MatchSet([a]) != MatchSet([b]))
}
