// Tuple space search (Srinivasan et al. 1999; the Open vSwitch classifier): flows are grouped by
// their mask tuple, the list of (instance, header, field, mask) of their canonical MatchSet, into
// one hash table per tuple ("subtable") keyed by the masked values. A lookup masks the packet
// once per subtable and probes it: O(T · m) for T tuples of m fields, independent of the number
// of flows.
//
// A subtable bucket (one tuple, one list of values) holds exactly the flows of ONE match set:
// tuple and values zip back into the MatchSet's keys. Flows of one match set have distinct
// priorities (same set + same priority is EEXIST), so a bucket is a short list sorted by priority,
// highest first, and the bucket also answers the duplicate-match check.
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
    private var tables: [UInt32: Storage]
    var elementScratch = NetlinkWriter(capacity: 1024)
    /// Counts every change of the stored flows: a lookup index compiled at another count is stale.
    @exclusivity(unchecked) var lookupGeneration = 0
    let lookupCache = LookupCache<TupleMatcher>()

    public init(tables: [UInt32: UInt32]) {
        tableSizes = tables
        self.tables = tables.mapValues(Storage.init(size:))
    }

    /// One element of a mask tuple.
    struct TupleField: Hashable {
        var key: PacketFields.Key
        var mask: UInt64
    }

    /// A dictionary key of several elements (a tuple, a list of masked values), hashed once when
    /// made: a probe then hashes one word instead of every element through Hasher, which was
    /// most of the cost of an insert or delete.
    struct HashedKey<Element: Hashable>: Hashable {
        let elements: [Element]
        let hash: Int

        init(_ elements: [Element]) {
            self.elements = elements
            var h = Hasher()
            for e in elements { h.combine(e) }
            hash = h.finalize()
        }

        static func == (a: Self, b: Self) -> Bool { a.hash == b.hash && a.elements == b.elements }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }
    typealias Tuple = HashedKey<TupleField>
    typealias Values = HashedKey<UInt64>

    /// All flows whose match sets share one mask tuple.
    private final class Subtable {
        let tuple: Tuple
        /// Masked values → the flows of that match set, highest priority first.
        var buckets: [Values: [StoredFlow]] = [:]
        var count = 0
        /// ≥ the highest priority held (an upper bound, see the file comment).
        var maxPriority: UInt32 = 0
        /// Deletes since maxPriority was last exact.
        var deletesSinceExact = 0

        init(tuple: Tuple) { self.tuple = tuple }

        func recomputeMax() {
            maxPriority = buckets.values.reduce(0) { max($0, $1.first?.priority ?? 0) }
            deletesSinceExact = 0
        }
    }

    /// Where a stored flow lives, so delete finds its bucket without recomputing the MatchSet.
    private struct Location {
        var stored: StoredFlow
        var tuple: Tuple
        var values: Values
    }

    private final class Storage {
        let size: UInt32
        var byUID: [UInt32: Location] = [:]
        var subtables: [Tuple: Subtable] = [:]
        /// Subtables by descending maxPriority; nil when it must be rebuilt.
        var searchOrder: [Subtable]?
        var order = PriorityOrder()
        /// Reused per lookup so probing does not allocate a key per subtable.
        var scratch: [UInt64] = []

        init(size: UInt32) { self.size = size }
    }

    /// The tuple and the values of a canonical match set.
    private static func split(_ set: MatchSet) -> (tuple: Tuple, values: Values) {
        let keys = set.keys
        return (Tuple(keys.map { TupleField(key: PacketFields.Key($0), mask: $0.mask) }), Values(keys.map(\.value)))
    }

    /// Where a flow of `set` would go, once the contract's checks (in its order) passed.
    private struct Placement {
        let storage: Storage
        let tuple: Tuple
        let values: Values
        let subtable: Subtable?
    }

    private func place(_ table: UInt32, uid: UInt32, priority: UInt32, _ set: MatchSet) -> Result<
        Placement, BackendError
    > {
        guard let t = tables[table] else { return .failure(.noSuchEntry) }
        if t.byUID[uid] != nil { return .failure(.exists) }
        let (tuple, values) = Self.split(set)
        let sub = t.subtables[tuple]
        if let bucket = sub?.buckets[values], bucket.contains(where: { $0.priority == priority }) {
            return .failure(.exists)
        }
        guard FlowBackendTables.hasRoom(size: t.size, count: t.byUID.count) else { return .failure(.noSpace) }
        return .success(Placement(storage: t, tuple: tuple, values: values, subtable: sub))
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
            s = Subtable(tuple: p.tuple)
            s.maxPriority = flow.priority
            t.subtables[p.tuple] = s
            t.searchOrder = nil
        }
        // In place: the bucket is not copied out and back.
        s.buckets[p.values, default: []].insertByPriority(flow)
        s.count += 1
        if flow.priority > s.maxPriority {
            s.maxPriority = flow.priority
            t.searchOrder = nil
        }
        t.byUID[flow.uid] = Location(stored: flow, tuple: p.tuple, values: p.values)
        t.order.inserted(priority: flow.priority, uid: flow.uid)
    }

    public func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> {
        guard let removed = remove(table: table, uid: uid), case .stored(let s) = removed.kept else {
            return .failure(.noSuchEntry)
        }
        return .success(s.flow)
    }

    public func remove(table: UInt32, uid: UInt32) -> RemovedFlow? {
        guard let t = tables[table], let loc = t.byUID.removeValue(forKey: uid) else { return nil }
        lookupGeneration &+= 1
        t.order.deleted(priority: loc.stored.priority, uid: uid)
        let removed = RemovedFlow(table: table, kept: .stored(loc.stored))
        // byUID and the subtables are kept in step, so the subtable and bucket exist; if they did
        // not, the uid is still gone from the table's index, which is the delete's meaning.
        guard let s = t.subtables[loc.tuple] else { return removed }
        if let i = s.buckets.index(forKey: loc.values) {
            s.buckets.values[i].removeAll { $0.uid == uid }
            if s.buckets.values[i].isEmpty { s.buckets.remove(at: i) }
        }
        s.count -= 1
        if s.count == 0 {
            t.subtables[loc.tuple] = nil
            t.searchOrder = nil
        } else {
            s.deletesSinceExact += 1
            if s.deletesSinceExact * 2 > s.count {
                s.recomputeMax()
                t.searchOrder = nil
            }
        }
        return removed
    }

    public func restore(_ removed: RemovedFlow) {
        guard let t = tables[removed.table], case .stored(let flow) = removed.kept else { return }
        let (tuple, values) = Self.split(flow.matchSet)
        add(flow, Placement(storage: t, tuple: tuple, values: values, subtable: t.subtables[tuple]))
    }

    /// The stored flows `flows(selector)` gives, in its order; false for an unknown table.
    func stored(_ selector: FlowSelector, _ body: (StoredFlow) -> Void) -> Bool {
        guard let t = tables[selector.table] else { return false }
        t.order.forEach(
            selector,
            keys: { each in
                for loc in t.byUID.values {
                    each(PriorityOrder.key(priority: loc.stored.priority, uid: loc.stored.uid))
                }
            }
        ) { uid in
            if let loc = t.byUID[uid] { body(loc.stored) }
        }
        return true
    }

    public func count(table: UInt32) -> Int? { tables[table]?.byUID.count }

    public func removeAll() {
        lookupGeneration &+= 1
        for t in tables.values {
            t.byUID.removeAll(keepingCapacity: true)
            t.subtables.removeAll()
            t.searchOrder = nil
            t.order.removeAll()
        }
    }

    /// Number of subtables (distinct mask tuples) in `table`: the T of the lookup cost.
    public func tupleCount(table: UInt32) -> Int? { tables[table]?.subtables.count }

    /// Tuple space search on a PacketKey: the subtables, compiled once per change into flat
    /// probe tables over the key's slots, searched by descending highest priority with early stop.
    public func lookup(table: UInt32, key: PacketKey) -> FlowHit? {
        lookupCache.matcher(table: table, layout: key.layout, generation: lookupGeneration) {
            guard let t = tables[table] else { return nil }
            let groups = t.subtables.values.map { s in
                TupleMatcher.Group(
                    fields: s.tuple.elements.map {
                        MatchKey(
                            instance: $0.key.instance, header: $0.key.header, field: $0.key.field, value: 0,
                            mask: $0.mask)
                    },
                    buckets: s.buckets.compactMap { values, flows in
                        flows.first.map { (values.elements, FlowHit(table: table, uid: $0.uid, priority: $0.priority)) }
                    })
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
            order = t.subtables.values.sorted { $0.maxPriority > $1.maxPriority }
            t.searchOrder = order
        }
        var best: StoredFlow?
        probing: for s in order {
            // Sorted by maxPriority: nothing further on can beat best (equal priority still can,
            // through a lower uid).
            if let best, s.maxPriority < best.priority { break }
            t.scratch.removeAll(keepingCapacity: true)
            for f in s.tuple.elements {
                // A packet without the field cannot match any flow of this tuple.
                guard let v = packet.values[f.key] else { continue probing }
                t.scratch.append(v & f.mask)
            }
            if let hit = s.buckets[Values(t.scratch)]?.first, beats(priority: hit.priority, uid: hit.uid, best) {
                best = hit
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
