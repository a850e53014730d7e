// The reference backend: a plain array per table and linear scans, O(n) per operation, but small
// enough to be obviously correct; the other backends are tested against it. Unlike the original ftbe-dummy it keeps one state per device, deletes by
// (table, uid) only and reports ENOENT/EEXIST/ENOSPC (the original shared one list between devices and
// deleted by a subset test).
import LibFlowTable

public final class DummyBackend: PacketClassifier, StoredFlowBackend {
    public let name = "dummy"
    public let tableSizes: [UInt32: UInt32]

    /// A stored flow with its match identity, computed once at insert: recomputing the canonical
    /// MatchSet of every stored flow on every scan would allocate once per stored flow per insert.
    private struct Entry {
        var stored: StoredFlow
        var identity: MatchPriority
    }

    /// Flows of each table in insertion order.
    private var tables: [UInt32: [Entry]]
    var elementScratch = NetlinkWriter(capacity: 1024)
    /// Counts every change of the stored flows: a lookup index compiled at another count is stale.
    @exclusivity(unchecked) var lookupGeneration = 0
    let lookupCache = LookupCache<LinearMatcher>()

    public init(tables: [UInt32: UInt32]) {
        tableSizes = tables
        self.tables = tables.mapValues { _ in [] }
    }

    /// The contract's checks in its order; nil when `uid` with `identity` may be stored in `table`.
    private func refusal(table: UInt32, uid: UInt32, _ identity: MatchPriority) -> BackendError? {
        guard let size = tableSizes[table], let existing = tables[table] else { return .noSuchEntry }
        if existing.contains(where: { $0.stored.uid == uid }) { return .exists }
        if existing.contains(where: { $0.identity == identity }) { return .exists }
        guard FlowBackendTables.hasRoom(size: size, count: existing.count) else { return .noSpace }
        return nil
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        let identity = MatchPriority(flow)
        if let e = refusal(table: flow.table, uid: flow.uid, identity) { return .failure(e) }
        tables[flow.table, default: []].append(
            Entry(stored: StoredFlow(flow, matchSet: identity.matchSet), identity: identity))
        lookupGeneration &+= 1
        return .success(())
    }

    public func insert(_ view: FlowView) -> Bool {
        let identity = MatchPriority(view.matchSet, view.priority)
        guard refusal(table: view.table, uid: view.uid, identity) == nil else { return false }
        tables[view.table, default: []].append(
            Entry(stored: StoredFlow(view, matchSet: identity.matchSet), identity: identity))
        lookupGeneration &+= 1
        return true
    }

    public func remove(table: UInt32, uid: UInt32) -> RemovedFlow? {
        guard let index = tables[table]?.firstIndex(where: { $0.stored.uid == uid }),
            let removed = tables[table]?.remove(at: index)
        else { return nil }
        lookupGeneration &+= 1
        return RemovedFlow(table: table, kept: .stored(removed.stored))
    }

    /// Back at the end: insertion order plays no part in any answer (get-flows sorts, lookup
    /// takes the best).
    public func restore(_ removed: RemovedFlow) {
        guard case .stored(let s) = removed.kept, tables[removed.table] != nil else { return }
        lookupGeneration &+= 1
        tables[removed.table, default: []].append(Entry(stored: s, identity: MatchPriority(s.matchSet, s.priority)))
    }

    /// The stored flows `flows(selector)` gives, in its order; false for an unknown table.
    func stored(_ selector: FlowSelector, _ body: (StoredFlow) -> Void) -> Bool {
        guard let all = tables[selector.table] else { return false }
        let admitted = all.filter { selector.admits($0.stored.priority) }
            .sorted { ($0.stored.priority, $0.stored.uid) < ($1.stored.priority, $1.stored.uid) }
        for e in admitted { body(e.stored) }
        return true
    }

    public func count(table: UInt32) -> Int? { tables[table]?.count }

    public func removeAll() {
        for key in tables.keys { tables[key] = [] }
        lookupGeneration &+= 1
    }

    /// The oracle on a PacketKey: every flow checked, the best kept (no order assumed).
    public func lookup(table: UInt32, key: PacketKey) -> FlowHit? {
        lookupCache.matcher(table: table, layout: key.layout, generation: lookupGeneration) {
            guard let entries = tables[table] else { return nil }
            return LinearMatcher(
                layout: key.layout, generation: lookupGeneration,
                entries: entries.map {
                    (FlowHit(table: table, uid: $0.stored.uid, priority: $0.stored.priority), $0.identity.matchSet.keys)
                })
        }?.best(key)
    }

    /// The oracle: every flow checked, the best kept.
    public func lookup(table: UInt32, packet: PacketFields) -> Flow? {
        var best: StoredFlow?
        for e in tables[table] ?? [] where beats(priority: e.stored.priority, uid: e.stored.uid, best) {
            if packet.matches(e.identity.matchSet) { best = e.stored }
        }
        return best?.flow
    }
}
