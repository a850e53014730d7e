// The one packet form every backend's `lookup(table:key:)` takes: the fields a parser extracted,
// in a fixed layout of slots (one per (instance, header, field) of a model), so a backend reads a
// field by index instead of hashing its key. A backend compiles its flows against a layout once
// (per table, after a change) and then answers any number of packets of that layout.
import LibFlowTable

/// Which field is in which slot. Immutable; compared by identity (a backend's compiled index is
/// valid for one layout object).
public final class PacketLayout: @unchecked Sendable {
    public let keys: [PacketFields.Key]
    private let slots: [PacketFields.Key: Int]

    /// A layout of these fields (a repeated key keeps its first slot).
    public init(keys: [PacketFields.Key]) {
        var order: [PacketFields.Key] = []
        var slots: [PacketFields.Key: Int] = [:]
        for k in keys where slots[k] == nil {
            slots[k] = order.count
            order.append(k)
        }
        self.keys = order
        self.slots = slots
    }

    /// Every field of every header at every node of the model's header graph: each field a
    /// table of the model may match.
    public convenience init(model: PipelineModel) {
        var keys: [PacketFields.Key] = []
        for node in model.headerGraph {
            for h in node.headers {
                guard let header = model.headers.first(where: { $0.uid == h }) else { continue }
                for f in header.fields { keys.append(PacketFields.Key(instance: node.uid, header: h, field: f.uid)) }
            }
        }
        // Tables may name fields the header graph does not reach; they get slots too.
        for t in model.tables {
            for m in t.matches { keys.append(PacketFields.Key(instance: m.instance, header: m.header, field: m.field)) }
        }
        self.init(keys: keys)
    }

    /// The slot of a field; nil when the layout has none (no packet of this layout has it).
    @inline(__always) public func slot(_ key: PacketFields.Key) -> Int? { slots[key] }

    public var count: Int { keys.count }
}

/// A packet in a layout: per slot a value and whether the packet has that field. A flow that
/// matches a field the packet lacks does not match (spec/backend-contract.md §4).
public struct PacketKey {
    public let layout: PacketLayout
    public var values: [UInt64]
    public var present: [Bool]

    /// A packet with no fields.
    public init(layout: PacketLayout) {
        self.layout = layout
        values = [UInt64](repeating: 0, count: layout.count)
        present = [Bool](repeating: false, count: layout.count)
    }

    /// The fields of `fields` the layout has (the others no flow could be matched against).
    public init(_ fields: PacketFields, layout: PacketLayout) {
        self.init(layout: layout)
        for (k, v) in fields.values { self[k] = v }
    }

    /// A field's value; nil when absent. Setting a field the layout lacks does nothing.
    public subscript(key: PacketFields.Key) -> UInt64? {
        get {
            guard let s = layout.slot(key), present[s] else { return nil }
            return values[s]
        }
        set {
            guard let s = layout.slot(key) else { return }
            values[s] = newValue ?? 0
            present[s] = newValue != nil
        }
    }

    /// The same packet as PacketFields.
    public var fields: PacketFields {
        var out: [PacketFields.Key: UInt64] = [:]
        for (i, k) in layout.keys.enumerated() where present[i] { out[k] = values[i] }
        return PacketFields(out)
    }
}

/// What a lookup found: the flow's identity (the flow itself is one `flows` call away).
public struct FlowHit: Hashable, Sendable, CustomStringConvertible {
    public var table: UInt32
    public var uid: UInt32
    public var priority: UInt32

    public init(table: UInt32, uid: UInt32, priority: UInt32) {
        self.table = table
        self.uid = uid
        self.priority = priority
    }

    public var description: String { "table \(table) flow \(uid) priority \(priority)" }

    /// Whether this hit ranks before (priority, uid) under the lookup's rule.
    @inline(__always) func beats(_ other: FlowHit?) -> Bool {
        guard let other else { return true }
        return priority > other.priority || (priority == other.priority && uid < other.uid)
    }
}

extension FlowBackend {
    /// The generic answer for a backend without a lookup of its own: every flow checked.
    public func lookup(table: UInt32, key: PacketKey) -> FlowHit? {
        let packet = key.fields
        var best: FlowHit?
        _ = flows(FlowSelector(table: table)) { f in
            let hit = FlowHit(table: table, uid: f.uid, priority: f.priority)
            if hit.beats(best), packet.matches(MatchSet(f.matches ?? [])) { best = hit }
        }
        return best
    }

    /// Every flow of `table` (nil: unknown table), the one place `flows` is read in bulk for a
    /// lookup index.
    func lookupEntries(table: UInt32) -> [Flow]? {
        var out: [Flow] = []
        guard case .success = flows(FlowSelector(table: table), into: { out.append($0) }) else { return nil }
        return out
    }
}

// MARK: compiled matchers

/// Flows compiled against one layout for a scan: per entry its (slot, mask, value) triples in
/// flat buffers. The dummy scans every entry for the best; the tcam takes the first match of its
/// slot order.
final class LinearMatcher {
    let layout: PacketLayout
    let generation: Int
    private let count: Int
    private let starts: UnsafeMutableBufferPointer<Int32>
    private let slots: UnsafeMutableBufferPointer<Int32>
    private let masks: UnsafeMutableBufferPointer<UInt64>
    private let values: UnsafeMutableBufferPointer<UInt64>
    private let hits: [FlowHit]

    /// `entries` in the order a scan visits them; an entry naming a field the layout lacks can
    /// never match and is left out.
    init(layout: PacketLayout, generation: Int, entries: [(hit: FlowHit, keys: [MatchKey])]) {
        self.layout = layout
        self.generation = generation
        var kept: [(FlowHit, [(Int32, UInt64, UInt64)])] = []
        outer: for e in entries {
            var triples: [(Int32, UInt64, UInt64)] = []
            for k in e.keys {
                guard let s = layout.slot(PacketFields.Key(k)) else { continue outer }
                triples.append((Int32(s), k.mask, k.value))
            }
            kept.append((e.hit, triples))
        }
        count = kept.count
        let total = kept.reduce(0) { $0 + $1.1.count }
        starts = .allocate(capacity: count + 1)
        slots = .allocate(capacity: max(total, 1))
        masks = .allocate(capacity: max(total, 1))
        values = .allocate(capacity: max(total, 1))
        var at = 0
        for (i, e) in kept.enumerated() {
            starts[i] = Int32(at)
            for t in e.1 {
                slots[at] = t.0
                masks[at] = t.1
                values[at] = t.2
                at += 1
            }
        }
        starts[count] = Int32(at)
        hits = kept.map(\.0)
    }

    deinit {
        starts.deallocate()
        slots.deallocate()
        masks.deallocate()
        values.deallocate()
    }

    @inline(__always) private func matches(_ i: Int, _ v: UnsafeBufferPointer<UInt64>, _ p: UnsafeBufferPointer<Bool>)
        -> Bool
    {
        var j = Int(starts[i])
        let end = Int(starts[i + 1])
        while j < end {
            let s = Int(slots[j])
            if !p[s] || v[s] & masks[j] != values[j] { return false }
            j += 1
        }
        return true
    }

    /// The first entry that matches (a TCAM's answer).
    func first(_ key: PacketKey) -> FlowHit? {
        key.values.withUnsafeBufferPointer { v in
            key.present.withUnsafeBufferPointer { p in
                for i in 0..<count where matches(i, v, p) { return hits[i] }
                return nil
            }
        }
    }

    /// The best of all entries that match (the reference: no order assumed).
    func best(_ key: PacketKey) -> FlowHit? {
        key.values.withUnsafeBufferPointer { v in
            key.present.withUnsafeBufferPointer { p in
                var best: FlowHit?
                for i in 0..<count where hits[i].beats(best) && matches(i, v, p) { best = hits[i] }
                return best
            }
        }
    }
}

/// Tuple space search compiled against one layout: per mask tuple its field slots and masks and
/// an open-addressing table of the masked values of its flows (linear probing, a per-matcher
/// random seed), each bucket holding the best flow of that match. Tuples are kept by descending
/// highest priority, so a search with pruning stops once no later tuple can beat the best hit.
final class TupleMatcher {
    struct Group {
        var fields: [MatchKey]  // the tuple: instance/header/field and mask (value unused)
        var buckets: [(values: [UInt64], best: FlowHit)]
    }

    let layout: PacketLayout
    let generation: Int
    /// Tuples the layout can serve (a tuple naming a field the layout lacks never matches).
    let tupleCount: Int
    private let seed: UInt64
    // Per tuple.
    private let fieldStart: UnsafeMutableBufferPointer<Int32>
    private let maxPriority: UnsafeMutableBufferPointer<UInt32>
    private let tableStart: UnsafeMutableBufferPointer<Int>
    private let tableMask: UnsafeMutableBufferPointer<Int>
    private let bucketStart: UnsafeMutableBufferPointer<Int>
    // Per tuple field.
    private let fieldSlot: UnsafeMutableBufferPointer<Int32>
    private let fieldMask: UnsafeMutableBufferPointer<UInt64>
    // All tuples' probe tables back to back: a bucket number (global), -1 empty.
    private let table: UnsafeMutableBufferPointer<Int32>
    // Per bucket (global numbering): its hash, its best flow, its values (stride = the tuple's
    // field count, at valueStart).
    private let bucketHash: UnsafeMutableBufferPointer<UInt64>
    private let bucketValueStart: UnsafeMutableBufferPointer<Int>
    private let bucketValues: UnsafeMutableBufferPointer<UInt64>
    private let bucketHit: [FlowHit]

    init(layout: PacketLayout, generation: Int, groups: [Group]) {
        self.layout = layout
        self.generation = generation
        seed = UInt64.random(in: .min ... .max)
        var usable: [(slots: [Int32], group: Group, max: UInt32)] = []
        outer: for g in groups where !g.buckets.isEmpty {
            var s: [Int32] = []
            for f in g.fields {
                guard let slot = layout.slot(PacketFields.Key(f)) else { continue outer }
                s.append(Int32(slot))
            }
            usable.append((s, g, g.buckets.map(\.best.priority).max() ?? 0))
        }
        usable.sort { $0.max > $1.max }
        tupleCount = usable.count
        let nFields = usable.reduce(0) { $0 + $1.slots.count }
        let nBuckets = usable.reduce(0) { $0 + $1.group.buckets.count }
        let nValues = usable.reduce(0) { $0 + $1.slots.count * $1.group.buckets.count }
        func capacity(_ n: Int) -> Int {
            var c = 4
            while c < n * 2 { c <<= 1 }
            return c
        }
        let nTable = usable.reduce(0) { $0 + capacity($1.group.buckets.count) }
        fieldStart = .allocate(capacity: tupleCount + 1)
        maxPriority = .allocate(capacity: max(tupleCount, 1))
        tableStart = .allocate(capacity: max(tupleCount, 1))
        tableMask = .allocate(capacity: max(tupleCount, 1))
        bucketStart = .allocate(capacity: max(tupleCount, 1))
        fieldSlot = .allocate(capacity: max(nFields, 1))
        fieldMask = .allocate(capacity: max(nFields, 1))
        table = .allocate(capacity: max(nTable, 1))
        table.initialize(repeating: -1)
        bucketHash = .allocate(capacity: max(nBuckets, 1))
        bucketValueStart = .allocate(capacity: max(nBuckets, 1))
        bucketValues = .allocate(capacity: max(nValues, 1))
        var hits: [FlowHit] = []
        hits.reserveCapacity(nBuckets)
        var f = 0, t = 0, b = 0, v = 0
        for (i, u) in usable.enumerated() {
            fieldStart[i] = Int32(f)
            maxPriority[i] = u.max
            for (k, s) in u.slots.enumerated() {
                fieldSlot[f] = s
                fieldMask[f] = u.group.fields[k].mask
                f += 1
            }
            let cap = capacity(u.group.buckets.count)
            tableStart[i] = t
            tableMask[i] = cap - 1
            bucketStart[i] = b
            for bucket in u.group.buckets {
                bucketValueStart[b] = v
                for x in bucket.values {
                    bucketValues[v] = x
                    v += 1
                }
                let h = Self.hash(bucket.values, seed: seed)
                bucketHash[b] = h
                var at = Int(truncatingIfNeeded: h) & (cap - 1)
                while table[t + at] >= 0 { at = (at + 1) & (cap - 1) }
                table[t + at] = Int32(b)
                hits.append(bucket.best)
                b += 1
            }
            t += cap
        }
        fieldStart[tupleCount] = Int32(f)
        bucketHit = hits
    }

    deinit {
        fieldStart.deallocate()
        maxPriority.deallocate()
        tableStart.deallocate()
        tableMask.deallocate()
        bucketStart.deallocate()
        fieldSlot.deallocate()
        fieldMask.deallocate()
        table.deallocate()
        bucketHash.deallocate()
        bucketValueStart.deallocate()
        bucketValues.deallocate()
    }

    /// One multiply per field, one full mix at the end: the per-tuple cost of a probe is
    /// mostly this, and the seed keeps the table's layout unpredictable.
    @inline(__always) static func step(_ h: UInt64, _ x: UInt64) -> UInt64 {
        let m = (h ^ x) &* 0x9E37_79B9_7F4A_7C15
        return m ^ (m >> 29)
    }

    @inline(__always) static func hash(_ values: [UInt64], seed: UInt64) -> UInt64 {
        var h = seed
        for x in values { h = step(h, x) }
        return mix64(h)
    }

    /// The best flow `key` hits. `prune`: stop at the first tuple whose highest priority is
    /// below the best hit (tss); without, every tuple is probed (hash).
    func lookup(_ key: PacketKey, prune: Bool) -> FlowHit? {
        key.values.withUnsafeBufferPointer { v in
            key.present.withUnsafeBufferPointer { p in
                withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 64) { scratch -> FlowHit? in
                    var best: FlowHit?
                    probing: for i in 0..<tupleCount {
                        if prune, let b = best, maxPriority[i] < b.priority { break }
                        let f0 = Int(fieldStart[i]), f1 = Int(fieldStart[i + 1])
                        let n = f1 - f0
                        var h = seed
                        var j = f0
                        while j < f1 {
                            let s = Int(fieldSlot[j])
                            guard p[s] else { continue probing }
                            let x = v[s] & fieldMask[j]
                            if j - f0 < 64 { scratch[j - f0] = x }
                            h = Self.step(h, x)
                            j += 1
                        }
                        h = mix64(h)
                        let mask = tableMask[i], base = tableStart[i]
                        var at = Int(truncatingIfNeeded: h) & mask
                        while true {
                            let bucket = Int(table[base + at])
                            if bucket < 0 { break }
                            if bucketHash[bucket] == h {
                                let vs = bucketValueStart[bucket]
                                var same = true
                                var k = 0
                                while k < n {
                                    let x = k < 64 ? scratch[k] : v[Int(fieldSlot[f0 + k])] & fieldMask[f0 + k]
                                    if bucketValues[vs + k] != x { same = false; break }
                                    k += 1
                                }
                                if same {
                                    let hit = bucketHit[bucket]
                                    if hit.beats(best) { best = hit }
                                    break
                                }
                            }
                            at = (at + 1) & mask
                        }
                    }
                    return best
                }
            }
        }
    }
}

/// A matcher compiled for one layout at one generation of its backend.
protocol CompiledLookup: AnyObject {
    var layout: PacketLayout { get }
    var generation: Int { get }
}

extension LinearMatcher: CompiledLookup {}
extension TupleMatcher: CompiledLookup {}

/// A backend's compiled matchers per table, rebuilt when the backend changed since (its
/// generation: every insert, delete, restore and clear counts one) or the packet's layout is
/// another one. A lookup right after a change so pays O(n) once; a run of lookups pays nothing.
final class LookupCache<Matcher: CompiledLookup> {
    private var byTable: [UInt32: Matcher] = [:]

    init() {}

    @inline(__always)
    func matcher(table: UInt32, layout: PacketLayout, generation: Int, build: () -> Matcher?) -> Matcher? {
        if let m = byTable[table], m.layout === layout, m.generation == generation { return m }
        guard let m = build() else {
            byTable[table] = nil
            return nil
        }
        byTable[table] = m
        return m
    }
}
