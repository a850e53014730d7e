// Tuple space search (Srinivasan et al. 1999; the Open vSwitch classifier): flows are grouped by
// their mask tuple, the list of (instance, header, field, mask) of their canonical MatchSet, into
// one hash table per tuple ("subtable") keyed by the masked values. A lookup masks the packet
// once per subtable and probes it: O(T · m) for T tuples of m fields, independent of the number
// of flows.
//
// Tuple and values zip back into the MatchSet's keys, so the flows under one (tuple, values) are
// those of ONE match set. Subtables and buckets are keyed by a 64-bit mix of the tuple and of the
// values, computed from the match set's keys without building either list; a bucket holds the
// flows whose values mix alike (in practice one match set; should two collide, each flow still
// carries its own), highest priority first. Flows of one match set have distinct priorities
// (same set + same priority is EEXIST), so the bucket also answers the duplicate-match check.
//
// Priority pruning (as in OVS): subtables are searched in descending order of the highest priority
// they hold, and the search stops once no remaining subtable can beat the best hit. That maximum
// is kept as an upper bound: a delete does not lower it (which would need a scan); it is
// recomputed exactly once the deletes since the last recomputation exceed half the subtable, so
// its cost is amortised O(1) per delete and a stale bound only costs pruning, never correctness.
//
// Costs (n flows in the table, T subtables, m matches per flow, k returned): insert and delete
// O(m log m + b) expected (b = flows sharing the match set, usually 1); lookup O(T · m) worst
// case, plus O(T log T) to re-sort the subtables after a change of their set or maxima;
// get-flows as the hash backend (lazy PriorityOrder).
import LibFlowTable

public final class TSSBackend: PacketClassifier, StoredFlowBackend {
    public let name = "tss"
    public let tableSizes: [UInt32: UInt32]
    private let tables: [UInt32: Storage]
    /// The table of the last call: a request names one table, and most calls name the one before.
    @exclusivity(unchecked) private var lastTable: (uid: UInt32, storage: Storage)?
    var elementScratch = NetlinkWriter(capacity: 1024)
    /// Counts every change of the stored flows: a lookup index compiled at another count is stale.
    @exclusivity(unchecked) var lookupGeneration = 0
    let lookupCache = LookupCache<TupleMatcher>()
    /// ANDed into every tuple and values mix: all ones but in the tests that make mixes collide,
    /// so that the chains of subtables and the buckets shared by several match sets are run.
    private let hashMask: UInt64

    public convenience init(tables: [UInt32: UInt32]) {
        self.init(tables: tables, hashMask: ~0)
    }

    init(tables: [UInt32: UInt32], hashMask: UInt64) {
        tableSizes = tables
        self.tables = tables.mapValues(Storage.init(size:))
        self.hashMask = hashMask
    }

    @inline(__always) private func storage(_ table: UInt32) -> Storage? {
        if let last = lastTable, last.uid == table { return last.storage }
        guard let t = tables[table] else { return nil }
        lastTable = (table, t)
        return t
    }

    /// The mix of a mask tuple, from a match set's keys (their values play no part).
    private func tupleHash(_ keys: [MatchKey]) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for k in keys {
            h = mix64(h ^ (UInt64(k.instance) << 32 | UInt64(k.header)))
            h = mix64(h ^ (UInt64(k.field) << 32 | UInt64(truncatingIfNeeded: k.mask >> 32)))
            h = mix64(h ^ k.mask)
        }
        return h & hashMask
    }

    /// The seed of a values mix, to which each masked value is added with `mixValue`.
    static let valuesSeed: UInt64 = 0x2545_F491_4F6C_DD1D
    @inline(__always) static func mixValue(_ h: UInt64, _ value: UInt64) -> UInt64 { mix64(h ^ value) }

    /// All flows whose match sets share one mask tuple.
    private final class Subtable {
        let hash: UInt64
        /// The tuple: instance, header, field and mask of each key (values 0), in MatchSet order.
        let fields: [MatchKey]
        /// Another subtable whose tuple has the same hash.
        @exclusivity(unchecked) var next: Subtable?
        /// Values hash → the flows of those values, highest priority first.
        @exclusivity(unchecked) var buckets: [UInt64: Bucket] = [:]
        @exclusivity(unchecked) var count = 0
        /// ≥ the highest priority held (an upper bound, see the file comment).
        @exclusivity(unchecked) var maxPriority: UInt32 = 0
        /// Deletes since maxPriority was last exact.
        @exclusivity(unchecked) var deletesSinceExact = 0

        init(hash: UInt64, keys: [MatchKey]) {
            self.hash = hash
            fields = keys.map {
                MatchKey(instance: $0.instance, header: $0.header, field: $0.field, value: 0, mask: $0.mask)
            }
        }

        /// Whether `keys` (a canonical match set's) have this tuple.
        func holds(_ keys: [MatchKey]) -> Bool {
            guard keys.count == fields.count else { return false }
            for (k, f) in zip(keys, fields)
            where k.instance != f.instance || k.header != f.header || k.field != f.field || k.mask != f.mask {
                return false
            }
            return true
        }

        func recomputeMax() {
            maxPriority = buckets.values.reduce(0) { max($0, $1.head?.priority ?? 0) }
            deletesSinceExact = 0
        }
    }

    /// The flows of one bucket, highest priority first. The first is kept apart so that a bucket
    /// of one flow, the usual case, allocates nothing.
    struct Bucket: Sequence {
        private(set) var head: StoredFlow?
        private(set) var rest: [StoredFlow] = []

        var isEmpty: Bool { head == nil }

        mutating func insert(_ flow: StoredFlow) {
            guard let h = head else {
                head = flow
                return
            }
            if flow.priority > h.priority {
                rest.insert(h, at: 0)
                head = flow
            } else {
                rest.insertByPriority(flow)
            }
        }

        mutating func remove(uid: UInt32) {
            if head?.uid == uid {
                head = rest.isEmpty ? nil : rest.removeFirst()
            } else {
                rest.removeAll { $0.uid == uid }
            }
        }

        struct Iterator: IteratorProtocol {
            var head: StoredFlow?
            var rest: IndexingIterator<[StoredFlow]>

            mutating func next() -> StoredFlow? {
                if let h = head {
                    head = nil
                    return h
                }
                return rest.next()
            }
        }

        func makeIterator() -> Iterator { Iterator(head: head, rest: rest.makeIterator()) }
    }

    /// A stored flow and where it lives, so delete finds its bucket without recomputing anything.
    private struct Entry {
        var stored: StoredFlow
        var subtable: Subtable
        var valuesHash: UInt64
    }

    private final class Storage {
        let size: UInt32
        @exclusivity(unchecked) var byUID: [UInt32: Entry] = [:]
        /// Tuple hash → subtable (others of the same hash chained by `next`).
        @exclusivity(unchecked) var subtables: [UInt64: Subtable] = [:]
        @exclusivity(unchecked) var subtableCount = 0
        /// Subtables by descending maxPriority; nil when it must be rebuilt.
        @exclusivity(unchecked) var searchOrder: [Subtable]?
        @exclusivity(unchecked) var order = PriorityOrder()
        /// Reused per lookup so probing does not allocate a key per subtable.
        @exclusivity(unchecked) var scratch: [UInt64] = []

        init(size: UInt32) { self.size = size }

        /// The subtable of the tuple of `keys` (whose tuple mixes to `hash`).
        func subtable(_ hash: UInt64, _ keys: [MatchKey]) -> Subtable? {
            var s = subtables[hash]
            while let c = s, !c.holds(keys) { s = c.next }
            return s
        }

        func link(_ s: Subtable) {
            s.next = subtables.updateValue(s, forKey: s.hash)
            subtableCount += 1
            searchOrder = nil
        }

        func unlink(_ s: Subtable) {
            guard let head = subtables[s.hash] else { return }
            if head === s {
                subtables[s.hash] = s.next
            } else {
                var p = head
                while let n = p.next, n !== s { p = n }
                p.next = s.next
            }
            s.next = nil
            subtableCount -= 1
            searchOrder = nil
        }

        var all: [Subtable] {
            var out: [Subtable] = []
            out.reserveCapacity(subtableCount)
            for head in subtables.values {
                var s: Subtable? = head
                while let c = s {
                    out.append(c)
                    s = c.next
                }
            }
            return out
        }
    }

    /// The values mix of a canonical match set's keys.
    @inline(__always) private func valuesHash(_ keys: [MatchKey]) -> UInt64 {
        var h = Self.valuesSeed
        for k in keys { h = Self.mixValue(h, k.value) }
        return h & hashMask
    }

    /// Where a flow of `set` would go, once the contract's checks (in its order) passed.
    private struct Placement {
        let storage: Storage
        let tupleHash: UInt64
        let valuesHash: UInt64
        let subtable: Subtable?
    }

    private func place(_ table: UInt32, uid: UInt32, priority: UInt32, _ set: MatchSet) -> Result<
        Placement, BackendError
    > {
        guard let t = storage(table) else { return .failure(.noSuchEntry) }
        if t.byUID[uid] != nil { return .failure(.exists) }
        let keys = set.keys
        let th = tupleHash(keys), vh = valuesHash(keys)
        let sub = t.subtable(th, keys)
        if let bucket = sub?.buckets[vh], bucket.contains(where: { $0.priority == priority && $0.matchSet == set }) {
            return .failure(.exists)
        }
        guard FlowBackendTables.hasRoom(size: t.size, count: t.byUID.count) else { return .failure(.noSpace) }
        return .success(Placement(storage: t, tupleHash: th, valuesHash: vh, subtable: sub))
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        let set = MatchSet(flow.matches ?? [])
        return place(flow.table, uid: flow.uid, priority: flow.priority, set).map {
            add(StoredFlow(flow, matchSet: set), $0)
        }
    }

    public func insert(_ view: FlowView) -> Bool {
        let set = view.matchSet
        guard case .success(let p) = place(view.table, uid: view.uid, priority: view.priority, set) else {
            return false
        }
        add(StoredFlow(view, matchSet: set), p)
        return true
    }

    /// Stores `flow` where `p` says (checked: it may be stored).
    private func add(_ flow: StoredFlow, _ p: Placement) {
        lookupGeneration &+= 1
        let t = p.storage
        let s: Subtable
        if let sub = p.subtable {
            s = sub
        } else {
            s = Subtable(hash: p.tupleHash, keys: flow.matchSet.keys)
            s.maxPriority = flow.priority
            t.link(s)
        }
        // In place: the bucket is not copied out and back.
        s.buckets[p.valuesHash, default: Bucket()].insert(flow)
        s.count += 1
        if flow.priority > s.maxPriority {
            s.maxPriority = flow.priority
            t.searchOrder = nil
        }
        t.byUID[flow.uid] = Entry(stored: flow, subtable: s, valuesHash: p.valuesHash)
        t.order.inserted(priority: flow.priority, uid: flow.uid)
    }

    public func remove(table: UInt32, uid: UInt32) -> RemovedFlow? {
        guard let t = storage(table), let e = t.byUID.removeValue(forKey: uid) else { return nil }
        lookupGeneration &+= 1
        t.order.deleted(priority: e.stored.priority, uid: uid)
        let s = e.subtable
        if let i = s.buckets.index(forKey: e.valuesHash) {
            s.buckets.values[i].remove(uid: uid)
            if s.buckets.values[i].isEmpty { s.buckets.remove(at: i) }
        }
        s.count -= 1
        if s.count == 0 {
            t.unlink(s)
        } else {
            s.deletesSinceExact += 1
            if s.deletesSinceExact * 2 > s.count {
                s.recomputeMax()
                t.searchOrder = nil
            }
        }
        return RemovedFlow(table: table, kept: .stored(e.stored))
    }

    public func restore(_ removed: RemovedFlow) {
        guard let t = storage(removed.table), case .stored(let flow) = removed.kept else { return }
        let keys = flow.matchSet.keys
        let th = tupleHash(keys)
        add(
            flow,
            Placement(storage: t, tupleHash: th, valuesHash: valuesHash(keys), subtable: t.subtable(th, keys)))
    }

    /// The stored flows `flows(selector)` gives, in its order; false for an unknown table.
    func stored(_ selector: FlowSelector, _ body: (StoredFlow) -> Void) -> Bool {
        guard let t = storage(selector.table) else { return false }
        t.order.forEach(
            selector,
            keys: { each in
                for e in t.byUID.values {
                    each(PriorityOrder.key(priority: e.stored.priority, uid: e.stored.uid))
                }
            }
        ) { uid in
            if let e = t.byUID[uid] { body(e.stored) }
        }
        return true
    }

    public func count(table: UInt32) -> Int? { tables[table]?.byUID.count }

    public func removeAll() {
        lookupGeneration &+= 1
        for t in tables.values {
            t.byUID.removeAll(keepingCapacity: true)
            t.subtables.removeAll()
            t.subtableCount = 0
            t.searchOrder = nil
            t.order.removeAll()
        }
    }

    /// Number of subtables (distinct mask tuples) in `table`: the T of the lookup cost.
    public func tupleCount(table: UInt32) -> Int? { tables[table]?.subtableCount }

    /// Tuple space search on a PacketKey: the subtables, compiled once per change into flat
    /// probe tables over the key's slots, searched by descending highest priority with early stop.
    public func lookup(table: UInt32, key: PacketKey) -> FlowHit? {
        lookupCache.matcher(table: table, layout: key.layout, generation: lookupGeneration) {
            guard let t = tables[table] else { return nil }
            let groups = t.all.map { s in
                var buckets: [(values: [UInt64], best: FlowHit)] = []
                buckets.reserveCapacity(s.buckets.count)
                func add(_ f: StoredFlow) {
                    let keys = f.matchSet.keys
                    let values = [UInt64](unsafeUninitializedCapacity: keys.count) { out, n in
                        for (i, k) in keys.enumerated() { out[i] = k.value }
                        n = keys.count
                    }
                    buckets.append((values, FlowHit(table: table, uid: f.uid, priority: f.priority)))
                }
                for bucket in s.buckets.values {
                    guard let head = bucket.head else { continue }
                    // The first flow of each match set in the bucket is its best; another set is
                    // there only when two sets' values mix alike.
                    add(head)
                    guard !bucket.rest.isEmpty else { continue }
                    var sets = [head.matchSet]
                    for f in bucket.rest where !sets.contains(f.matchSet) {
                        sets.append(f.matchSet)
                        add(f)
                    }
                }
                return TupleMatcher.Group(fields: s.fields, buckets: buckets)
            }
            return TupleMatcher(layout: key.layout, generation: lookupGeneration, groups: groups)
        }?.lookup(key, prune: true)
    }

    public func lookup(table: UInt32, packet: PacketFields) -> Flow? {
        guard let t = tables[table] else { return nil }
        let order: [Subtable]
        if let cached = t.searchOrder {
            order = cached
        } else {
            order = t.all.sorted { $0.maxPriority > $1.maxPriority }
            t.searchOrder = order
        }
        var best: StoredFlow?
        probing: for s in order {
            // Sorted by maxPriority: nothing further on can beat best (equal priority still can,
            // through a lower uid).
            if let best, s.maxPriority < best.priority { break }
            t.scratch.removeAll(keepingCapacity: true)
            var h = Self.valuesSeed
            for f in s.fields {
                // A packet without the field cannot match any flow of this tuple.
                guard let v = packet.values[PacketFields.Key(f)] else { continue probing }
                t.scratch.append(v & f.mask)
                h = Self.mixValue(h, v & f.mask)
            }
            guard let bucket = s.buckets[h & hashMask] else { continue }
            // The bucket's first flow of these values (another match set's may share the hash).
            for hit in bucket where hit.matchSet.keys.elementsEqual(t.scratch, by: { $0.value == $1 }) {
                if beats(priority: hit.priority, uid: hit.uid, best) { best = hit }
                break
            }
        }
        return best?.flow
    }
}

extension Array where Element == StoredFlow {
    /// Inserts `flow` before the first of lower priority (a bucket is highest priority first).
    mutating func insertByPriority(_ flow: StoredFlow) {
        insert(flow, at: firstIndex(where: { $0.priority < flow.priority }) ?? endIndex)
    }
}
