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
// Two forms of a stored flow: a `Flow` (what `insert` gets: the typed path, the other backends'
// form), or the flow's encoded FLOW element as the request carried it, copied into the table's
// byte arena (`insert(_: FlowView)`: the daemon's byte path, which never builds a Flow). An
// encoded flow is decoded by the real decoder only when it is asked for (get-flows, a typed
// delete that returns it, the rare fingerprint hit); the decoder gives the very Flow the typed
// path would have stored from the same bytes, so get-flows answers are byte-identical either
// way. The arena is append-only; what deletes free is counted and the arena is compacted once
// more than half of it is garbage (amortised O(1) per flow, no allocation per flow).
//
// Costs (n flows in the table, k returned): insert O(m) for m matches plus O(1) expected;
// delete O(1) expected; get-flows O(n log n) after a mutation, O(log n + k) otherwise;
// count O(1). No lookup: the hash only answers exact identities, not packets.
import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

public final class HashBackend: FlowBackend {
    public let name = "hash"
    public let tableSizes: [UInt32: UInt32]
    @exclusivity(unchecked) private var tables: [UInt32: Storage]
    /// The table of the previous call: batches go to one table, and this skips the dictionary.
    @exclusivity(unchecked) private var lastTable: Storage?
    /// Where a stored encoded flow is put back together for the decoder (reused).
    @exclusivity(unchecked) private var decodeScratch: [UInt8] = []
    /// Where a flow is encoded for flowElements (reused).
    @exclusivity(unchecked) private var encodeScratch = NetlinkWriter(capacity: 1024)

    public init(tables: [UInt32: UInt32]) {
        tableSizes = tables
        self.tables = [:]
        for (uid, size) in tables { self.tables[uid] = Storage(uid: uid, size: size) }
    }

    /// One table. A class so the dictionary of tables hands out a reference to mutate in place
    /// rather than a copy-on-write value.
    private final class Storage {
        let uid: UInt32
        let size: UInt32
        // exclusivity(unchecked): a backend is used by one thread at a time (the protocol's
        // rule), and the dynamic checks cost as much as a lookup.
        @exclusivity(unchecked) var slots: [HashSlot] = []
        @exclusivity(unchecked) var byUID = SlotIndex()
        @exclusivity(unchecked) var byIdentity = SlotIndex()
        @exclusivity(unchecked) var order = PriorityOrder()
        /// The FLOW elements of the encoded slots, back to back: raw memory owned here (an
        /// Array's append of a buffer goes through a generic path, several instructions per byte).
        @exclusivity(unchecked) var arena = Arena()
        /// Bytes of `arena` no slot refers to any more.
        @exclusivity(unchecked) var garbage = 0
        /// Counts every change of the slots: a lookup index compiled at another count is stale.
        @exclusivity(unchecked) var generation = 0
        let lookupCache = LookupCache<TupleMatcher>()

        init(uid: UInt32, size: UInt32) {
            self.uid = uid
            self.size = size
        }

        deinit { arena.free() }

        @inline(__always) func slot(ofUID uid: UInt32) -> Int? {
            slots.withUnsafeBufferPointer { s in byUID.first(UInt64(uid)) { s[$0].uid == uid } }
        }

        /// Appends `slot` to the indexes (it was checked: no such uid, no such identity, room).
        @inline(__always) func add(_ slot: HashSlot) {
            generation &+= 1
            let index = slots.count
            byUID.insert(UInt64(slot.uid), slot: index)
            byIdentity.insert(slot.fingerprint, slot: index)
            slots.append(slot)
            order.inserted(priority: slot.priority, uid: slot.uid)
        }

        /// Removes slot `index` (swap-remove) and returns it.
        @inline(__always) func remove(at index: Int) -> HashSlot {
            let removed = slots[index]
            generation &+= 1
            byUID.remove(UInt64(removed.uid), slot: index)
            byIdentity.remove(removed.fingerprint, slot: index)
            let last = slots.removeLast()
            if index < slots.count {
                slots[index] = last
                byUID.move(UInt64(last.uid), from: slots.count, to: index)
                byIdentity.move(last.fingerprint, from: slots.count, to: index)
            }
            order.deleted(priority: removed.priority, uid: removed.uid)
            garbage += removed.length
            return removed
        }

        /// Copies the live encoded flows into a new arena.
        func compact() {
            var fresh = Arena()
            fresh.reserve(max(arena.count - garbage, 0) * 2)
            for i in slots.indices where slots[i].length > 0 {
                let start = slots[i].start
                slots[i].start = fresh.count
                fresh.append(arena.bytes(start, slots[i].length))
            }
            arena.free()
            arena = fresh
            garbage = 0
        }
    }

    @inline(__always) private func storage(_ table: UInt32) -> Storage? {
        if let t = lastTable, t.uid == table { return t }
        let t = tables[table]
        if t != nil { lastTable = t }
        return t
    }

    /// The flow of a slot: as stored, or decoded from its bytes.
    private func flow(of slot: HashSlot, in t: Storage) -> Flow {
        if let f = slot.flow { return f }
        let decoded = EncodedFlowStore.decode(t.arena.bytes(slot.start, slot.length), scratch: &decodeScratch)
        // The bytes were checked when stored (EncodedFlowReader accepts only what the decoder
        // does), so this cannot fail; should it anyway, the identity is still right.
        return decoded ?? Flow(table: t.uid, uid: slot.uid, priority: slot.priority)
    }

    public func insert(_ flow: Flow) -> Result<Void, BackendError> {
        guard let t = storage(flow.table) else { return .failure(.noSuchEntry) }
        if t.slot(ofUID: flow.uid) != nil { return .failure(.exists) }
        let fingerprint = FlowIdentity.fingerprint(flow.matches, priority: flow.priority)
        var identity: MatchPriority?
        let duplicate = t.byIdentity.first(fingerprint) { i in
            // Rare (a duplicate, or a fingerprint collision): compare the real identities.
            guard t.slots[i].priority == flow.priority else { return false }
            if identity == nil { identity = MatchPriority(flow) }
            return MatchPriority(self.flow(of: t.slots[i], in: t)) == identity
        }
        if duplicate != nil { return .failure(.exists) }
        guard FlowBackendTables.hasRoom(size: t.size, count: t.slots.count) else { return .failure(.noSpace) }
        t.add(
            HashSlot(flow: flow, fingerprint: fingerprint, uid: flow.uid, priority: flow.priority, start: 0, length: 0))
        return .success(())
    }

    /// The byte path's insert: the FLOW element's bytes go into the arena, with the identity
    /// fingerprint of the view's matches. Any stored identity with the same fingerprint (a duplicate
    /// or a collision: the typed path tells them apart) refuses, as the protocol says.
    public func insert(_ view: FlowView) -> Bool {
        guard let t = storage(view.table), t.slot(ofUID: view.uid) == nil else { return false }
        let fingerprint = view.fingerprint
        guard t.byIdentity.first(fingerprint, where: { _ in true }) == nil,
            FlowBackendTables.hasRoom(size: t.size, count: t.slots.count), !view.element.isEmpty
        else { return false }
        if t.garbage > 1 << 16, t.garbage * 2 > t.arena.count { t.compact() }
        let start = t.arena.count
        t.arena.append(view.element)
        t.add(
            HashSlot(
                flow: nil, fingerprint: fingerprint, uid: view.uid, priority: view.priority,
                start: start, length: view.element.count, encoded: view.encoderForm))
        return true
    }

    public func remove(table: UInt32, uid: UInt32) -> RemovedFlow? {
        guard let t = storage(table), let index = t.slot(ofUID: uid) else { return nil }
        return RemovedFlow(table: table, kept: .slot(t.remove(at: index)))
    }

    /// No insert may come between `remove` and this (an insert may compact the arena, which the
    /// removed flow's bytes are still in): the protocol's undo order gives that.
    public func restore(_ removed: RemovedFlow) {
        guard let t = storage(removed.table), case .slot(let slot) = removed.kept else { return }
        t.garbage -= slot.length
        t.add(slot)
    }

    public func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> {
        guard let t = storage(table), let index = t.slot(ofUID: uid) else {
            return .failure(.noSuchEntry)
        }
        // Built before the removal: a compaction never runs here, but the bytes are read while
        // the slot is certainly live.
        let flow = self.flow(of: t.slots[index], in: t)
        _ = t.remove(at: index)
        return .success(flow)
    }

    public func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        guard let t = storage(selector.table) else { return .failure(.noSuchEntry) }
        t.order.forEach(
            selector,
            keys: { each in
                t.slots.withUnsafeBufferPointer {
                    for s in $0 { each(PriorityOrder.key(priority: s.priority, uid: s.uid)) }
                }
            }
        ) { uid in
            // The order holds exactly the stored uids; a miss would be an internal bug, skipped
            // rather than trapped on.
            guard let i = t.slot(ofUID: uid) else { return }
            if let stored = t.slots[i].flow {
                body(stored)
            } else {
                // Decoded once and kept: a table read again (a GET_FLOWS loop) decodes nothing
                // more, and holds what the typed path would have held from the start.
                let decoded = flow(of: t.slots[i], in: t)
                t.slots[i].flow = decoded
                body(decoded)
            }
        }
        return .success(())
    }

    public func flowElements(_ selector: FlowSelector, into body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard let t = storage(selector.table) else { return false }
        var encoded = true
        t.order.forEach(
            selector,
            keys: { each in
                t.slots.withUnsafeBufferPointer {
                    for s in $0 { each(PriorityOrder.key(priority: s.priority, uid: s.uid)) }
                }
            }
        ) { uid in
            guard encoded, let i = t.slot(ofUID: uid) else { return }
            if !t.slots[i].encoded, !encode(slot: i, in: t) {
                encoded = false
                return
            }
            body(t.arena.bytes(t.slots[i].start, t.slots[i].length))
        }
        return encoded
    }

    /// Puts slot `i`'s FLOW element in the encoder's form: its bytes are kept when they are
    /// exactly that (a request encoded by FlowTableCodec), else the encoding is appended to the
    /// arena and the old bytes counted as garbage. False: the flow cannot be encoded.
    private func encode(slot i: Int, in t: Storage) -> Bool {
        // A request's element already in that form (a client using our encoder, every traced
        // SET_FLOWS from it) is kept as it is, with no decode and encode.
        if t.slots[i].flow == nil, t.slots[i].length > 0,
            FlowTableCodec.isEncoderForm(flow: t.arena.bytes(t.slots[i].start, t.slots[i].length))
        {
            t.slots[i].encoded = true
            return true
        }
        let f = flow(of: t.slots[i], in: t)
        encodeScratch.reset()
        do throws(EncodeError) { try FlowTableCodec.encode(f, into: &encodeScratch) } catch { return false }
        let kept = t.arena.bytes(t.slots[i].start, t.slots[i].length)
        let same = encodeScratch.withUnsafeBytes { e in
            e.count == kept.count && (e.isEmpty || memcmp(e.baseAddress!, kept.baseAddress!, e.count) == 0)
        }
        if !same {
            t.garbage += t.slots[i].length
            let start = t.arena.count
            encodeScratch.withUnsafeBytes { t.arena.append($0) }
            t.slots[i].start = start
            t.slots[i].length = encodeScratch.count
        }
        t.slots[i].encoded = true
        return true
    }

    public func count(table: UInt32) -> Int? { storage(table)?.slots.count }

    /// Per its structure: the slots hashed by identity cannot answer a packet, so the match sets
    /// are grouped by mask tuple (once per change of the table) and each tuple probed with the
    /// packet's masked values. A hash keeps no priority order, so every tuple is probed (the tss
    /// orders its tuples and stops early).
    public func lookup(table: UInt32, key: PacketKey) -> FlowHit? {
        guard let t = storage(table) else { return nil }
        return t.lookupCache.matcher(table: table, layout: key.layout, generation: t.generation) {
            var tuples: [[MatchKey]: [[UInt64]: FlowHit]] = [:]
            for i in t.slots.indices {
                let slot = t.slots[i]
                let set = MatchSet(flow(of: slot, in: t).matches ?? [])
                let tuple = set.keys.map {
                    MatchKey(instance: $0.instance, header: $0.header, field: $0.field, value: 0, mask: $0.mask)
                }
                let hit = FlowHit(table: table, uid: slot.uid, priority: slot.priority)
                let values = set.keys.map(\.value)
                if hit.beats(tuples[tuple]?[values]) { tuples[tuple, default: [:]][values] = hit }
            }
            return TupleMatcher(
                layout: key.layout, generation: t.generation,
                groups: tuples.map { fields, buckets in
                    TupleMatcher.Group(fields: fields, buckets: buckets.map { ($0.key, $0.value) })
                })
        }?.lookup(key, prune: false)
    }

    public func removeAll() {
        for t in tables.values {
            t.slots.removeAll(keepingCapacity: true)
            t.byUID.removeAll()
            t.byIdentity.removeAll()
            t.order.removeAll()
            t.arena.count = 0
            t.garbage = 0
            t.generation &+= 1
        }
    }
}

/// A stored flow: typed (`flow` set, `length` 0) or encoded (its FLOW element at
/// `arena[start ..< start + length]`; `flow` nil until get-flows first decodes it). `encoded`:
/// the arena holds the encoder's form of the flow, known at insert (the request's element was
/// in that form: FlowView.encoderForm) or once flowElements encoded it (a typed flow then has
/// bytes too).
struct HashSlot {
    var flow: Flow?
    var fingerprint: UInt64
    var uid: UInt32
    var priority: UInt32
    var start: Int
    var length: Int
    var encoded = false
}

/// Growable raw bytes (the hash backend's arena of encoded flows). A value with manual
/// ownership: the owning Storage frees it once.
struct Arena {
    private(set) var base: UnsafeMutableRawPointer?
    var count = 0
    private(set) var capacity = 0

    mutating func reserve(_ n: Int) {
        guard n > capacity else { return }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 8)
        if let base {
            bigger.copyMemory(from: base, byteCount: count)
            base.deallocate()
        }
        base = bigger
        capacity = n
    }

    @inline(__always) mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity { reserve(max(capacity * 2, count + bytes.count, 4096)) }
        guard let base else { return }
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// `length` bytes from `start` (valid until the next append or free).
    @inline(__always) func bytes(_ start: Int, _ length: Int) -> UnsafeRawBufferPointer {
        guard let base, start >= 0, length >= 0, start + length <= count else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(start: base + start, count: length)
    }

    mutating func free() {
        base?.deallocate()
        base = nil
        count = 0
        capacity = 0
    }
}
