// What the daemon's byte path hands every backend: one FLOW element of a request, read and
// validated in place (EncodedFlowReader, ValidationIndex), with the fields a backend needs
// decoded and the element's bytes to keep. No Flow is built; a backend that must answer with a
// Flow later (get-flows, a lookup, an error report) decodes the kept bytes then, with the real
// decoder, so it holds what the typed path would have stored from the same bytes.
import LibFlowTable

public struct FlowView {
    public let table: UInt32
    public let uid: UInt32
    public let priority: UInt32
    /// The matches as the decoder reads them, in request order (valid during the call only).
    public let matches: UnsafeBufferPointer<FieldRef>
    /// The whole FLOW element, attribute header included (valid during the call only).
    public let element: UnsafeRawBufferPointer
    /// `element` is byte for byte what FlowTableCodec's encoder writes for the flow (the
    /// reader's verdict, FlowTableCodec.isEncoderForm's): get-flows answers with it as it is.
    /// False only means "not known".
    public let encoderForm: Bool

    public init(
        table: UInt32, uid: UInt32, priority: UInt32,
        matches: UnsafeBufferPointer<FieldRef>, element: UnsafeRawBufferPointer, encoderForm: Bool = false
    ) {
        self.table = table
        self.uid = uid
        self.priority = priority
        self.matches = matches
        self.element = element
        self.encoderForm = encoderForm
    }

    /// FlowIdentity.fingerprint(matches, priority): the identity key of the hash backend. Computed
    /// by the backend that asks for it, inside its own operation (and its timing), not by the
    /// service for every backend.
    public var fingerprint: UInt64 { FlowIdentity.fingerprint(matches, priority: priority) }

    /// The canonical match set (what MatchSet(flow.matches) is for the decoded flow).
    public var matchSet: MatchSet { MatchSet(keys: matches.map(MatchKey.init)) }
}

/// A flow as the dummy, tss and tcam backends keep it: typed (a typed insert) or the FLOW
/// element's bytes (a FlowView), decoded the first time a Flow is asked for and kept from then
/// on. The match set is derived once, at insert, from either form.
final class StoredFlow {
    let table: UInt32
    let uid: UInt32
    let priority: UInt32
    let matchSet: MatchSet
    private var typed: Flow?
    /// The FLOW element, header included; emptied once decoded, until `withElement` puts the
    /// encoder's form of the flow here.
    private var element: [UInt8]
    /// `element` holds exactly what FlowTableCodec.encode writes for the flow (known at insert,
    /// FlowView.encoderForm, or once `withElement` encoded it).
    private var encoded = false

    init(_ flow: Flow, matchSet: MatchSet) {
        table = flow.table
        uid = flow.uid
        priority = flow.priority
        self.matchSet = matchSet
        typed = flow
        element = []
    }

    init(_ view: FlowView, matchSet: MatchSet) {
        table = view.table
        uid = view.uid
        priority = view.priority
        self.matchSet = matchSet
        typed = nil
        element = Array(view.element)
        encoded = view.encoderForm
    }

    var flow: Flow {
        if let typed { return typed }
        var scratch: [UInt8] = []
        let decoded = element.withUnsafeBytes { EncodedFlowStore.decode($0, scratch: &scratch) }
        // The bytes were checked when stored (EncodedFlowReader accepts only what the decoder
        // does), so this cannot fail; should it anyway, the identity is still right.
        let f = decoded ?? Flow(table: table, uid: uid, priority: priority)
        typed = f
        // Bytes in the encoder's form are what `withElement` answers with: kept.
        if !encoded { element = [] }
        return f
    }

    /// Calls `body` with the flow's FLOW element as the encoder writes it (encoded once, from the
    /// decoded flow, and kept); nil when the flow cannot be encoded. `scratch` is reused.
    func withElement<R>(scratch: inout NetlinkWriter, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        if !encoded, typed == nil, element.withUnsafeBytes({ FlowTableCodec.isEncoderForm(flow: $0) }) {
            encoded = true
        }
        if !encoded {
            let f = flow
            scratch.reset()
            do throws(EncodeError) { try FlowTableCodec.encode(f, into: &scratch) } catch { return nil }
            element = scratch.withUnsafeBytes { Array($0) }
            encoded = true
        }
        return element.withUnsafeBytes(body)
    }
}
