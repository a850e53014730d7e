// Applying the FLOWS of one SET_FLOWS / DEL_FLOWS request to a backend under an error strategy.
// The originals did not honour the strategies, did not roll back and lost the per-flow errno
// (ABORT_LOG went on, ABORT kept the flows before the failure); this layer does all three. Contract: spec/backend-contract.md.
import LibFlowTable

/// Which command a batch carries.
public enum FlowOp: String, Sendable, CaseIterable {
    /// SET_FLOWS: insert every flow.
    case set
    /// DEL_FLOWS: delete by (table, uid); the rest of the flow is ignored.
    case del
}

public enum FlowBatch {
    /// Whether `strategy` stops at the first failure and rolls back. ABORT and ABORT_LOG do;
    /// CONTINUE and CONT_LOG do not. Unknown values abort: all-or-nothing is the safe reading
    /// (the daemon should have rejected them with EINVAL before calling).
    public static func aborts(_ strategy: ErrorStrategy) -> Bool {
        strategy != .continue && strategy != .continueLog
    }

    /// Applies `flows` in order and returns one FlowResult per flow, index = position in `flows`.
    ///
    /// * ABORT / ABORT_LOG: at the first failure, undo the earlier flows of this batch in reverse
    ///   order (inserted ones deleted, deleted ones re-inserted exactly as they were), so the
    ///   backend ends as it began. Results: the failing flow its errno, every other flow ECANCELED.
    ///   When nothing fails every result is 0.
    /// * CONTINUE / CONT_LOG: every flow is tried; each result is its own errno (0 = applied).
    ///
    /// The `_LOG` variants differ only in what the caller replies with, not here.
    public static func apply(
        op: FlowOp, flows: [Flow], strategy: ErrorStrategy,
        backend: any FlowBackend
    ) -> [FlowResult] {
        apply(op: op, flows: flows, strategy: strategy, backend: backend, precheck: { _, _ in 0 })
    }

    // The daemon validates every flow against the device's model, and a flow that fails
    // validation must count as a failure of the batch exactly like a backend refusal. Under ABORT
    // that means stopping and rolling back what the batch applied so far, so validation cannot
    // run as a separate pass before the batch (a pass would either reject the whole batch for
    // CONTINUE or leave earlier flows applied for ABORT). It runs in batch order, right before
    // the backend would see the flow.

    /// Where a failure came from.
    public enum FailureSource: Sendable {
        /// `precheck` refused the flow; the backend never saw it.
        case precheck
        /// The backend refused the flow.
        case backend
    }

    /// `apply(op:flows:strategy:backend:)` with `precheck` run on each flow first (index in the
    /// batch, flow) returning 0 or a positive errno. A nonzero errno is the flow's result and a
    /// failure for the strategy: ABORT / ABORT_LOG stop and roll back, CONTINUE / CONT_LOG go on.
    ///
    /// `onFailure` is called at each failure, before any rollback, while the backend still holds
    /// what caused it (e.g. the flow a duplicate collided with, which may be an earlier flow of
    /// this batch that the rollback removes).
    ///
    /// With a precheck that always returns 0 the results equal `apply(op:flows:strategy:backend:)`.
    ///
    /// `timing`, when given, times each backend operation (rollback included).
    public static func apply(
        op: FlowOp, flows: [Flow], strategy: ErrorStrategy, backend: any FlowBackend,
        timing: BackendTiming? = nil,
        precheck: (Int, Flow) -> Int32,
        onFailure: (Int, Flow, Int32, FailureSource) -> Void = { _, _, _, _ in }
    ) -> [FlowResult] {
        let abort = aborts(strategy)
        // The last flow's change is never undone (a failure after it cannot happen), so a
        // single-flow batch — the common call — records nothing to undo and allocates no list.
        let lastIndex = flows.count - 1
        var results: [FlowResult] = []
        results.reserveCapacity(flows.count)
        // What to undo on abort: for SET the (table, uid) inserted, for DEL the flows removed.
        var inserted: [(table: UInt32, uid: UInt32)] = []
        var deleted: [Flow] = []

        for (i, flow) in flows.enumerated() {
            // A negative value from a careless precheck still means failure, not a trap.
            var errno = Int32(truncatingIfNeeded: precheck(i, flow).magnitude)
            var source = FailureSource.precheck
            if errno == 0 {
                source = .backend
                let started = timing?.start()
                defer { if let started { timing?.end(started) } }
                switch op {
                case .set:
                    errno = backend.insert(flow).errno
                    if errno == 0, abort, i < lastIndex { inserted.append((flow.table, flow.uid)) }
                case .del:
                    switch backend.delete(table: flow.table, uid: flow.uid) {
                    case .success(let old):
                        if abort, i < lastIndex { deleted.append(old) }
                    case .failure(let e):
                        errno = e.errno
                    }
                }
            }
            if errno != 0 {
                onFailure(i, flow, errno, source)
                if abort {
                    let started = timing?.start()
                    undo(inserted: inserted, deleted: deleted, backend: backend)
                    if let started { timing?.end(started) }
                    return flows.indices.map {
                        FlowResult(
                            index: UInt32(truncatingIfNeeded: $0),
                            errno: ($0 == i ? errno : BackendErrno.canceled).magnitude)
                    }
                }
            }
            results.append(FlowResult(index: UInt32(truncatingIfNeeded: i), errno: errno.magnitude))
        }
        return results
    }

    /// The rollback of `apply`: newest first. Cannot fail for a conforming backend (the batch is
    /// only inserts or only deletes, so what it undoes frees exactly what it restores).
    private static func undo(inserted: [(table: UInt32, uid: UInt32)], deleted: [Flow], backend: any FlowBackend) {
        for (table, uid) in inserted.reversed() {
            let undone = backend.delete(table: table, uid: uid)
            assert(undone.errno == 0, "rollback delete of \(table)/\(uid) failed: \(undone)")
        }
        for flow in deleted.reversed() {
            let undone = backend.insert(flow)
            assert(undone.errno == 0, "rollback insert of \(flow.table)/\(flow.uid) failed: \(undone)")
        }
    }
}
