// The reference backend: a plain array per table and linear scans, O(n) per operation, but small
// enough to be obviously correct; the other backends are tested against it. Unlike the original ftbe-dummy it keeps one state per device, deletes by
// (table, uid) only and reports ENOENT/EEXIST/ENOSPC (bugs 26, 27).
import LibFlowTable

public final class DummyBackend: PacketClassifier {
    public let name = "dummy"
    public let tableSizes: [UInt32: UInt32]

    /// A stored flow with its match identity, computed once at insert: recomputing the canonical
    /// MatchSet of every stored flow on every scan made inserts into a 10k table cost ~0.7 ms.
    private struct Entry {
        var flow: Flow
        var identity: MatchPriority
    }

    /// Flows of each table in insertion order.
    private var tables: [UInt32: [Entry]]

    public init(tables: [UInt32: UInt32]) {
        tableSizes = tables
        self.tables = tables.mapValues { _ in [] }
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        guard let size = tableSizes[flow.table], let existing = tables[flow.table] else {
            return .failure(.noSuchEntry)
        }
        if existing.contains(where: { $0.flow.uid == flow.uid }) { return .failure(.exists) }
        let identity = MatchPriority(flow)
        if existing.contains(where: { $0.identity == identity }) { return .failure(.exists) }
        guard FlowBackendTables.hasRoom(size: size, count: existing.count) else { return .failure(.noSpace) }
        tables[flow.table, default: []].append(Entry(flow: flow, identity: identity))
        return .success(())
    }

    public func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> {
        guard let index = tables[table]?.firstIndex(where: { $0.flow.uid == uid }),
              let removed = tables[table]?.remove(at: index) else {
            return .failure(.noSuchEntry)
        }
        return .success(removed.flow)
    }

    public func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        guard let all = tables[selector.table] else { return .failure(.noSuchEntry) }
        for flow in all.map(\.flow).filter({ selector.admits($0.priority) }).sorted(by: flowOrder) { body(flow) }
        return .success(())
    }

    public func count(table: UInt32) -> Int? { tables[table]?.count }

    public func removeAll() {
        for key in tables.keys { tables[key] = [] }
    }

    /// The oracle: every flow checked, the best kept.
    public func lookup(table: UInt32, packet: PacketFields) -> Flow? {
        var best: Flow?
        for e in tables[table] ?? [] where beats(priority: e.flow.priority, uid: e.flow.uid, best) {
            if packet.matches(e.identity.matchSet) { best = e.flow }
        }
        return best
    }
}
