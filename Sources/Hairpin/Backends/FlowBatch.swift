// Applying the FLOWS of one SET_FLOWS / DEL_FLOWS request to a backend under an error strategy.
// The originals did not honour the strategies, did not roll back and lost the per-flow errno
// (bugs 3, 21); this layer does all three. Contract: spec/backend-contract.md.
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
    public static func apply(op: FlowOp, flows: [Flow], strategy: ErrorStrategy,
                             backend: any FlowBackend) -> [FlowResult] {
        let abort = aborts(strategy)
        var results: [FlowResult] = []
        results.reserveCapacity(flows.count)
        // What to undo on abort: for SET the (table, uid) inserted, for DEL the flows removed.
        var inserted: [(table: UInt32, uid: UInt32)] = []
        var deleted: [Flow] = []

        for (i, flow) in flows.enumerated() {
            let errno: Int32
            switch op {
            case .set:
                errno = backend.insert(flow).errno
                if errno == 0, abort { inserted.append((flow.table, flow.uid)) }
            case .del:
                switch backend.delete(table: flow.table, uid: flow.uid) {
                case .success(let old):
                    errno = 0
                    if abort { deleted.append(old) }
                case .failure(let e):
                    errno = e.errno
                }
            }
            if errno != 0, abort {
                rollBack(inserted: inserted, deleted: deleted, backend: backend)
                return flows.indices.map {
                    FlowResult(index: UInt32(truncatingIfNeeded: $0),
                               errno: UInt32($0 == i ? errno : BackendErrno.canceled))
                }
            }
            results.append(FlowResult(index: UInt32(truncatingIfNeeded: i), errno: UInt32(errno)))
        }
        return results
    }

    /// Undoes a batch's applied flows, newest first. Cannot fail for a correct backend: a deleted
    /// flow's uid, identity and slot are free again (this batch only deleted), and an inserted
    /// flow is present. A failure would be a backend bug; it is caught in debug builds.
    private static func rollBack(inserted: [(table: UInt32, uid: UInt32)], deleted: [Flow],
                                 backend: any FlowBackend) {
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
