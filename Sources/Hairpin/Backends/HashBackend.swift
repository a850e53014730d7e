// The hash backend: O(1) expected insert and delete, by uid and by exact match set.
//
// Per table:
//   slots        dense array of the stored flows (with their precomputed identity);
//   slotOfUID    uid → index in `slots`;
//   uidOfIdentity (MatchSet, priority) → uid, the duplicate-match check;
//   order        lazily sorted (priority, uid) keys for get-flows (see PriorityOrder).
// Delete fills the hole with the last slot (swap-remove) so `slots` stays dense without moving
// more than one flow. The identity is computed once per insert and kept, so a delete neither
// recomputes the MatchSet nor allocates.
//
// Costs (n flows in the table, k returned): insert O(m log m) for the MatchSet of m matches plus
// O(1) expected; delete O(1) expected; get-flows O(n log n) after a mutation, O(log n + k)
// otherwise; count O(1). No lookup: the hash only answers exact identities, not packets.
import LibFlowTable

public final class HashBackend: FlowBackend {
    public let name = "hash"
    public let tableSizes: [UInt32: UInt32]
    private var tables: [UInt32: Storage]

    public init(tables: [UInt32: UInt32]) {
        tableSizes = tables
        self.tables = tables.mapValues(Storage.init(size:))
    }

    private struct Slot {
        var flow: Flow
        var identity: MatchPriority
    }

    /// One table. A class so the dictionary of tables hands out a reference to mutate in place
    /// rather than a copy-on-write value.
    private final class Storage {
        let size: UInt32
        var slots: [Slot] = []
        var slotOfUID: [UInt32: Int] = [:]
        var uidOfIdentity: [MatchPriority: UInt32] = [:]
        var order = PriorityOrder()

        init(size: UInt32) { self.size = size }
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        guard let t = tables[flow.table] else { return .failure(.noSuchEntry) }
        if t.slotOfUID[flow.uid] != nil { return .failure(.exists) }
        let identity = MatchPriority(flow)
        if t.uidOfIdentity[identity] != nil { return .failure(.exists) }
        guard FlowBackendTables.hasRoom(size: t.size, count: t.slots.count) else { return .failure(.noSpace) }
        t.slotOfUID[flow.uid] = t.slots.count
        t.uidOfIdentity[identity] = flow.uid
        t.slots.append(Slot(flow: flow, identity: identity))
        t.order.inserted(priority: flow.priority, uid: flow.uid)
        return .success(())
    }

    public func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> {
        guard let t = tables[table], let index = t.slotOfUID.removeValue(forKey: uid) else {
            return .failure(.noSuchEntry)
        }
        let removed = t.slots[index]
        let last = t.slots.removeLast()
        if index < t.slots.count {
            t.slots[index] = last
            t.slotOfUID[last.flow.uid] = index
        }
        t.uidOfIdentity[removed.identity] = nil
        t.order.deleted(priority: removed.flow.priority, uid: uid)
        return .success(removed.flow)
    }

    public func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        guard let t = tables[selector.table] else { return .failure(.noSuchEntry) }
        t.order.forEach(selector, rebuildFrom: {
            t.slots.map { PriorityOrder.key(priority: $0.flow.priority, uid: $0.flow.uid) }
        }) { uid in
            // The order holds exactly the stored uids; a miss would be an internal bug, skipped
            // rather than trapped on.
            if let i = t.slotOfUID[uid] { body(t.slots[i].flow) }
        }
        return .success(())
    }

    public func count(table: UInt32) -> Int? { tables[table]?.slots.count }

    public func removeAll() {
        for t in tables.values {
            t.slots.removeAll(keepingCapacity: true)
            t.slotOfUID.removeAll(keepingCapacity: true)
            t.uidOfIdentity.removeAll(keepingCapacity: true)
            t.order.removeAll()
        }
    }
}
