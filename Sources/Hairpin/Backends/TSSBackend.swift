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

public final class TSSBackend: PacketClassifier {
    public let name = "tss"
    public let tableSizes: [UInt32: UInt32]
    private var tables: [UInt32: Storage]

    public init(tables: [UInt32: UInt32]) {
        tableSizes = tables
        self.tables = tables.mapValues(Storage.init(size:))
    }

    /// One element of a mask tuple.
    struct TupleField: Hashable {
        var key: PacketFields.Key
        var mask: UInt64
    }

    /// All flows whose match sets share one mask tuple.
    private final class Subtable {
        let tuple: [TupleField]
        /// Masked values → the flows of that match set, highest priority first.
        var buckets: [[UInt64]: [StoredFlow]] = [:]
        var count = 0
        /// ≥ the highest priority held (an upper bound, see the file comment).
        var maxPriority: UInt32 = 0
        /// Deletes since maxPriority was last exact.
        var deletesSinceExact = 0

        init(tuple: [TupleField]) { self.tuple = tuple }

        func recomputeMax() {
            maxPriority = buckets.values.reduce(0) { max($0, $1.first?.priority ?? 0) }
            deletesSinceExact = 0
        }
    }

    /// Where a stored flow lives, so delete finds its bucket without recomputing the MatchSet.
    private struct Location {
        var stored: StoredFlow
        var tuple: [TupleField]
        var values: [UInt64]
    }

    private final class Storage {
        let size: UInt32
        var byUID: [UInt32: Location] = [:]
        var subtables: [[TupleField]: Subtable] = [:]
        /// Subtables by descending maxPriority; nil when it must be rebuilt.
        var searchOrder: [Subtable]?
        var order = PriorityOrder()
        /// Reused per lookup so probing does not allocate a key per subtable.
        var scratch: [UInt64] = []

        init(size: UInt32) { self.size = size }
    }

    /// The tuple and the values of a canonical match set.
    private static func split(_ set: MatchSet) -> (tuple: [TupleField], values: [UInt64]) {
        let keys = set.keys
        return (keys.map { TupleField(key: PacketFields.Key($0), mask: $0.mask) }, keys.map(\.value))
    }

    /// The contract's checks in its order for a flow of `set` (split into tuple and values);
    /// nil when it may be stored.
    private func refusal(_ table: UInt32, uid: UInt32, priority: UInt32, tuple: [TupleField],
                         values: [UInt64]) -> (Storage?, BackendError?) {
        guard let t = tables[table] else { return (nil, .noSuchEntry) }
        if t.byUID[uid] != nil { return (t, .exists) }
        if let bucket = t.subtables[tuple]?.buckets[values], bucket.contains(where: { $0.priority == priority }) {
            return (t, .exists)
        }
        guard FlowBackendTables.hasRoom(size: t.size, count: t.byUID.count) else { return (t, .noSpace) }
        return (t, nil)
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        let set = MatchSet(flow.matches ?? [])
        let (tuple, values) = Self.split(set)
        let (storage, refused) = refusal(flow.table, uid: flow.uid, priority: flow.priority, tuple: tuple, values: values)
        if let refused { return .failure(refused) }
        guard let t = storage else { return .failure(.noSuchEntry) }
        add(StoredFlow(flow, matchSet: set), tuple: tuple, values: values, to: t)
        return .success(())
    }

    public func insert(_ view: FlowView) -> Bool {
        let set = view.matchSet
        let (tuple, values) = Self.split(set)
        let (storage, refused) = refusal(view.table, uid: view.uid, priority: view.priority, tuple: tuple, values: values)
        guard refused == nil, let t = storage else { return false }
        add(StoredFlow(view, matchSet: set), tuple: tuple, values: values, to: t)
        return true
    }

    /// Stores `flow` (checked: it may be stored).
    private func add(_ flow: StoredFlow, tuple: [TupleField], values: [UInt64], to t: Storage) {
        let s: Subtable
        if let sub = t.subtables[tuple] {
            s = sub
        } else {
            s = Subtable(tuple: tuple)
            s.maxPriority = flow.priority
            t.subtables[tuple] = s
            t.searchOrder = nil
        }
        var bucket = s.buckets.removeValue(forKey: values) ?? []
        let at = bucket.firstIndex(where: { $0.priority < flow.priority }) ?? bucket.endIndex
        bucket.insert(flow, at: at)
        s.buckets[values] = bucket
        s.count += 1
        if flow.priority > s.maxPriority {
            s.maxPriority = flow.priority
            t.searchOrder = nil
        }
        t.byUID[flow.uid] = Location(stored: flow, tuple: tuple, values: values)
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
        t.order.deleted(priority: loc.stored.priority, uid: uid)
        let removed = RemovedFlow(table: table, kept: .stored(loc.stored))
        // byUID and the subtables are kept in step, so the subtable and bucket exist; if they did
        // not, the uid is still gone from the table's index, which is the delete's meaning.
        guard let s = t.subtables[loc.tuple] else { return removed }
        if var bucket = s.buckets.removeValue(forKey: loc.values) {
            bucket.removeAll { $0.uid == uid }
            if !bucket.isEmpty { s.buckets[loc.values] = bucket }
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
        add(flow, tuple: tuple, values: values, to: t)
    }

    public func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        guard let t = tables[selector.table] else { return .failure(.noSuchEntry) }
        t.order.forEach(selector, rebuildFrom: {
            t.byUID.values.map { PriorityOrder.key(priority: $0.stored.priority, uid: $0.stored.uid) }
        }) { uid in
            if let loc = t.byUID[uid] { body(loc.stored.flow) }
        }
        return .success(())
    }

    public func count(table: UInt32) -> Int? { tables[table]?.byUID.count }

    public func removeAll() {
        for t in tables.values {
            t.byUID.removeAll(keepingCapacity: true)
            t.subtables.removeAll()
            t.searchOrder = nil
            t.order.removeAll()
        }
    }

    /// Number of subtables (distinct mask tuples) in `table`: the T of the lookup cost.
    public func tupleCount(table: UInt32) -> Int? { tables[table]?.subtables.count }

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
            for f in s.tuple {
                // A packet without the field cannot match any flow of this tuple.
                guard let v = packet.values[f.key] else { continue probing }
                t.scratch.append(v & f.mask)
            }
            if let hit = s.buckets[t.scratch]?.first, beats(priority: hit.priority, uid: hit.uid, best) {
                best = hit
            }
        }
        return best?.flow
    }
}
