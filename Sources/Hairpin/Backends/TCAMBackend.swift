// An emulated hardware TCAM: what a real switch ASIC would pay for the same workload.
//
// A TCAM answers a lookup with the FIRST matching slot, so software must keep entries in priority
// order: higher priority in lower slots, equal priorities by ascending uid (the lookup tie rule).
// Entries are packed from slot 0, the way simple drivers manage a TCAM region: inserting between
// two entries shifts every lower-priority entry down one slot, deleting one shifts them back up.
// Each shifted entry is one hardware write; `entryMoves` counts them, so benchmarks can show the
// cost a real device would have (smarter drivers leave gaps between priority bands to shift less;
// this emulation deliberately models the simple packed layout).
//
// Capacity: a table's size. An unbounded table (size 0xFFFF_FFFF) gets `defaultCapacity` slots
// (8192 unless chosen at init), because hardware has no unbounded tables; this is the ONE place
// where the tcam backend may answer ENOSPC where the others store the flow.
//
// A software shadow gives the driver-side lookups a real TCAM driver keeps too: uid → priority
// (then binary search for the slot) and (MatchSet, priority) → uid for the duplicate check.
//
// Costs (n entries, k returned, m matches): insert O(m log m + log n) plus n − slot moves; delete
// O(log n) plus n − slot − 1 moves; lookup O(n · m) in software (one cycle in hardware);
// get-flows O(log n + k) (the slots are already in priority order).
import LibFlowTable

public final class TCAMBackend: PacketClassifier, StoredFlowBackend {
    public static let defaultCapacity = 8192

    public let name = "tcam"
    public let tableSizes: [UInt32: UInt32]
    private var tables: [UInt32: Storage]
    var elementScratch = NetlinkWriter(capacity: 1024)
    /// Counts every change of the stored flows: a lookup index compiled at another count is stale.
    @exclusivity(unchecked) var lookupGeneration = 0
    let lookupCache = LookupCache<LinearMatcher>()

    public convenience init(tables: [UInt32: UInt32]) {
        self.init(tables: tables, defaultCapacity: Self.defaultCapacity)
    }

    /// `defaultCapacity`: slots of a table advertised as unbounded.
    public init(tables: [UInt32: UInt32], defaultCapacity: Int) {
        tableSizes = tables
        self.tables = tables.mapValues { size in
            Storage(capacity: size == Table.unbounded ? max(0, defaultCapacity) : Int(size))
        }
    }

    private struct Entry {
        var stored: StoredFlow
        var identity: MatchPriority
    }

    private final class Storage {
        let capacity: Int
        /// Slot i holds entries[i]; sorted by (priority descending, uid ascending).
        var entries: [Entry] = []
        var priorityOfUID: [UInt32: UInt32] = [:]
        var uidOfIdentity: [MatchPriority: UInt32] = [:]
        var moves = 0

        init(capacity: Int) { self.capacity = capacity }

        /// The first slot whose entry ranks after (priority, uid): the insertion slot, or the slot
        /// of that exact entry when it is stored.
        func slot(priority: UInt32, uid: UInt32) -> Int {
            var lo = 0, hi = entries.count
            while lo < hi {
                let mid = (lo + hi) / 2
                let e = entries[mid].stored
                if e.priority > priority || (e.priority == priority && e.uid < uid) { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }

        /// The first slot with priority ≤ p (entries are descending).
        func firstSlot(atMost p: UInt32) -> Int {
            var lo = 0, hi = entries.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if entries[mid].stored.priority > p { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    /// Total hardware entry writes caused by shifting, over all tables, since creation.
    public var entryMoves: Int { tables.values.reduce(0) { $0 + $1.moves } }

    /// Entry moves in one table; nil for an unknown table.
    public func entryMoves(table: UInt32) -> Int? { tables[table]?.moves }

    /// Slots of `table`; nil for an unknown table.
    public func capacity(table: UInt32) -> Int? { tables[table]?.capacity }

    /// The contract's checks in its order; the table when `uid` with `identity` may be stored.
    private func admit(table: UInt32, uid: UInt32, _ identity: MatchPriority) -> Result<Storage, BackendError> {
        guard let t = tables[table] else { return .failure(.noSuchEntry) }
        if t.priorityOfUID[uid] != nil { return .failure(.exists) }
        if t.uidOfIdentity[identity] != nil { return .failure(.exists) }
        guard t.entries.count < t.capacity else { return .failure(.noSpace) }
        return .success(t)
    }

    /// Stores `entry` in its slot (checked: it may be stored), shifting the entries after it.
    private func add(_ entry: Entry, to t: Storage) {
        let at = t.slot(priority: entry.stored.priority, uid: entry.stored.uid)
        lookupGeneration &+= 1
        t.moves += t.entries.count - at
        t.entries.insert(entry, at: at)
        t.priorityOfUID[entry.stored.uid] = entry.stored.priority
        t.uidOfIdentity[entry.identity] = entry.stored.uid
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        let identity = MatchPriority(flow)
        return admit(table: flow.table, uid: flow.uid, identity).map { t in
            add(Entry(stored: StoredFlow(flow, matchSet: identity.matchSet), identity: identity), to: t)
        }
    }

    public func insert(_ view: FlowView) -> Bool {
        let identity = MatchPriority(view.matchSet, view.priority)
        guard case .success(let t) = admit(table: view.table, uid: view.uid, identity) else { return false }
        add(Entry(stored: StoredFlow(view, matchSet: identity.matchSet), identity: identity), to: t)
        return true
    }

    public func remove(table: UInt32, uid: UInt32) -> RemovedFlow? {
        guard let t = tables[table], let priority = t.priorityOfUID[uid] else { return nil }
        let at = t.slot(priority: priority, uid: uid)
        // The shadow and the slots are kept in step; a mismatch would be an internal bug, reported
        // as "not found" rather than removing the wrong entry.
        guard at < t.entries.count, t.entries[at].stored.uid == uid else { return nil }
        let removed = t.entries.remove(at: at)
        lookupGeneration &+= 1
        t.moves += t.entries.count - at
        t.priorityOfUID[uid] = nil
        t.uidOfIdentity[removed.identity] = nil
        return RemovedFlow(table: table, kept: .stored(removed.stored))
    }

    /// An undo shifts entries as the hardware would: its moves count.
    public func restore(_ removed: RemovedFlow) {
        guard let t = tables[removed.table], case .stored(let s) = removed.kept else { return }
        add(Entry(stored: s, identity: MatchPriority(s.matchSet, s.priority)), to: t)
    }

    /// The stored flows `flows(selector)` gives, in its order; false for an unknown table.
    func stored(_ selector: FlowSelector, _ body: (StoredFlow) -> Void) -> Bool {
        guard let t = tables[selector.table] else { return false }
        let lo = selector.minPriority ?? 0, hi = selector.maxPriority ?? .max
        guard lo <= hi else { return true }
        // Slots start..<end hold priorities in [lo, hi], highest first. Get-flows wants ascending
        // (priority, uid): walk the priority bands from the bottom, each band forwards.
        let start = t.firstSlot(atMost: hi)
        var bandEnd = lo == 0 ? t.entries.count : t.firstSlot(atMost: lo - 1)
        while bandEnd > start {
            let p = t.entries[bandEnd - 1].stored.priority
            var bandStart = bandEnd - 1
            while bandStart > start, t.entries[bandStart - 1].stored.priority == p { bandStart -= 1 }
            for i in bandStart..<bandEnd { body(t.entries[i].stored) }
            bandEnd = bandStart
        }
        return true
    }

    public func count(table: UInt32) -> Int? { tables[table]?.entries.count }

    /// Invalidates every entry; a bulk clear shifts nothing, so no moves are counted.
    public func removeAll() {
        lookupGeneration &+= 1
        for t in tables.values {
            t.entries.removeAll(keepingCapacity: true)
            t.priorityOfUID.removeAll(keepingCapacity: true)
            t.uidOfIdentity.removeAll(keepingCapacity: true)
        }
    }

    /// The first slot that matches, as the hardware would answer: the slots in order, compiled
    /// once per change.
    public func lookup(table: UInt32, key: PacketKey) -> FlowHit? {
        lookupCache.matcher(table: table, layout: key.layout, generation: lookupGeneration) {
            guard let t = tables[table] else { return nil }
            return LinearMatcher(
                layout: key.layout, generation: lookupGeneration,
                entries: t.entries.map {
                    (FlowHit(table: table, uid: $0.stored.uid, priority: $0.stored.priority), $0.identity.matchSet.keys)
                })
        }?.first(key)
    }

    /// The first slot that matches, as the hardware would answer.
    public func lookup(table: UInt32, packet: PacketFields) -> Flow? {
        guard let t = tables[table] else { return nil }
        for e in t.entries where packet.matches(e.identity.matchSet) { return e.stored.flow }
        return nil
    }
}
