// lookup(table:key:) on every backend against a brute-force reference written here, apart from
// the backends' code: seeded random flows and packets, inserts and deletes interleaved with
// lookups (so each backend's compiled index must follow every change).
import Hairpin
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
        let backends = BackendKind.allCases.map { $0.make(tables: [1: 500, 2: 500]) }
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
