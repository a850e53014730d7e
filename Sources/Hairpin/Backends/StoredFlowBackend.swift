// The get-flows answers and the typed delete of the backends that keep their flows as StoredFlow (dummy, tss, tcam):
// each says only which stored flows a selector gives, in which order; the typed and the encoded
// answers are built from that here, once.
import LibFlowTable

protocol StoredFlowBackend: FlowBackend {
    /// Where a flow is encoded for flowElements (reused).
    var elementScratch: NetlinkWriter { get set }

    /// Calls `body` with the stored flows `flows(selector)` gives, in its order (ascending
    /// (priority, uid)); false for an unknown table (body not called).
    func stored(_ selector: FlowSelector, _ body: (StoredFlow) -> Void) -> Bool
}

extension StoredFlowBackend {
    public func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> {
        guard let removed = remove(table: table, uid: uid), case .stored(let s) = removed.kept else {
            return .failure(.noSuchEntry)
        }
        return .success(s.flow)
    }

    public func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        stored(selector) { body($0.flow) } ? .success(()) : .failure(.noSuchEntry)
    }

    public func flowElements(_ selector: FlowSelector, into body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        var encoded = true
        let found = stored(selector) { s in
            if encoded, s.withElement(scratch: &elementScratch, body) == nil { encoded = false }
        }
        return found && encoded
    }
}
