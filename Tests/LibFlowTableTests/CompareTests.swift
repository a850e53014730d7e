// Match-set covering/overlap (all fields, not any field, as the original did) and flow/model validation.
import Testing
import PropertyBased
@testable import LibFlowTable

// MARK: - Helpers

private func ref(
    _ instance: UInt32, _ header: UInt32, _ field: UInt32, _ type: FieldType,
    _ value: UInt64?, mask: UInt64? = nil, maskType: MaskType = .mask
) -> FieldRef {
    FieldRef(
        instance: instance, header: header, field: field, maskType: maskType, type: type,
        value: value.map { FieldValue($0, type: type) }, mask: mask.map { FieldValue($0, type: type) })
}

// Fields of the fixture model, as (instance, header, field).
private func ethertype(_ v: UInt64, mask: UInt64? = nil, maskType: MaskType = .exact) -> FieldRef {
    ref(1, 1, 3, .u16, v, mask: mask, maskType: maskType)
}
private func dstMAC(_ v: UInt64, mask: UInt64? = nil) -> FieldRef {
    ref(1, 1, 2, .u64, v, mask: mask, maskType: .exact)
}
private func vid(_ v: UInt64, mask: UInt64? = nil) -> FieldRef { ref(2, 2, 3, .u16, v, mask: mask, maskType: .mask) }
private func pcp(_ v: UInt64, mask: UInt64? = nil) -> FieldRef { ref(2, 2, 1, .u8, v, mask: mask, maskType: .lpm) }
private func dstIP(_ v: UInt64, mask: UInt64? = nil) -> FieldRef { ref(3, 3, 13, .u32, v, mask: mask, maskType: .lpm) }
private func proto(_ v: UInt64, mask: UInt64? = nil) -> FieldRef { ref(3, 3, 10, .u8, v, mask: mask, maskType: .mask) }

private func arg(_ type: FieldType, _ v: UInt64) -> ActionArg {
    ActionArg(type: type, value: FieldValue(v, type: type))
}
private func outPort(_ port: UInt64) -> Action { Action(uid: 5, signature: [arg(.u32, port)]) }

private func set(_ refs: FieldRef...) -> MatchSet { MatchSet(refs) }

/// headers ethernet(1) vlan(2) ipv4(3); parse graph ethernet(1) → vlan(2) / ipv4(3);
/// table 10 "mac" (ethernet + vlan fields; actions set_out_port, drop, set_vlan_id),
/// table 20 "ip" (ipv4 fields; actions set_out_port, copy_to_cpu); table graph 10 → 20.
private let model = PipelineModel(
    headers: [
        Header(
            name: "ethernet", uid: 1,
            fields: [
                Field(name: "src_mac", uid: 1, bitwidth: 48), Field(name: "dst_mac", uid: 2, bitwidth: 48),
                Field(name: "ethertype", uid: 3, bitwidth: 16),
            ]),
        Header(
            name: "vlan", uid: 2,
            fields: [
                Field(name: "pcp", uid: 1, bitwidth: 3), Field(name: "vid", uid: 3, bitwidth: 12),
                Field(name: "ethertype", uid: 4, bitwidth: 16),
            ]),
        Header(
            name: "ipv4", uid: 3,
            fields: [
                Field(name: "protocol", uid: 10, bitwidth: 8), Field(name: "dst_ip", uid: 13, bitwidth: 32),
                Field(name: "options", uid: 14, bitwidth: 0),
            ]),
    ],
    actions: [
        Action(
            name: "set_vlan_id", uid: 1,
            signature: [ActionArg(name: "vid", type: .u16, value: FieldValue(0, type: .u16))]),
        Action(name: "copy_to_cpu", uid: 2),
        Action(
            name: "set_out_port", uid: 5,
            signature: [ActionArg(name: "port", type: .u32, value: FieldValue(0, type: .u32))]),
        Action(name: "drop", uid: 7, signature: []),
    ],
    tables: [
        Table(
            name: "mac", uid: 10, source: 1, size: 100,
            matches: [
                ref(1, 1, 2, .unspec, nil, maskType: .exact), ref(1, 1, 3, .unspec, nil, maskType: .exact),
                ref(2, 2, 3, .unspec, nil, maskType: .mask), ref(2, 2, 1, .unspec, nil, maskType: .lpm),
            ], actions: [5, 7, 1]),
        Table(
            name: "ip", uid: 20, source: 1, size: Table.unbounded,
            matches: [
                ref(3, 3, 13, .u32, nil, maskType: .lpm), ref(3, 3, 10, .unspec, nil, maskType: .mask),
                ref(3, 3, 14, .unspec, nil, maskType: .mask),
            ], actions: [5, 2]),
    ],
    headerGraph: [
        HeaderGraphNode(
            name: "ethernet", uid: 1, headers: [1],
            jumps: [
                JumpEntry(nextNode: 3, ref: ethertype(0x0800)), JumpEntry(nextNode: 2, ref: ethertype(0x8100)),
            ]),
        HeaderGraphNode(
            name: "vlan", uid: 2, headers: [2],
            jumps: [
                JumpEntry(nextNode: 3, ref: ref(2, 2, 4, .u16, 0x0800, maskType: .exact))
            ]),
        HeaderGraphNode(
            name: "ipv4", uid: 3, headers: [3],
            jumps: [
                JumpEntry(
                    nextNode: 0, ref: FieldRef(instance: 0, header: 0, field: 0, maskType: .unspec, type: .unspec))
            ]),
    ],
    tableGraph: [
        TableGraphNode(
            uid: 10, flags: 2,
            jumps: [
                JumpEntry(
                    nextNode: 20, ref: FieldRef(instance: 0, header: 0, field: 0, maskType: .unspec, type: .unspec))
            ]),
        TableGraphNode(uid: 20, flags: 0, jumps: []),
    ])

private let index = ValidationIndex(model)

private func flow(
    table: UInt32 = 10, uid: UInt32 = 1, _ matches: [FieldRef]? = [ethertype(0x0800)],
    _ actions: [Action]? = [outPort(2)]
) -> Flow {
    Flow(table: table, uid: uid, priority: 5, matches: matches, actions: actions)
}

// MARK: - Covers: hand cases where the original's any-field test was wrong

@Test func coversDifferentFieldsIsFalse() {
    // The original: A's only field is missing in B → "covered" → true (any-field + wildcard bug).
    let a = set(ethertype(0x0800)), b = set(dstIP(0x0A00_0001))
    #expect(!a.covers(b))
    #expect(!b.covers(a))
    #expect(a.overlaps(b))  // a packet can have both
}

@Test func coversU16ValuesAreCompared() {
    // The original read the 64-bit union members: for u16 refs the mask read is 0, so any two
    // ethertypes were "duplicates".
    let ipv4 = set(ethertype(0x0800)), ipv6 = set(ethertype(0x86DD))
    #expect(!ipv4.covers(ipv6))
    #expect(!ipv4.overlaps(ipv6))
    #expect(ipv4.covers(set(ethertype(0x0800))))
    // A partial mask covers the exact values it admits, and not the other way round.
    let high = set(ethertype(0x0800, mask: 0xFF00, maskType: .mask))
    #expect(high.covers(set(ethertype(0x0812))))
    #expect(!set(ethertype(0x0812)).covers(high))
    #expect(!high.covers(set(ethertype(0x0912))))
    #expect(high.overlaps(set(ethertype(0x0812))))
    // Bits outside A's mask do not matter, bits in it do.
    #expect(set(ethertype(0x08FF, mask: 0xFF00)).covers(set(ethertype(0x0800))))
}

@Test func coversNeedsEveryFieldOfA() {
    // The original returned true as soon as one field of A was compatible.
    let tcp = set(ethertype(0x0800), proto(6)), udp = set(ethertype(0x0800), proto(17))
    #expect(!tcp.covers(udp))
    #expect(!tcp.overlaps(udp))
    // Fewer constraints cover more packets.
    let ip = set(ethertype(0x0800))
    #expect(ip.covers(tcp))
    #expect(!tcp.covers(ip))
    #expect(ip.overlaps(tcp))
    // Order of matches does not matter.
    #expect(set(proto(6), ethertype(0x0800)).selectsSamePackets(as: tcp))
}

@Test func coversMultipleRefsOnOneFieldIntersect() {
    // Two half-masks on one field are one exact match.
    let split = set(proto(0x10, mask: 0xF0), proto(0x02, mask: 0x0F))
    #expect(split.selectsSamePackets(as: set(proto(0x12))))
    #expect(
        split.constraints == [
            FieldConstraint(field: MatchField(instance: 3, header: 3, field: 10), value: 0x12, mask: 0xFF)
        ])
    // A with two constraints on a field covers B only if B satisfies both.
    #expect(split.covers(set(proto(0x12))))
    #expect(!split.covers(set(proto(0x13))))
    // Conflicting constraints select nothing: covered by anything, covering only the empty set.
    let none = set(proto(6), proto(17))
    #expect(!none.isSatisfiable)
    #expect(none.constraints == nil)
    #expect(set(dstMAC(1)).covers(none))
    #expect(!none.covers(set(proto(6))))
    #expect(none.covers(set(ethertype(1), ethertype(2))))
    #expect(!none.overlaps(none))
    #expect(!none.overlaps(MatchSet([])))
}

@Test func coversWildcards() {
    let all = MatchSet([])
    #expect(all.isSatisfiable)
    #expect(all.covers(set(dstMAC(0x0011_2233_4455))))
    #expect(!set(dstMAC(0x0011_2233_4455)).covers(all))
    // A zero mask is a wildcard: it constrains nothing.
    #expect(set(proto(0x55, mask: 0)).covers(all))
    #expect(set(proto(0x55, mask: 0)).selectsSamePackets(as: all))
}

@Test func coversU64AndInstances() {
    let oui = set(dstMAC(0x0011_2200_0000, mask: 0xFFFF_FF00_0000))
    #expect(oui.covers(set(dstMAC(0x0011_2233_4455))))
    #expect(!oui.covers(set(dstMAC(0x0011_2333_4455))))
    // Full 64-bit masks: the top bit is compared too.
    let top = set(ref(1, 1, 2, .u64, 0x8000_0000_0000_0000, mask: 0x8000_0000_0000_0000))
    #expect(top.covers(set(ref(1, 1, 2, .u64, ~0))))
    #expect(!top.covers(set(ref(1, 1, 2, .u64, 0x7FFF_FFFF_FFFF_FFFF))))
    // The same header/field at another instance (e.g. inner vs outer header) is another field.
    #expect(!set(ref(1, 1, 3, .u16, 0x0800)).covers(set(ref(2, 1, 3, .u16, 0x0800))))
    // An absent mask is the value's width: a u8 exact match is mask 0xFF.
    #expect(MatchKey(proto(6)).mask == 0xFF)
}

@Test func selectsEvaluatesPackets() {
    let tcp = set(ethertype(0x0800), proto(6))
    let packet: [MatchField: UInt64] = [ethertype(0).matchField: 0x0800, proto(0).matchField: 6]
    #expect(tcp.selects { packet[$0] ?? 0 })
    #expect(!tcp.selects { $0 == proto(0).matchField ? 17 : packet[$0] ?? 0 })
    #expect(!set(proto(6), proto(17)).selects { _ in 6 })
}

@Test func flowConvenience() {
    let wide = flow([ethertype(0x0800)]), narrow = flow(uid: 2, [ethertype(0x0800), vid(5)])
    #expect(wide.covers(narrow))
    #expect(!narrow.covers(wide))
    #expect(wide.overlaps(narrow))
    #expect(flow(nil).matchSet == MatchSet([]))
    // Copies are independent values (no clone API needed).
    var copy = narrow
    copy.matches?.append(proto(6))
    #expect(narrow.matches?.count == 2)
    #expect(narrow.covers(copy))
}

// MARK: - Covers: property test against a brute-force oracle (u8 fields, all packets)

/// A match on one of two u8 fields, as the generator produces it.
struct SmallRef: Sendable, CustomStringConvertible {
    var field: Int
    var value: UInt8
    var mask: UInt8?

    var fieldRef: FieldRef {
        ref(1, 7, UInt32(field + 1), .u8, UInt64(value), mask: mask.map(UInt64.init))
    }

    /// The oracle's reading of a match, straight from the definition.
    func admits(_ packet: (UInt8, UInt8)) -> Bool {
        let m = mask ?? 0xFF
        return ((field == 0 ? packet.0 : packet.1) & m) == (value & m)
    }

    var description: String { "f\(field)&\(String(mask ?? 0xFF, radix: 16))==\(String(value, radix: 16))" }
}

// Small pools make coincidences (and so covering pairs) frequent; index 8/9 draws at random.
private let maskPool: [UInt8?] = [0x00, 0xFF, 0xF0, 0x0F, 0x80, 0x01, 0xC3, nil]
private let valuePool: [UInt8] = [0x00, 0x01, 0x0F, 0x10, 0x80, 0x8F, 0xF0, 0xFF]

private let smallRefGen = zip(Gen.int(in: 0...1), Gen.int(in: 0...9), Gen.uint8(), Gen.int(in: 0...8), Gen.uint8())
    .map { t -> SmallRef in
        SmallRef(
            field: t.0, value: t.1 < valuePool.count ? valuePool[t.1] : t.2,
            mask: t.3 < maskPool.count ? maskPool[t.3] : t.4)
    }
private let smallSetGen = smallRefGen.array(of: 0...3)

/// Brute force: every packet over the fields either set uses, each match evaluated per packet
/// (through a per-match table of the 256 values it admits, to keep the debug build fast).
private func oracle(_ a: [SmallRef], _ b: [SmallRef])
    -> (aCoversB: Bool, bCoversA: Bool, overlaps: Bool, aSat: Bool, bSat: Bool)
{
    let secondField = (a + b).contains { $0.field == 1 }
    func table(_ r: SmallRef) -> (field: Int, admits: [Bool]) {
        (r.field, (0...255).map { r.admits((UInt8($0), UInt8($0))) })
    }
    let ta = a.map(table), tb = b.map(table)
    var aCoversB = true, bCoversA = true, overlaps = false, aSat = false, bSat = false
    var p = [0, 0]
    for p0 in 0...255 {
        p[0] = p0
        for p1 in 0...(secondField ? 255 : 0) {
            p[1] = p1
            let inA = ta.allSatisfy { $0.admits[p[$0.field]] }, inB = tb.allSatisfy { $0.admits[p[$0.field]] }
            if inB && !inA { aCoversB = false }
            if inA && !inB { bCoversA = false }
            if inA && inB { overlaps = true }
            aSat = aSat || inA
            bSat = bSat || inB
        }
    }
    return (aCoversB, bCoversA, overlaps, aSat, bSat)
}

@Test func coversMatchesBruteForceOracle() async {
    // mode 0: independent sets; mode 1: B = A plus more (A covers B); mode 2: A = part of B.
    await propertyCheck(count: 250, input: smallSetGen, smallSetGen, Gen.int(in: 0...2)) { x, y, mode in
        let a: [SmallRef], b: [SmallRef]
        switch mode {
        case 1: (a, b) = (x, x + y)
        case 2: (a, b) = (Array(y.prefix(y.count / 2)), y + x.prefix(1))
        default: (a, b) = (x, y)
        }
        let setA = MatchSet(a.map(\.fieldRef)), setB = MatchSet(b.map(\.fieldRef))
        let expected = oracle(a, b)
        #expect(setA.covers(setB) == expected.aCoversB, "covers \(a) ⊇ \(b)")
        #expect(setB.isCovered(by: setA) == expected.aCoversB)
        #expect(setB.covers(setA) == expected.bCoversA, "covers \(b) ⊇ \(a)")
        #expect(setA.overlaps(setB) == expected.overlaps, "overlaps \(a) ∩ \(b)")
        #expect(setB.overlaps(setA) == expected.overlaps)
        #expect(setA.isSatisfiable == expected.aSat)
        #expect(setB.isSatisfiable == expected.bSat)
        if mode != 0 { #expect(setA.covers(setB), "constructed so that A covers B: \(a) ⊇ \(b)") }
        // Covering is reflexive; mutual covering is packet-set equality.
        #expect(setA.covers(setA))
        #expect(setA.selectsSamePackets(as: setB) == (expected.aCoversB && expected.bCoversA))
        // `selects` agrees with the oracle on a spread of packets.
        for p0 in stride(from: 0, through: 255, by: 17) {
            for p1 in stride(from: 0, through: 255, by: 51) {
                let p = (UInt8(p0), UInt8(p1))
                let got = setA.selects { $0.field == 1 ? UInt64(p.0) : UInt64(p.1) }
                #expect(got == a.allSatisfy { $0.admits(p) })
            }
        }
    }
}

// MARK: - Covers: seeded random loop on wide fields (u16/u64)

// SplitMix64 is shared with the other tests (RandomModel.swift).

@Test func coversOnWideFieldsBySamplingAndWitness() {
    // Too wide to enumerate. When `covers` says yes, random packets that B selects (its fixed
    // bits, random elsewhere) must all be selected by A. When it says no, build a witness: a
    // packet of B that flips one bit A fixes and B leaves free (or, if there is none, any packet
    // of B, since B then pins some bit A fixes to the other value); A must reject it.
    var rng = SplitMix64(seed: 0xF10F_7ACE)
    let masks: [UInt64] = [0, 0xFF00, 0xFFFF, 0x00FF_FF00_0000, 0xFFFF_FFFF_FFFF, ~0, 0x8000_0000_0000_0001]
    let fields = [1, 2].map { MatchField(instance: 1, header: 1, field: UInt32($0)) }
    var coverCount = 0
    for _ in 0..<2000 {
        func randomRefs() -> [FieldRef] {
            (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                let type: FieldType = Bool.random(using: &rng) ? .u16 : .u64
                let width: UInt64 = type == .u16 ? 0xFFFF : ~0
                let mask = (masks.randomElement(using: &rng) ?? 0) & width
                let value = rng.next() & 0x0F0F_000F_0F0F_0F0F & width
                return ref(1, 1, UInt32.random(in: 1...2, using: &rng), type, value, mask: mask)
            }
        }
        let a = MatchSet(randomRefs())
        // B reuses some of A's constraints (as u64) so that covering pairs are frequent.
        let reused = a.keys.prefix(Int.random(in: 0...2, using: &rng)).map {
            ref($0.instance, $0.header, $0.field, .u64, $0.value, mask: $0.mask)
        }
        let b = MatchSet(randomRefs() + reused)
        guard let cb = b.constraints else { #expect(a.covers(b)); continue }
        func packetOfB() -> [MatchField: UInt64] {
            var p: [MatchField: UInt64] = [:]
            for f in fields {
                let c = cb.first { $0.field == f }
                p[f] = (c?.value ?? 0) | (rng.next() & ~(c?.mask ?? 0))
            }
            return p
        }
        let covers = a.covers(b)
        if covers { coverCount += 1 }
        for _ in 0..<16 {
            let p = packetOfB()
            #expect(b.selects { p[$0] ?? 0 })
            if covers { #expect(a.selects { p[$0] ?? 0 }, "covers said yes, yet \(p) of B is outside A") }
        }
        if !covers {
            var p = packetOfB()
            for c in a.constraints ?? [] {
                let free = c.mask & ~(cb.first { $0.field == c.field }?.mask ?? 0)
                if free != 0 {
                    let bit = free & (~free &+ 1)
                    p[c.field] = ((p[c.field] ?? 0) & ~bit) | (~c.value & bit)
                    break
                }
            }
            #expect(b.selects { p[$0] ?? 0 })
            #expect(!a.selects { p[$0] ?? 0 }, "covers said no, yet witness \(p) of B is inside A")
        }
    }
    // The generator must exercise both answers, or the test proves little.
    #expect(coverCount > 100 && coverCount < 1900)
}

// MARK: - Flow validation

/// Crafted flows, one or more per error kind, with the errors expected in order.
private let badFlows: [(Flow, FlowOperation, [FlowValidationError])] = {
    let id = FlowIdentity(table: 10, uid: 1)
    let ip = FlowIdentity(table: 20, uid: 1)
    return [
        (flow(table: 0), .set, [.reservedZero(FlowIdentity(table: 0, uid: 1), .table)]),
        (flow(uid: 0), .set, [.reservedZero(FlowIdentity(table: 10, uid: 0), .uid)]),
        (flow([ref(0, 1, 3, .u16, 0x0800, maskType: .exact)]), .set, [.reservedZero(id, .matchInstance(match: 0))]),
        (
            flow([ethertype(0x0800), ref(1, 0, 3, .u16, 1, maskType: .exact)]), .set,
            [.reservedZero(id, .matchHeader(match: 1))]
        ),
        (flow([ref(1, 1, 0, .u16, 0x0800, maskType: .exact)]), .set, [.reservedZero(id, .matchField(match: 0))]),
        (flow(nil, [Action(uid: 0)]), .set, [.noMatches(id), .reservedZero(id, .actionUID(action: 0))]),
        (flow(table: 99), .set, [.unknownTable(FlowIdentity(table: 99, uid: 1))]),
        (flow([]), .set, [.noMatches(id)]),
        (flow(nil), .set, [.noMatches(id)]),
        (flow([ethertype(0x0800)], []), .set, [.noActions(id)]),
        (flow([ethertype(0x0800)], nil), .set, [.noActions(id)]),
        (flow([ref(1, 9, 1, .u8, 1)]), .set, [.unknownHeader(id, match: 0, ref: ref(1, 9, 1, .u8, 1))]),
        (flow([ref(1, 1, 9, .u8, 1)]), .set, [.unknownField(id, match: 0, ref: ref(1, 1, 9, .u8, 1))]),
        // src_mac exists but table 10 cannot match it; ethertype at instance 2 is another field.
        (
            flow([ref(1, 1, 1, .u64, 1, maskType: .exact)]), .set,
            [.fieldNotInTable(id, match: 0, ref: ref(1, 1, 1, .u64, 1, maskType: .exact))]
        ),
        (
            flow([ref(2, 1, 3, .u16, 0x0800, maskType: .exact)]), .set,
            [.fieldNotInTable(id, match: 0, ref: ref(2, 1, 3, .u16, 0x0800, maskType: .exact))]
        ),
        (
            flow([ethertype(0x0800, maskType: .lpm)]), .set,
            [.maskTypeMismatch(id, match: 0, ref: ethertype(0x0800, maskType: .lpm), expected: .exact)]
        ),
        (
            flow([ethertype(0x0800), ref(1, 1, 3, .u16, nil, maskType: .exact)]), .set,
            [.missingValue(id, match: 1, ref: ref(1, 1, 3, .u16, nil, maskType: .exact))]
        ),
        (
            flow([
                FieldRef(
                    instance: 1, header: 1, field: 3, maskType: .exact, type: .unspec,
                    value: FieldValue(rawBits: 0x0800, byteCount: 2))
            ]), .set,
            [
                .invalidValueType(
                    id, match: 0,
                    ref: FieldRef(
                        instance: 1, header: 1, field: 3, maskType: .exact,
                        type: .unspec, value: FieldValue(rawBits: 0x0800, byteCount: 2)))
            ]
        ),
        (
            flow([ref(1, 1, 3, FieldType(rawValue: 9), 0x0800, maskType: .exact)]), .set,
            [.invalidValueType(id, match: 0, ref: ref(1, 1, 3, FieldType(rawValue: 9), 0x0800, maskType: .exact))]
        ),
        // Table 20 advertises dst_ip as u32.
        (
            flow(table: 20, [ref(3, 3, 13, .u64, 0x0A00_0001, maskType: .lpm)]), .set,
            [.valueTypeMismatch(ip, match: 0, ref: ref(3, 3, 13, .u64, 0x0A00_0001, maskType: .lpm), expected: .u32)]
        ),
        (
            flow([
                FieldRef(
                    instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                    value: FieldValue(rawBits: 0x0800, byteCount: 4))
            ]), .set,
            [
                .valueWidthMismatch(
                    id, match: 0,
                    ref: FieldRef(
                        instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                        value: FieldValue(rawBits: 0x0800, byteCount: 4)))
            ]
        ),
        (
            flow([
                FieldRef(
                    instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                    value: FieldValue(0x0800, type: .u16), mask: FieldValue(rawBits: 0xFF, byteCount: 1))
            ]), .set,
            [
                .maskWidthMismatch(
                    id, match: 0,
                    ref: FieldRef(
                        instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                        value: FieldValue(0x0800, type: .u16),
                        mask: FieldValue(rawBits: 0xFF, byteCount: 1)))
            ]
        ),
        // vid is 12 bits wide, pcp 3.
        (
            flow([vid(0x1001, mask: 0x0FFF)]), .set,
            [.valueExceedsBitwidth(id, match: 0, ref: vid(0x1001, mask: 0x0FFF), bitwidth: 12)]
        ),
        (flow([pcp(0x08)]), .set, [.valueExceedsBitwidth(id, match: 0, ref: pcp(0x08), bitwidth: 3)]),
        (
            flow([ethertype(0x0800, mask: 0x0FFF)]), .set,
            [.maskNotExact(id, match: 0, ref: ethertype(0x0800, mask: 0x0FFF))]
        ),
        (
            flow(table: 20, [dstIP(0x0A00_0001, mask: 0xFF00_FF00)]), .set,
            [.maskNotPrefix(ip, match: 0, ref: dstIP(0x0A00_0001, mask: 0xFF00_FF00))]
        ),
        (flow([pcp(0x04, mask: 0x05)]), .set, [.maskNotPrefix(id, match: 0, ref: pcp(0x04, mask: 0x05))]),
        (
            flow([ethertype(0x0800), vid(1), ethertype(0x86DD)]), .set,
            [.conflictingMatches(id, first: 0, second: 2, ref: ethertype(0x86DD))]
        ),
        (flow([ethertype(0x0800)], [outPort(1), Action(uid: 99)]), .set, [.unknownAction(id, action: 1, uid: 99)]),
        (flow([ethertype(0x0800)], [Action(uid: 2)]), .set, [.actionNotInTable(id, action: 0, uid: 2)]),
        (
            flow([ethertype(0x0800)], [Action(uid: 5)]), .set,
            [.actionArgumentCount(id, action: 0, uid: 5, expected: 1, got: 0)]
        ),
        (
            flow([ethertype(0x0800)], [Action(uid: 7, signature: [arg(.u8, 1)])]), .set,
            [.actionArgumentCount(id, action: 0, uid: 7, expected: 0, got: 1)]
        ),
        (
            flow([ethertype(0x0800)], [Action(uid: 5, signature: [arg(.u16, 1)])]), .set,
            [.actionArgumentType(id, action: 0, uid: 5, argument: 0, expected: .u32, got: .u16)]
        ),
        (
            flow(
                [ethertype(0x0800)],
                [Action(uid: 5, signature: [ActionArg(type: .u32, value: FieldValue(rawBits: 1, byteCount: 2))])]),
            .set,
            [
                .actionArgumentWidth(
                    id, action: 0, uid: 5, argument: 0,
                    arg: ActionArg(type: .u32, value: FieldValue(rawBits: 1, byteCount: 2)))
            ]
        ),
        // DEL checks only what identifies the flow.
        (
            flow(table: 0, uid: 0, nil, nil), .del,
            [
                .reservedZero(FlowIdentity(table: 0, uid: 0), .table),
                .reservedZero(FlowIdentity(table: 0, uid: 0), .uid),
            ]
        ),
        (flow(table: 42, nil, nil), .del, [.unknownTable(FlowIdentity(table: 42, uid: 1))]),
        // Several problems at once are all reported, in flow order.
        (
            flow([ref(1, 9, 1, .u8, 1), ethertype(0x0800, maskType: .mask)], [Action(uid: 2), outPort(1)]), .set,
            [
                .unknownHeader(id, match: 0, ref: ref(1, 9, 1, .u8, 1)),
                .maskTypeMismatch(id, match: 1, ref: ethertype(0x0800, maskType: .mask), expected: .exact),
                .actionNotInTable(id, action: 0, uid: 2),
            ]
        ),
    ]
}()

@Test func validFlowsPass() throws {
    let good: [Flow] = [
        flow(),
        flow([ethertype(0x0800), ethertype(0x0800)]),  // compatible duplicate
        flow(
            [dstMAC(0x0011_2233_4455), vid(5, mask: 0x0FF), pcp(0x06, mask: 0x06)],
            [Action(uid: 1, signature: [arg(.u16, 7)]), Action(uid: 7)]),  // drop: empty signature
        flow([dstMAC(0x0011_2233_4455)], [Action(uid: 7, signature: nil)]),  // absent = no arguments
        flow(table: 20, [dstIP(0x0A00_0000, mask: 0xFF00_0000), proto(6, mask: 0)], [Action(uid: 2), outPort(3)]),
        flow(table: 20, [dstIP(0, mask: 0)], [Action(uid: 2)]),  // /0 is a prefix
        flow(table: 20, [ref(3, 3, 14, .u64, ~0)], [Action(uid: 2)]),  // bitwidth 0: variable, no limit
    ]
    for f in good {
        #expect(index.validate(f, for: .set) == [], "\(f)")
        try index.check(f, for: .set)
    }
    // DEL needs no matches or actions.
    #expect(index.validate(flow(nil, nil), for: .del) == [])
    // The model's convenience agrees with the index.
    #expect(model.validate(flow(), for: .set) == [])
}

@Test func everyFlowErrorCaseIsProducedAndDetected() throws {
    var kinds = Set<FlowValidationError.Kind>()
    for (f, op, expected) in badFlows {
        let errors = index.validate(f, for: op)
        #expect(errors == expected, "\(f)")
        // The first-error paths agree with the full list.
        #expect(index.firstError(in: f, for: op) == expected.first)
        #expect(throws: expected[0]) { try index.check(f, for: op) }
        #expect(model.validate(f, for: op) == errors)
        for e in errors {
            kinds.insert(e.kind)
            #expect(e.flow == FlowIdentity(f))
            #expect(!e.description.isEmpty)
            #expect(e.description.contains("flow table \(f.table) uid \(f.uid)"))
        }
    }
    #expect(
        kinds == Set(FlowValidationError.Kind.allCases),
        "never produced: \(Set(FlowValidationError.Kind.allCases).subtracting(kinds))")
}

@Test func flowErrorErrnos() {
    let id = FlowIdentity(table: 1, uid: 1)
    #expect(FlowValidationError.unknownTable(id).errno == 2)  // ENOENT
    #expect(FlowValidationError.actionNotInTable(id, action: 0, uid: 2).errno == 95)  // EOPNOTSUPP
    #expect(FlowValidationError.unknownAction(id, action: 0, uid: 2).errno == 95)
    #expect(FlowValidationError.noMatches(id).errno == 22)  // EINVAL
    #expect(FlowValidationError.reservedZero(id, .uid).errno == 22)
    #expect(FlowValidationError.fieldNotInTable(id, match: 0, ref: proto(1)).errno == 22)
}

@Test func flowErrorMessagesNameTheOffendingPart() {
    let e = index.firstError(in: flow([ethertype(0x0800)], [Action(uid: 2)]), for: .set)
    #expect(e?.description == "flow table 10 uid 1: action #0: table 10 does not allow action 2")
    let z = index.firstError(in: flow([ref(1, 1, 0, .u16, 1)]), for: .set)
    #expect(z?.description.contains("field of match #0 is 0") == true)
}

// MARK: - Model validation

@Test func fixtureModelIsValid() {
    #expect(model.validate() == [])
}

@Test func everyModelErrorCaseIsProduced() {
    // Each mutation breaks the fixture in one way; the expected error is asserted by case.
    typealias M = (inout PipelineModel) -> Void
    let cases: [(M, [ModelValidationError])] = [
        ({ $0.headers.append(Header(name: "zero", uid: 0, fields: [])) }, [.reservedZero(.header(0), what: "uid")]),
        ({ $0.headers[0].fields[0].uid = 0 }, [.reservedZero(.field(header: 1, field: 0), what: "uid")]),  // src_mac: unused
        ({ $0.headers.append(Header(name: "again", uid: 3, fields: [])) }, [.duplicate(.header(3))]),
        ({ $0.headers[0].fields[0].uid = 2 }, [.duplicate(.field(header: 1, field: 2))]),
        ({ $0.actions.append(Action(uid: 7)) }, [.duplicate(.action(7))]),
        ({ $0.tables[1].matches.append($0.tables[1].matches[0]) }, [.duplicate(.tableMatch(table: 20, match: 3))]),
        ({ $0.tables[0].actions.append(5) }, [.duplicate(.tableAction(table: 10, action: 3))]),
        ({ $0.headers[0].fields[0].bitwidth = 65 }, [.fieldBitwidth(.field(header: 1, field: 1), bitwidth: 65)]),
        ({ $0.tables[0].matches[0].header = 9 }, [.unknownHeader(.tableMatch(table: 10, match: 0), header: 9)]),
        ({ $0.headerGraph[0].headers.append(8) }, [.unknownHeader(.headerNodeHeader(node: 1, header: 1), header: 8)]),
        ({ $0.tables[0].matches[0].field = 9 }, [.unknownField(.tableMatch(table: 10, match: 0), header: 1, field: 9)]),
        (
            { $0.headerGraph[0].jumps[0].ref.field = 9 },
            [.unknownField(.headerNodeJump(node: 1, jump: 0), header: 1, field: 9)]
        ),
        ({ $0.tables[0].matches[0].instance = 9 }, [.unknownInstance(.tableMatch(table: 10, match: 0), instance: 9)]),
        (
            { $0.tables[0].matches[0].instance = 3 },
            [.headerNotAtInstance(.tableMatch(table: 10, match: 0), instance: 3, header: 1)]
        ),
        ({ $0.tables[0].matches[1].maskType = .unspec }, [.invalidMaskType(.tableMatch(table: 10, match: 1), .unspec)]),
        (
            { $0.tables[0].matches[1].type = FieldType(rawValue: 5) },
            [.invalidType(.tableMatch(table: 10, match: 1), FieldType(rawValue: 5))]
        ),
        (
            { $0.actions[0].signature = [ActionArg(type: .unspec, value: FieldValue(rawBits: 0, byteCount: 1))] },
            [.invalidType(.actionArgument(action: 1, argument: 0), .unspec)]
        ),
        (
            { $0.actions[0].signature = [ActionArg(type: .u16, value: FieldValue(rawBits: 0, byteCount: 4))] },
            [.valueWidthMismatch(.actionArgument(action: 1, argument: 0), type: .u16, byteCount: 4)]
        ),
        ({ $0.tables[1].actions.append(42) }, [.unknownAction(.tableAction(table: 20, action: 2), action: 42)]),
        ({ $0.tables[1].actions.append(0) }, [.reservedZero(.tableAction(table: 20, action: 2), what: "action uid")]),
        // The original examples' v1-style terminator is not DONE in v2.
        (
            { $0.headerGraph[2].jumps[0].nextNode = 0xFFFF_FFFF },
            [.unknownJumpTarget(.headerNodeJump(node: 3, jump: 0), target: 0xFFFF_FFFF)]
        ),
        (
            { $0.tableGraph[0].jumps[0].nextNode = 30 },
            [.unknownJumpTarget(.tableNodeJump(node: 10, jump: 0), target: 30)]
        ),
        (
            { $0.tableGraph.append(TableGraphNode(uid: 77, flags: 0, jumps: [])) },
            [.unknownTable(.tableNode(77), table: 77)]
        ),
        ({ $0.tableGraph[1].uid = 0 }, [.reservedZero(.tableNode(0), what: "uid")]),
        ({ $0.tables[0].matches[2].instance = 0 }, [.reservedZero(.tableMatch(table: 10, match: 2), what: "instance")]),
    ]
    var kinds = Set<ModelValidationError.Kind>()
    for (mutate, expected) in cases {
        var broken = model
        mutate(&broken)
        let errors = broken.validate()
        #expect(errors == expected)
        for e in errors {
            kinds.insert(e.kind)
            #expect(e.description.hasPrefix(e.location.description))
        }
    }
    #expect(
        kinds == Set(ModelValidationError.Kind.allCases),
        "never produced: \(Set(ModelValidationError.Kind.allCases).subtracting(kinds))")
    // The original examples' habits: uid 0 tables and instance 0 are rejected.
    var examples = model
    examples.tables[0].uid = 0
    examples.tableGraph[0].uid = 0
    #expect(examples.validate().map(\.kind) == [.reservedZero, .reservedZero])
}
