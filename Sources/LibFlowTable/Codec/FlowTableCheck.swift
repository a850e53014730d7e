// A check-only walk over a Flow Table API message: every rule of the typed decoder
// (FlowTableCodec.decode, FlowTableMessage.decode) without building the model. It throws the
// very DecodeError the decoder would (same reason, byte offset and attribute path, so the same
// extended-ack text), and on success returns only what a forwarder needs: the preamble,
// FLOWS_ERROR and how many flows there are. unft's twin forwards a request's bytes verbatim,
// so the decoded copy (arrays of flows, matches, actions; their allocation and teardown) was
// pure cost (BENCHMARKS.md, "Loopback").
//
// How it stays exact: every set is walked by the decoder's own StrictWalk over the generated
// descriptors, nests by their descriptors' nested sets (place variants included); the GET_FLOWS
// selector goes to the decoder's own decodeSelector; the shape
// rules are the decoder's own validateShape, on the message's presence bits.
// `FlowTableCheckTests` holds walk and decoder to the same verdicts and errors on generated
// valid and malformed messages.

/// What a well-formed message carries, as far as forwarding it needs.
public struct FlowTableMessageSummary: Hashable, Sendable {
    public var header: NetlinkHeader
    public var command: UInt8
    public var version: UInt8
    public var identifierType: UInt32?
    public var identifier: UInt32?
    public var errorStrategy: ErrorStrategy?
    /// Elements of FLOWS in the list layout (0 when absent: see `hasFlows`).
    public var flowCount = 0
    public var hasFlows = false
    public var selector: FlowSelector?
    /// Top-level attribute types present, as bits (1 << type).
    public var present: UInt32 = 0

    public var isRequest: Bool { header.isRequest }
}

extension FlowTableMessage {
    /// Checks one Flow Table API message as `decode(_:familyID:requireShape:)` does and throws
    /// the same error; builds nothing.
    public static func check(
        _ m: NetlinkMessageView, familyID: UInt16? = nil,
        requireShape: Bool = true
    ) throws(DecodeError) -> FlowTableMessageSummary {
        let (g, attrs) = try m.generic(familyID: familyID)
        let layout = FlowsLayout.of(command: g.command, isRequest: m.header.isRequest)
        var s = FlowTableMessageSummary(header: m.header, command: g.command, version: g.version)
        try FlowTableCodec.check(attrs, layout: layout, into: &s)
        if requireShape {
            try FlowTableAttributes.validateShape(
                s.presence, command: g.command, isRequest: m.header.isRequest,
                offset: m.offset + m.bytes.count)
        }
        return s
    }

    public static func check(
        _ bytes: UnsafeRawBufferPointer, familyID: UInt16? = nil,
        requireShape: Bool = true
    ) throws(DecodeError) -> FlowTableMessageSummary {
        try check(try NetlinkMessageView.single(bytes), familyID: familyID, requireShape: requireShape)
    }
}

/// One flow, for the stand-in of a non-empty FLOWS (shared, so no allocation per message).
private let oneFlow: [Flow] = [Flow(table: 0, uid: 0, priority: 0)]

extension FlowTableMessageSummary {
    /// Attributes with the same presence (and FLOWS emptiness) as the message, for a caller
    /// that needs a FlowTableAttributes (HairpinCodec's ENCAP). Empty arrays and the shared
    /// one-flow array allocate nothing.
    var standIn: FlowTableAttributes {
        var a = FlowTableAttributes()
        a.identifierType = identifierType
        a.identifier = identifier
        a.errorStrategy = errorStrategy
        func has(_ t: UInt16) -> Bool { present & (1 << UInt32(t)) != 0 }
        if has(NFL.Attr.tables) { a.tables = [] }
        if has(NFL.Attr.headers) { a.headers = [] }
        if has(NFL.Attr.actions) { a.actions = [] }
        if has(NFL.Attr.headerGraph) { a.headerGraph = [] }
        if has(NFL.Attr.tableGraph) { a.tableGraph = [] }
        if hasFlows { a.flows = flowCount > 0 ? oneFlow : [] }
        a.selector = selector
        return a
    }

    /// What the decoder's shape rules look at, from the presence bits.
    var presence: FlowTableAttributes.Presence {
        func has(_ t: UInt16) -> Bool { present & (1 << UInt32(t)) != 0 }
        var p = FlowTableAttributes.Presence(
            identifierType: identifierType != nil, identifier: identifier != nil,
            errorStrategy: errorStrategy != nil,
            flowsEmpty: hasFlows && flowCount == 0)
        if has(NFL.Attr.tables) { p.insert(.tables) }
        if has(NFL.Attr.headers) { p.insert(.headers) }
        if has(NFL.Attr.actions) { p.insert(.actions) }
        if has(NFL.Attr.headerGraph) { p.insert(.headerGraph) }
        if has(NFL.Attr.tableGraph) { p.insert(.tableGraph) }
        if hasFlows { p.insert(.flows) }
        if selector != nil { p.insert(.selector) }
        return p
    }
}

extension FlowTableCodec {
    /// The top-level walk of `decode(_:layout:depth:)`, building nothing but the summary.
    static func check(
        _ it: AttributeIterator, layout: FlowsLayout, depth: Int = 0,
        into s: inout FlowTableMessageSummary
    ) throws(DecodeError) {
        let set = AttributeSetID.nflAttrs
        var w = StrictWalk.Walker<StrictWalk.Exact>(it, nestOffset: 0, set)
        while let (attr, _) = try w.next() {
            switch attr.type {
            case NFL.Attr.identifierType: s.identifierType = attr.checkedU32
            case NFL.Attr.identifier: s.identifier = attr.checkedU32
            case NFL.Attr.flowsError: s.errorStrategy = ErrorStrategy(rawValue: attr.checkedU32)
            case NFL.Attr.flows:
                if case .selector = layout {
                    s.selector = try wrap(NFL.Attr.self, attr) { () throws(DecodeError) in try decodeSelector(attr) }
                } else {
                    // One call for both list layouts: they differ only in the set.
                    let list: AttributeSetID = layout == .deleteList ? .nflFlowListInDelFlows : .nflFlowList
                    s.flowCount = try checkList(attr, list, in: set, depth: depth + 1)
                    s.hasFlows = true
                }
            // TABLES, HEADERS, ACTIONS and the graphs.
            default: _ = try checkList(attr, in: set, depth: depth + 1)
            }
        }
        let seen = try w.finish()
        s.present = UInt32(truncatingIfNeeded: seen.bits)
    }

    /// Checks the list nest `nest` (an attribute of `parent`) and everything in its elements, as
    /// the decoder would; returns the number of elements.
    package static func checkList(_ nest: Attribute, in parent: AttributeSetID, depth: Int) throws(DecodeError) -> Int {
        try checkList(nest, StrictWalk.listSet(of: nest.type, in: parent), in: parent, depth: depth)
    }

    static func checkList(
        _ nest: Attribute, _ list: AttributeSetID, in parent: AttributeSetID,
        depth: Int
    ) throws(DecodeError) -> Int {
        // The verdict first; the same walk with the decoder's errors only runs to name what is
        // wrong.
        if let n = try? checkList(nest, list, in: parent, depth: depth, StrictWalk.Verdict.self) { return n }
        return try checkList(nest, list, in: parent, depth: depth, StrictWalk.Exact.self)
    }

    /// Checks `nest`, of the set `id`, and everything in it, as the decoder would.
    package static func checkNest(_ nest: Attribute, _ id: AttributeSetID, depth: Int) throws(DecodeError) {
        try checkNest(nest, id, depth: depth, StrictWalk.Exact.self)
    }

    /// The one check of a list nest (`list` is its set) and what its elements hold, reporting by
    /// `R`; returns the number of elements.
    static func checkList<R: StrictWalkReport>(
        _ nest: Attribute, _ list: AttributeSetID, in parent: AttributeSetID, depth: Int, _ report: R.Type
    ) throws(R.Failure) -> Int {
        do throws(R.Failure) {
            var w = try StrictWalk.ListWalker<R>(nest, list, depth: depth)
            if let element = StrictWalk.elementSet(of: list) {
                while let child = try w.next() {
                    do throws(R.Failure) { try checkNest(child, element, depth: depth + 1, report) } catch {
                        throw R.withinElement(error, list, w.index)
                    }
                }
            } else {
                while try w.next() != nil {}
            }
            return w.index
        } catch {
            throw R.within(error, parent, nest.type)
        }
    }

    /// The one check of a nest of the set `id` and everything in it, reporting by `R`.
    static func checkNest<R: StrictWalkReport>(
        _ nest: Attribute, _ id: AttributeSetID, depth: Int, _ report: R.Type
    ) throws(R.Failure) {
        var w = StrictWalk.Walker<R>(nest, id)
        while let (attr, d) = try w.next() {
            guard d.kind == .nest, let inner = d.nested else { continue }
            if inner.descriptor.element != 0 {
                _ = try checkList(attr, inner, in: id, depth: depth + 1, report)
            } else {
                do throws(R.Failure) { try checkNest(attr, inner, depth: depth, report) } catch {
                    throw R.within(error, id, attr.type)
                }
            }
        }
        _ = try w.finish()
    }

    /// Checks one FLOW element (a list element of FLOWS) by every rule of the decoder: the
    /// validated flow view of the byte-level paths. `depth` is the element's (2 under a message's
    /// FLOWS).
    package static func checkFlow(_ element: Attribute, depth: Int = 2) throws(DecodeError) {
        try checkNest(element, .nflFlow, depth: depth)
    }
}
