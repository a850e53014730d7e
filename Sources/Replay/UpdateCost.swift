// Update cost in the terms the classifier literature uses (FastRule, Hermes, the TSS papers):
// per backend, at a table holding N flows, how many inserts and deletes per second, how many
// TCAM entries each update moves, how many tuples the tss holds, and the bytes of backend state
// per flow. The table is filled with an acl-like rule set in priority order (no moves), then U
// random installed flows are deleted and U new rules inserted at random priorities among the
// installed ones (the worst case for a packed TCAM is the average case here). Each batch is
// timed whole by this thread's CPU clock (a per-operation clock read would cost as much as the
// operation; CPU time leaves out the waits of a loaded machine).

import Hairpin
import LibFlowTable
import Posix

public struct UpdateCostResult: Sendable {
    public var backend: String
    public var flows: Int
    public var skipped: String?
    public var updates = 0
    public var refused = 0
    public var insertsPerSecond = 0.0
    public var deletesPerSecond = 0.0
    public var movesPerInsert = 0.0
    public var movesPerDelete = 0.0
    public var tuples: Int?
    public var bytesPerFlow = 0.0

    public init(backend: String, flows: Int) {
        self.backend = backend
        self.flows = flows
    }

    public var movesPerUpdate: Double { (movesPerInsert + movesPerDelete) / 2 }
}

public enum UpdateCost {
    /// Backends whose fill is O(n) per insert stop at this size (reported as skipped).
    public static let linearFillCap = 20_000

    /// Bytes of heap in use (Posix's Heap: glibc's mallinfo2), 0 where the C library does not say.
    static func heapBytes() -> Int { Heap.bytesInUse() ?? 0 }

    public static func run(
        model: PipelineModel, tableName: String = "ingress_acl", sizes: [Int], kinds: [BackendKind],
        updates: Int, seed: UInt64
    ) -> [UpdateCostResult] {
        guard var table = model.tables.first(where: { $0.name == tableName }) ?? model.tables.first else { return [] }
        var out: [UpdateCostResult] = []
        for n in sizes {
            table.size = UInt32(n + updates + 1)
            let m = PipelineModel(
                headers: model.headers, actions: model.actions, tables: [table],
                headerGraph: model.headerGraph, tableGraph: model.tableGraph)
            let names = ModelFieldNames(model: m)
            let all = ACLRuleSet.flows(count: n + updates, table: table, names: names, seed: seed)
            let fill = Array(all.prefix(n))
            var rng = SeededGenerator(seed: seed ^ 0x5EED)
            let lo = fill.map(\.priority).min() ?? 1, hi = fill.map(\.priority).max() ?? 1
            // The new rules: fresh uids, priorities among the installed ones.
            let fresh: [Flow] = all.dropFirst(n).enumerated().map { i, f in
                var g = f
                g.uid = UInt32(n + updates + 1 + i)
                g.priority = lo + UInt32(rng.next() % UInt64(max(1, hi - lo + 1)))
                return g
            }
            let victims: [Int] = (0..<updates).map { _ in Int(rng.next() % UInt64(max(1, n))) }
            for kind in kinds {
                var r = UpdateCostResult(backend: kind.rawValue, flows: n)
                if (kind == .dummy || kind == .tcam) && n > linearFillCap {
                    r.skipped = "O(n) per insert: skipped above \(linearFillCap) flows"
                    out.append(r)
                    continue
                }
                let before = heapBytes()
                let b = kind.make(tables: [table.uid: table.size])
                for f in fill { if case .failure = b.insert(f) { r.refused += 1 } }
                r.bytesPerFlow = Double(heapBytes() - before) / Double(max(1, n))
                if let tss = b as? TSSBackend { r.tuples = tss.tupleCount(table: table.uid) }
                // The victims, distinct, chosen before the clock starts.
                var installed = fill.map(\.uid)
                var doomed: [UInt32] = []
                for i in 0..<min(updates, fresh.count, installed.count) {
                    let at = victims[i] % installed.count
                    doomed.append(installed[at])
                    installed[at] = installed[installed.count - 1]
                    installed.removeLast()
                }
                let news = Array(fresh.prefix(doomed.count))
                var m0 = b.entryMoves
                var t0 = ThreadCPUClock.now()
                for uid in doomed { _ = b.delete(table: table.uid, uid: uid) }
                let deleteNs = ThreadCPUClock.now() - t0
                let deleteMoves = b.entryMoves - m0
                m0 = b.entryMoves
                t0 = ThreadCPUClock.now()
                for f in news { if case .failure = b.insert(f) { r.refused += 1 } }
                let insertNs = ThreadCPUClock.now() - t0
                let insertMoves = b.entryMoves - m0
                r.updates = doomed.count
                let u = Double(max(1, r.updates))
                r.insertsPerSecond = insertNs == 0 ? 0 : u / (Double(insertNs) / 1e9)
                r.deletesPerSecond = deleteNs == 0 ? 0 : u / (Double(deleteNs) / 1e9)
                r.movesPerInsert = Double(insertMoves) / u
                r.movesPerDelete = Double(deleteMoves) / u
                out.append(r)
            }
        }
        return out
    }
}
