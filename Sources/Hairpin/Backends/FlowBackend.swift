// The ftbe backend interface: where the hairpin daemon keeps the flows of one device.
// The contract (which errno when, ordering, rollback) is written down in spec/backend-contract.md;
// the differential tests in Tests/HairpinTests/BackendTests.swift hold every backend to it.
import LibFlowTable

/// Why a backend refused an operation. Raw values are Linux errno numbers, because they go on the
/// wire (FlowResult.errno, ENCAP STATUS) whatever the host's own <errno.h> says.
public enum BackendError: Int32, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// ENOENT: the table is not one of the device's tables, or (delete) no flow has that uid.
    case noSuchEntry = 2
    /// EEXIST: the table already holds a flow with that uid, or one with the same match set and
    /// the same priority.
    case exists = 17
    /// ENOSPC: the table holds `size` flows already.
    case noSpace = 28

    /// The positive errno.
    public var errno: Int32 { rawValue }

    public var description: String {
        switch self {
        case .noSuchEntry: return "ENOENT"
        case .exists: return "EEXIST"
        case .noSpace: return "ENOSPC"
        }
    }
}

/// Linux errno numbers the backend layer reports beyond BackendError.
public enum BackendErrno {
    /// ECANCELED: a batch flow not applied because the batch was aborted (FlowResult).
    public static let canceled: Int32 = 125
}

extension Result where Failure == BackendError {
    /// 0 on success, else the positive errno: the form FlowResult and the ENCAP STATUS carry.
    @inlinable public var errno: Int32 {
        switch self {
        case .success: return 0
        case .failure(let e): return e.rawValue
        }
    }
}

/// The flows of ONE device. The daemon creates one instance per device (the original shared one
/// global state between all unft devices).
///
/// Class-bound: a backend is a store with identity that the daemon mutates in place; classes also
/// let `any FlowBackend` be mutated without `inout` gymnastics. Not thread-safe: the caller
/// serialises access (one request at a time per device, as the kernel's flow mutex does).
///
/// Nothing here throws: every outcome of the hot path is an ordinary value (`Result`).
public protocol FlowBackend: AnyObject {
    /// The registry name ("dummy", "hash", "tss", "tcam").
    var name: String { get }

    /// The device's tables: table uid → size (maximum number of flows; `Table.unbounded` =
    /// 0xFFFF_FFFF = no limit; 0 = the table can hold nothing).
    var tableSizes: [UInt32: UInt32] { get }

    /// A backend for a device with these tables and no flows.
    init(tables: [UInt32: UInt32])

    /// Stores `flow` in table `flow.table`. Checks, in this order:
    /// unknown table → ENOENT; same uid in that table → EEXIST; same MatchSet and same priority as
    /// a flow of that table → EEXIST; table full → ENOSPC. A failed insert changes nothing.
    func insert(_ flow: Flow) -> Result<Void, BackendError>

    /// Removes the flow `uid` of `table` and returns it exactly as it was inserted (so a rollback
    /// can put it back). Unknown table or no such uid → ENOENT. Matches, priority and actions play
    /// no part (the original deleted by a buggy subset test, removing flows it was not asked to).
    func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError>

    /// Calls `body` for each flow of `selector.table` with min ≤ priority ≤ max (an absent bound is
    /// unbounded), in ascending (priority, uid) order. Unknown table → ENOENT, `body` not called.
    func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError>

    /// The number of flows in `table`; nil for an unknown table.
    func count(table: UInt32) -> Int?

    /// The FLOW elements (attribute header and padding included) of the flows `flows(selector)`
    /// gives, in the same order, each exactly as FlowTableCodec.encode writes that flow (what a
    /// GET_FLOWS answer's FLOWS holds): the daemon's byte path answers GET_FLOWS by copying them.
    /// A stored flow is put in that form the first time it is asked for (a request's element is
    /// kept when it already is, else replaced), and kept so. False: an unknown table (body not
    /// called), or a flow that cannot be encoded (the typed path then answers).
    func flowElements(_ selector: FlowSelector, into body: (UnsafeRawBufferPointer) -> Void) -> Bool

    /// Removes every flow of every table; the tables stay.
    func removeAll()

    // The byte path (ByteService): the same calls for every backend, on a validated FlowView.
    // Only the plain success is done here; anything else changes nothing and the service hands
    // the request to the typed path, which then says which error it is.

    /// Stores the flow of `view` (its bytes, and whatever the backend derives from them) and
    /// returns true when that is a plain success. False, nothing changed: unknown table, the uid
    /// stored, a stored flow of the same identity (the hash backend: of the same fingerprint, a
    /// duplicate or a collision), the table full.
    func insert(_ view: FlowView) -> Bool

    /// Removes flow `uid` of `table` without building it, returning what `restore` needs to put
    /// it back; nil (nothing changed) when there is none.
    func remove(table: UInt32, uid: UInt32) -> RemovedFlow?

    /// Puts back a flow `remove` took out, exactly as it was stored. Only for undoing the
    /// removals of one request, newest first, after undoing its inserts.
    func restore(_ removed: RemovedFlow)

    /// Hardware entry writes caused so far (the tcam's shifting); 0 for the other backends.
    var entryMoves: Int { get }

    /// The flow of `table` that `key` hits (spec/backend-contract.md §4): of the flows whose
    /// every match holds for the packet, the highest priority, among equal priorities the lowest
    /// uid; nil when none matches or the table is unknown. Each backend answers from its own
    /// structure (PacketKey.swift); a backend without one gets a scan of `flows`.
    func lookup(table: UInt32, key: PacketKey) -> FlowHit?
}

/// A flow `FlowBackend.remove(table:uid:)` took out, in the form its backend stores it.
public struct RemovedFlow {
    let table: UInt32
    let kept: Kept

    enum Kept {
        case slot(HashSlot)
        case stored(StoredFlow)
    }
}

extension FlowBackend {
    /// `flows(_:into:)` collected into an array.
    public func flows(_ selector: FlowSelector) -> Result<[Flow], BackendError> {
        var out: [Flow] = []
        return flows(selector) { out.append($0) }.map { out }
    }

    /// All flows of `table`, in (priority, uid) order; empty for an unknown table.
    public func allFlows(table: UInt32) -> [Flow] {
        (try? flows(FlowSelector(table: table)).get()) ?? []
    }

    /// Total number of flows over all tables.
    public var totalCount: Int {
        tableSizes.keys.reduce(0) { $0 + (count(table: $1) ?? 0) }
    }

    public var entryMoves: Int { 0 }

    /// A backend that keeps no encoded flows gives none: its GET_FLOWS go to the typed path.
    public func flowElements(_ selector: FlowSelector, into body: (UnsafeRawBufferPointer) -> Void) -> Bool { false }
}

/// A backend that can also classify packets: find the flow a packet hits.
public protocol PacketClassifier: FlowBackend {
    /// The flow of `table` with the highest priority (largest number) whose every match holds for
    /// `packet`; among equal priorities the lowest uid. nil when none matches or the table is
    /// unknown. A flow with no matches matches every packet.
    func lookup(table: UInt32, packet: PacketFields) -> Flow?
}

// MARK: configuration helpers

extension FlowBackend {
    /// A backend for the tables of a pipeline model (uid → size).
    public init(model tables: [Table]) {
        self.init(tables: FlowBackendTables.sizes(of: tables))
    }
}

/// Helpers shared by the backends.
public enum FlowBackendTables {
    /// uid → size of advertised tables. A uid advertised twice keeps its smallest size: the safe
    /// reading of a contradictory model (the model validator should reject it anyway).
    public static func sizes(of tables: [Table]) -> [UInt32: UInt32] {
        var sizes: [UInt32: UInt32] = [:]
        for t in tables { sizes[t.uid] = min(sizes[t.uid] ?? .max, t.size) }
        return sizes
    }

    /// Whether a table with `size` holding `count` flows has room for one more.
    @inlinable public static func hasRoom(size: UInt32, count: Int) -> Bool {
        size == Table.unbounded || count < Int(size)
    }
}

/// The identity of "the same flow entry" besides the uid: same canonical match set and same
/// priority (two flows may share a match set at different priorities).
public struct MatchPriority: Hashable, Sendable {
    public var matchSet: MatchSet
    public var priority: UInt32

    public init(_ matchSet: MatchSet, _ priority: UInt32) {
        self.matchSet = matchSet
        self.priority = priority
    }

    public init(_ flow: Flow) {
        self.init(MatchSet(flow.matches ?? []), flow.priority)
    }
}

/// Lookup preference: higher priority wins, then the lower uid.
@inline(__always) func beats(priority p: UInt32, uid u: UInt32, _ best: StoredFlow?) -> Bool {
    guard let best else { return true }
    return p > best.priority || (p == best.priority && u < best.uid)
}
