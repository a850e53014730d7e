// lookup(table:key:) on every backend against a brute-force reference written here, apart from
// the backends' code: seeded random flows and packets, inserts and deletes interleaved with
// lookups (so each backend's compiled index must follow every change).
@testable import Hairpin
import LibFlowTable
import Testing

@Suite("Packet lookup by PacketKey") struct LookupKeyTests {
    /// (instance, header, field, type): a few fields of several widths; instance 9 is outside
    /// the layout, so flows naming it can never match.
    static let fields: [(UInt32, UInt32, UInt32, FieldType)] =
        [(1, 1, 3, .u16), (3, 3, 10, .u8), (3, 3, 12, .u32), (3, 3, 13, .u32), (5, 5, 2, .u16), (7, 7, 2, .u32)]
    static let outside: (UInt32, UInt32, UInt32, FieldType) = (9, 9, 1, .u8)

    static let layout = PacketLayout(keys: fields.map { PacketFields.Key(instance: $0.0, header: $0.1, field: $0.2) })

    /// The reference: a flow matches when every one of its matches holds, a match holds when the
    /// packet has the field and (packet ^ value) has no bit set under the mask (absent mask: the
    /// whole width of the value's type); the best is the largest priority, then the smallest uid.
    static func reference(_ flows: [Flow], table: UInt32, packet: [PacketFields.Key: UInt64]) -> (UInt32, UInt32)? {
        var best: (priority: UInt32, uid: UInt32)?
        for f in flows where f.table == table {
            var all = true
            for m in f.matches ?? [] {
                guard let v = packet[PacketFields.Key(instance: m.instance, header: m.header, field: m.field)] else {
                    all = false
                    break
                }
                let bytes = UInt64(m.type.byteWidth ?? 8)
                let width: UInt64 = bytes >= 8 ? ~0 : (1 << (8 * bytes)) - 1
                let mask = (m.mask?.rawBits ?? width) & width
                if (v ^ (m.value?.rawBits ?? 0)) & mask != 0 {
                    all = false
                    break
                }
            }
            guard all else { continue }
            if let b = best, b.priority > f.priority || (b.priority == f.priority && b.uid < f.uid) { continue }
            best = (f.priority, f.uid)
        }
        return best
    }

    struct Rng {
        var s: UInt64
        mutating func next() -> UInt64 {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            var z = s
            z ^= z >> 33
            z = z &* 0xff51afd7ed558ccd
            return z ^ (z >> 29)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static func randomFlow(_ r: inout Rng, uid: UInt32) -> Flow {
        var matches: [FieldRef] = []
        var used = Set<Int>()
        for _ in 0..<r.below(4) {
            let i = r.below(fields.count + 1)
            guard !used.contains(i) else { continue }
            used.insert(i)
            let f = i == fields.count ? (r.below(4) == 0 ? outside : fields[0]) : fields[i]
            let mask: UInt64? = [nil, 0x3, 0x1, 0, 0xF][r.below(5)]
            matches.append(
                FieldRef(
                    instance: f.0, header: f.1, field: f.2, maskType: mask == nil ? .exact : .mask, type: f.3,
                    value: FieldValue(UInt64(r.below(8)), type: f.3), mask: mask.map { FieldValue($0, type: f.3) }))
        }
        return Flow(
            table: UInt32(1 + r.below(2)), uid: uid, priority: UInt32(r.below(6)), matches: matches,
            actions: [Action(uid: 7)])
    }

    static func randomPacket(_ r: inout Rng) -> [PacketFields.Key: UInt64] {
        var p: [PacketFields.Key: UInt64] = [:]
        for f in fields where r.below(10) < 8 {
            p[PacketFields.Key(instance: f.0, header: f.1, field: f.2)] = UInt64(r.below(8))
        }
        return p
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func everyBackendAgreesWithTheReference(seed: UInt64) throws {
        var r = Rng(s: seed)
        // And a tss whose mixes all collide (one chain of subtables, one bucket per subtable).
        let backends =
            BackendKind.allCases.map { $0.make(tables: [1: 500, 2: 500]) }
            + [TSSBackend(tables: [1: 500, 2: 500], hashMask: 0)]
        var stored: [Flow] = []
        var nextUID: UInt32 = 1
        var hits = 0, misses = 0
        for step in 0..<400 {
            if r.below(10) < 6 || stored.isEmpty {
                let f = Self.randomFlow(&r, uid: nextUID)
                nextUID += 1
                let results = backends.map { $0.insert(f).errno }
                #expect(Set(results).count == 1, "seed \(seed) step \(step): inserts differ \(results)")
                if results[0] == 0 { stored.append(f) }
            } else if r.below(3) == 0 {
                let f = stored.remove(at: r.below(stored.count))
                for b in backends { _ = b.delete(table: f.table, uid: f.uid) }
            }
            for _ in 0..<3 {
                let packet = Self.randomPacket(&r)
                let key = PacketKey(PacketFields(packet), layout: Self.layout)
                for table: UInt32 in [1, 2, 3] {
                    let want = Self.reference(stored, table: table, packet: packet)
                    if want == nil { misses += 1 } else { hits += 1 }
                    for b in backends {
                        let got = b.lookup(table: table, key: key)
                        let g = got.map { UInt64($0.priority) << 32 | UInt64($0.uid) }
                        let w = want.map { UInt64($0.0) << 32 | UInt64($0.1) }
                        #expect(
                            g == w,
                            "seed \(seed) step \(step) \(b.name) table \(table) packet \(packet): got \(String(describing: got)), want \(String(describing: want))"
                        )
                        if let got { #expect(got.table == table) }
                    }
                }
            }
        }
        // The workload must exercise both outcomes, or agreement proves little.
        #expect(hits > 200 && misses > 200, "hits \(hits) misses \(misses)")
    }

    /// The staged tuple search at a size where its stage filters are built: tuples spanning
    /// three header instances with many flows each, and packets that share a flow's first
    /// stages but differ in a later one (the filters must let them through to the right answer
    /// or turn them away), beside packets that hit and random ones. The compiled matcher is
    /// checked directly against the reference, and through tss and hash.
    @Test(arguments: [UInt64(11), 12, 13])
    func stagedTupleSearchAgreesWithTheReference(seed: UInt64) throws {
        var r = Rng(s: seed)
        // Three instances (stages), two fields in the middle one.
        let staged: [(UInt32, UInt32, UInt32, FieldType)] = [
            (1, 1, 3, .u16), (3, 3, 12, .u32), (3, 3, 13, .u32), (5, 5, 2, .u16),
        ]
        let shapes: [[UInt64?]] = [
            [0xFFFF, 0xFFFF_FF00, nil, 0xFFFF], [0xFFFF, 0xFFFF_0000, 0xFFFF_FFFF, nil],
            [0xFFFF, nil, 0xFFFF_FFFF, 0xFFF0], [nil, 0xFF00_0000, nil, 0xFFFF],
            [0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF],
        ]
        var flows: [Flow] = []
        for uid in UInt32(1)...600 {
            let shape = shapes[r.below(shapes.count)]
            var matches: [FieldRef] = []
            for (i, f) in staged.enumerated() {
                guard let mask = shape[i] else { continue }
                // Few distinct values in the first stage, many in the others.
                let value = i == 0 ? UInt64(0x0800 + r.below(2)) : r.next() & 0xFFFF_FFFF
                matches.append(
                    FieldRef(
                        instance: f.0, header: f.1, field: f.2, maskType: .mask, type: f.3,
                        value: FieldValue(value & mask, type: f.3), mask: FieldValue(mask, type: f.3)))
            }
            flows.append(
                Flow(table: 1, uid: uid, priority: UInt32(r.below(50)), matches: matches, actions: [Action(uid: 7)]))
        }
        let layout = PacketLayout(keys: staged.map { PacketFields.Key(instance: $0.0, header: $0.1, field: $0.2) })
        var packets: [[PacketFields.Key: UInt64]] = []
        for _ in 0..<900 {
            let f = flows[r.below(flows.count)]
            var p: [PacketFields.Key: UInt64] = [:]
            for s in staged { p[PacketFields.Key(instance: s.0, header: s.1, field: s.2)] = r.next() & 0xFFFF_FFFF }
            for m in f.matches ?? [] {
                let k = MatchKey(m)
                let key = PacketFields.Key(k)
                p[key] = k.value | (p[key] ?? 0) & ~k.mask
            }
            switch r.below(3) {
            case 0: break  // hits f
            case 1:
                // f's first stages, another last stage value: a near miss.
                let last = PacketFields.Key(instance: 5, header: 5, field: 2)
                p[last] = (p[last] ?? 0) ^ UInt64(1 + r.below(0xFFF))
            default:
                // f's values but one field absent.
                p[Array(p.keys)[r.below(p.count)]] = nil
            }
            packets.append(p)
        }
        for _ in 0..<300 {
            var p: [PacketFields.Key: UInt64] = [:]
            for s in staged { p[PacketFields.Key(instance: s.0, header: s.1, field: s.2)] = r.next() & 0xFFFF }
            packets.append(p)
        }
        // The matcher as tss compiles it: per mask tuple the best flow of each value list.
        var groups: [[MatchKey]: [[UInt64]: FlowHit]] = [:]
        for f in flows {
            let keys = MatchSet(f.matches ?? []).keys
            let tuple = keys.map {
                MatchKey(instance: $0.instance, header: $0.header, field: $0.field, value: 0, mask: $0.mask)
            }
            let hit = FlowHit(table: 1, uid: f.uid, priority: f.priority)
            if hit.beats(groups[tuple]?[keys.map(\.value)]) { groups[tuple, default: [:]][keys.map(\.value)] = hit }
        }
        let matcher = TupleMatcher(
            layout: layout, generation: 0,
            groups: groups.map { TupleMatcher.Group(fields: $0.key, buckets: $0.value.map { ($0.key, $0.value) }) })
        #expect(matcher.filterCount > 0, "no stage filter was built: the staged path is not exercised")
        let backends = [BackendKind.tss, .hash].map { $0.make(tables: [1: 1000]) }
        for b in backends { for f in flows { #expect(b.insert(f).errno == 0) } }
        var hits = 0
        for (n, p) in packets.enumerated() {
            let want = Self.reference(flows, table: 1, packet: p).map { UInt64($0.0) << 32 | UInt64($0.1) }
            if want != nil { hits += 1 }
            let key = PacketKey(PacketFields(p), layout: layout)
            for prune in [true, false] {
                let got = matcher.lookup(key, prune: prune).map { UInt64($0.priority) << 32 | UInt64($0.uid) }
                #expect(got == want, "seed \(seed) packet \(n) prune \(prune): \(p)")
            }
            for b in backends {
                let got = b.lookup(table: 1, key: key).map { UInt64($0.priority) << 32 | UInt64($0.uid) }
                #expect(got == want, "seed \(seed) packet \(n) \(b.name): \(p)")
            }
        }
        #expect(hits > 200 && hits < packets.count - 200, "hits \(hits) of \(packets.count)")
    }

    @Test func aFieldOutsideTheLayoutNeverMatchesAndAnEmptyFlowMatchesAll() throws {
        for kind in BackendKind.allCases {
            let b = kind.make(tables: [1: 10])
            let o = Self.outside
            _ = b.insert(
                Flow(
                    table: 1, uid: 1, priority: 9,
                    matches: [
                        FieldRef(
                            instance: o.0, header: o.1, field: o.2,
                            maskType: .mask, type: o.3,
                            value: FieldValue(0, type: o.3),
                            mask: FieldValue(0, type: o.3))
                    ]))
            let key = PacketKey(layout: Self.layout)
            #expect(b.lookup(table: 1, key: key) == nil, "\(kind)")
            _ = b.insert(Flow(table: 1, uid: 2, priority: 1, matches: []))
            #expect(b.lookup(table: 1, key: key)?.uid == 2, "\(kind)")
            #expect(b.lookup(table: 7, key: key) == nil, "\(kind)")
        }
    }
}
