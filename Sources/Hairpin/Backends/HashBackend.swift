// The hash backend: O(1) expected insert and delete, by uid and by exact match set.
//
// Per table:
//   slots        dense array of the stored flows (with their identity fingerprint);
//   byUID        uid → index in `slots` (SlotIndex, keyed by the uid);
//   byIdentity   fingerprint of (MatchSet, priority) → index in `slots`, the duplicate-match
//                check; a fingerprint hit is confirmed by comparing the real MatchSets, so a
//                fingerprint collision never refuses a flow;
//   order        lazily sorted (priority, uid) keys for get-flows (see PriorityOrder).
// Delete fills the hole with the last slot (swap-remove) so `slots` stays dense without moving
// more than one flow. The fingerprint is computed once per insert from the matches themselves
// (no sorted MatchSet is built, nothing is allocated per flow) and kept, so a delete neither
// recomputes it nor allocates.
//
// Costs (n flows in the table, k returned): insert O(m) for m matches plus O(1) expected;
// delete O(1) expected; get-flows O(n log n) after a mutation, O(log n + k) otherwise;
// count O(1). No lookup: the hash only answers exact identities, not packets.
import LibFlowTable

public final class HashBackend: FlowBackend {
    public let name = "hash"
    public let tableSizes: [UInt32: UInt32]
    @exclusivity(unchecked) private var tables: [UInt32: Storage]
    /// The table of the previous call: batches go to one table, and this skips the dictionary.
    @exclusivity(unchecked) private var lastTable: Storage?

    public init(tables: [UInt32: UInt32]) {
        tableSizes = tables
        self.tables = [:]
        for (uid, size) in tables { self.tables[uid] = Storage(uid: uid, size: size) }
    }

    private struct Slot {
        var flow: Flow
        var fingerprint: UInt64
    }

    /// One table. A class so the dictionary of tables hands out a reference to mutate in place
    /// rather than a copy-on-write value.
    private final class Storage {
        let uid: UInt32
        let size: UInt32
        // exclusivity(unchecked): a backend is used by one thread at a time (the protocol's
        // rule), and the dynamic checks cost as much as a lookup.
        @exclusivity(unchecked) var slots: [Slot] = []
        @exclusivity(unchecked) var byUID = SlotIndex()
        @exclusivity(unchecked) var byIdentity = SlotIndex()
        @exclusivity(unchecked) var order = PriorityOrder()

        init(uid: UInt32, size: UInt32) {
            self.uid = uid
            self.size = size
        }

        @inline(__always) func slot(ofUID uid: UInt32) -> Int? {
            slots.withUnsafeBufferPointer { s in byUID.first(UInt64(uid)) { s[$0].flow.uid == uid } }
        }
    }

    @inline(__always) private func storage(_ table: UInt32) -> Storage? {
        if let t = lastTable, t.uid == table { return t }
        let t = tables[table]
        if t != nil { lastTable = t }
        return t
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        guard let t = storage(flow.table) else { return .failure(.noSuchEntry) }
        if t.slot(ofUID: flow.uid) != nil { return .failure(.exists) }
        let fingerprint = FlowIdentity.fingerprint(flow.matches, priority: flow.priority)
        let duplicate = t.slots.withUnsafeBufferPointer { s in
            t.byIdentity.first(fingerprint) { i in
                // Rare (a duplicate, or a fingerprint collision): compare the real identities.
                s[i].flow.priority == flow.priority && MatchPriority(s[i].flow) == MatchPriority(flow)
            }
        }
        if duplicate != nil { return .failure(.exists) }
        guard FlowBackendTables.hasRoom(size: t.size, count: t.slots.count) else { return .failure(.noSpace) }
        let index = t.slots.count
        t.byUID.insert(UInt64(flow.uid), slot: index)
        t.byIdentity.insert(fingerprint, slot: index)
        t.slots.append(Slot(flow: flow, fingerprint: fingerprint))
        t.order.inserted(priority: flow.priority, uid: flow.uid)
        return .success(())
    }

    public func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> {
        guard let t = storage(table), let index = t.slot(ofUID: uid) else {
            return .failure(.noSuchEntry)
        }
        let removed = t.slots[index]
        t.byUID.remove(UInt64(uid), slot: index)
        t.byIdentity.remove(removed.fingerprint, slot: index)
        let last = t.slots.removeLast()
        if index < t.slots.count {
            t.slots[index] = last
            t.byUID.move(UInt64(last.flow.uid), from: t.slots.count, to: index)
            t.byIdentity.move(last.fingerprint, from: t.slots.count, to: index)
        }
        t.order.deleted(priority: removed.flow.priority, uid: uid)
        return .success(removed.flow)
    }

    public func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        guard let t = storage(selector.table) else { return .failure(.noSuchEntry) }
        t.order.forEach(selector, rebuildFrom: {
            t.slots.map { PriorityOrder.key(priority: $0.flow.priority, uid: $0.flow.uid) }
        }) { uid in
            // The order holds exactly the stored uids; a miss would be an internal bug, skipped
            // rather than trapped on.
            if let i = t.slot(ofUID: uid) { body(t.slots[i].flow) }
        }
        return .success(())
    }

    public func count(table: UInt32) -> Int? { storage(table)?.slots.count }

    public func removeAll() {
        for t in tables.values {
            t.slots.removeAll(keepingCapacity: true)
            t.byUID.removeAll()
            t.byIdentity.removeAll()
            t.order.removeAll()
        }
    }
}
