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

    /// Words of a PacketKey's presence bits (at least one).
    public var presenceWords: Int { max(1, (keys.count + 63) / 64) }

    /// Presence bits with the bits of `slots` set: what a matcher requires of a packet.
    func presenceBits(_ slots: some Sequence<Int32>) -> [UInt64] {
        var bits = [UInt64](repeating: 0, count: presenceWords)
        for s in slots { bits[Int(s) >> 6] |= 1 << UInt64(s & 63) }
        return bits
    }
}

/// A packet in a layout: per slot a value and whether the packet has that field. A flow that
/// matches a field the packet lacks does not match (spec/backend-contract.md §4).
public struct PacketKey {
    public let layout: PacketLayout
    /// Per slot its value (0 when absent).
    public private(set) var values: [UInt64]
    /// Which slots the packet has: bit `s % 64` of word `s / 64`. Bits, so a matcher checks that
    /// all the fields of a mask tuple are present with one AND per 64 slots instead of one test
    /// per field.
    public private(set) var presence: [UInt64]

    /// A packet with no fields.
    public init(layout: PacketLayout) {
        self.layout = layout
        values = [UInt64](repeating: 0, count: layout.count)
        presence = [UInt64](repeating: 0, count: layout.presenceWords)
    }

    /// The fields of `fields` the layout has (the others no flow could be matched against).
    public init(_ fields: PacketFields, layout: PacketLayout) {
        self.init(layout: layout)
        for (k, v) in fields.values { self[k] = v }
    }

    /// Whether the packet has the field of `slot`.
    @inline(__always) public func has(slot: Int) -> Bool { presence[slot >> 6] & (1 << UInt64(slot & 63)) != 0 }

    /// A field's value; nil when absent. Setting a field the layout lacks does nothing.
    public subscript(key: PacketFields.Key) -> UInt64? {
        get {
            guard let s = layout.slot(key), has(slot: s) else { return nil }
            return values[s]
        }
        set {
            guard let s = layout.slot(key) else { return }
            values[s] = newValue ?? 0
            let bit: UInt64 = 1 << UInt64(s & 63)
            if newValue != nil { presence[s >> 6] |= bit } else { presence[s >> 6] &= ~bit }
        }
    }

    /// The same packet as PacketFields.
    public var fields: PacketFields {
        var out: [PacketFields.Key: UInt64] = [:]
        for (i, k) in layout.keys.enumerated() where has(slot: i) { out[k] = values[i] }
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

/// Flows compiled against one layout for a scan: per entry the presence bits its fields need and
/// its (slot, mask, value) triples in flat buffers. The dummy scans every entry for the best; the
/// tcam takes the first match of its slot order.
final class LinearMatcher {
    let layout: PacketLayout
    let generation: Int
    private let count: Int
    private let words: Int
    private let starts: UnsafeMutableBufferPointer<Int32>
    private let need: UnsafeMutableBufferPointer<UInt64>
    private let slots: UnsafeMutableBufferPointer<Int32>
    private let masks: UnsafeMutableBufferPointer<UInt64>
    private let values: UnsafeMutableBufferPointer<UInt64>
    private let hits: [FlowHit]

    /// `entries` in the order a scan visits them; an entry naming a field the layout lacks can
    /// never match and is left out.
    init(layout: PacketLayout, generation: Int, entries: [(hit: FlowHit, keys: [MatchKey])]) {
        self.layout = layout
        self.generation = generation
        words = layout.presenceWords
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
        need = .allocate(capacity: max(count * words, 1))
        slots = .allocate(capacity: max(total, 1))
        masks = .allocate(capacity: max(total, 1))
        values = .allocate(capacity: max(total, 1))
        var at = 0
        for (i, e) in kept.enumerated() {
            starts[i] = Int32(at)
            for (w, bits) in layout.presenceBits(e.1.map(\.0)).enumerated() { need[i * words + w] = bits }
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
        need.deallocate()
        slots.deallocate()
        masks.deallocate()
        values.deallocate()
    }

    @inline(__always) private func matches(_ i: Int, _ v: UnsafeBufferPointer<UInt64>, _ p: UnsafeBufferPointer<UInt64>)
        -> Bool
    {
        for w in 0..<words where need[i * words + w] & ~p[w] != 0 { return false }
        var j = Int(starts[i])
        let end = Int(starts[i + 1])
        while j < end {
            if v[Int(slots[j])] & masks[j] != values[j] { return false }
            j += 1
        }
        return true
    }

    /// The first entry that matches (a TCAM's answer).
    func first(_ key: PacketKey) -> FlowHit? {
        key.values.withUnsafeBufferPointer { v in
            key.presence.withUnsafeBufferPointer { p in
                for i in 0..<count where matches(i, v, p) { return hits[i] }
                return nil
            }
        }
    }

    /// The best of all entries that match (the reference: no order assumed).
    func best(_ key: PacketKey) -> FlowHit? {
        key.values.withUnsafeBufferPointer { v in
            key.presence.withUnsafeBufferPointer { p in
                var best: FlowHit?
                for i in 0..<count where hits[i].beats(best) && matches(i, v, p) { best = hits[i] }
                return best
            }
        }
    }
}

/// Tuple space search compiled against one layout, staged as Open vSwitch's classifier is
/// (Pfaff et al., NSDI 2015): per mask tuple its fields in layout order, split into stages at
/// each change of header instance (metadata, L2, L3, L4 in a usual model), and an
/// open-addressing table of the full masked values (linear probing), each bucket holding the
/// best flow of that match. Between two stages a filter (a bitmap over the hash of the
/// values so far: no false "no") says whether any flow of the tuple has them, so a packet that
/// misses a tuple is usually turned away after its first fields, without hashing the rest or
/// probing. A tuple whose fields the packet lacks is skipped before any hashing (presence bits).
/// Tuples are kept by descending highest priority, so a search with pruning stops once no later
/// tuple can beat the best hit.
final class TupleMatcher {
    struct Group {
        var fields: [MatchKey]  // the tuple: instance/header/field and mask (value unused)
        var buckets: [(values: [UInt64], best: FlowHit)]
    }

    /// One tuple's fixed data, read once per probe.
    struct Tuple {
        var fieldStart: Int32
        var fieldEnd: Int32
        var maxPriority: UInt32
        var tableMask: UInt32
        var tableStart: Int
    }

    /// One field of a tuple: where it is in the key, its mask, and the filter to check once it
    /// is hashed in (-1: none, not the end of a stage or a stage that cannot narrow).
    struct FieldOp {
        var mask: UInt64
        var slot: Int32
        var filter: Int32
    }

    /// A stage filter: `1 << bits` bits at word `base` of the bitmap, indexed by the top `bits`
    /// bits of the running hash.
    struct Filter {
        var base: Int
        var shift: UInt64
    }

    let layout: PacketLayout
    let generation: Int
    /// Tuples the layout can serve (a tuple naming a field the layout lacks never matches).
    let tupleCount: Int
    /// Stage filters built (tests read it: the staged path must be exercised).
    let filterCount: Int
    private let seed: UInt64
    private let multiplier: UInt64
    private let words: Int
    private let tuples: UnsafeMutableBufferPointer<Tuple>
    /// Per tuple, `words` words: the presence bits its fields need.
    private let need: UnsafeMutableBufferPointer<UInt64>
    private let ops: UnsafeMutableBufferPointer<FieldOp>
    private let filters: UnsafeMutableBufferPointer<Filter>
    private let bitmap: UnsafeMutableBufferPointer<UInt64>
    /// All tuples' probe tables back to back: the top 32 bits of the bucket's hash, then its
    /// number (global) + 1; 0 is empty. The tag turns most collisions away without touching
    /// the bucket.
    private let table: UnsafeMutableBufferPointer<UInt64>
    // Per bucket (global numbering): its values (stride = the tuple's field count, at
    // valueStart, in the tuple's field order) and its best flow.
    private let bucketValueStart: UnsafeMutableBufferPointer<Int>
    private let bucketValues: UnsafeMutableBufferPointer<UInt64>
    private let bucketHit: UnsafeMutableBufferPointer<FlowHit>

    /// Bits per distinct stage value in a filter: a miss passes a filter with probability ~1/16.
    static let filterBitsPerValue = 16

    init(layout: PacketLayout, generation: Int, groups: [Group]) {
        self.layout = layout
        self.generation = generation
        seed = UInt64.random(in: .min ... .max)
        multiplier = UInt64.random(in: .min ... .max) | 1
        words = layout.presenceWords
        // Per usable group: its fields in layout order (slot, mask, instance), the permutation
        // that puts a bucket's values in that order, and its highest priority.
        typealias Field = (slot: Int32, mask: UInt64, instance: UInt32)
        var usable: [(fields: [Field], order: [Int], group: Group, max: UInt32)] = []
        outer: for g in groups where !g.buckets.isEmpty {
            var fields: [Field] = []
            for f in g.fields {
                guard let slot = layout.slot(PacketFields.Key(f)) else { continue outer }
                fields.append((Int32(slot), f.mask, f.instance))
            }
            let order = fields.indices.sorted { fields[$0].slot < fields[$1].slot }
            usable.append((order.map { fields[$0] }, order, g, g.buckets.map(\.best.priority).max() ?? 0))
        }
        usable.sort { $0.max > $1.max }
        tupleCount = usable.count
        let nFields = usable.reduce(0) { $0 + $1.fields.count }
        let nBuckets = usable.reduce(0) { $0 + $1.group.buckets.count }
        let nValues = usable.reduce(0) { $0 + $1.fields.count * $1.group.buckets.count }
        func capacity(_ n: Int) -> Int {
            var c = 4
            while c < n * 2 { c <<= 1 }
            return c
        }
        let nTable = usable.reduce(0) { $0 + capacity($1.group.buckets.count) }
        tuples = .allocate(capacity: max(tupleCount, 1))
        need = .allocate(capacity: max(tupleCount * words, 1))
        ops = .allocate(capacity: max(nFields, 1))
        table = .allocate(capacity: max(nTable, 1))
        table.initialize(repeating: 0)
        bucketValueStart = .allocate(capacity: max(nBuckets, 1))
        bucketValues = .allocate(capacity: max(nValues, 1))
        bucketHit = .allocate(capacity: max(nBuckets, 1))
        var filterList: [Filter] = []
        var bits: [UInt64] = []
        var f = 0, t = 0, b = 0, v = 0
        for (i, u) in usable.enumerated() {
            let n = u.fields.count
            let cap = capacity(u.group.buckets.count)
            tuples[i] = Tuple(
                fieldStart: Int32(f), fieldEnd: Int32(f + n), maxPriority: u.max, tableMask: UInt32(cap - 1),
                tableStart: t)
            for (w, x) in layout.presenceBits(u.fields.map(\.slot)).enumerated() { need[i * words + w] = x }
            for (k, field) in u.fields.enumerated() {
                ops[f + k] = FieldOp(mask: field.mask, slot: field.slot, filter: -1)
            }
            // The running hash of every bucket, field by field; at each stage end a filter of
            // the distinct values so far, when there is more than one (a single value cannot
            // turn a packet of the right headers away often enough to pay for the check).
            let values = u.group.buckets.map { bucket in u.order.map { bucket.values[$0] } }
            var running = [UInt64](repeating: seed, count: values.count)
            for k in 0..<n {
                for r in running.indices { running[r] = Self.step(running[r], values[r][k], multiplier) }
                guard k + 1 < n, u.fields[k + 1].instance != u.fields[k].instance else { continue }
                let distinct = Set(running)
                guard distinct.count > 1 else { continue }
                var log2 = 6
                while 1 << log2 < distinct.count * Self.filterBitsPerValue { log2 += 1 }
                let filter = Filter(base: bits.count, shift: UInt64(64 - log2))
                bits.append(contentsOf: repeatElement(0, count: (1 << log2) / 64))
                for h in distinct {
                    let bit = Int(h >> filter.shift)
                    bits[filter.base + bit >> 6] |= 1 << UInt64(bit & 63)
                }
                ops[f + k].filter = Int32(filterList.count)
                filterList.append(filter)
            }
            for (r, bucket) in u.group.buckets.enumerated() {
                bucketValueStart[b] = v
                for x in values[r] {
                    bucketValues[v] = x
                    v += 1
                }
                let h = mix64(running[r])
                var at = Int(truncatingIfNeeded: h) & (cap - 1)
                while table[t + at] != 0 { at = (at + 1) & (cap - 1) }
                table[t + at] = h & 0xFFFF_FFFF_0000_0000 | UInt64(b + 1)
                bucketHit[b] = bucket.best
                b += 1
            }
            f += n
            t += cap
        }
        filterCount = filterList.count
        filters = .allocate(capacity: max(filterList.count, 1))
        _ = filters.initialize(from: filterList)
        bitmap = .allocate(capacity: max(bits.count, 1))
        _ = bitmap.initialize(from: bits)
    }

    deinit {
        tuples.deallocate()
        need.deallocate()
        ops.deallocate()
        filters.deallocate()
        bitmap.deallocate()
        table.deallocate()
        bucketValueStart.deallocate()
        bucketValues.deallocate()
        bucketHit.deallocate()
    }

    /// One field into the running hash: an odd multiplier (a bijection, so no two value lists
    /// of a tuple are merged before the end) whose top bits index the stage filters; the table
    /// index takes a full mix of the last.
    @inline(__always) static func step(_ h: UInt64, _ x: UInt64, _ multiplier: UInt64) -> UInt64 {
        (h ^ x) &* multiplier
    }

    /// The best flow `key` hits. `prune`: stop at the first tuple whose highest priority is
    /// below the best hit (tss); without, every tuple is probed (hash).
    func lookup(_ key: PacketKey, prune: Bool) -> FlowHit? {
        key.values.withUnsafeBufferPointer { v in
            key.presence.withUnsafeBufferPointer { p in
                let tuples = self.tuples, need = self.need, ops = self.ops, filters = self.filters
                let bitmap = self.bitmap, table = self.table, words = self.words
                let seed = self.seed, multiplier = self.multiplier
                var best = -1
                var bestPriority: UInt32 = 0
                probing: for i in 0..<tupleCount {
                    let tuple = tuples[i]
                    if prune, best >= 0, tuple.maxPriority < bestPriority { break }
                    var w = 0
                    while w < words {
                        if need[i &* words &+ w] & ~p[w] != 0 { continue probing }
                        w &+= 1
                    }
                    var h = seed
                    var j = Int(tuple.fieldStart)
                    let end = Int(tuple.fieldEnd)
                    while j < end {
                        let op = ops[j]
                        h = Self.step(h, v[Int(op.slot)] & op.mask, multiplier)
                        if op.filter >= 0 {
                            let filter = filters[Int(op.filter)]
                            let bit = Int(truncatingIfNeeded: h >> filter.shift)
                            if bitmap[filter.base &+ bit >> 6] & (1 << UInt64(bit & 63)) == 0 { continue probing }
                        }
                        j &+= 1
                    }
                    h = mix64(h)
                    let tag = h & 0xFFFF_FFFF_0000_0000
                    let mask = Int(tuple.tableMask)
                    var at = Int(truncatingIfNeeded: h) & mask
                    while true {
                        let entry = table[tuple.tableStart &+ at]
                        if entry == 0 { break }
                        if entry & 0xFFFF_FFFF_0000_0000 == tag {
                            let bucket = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) &- 1
                            if same(bucket, tuple, v) {
                                let hit = bucketHit[bucket]
                                if best < 0 || hit.beats(bucketHit[best]) {
                                    best = bucket
                                    bestPriority = hit.priority
                                }
                                break
                            }
                        }
                        at = (at &+ 1) & mask
                    }
                }
                return best < 0 ? nil : bucketHit[best]
            }
        }
    }

    /// Whether `bucket` holds the packet's masked values of `tuple`.
    @inline(__always) private func same(_ bucket: Int, _ tuple: Tuple, _ v: UnsafeBufferPointer<UInt64>) -> Bool {
        var at = bucketValueStart[bucket]
        var j = Int(tuple.fieldStart)
        while j < Int(tuple.fieldEnd) {
            let op = ops[j]
            if bucketValues[at] != v[Int(op.slot)] & op.mask { return false }
            at &+= 1
            j &+= 1
        }
        return true
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
    /// The table asked last and its matcher: a run of lookups in one table skips hashing the
    /// table number into the dictionary.
    private var lastTable: UInt32 = 0
    private var last: Matcher?

    init() {}

    @inline(__always)
    func matcher(table: UInt32, layout: PacketLayout, generation: Int, build: () -> Matcher?) -> Matcher? {
        if let m = last, lastTable == table, m.layout === layout, m.generation == generation { return m }
        if let m = byTable[table], m.layout === layout, m.generation == generation {
            remember(table, m)
            return m
        }
        let m = build()
        byTable[table] = m
        remember(table, m)
        return m
    }

    private func remember(_ table: UInt32, _ m: Matcher?) {
        lastTable = table
        last = m
    }
}
