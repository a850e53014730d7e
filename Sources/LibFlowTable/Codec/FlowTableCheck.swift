// A check-only walk over a Flow Table API message: every rule of the typed decoder
// (FlowTableCodec.decode, FlowTableMessage.decode) without building the model. It throws the
// very DecodeError the decoder would (same reason, byte offset and attribute path, so the same
// extended-ack text), and on success returns only what a forwarder needs: the preamble,
// FLOWS_ERROR and how many flows there are. unft's twin forwards a request's bytes verbatim,
// so the decoded copy (arrays of flows, matches, actions; their allocation and teardown) was
// pure cost: ~4,700 instructions per flow (BENCHMARKS.md, "Loopback").
//
// How it stays exact: the hot sets (FLOWS and everything in a flow: field refs, actions,
// action args) are walked here line for line like their decoders; the sets a batch never
// carries (TABLES, HEADERS, ACTIONS, the graphs) and the GET_FLOWS selector go to the typed
// decoder itself, its result dropped; strings and values go to the Attribute readers; the
// shape rules run on a stand-in FlowTableAttributes through the decoder's own validateShape.
// Before the exact walk, FLOWS gets a tight conservative pass (FastFlowsCheck, at the end of
// this file) that only ever says "surely valid" or "look closer". `FlowTableCheckTests` holds
// walk and decoder to the same verdicts and errors on generated valid and malformed messages.

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
    public static func check(_ m: NetlinkMessageView, familyID: UInt16? = nil,
                             requireShape: Bool = true) throws(DecodeError) -> FlowTableMessageSummary {
        if let familyID, m.header.type != familyID {
            throw DecodeError(.wrongFamily(expected: familyID, got: m.header.type), at: m.offset + 4)
        }
        let (g, attrs) = try m.generic()
        let layout = FlowsLayout.of(command: g.command, isRequest: m.header.isRequest)
        var s = FlowTableMessageSummary(header: m.header, command: g.command, version: g.version)
        try FlowTableCodec.check(attrs, layout: layout, into: &s)
        if requireShape {
            try s.standIn.validateShape(command: g.command, isRequest: m.header.isRequest,
                                        offset: m.offset + m.bytes.count)
        }
        return s
    }

    public static func check(_ bytes: UnsafeRawBufferPointer, familyID: UInt16? = nil,
                             requireShape: Bool = true) throws(DecodeError) -> FlowTableMessageSummary {
        try check(try NetlinkMessageView.single(bytes), familyID: familyID, requireShape: requireShape)
    }
}

/// One flow, for the stand-in of a non-empty FLOWS (shared, so no allocation per message).
private let oneFlow: [Flow] = [Flow(table: 0, uid: 0, priority: 0)]

extension FlowTableMessageSummary {
    /// Attributes with the same presence (and FLOWS emptiness) as the message, for the
    /// decoder's own shape rules. Empty arrays and the shared one-flow array allocate nothing.
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
}

/// The walk's seen-set is the decoder's own (DecodeHelpers.swift), so a repeat throws the same error.
typealias CheckedAttributes = SeenAttributes

/// `decodeList` without the result: the same element rule, depth limit and error paths;
/// returns the number of elements.
@inline(__always)
func checkList(_ nest: Attribute, elementName: StaticString, depth: Int,
               _ element: (Attribute, Int) throws(DecodeError) -> Void) throws(DecodeError) -> Int {
    guard depth < Netlink.maxNestingDepth else {
        throw DecodeError(.nestingTooDeep(Netlink.maxNestingDepth), at: nest.offset)
    }
    var it = nest.nested()
    var index = 0
    while let child = try it.next() {
        guard child.type == NFL.listElement else {
            throw DecodeError(.notAllowed("list element has type \(child.type), expected \(elementName) (1)"),
                              at: child.offset).within("\(elementName)[\(index)]")
        }
        do { try element(child, depth + 1) } catch { throw error.within("\(elementName)[\(index)]") }
        index += 1
    }
    return index
}

extension FlowTableCodec {
    /// The top-level walk of `decode(_:layout:depth:)`.
    static func check(_ it: AttributeIterator, layout: FlowsLayout, depth: Int = 0,
                      into s: inout FlowTableMessageSummary) throws(DecodeError) {
        var it = it
        var seen = CheckedAttributes()
        let names = NFL.Attr.self
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            switch attr.type {
            case NFL.Attr.identifierType: s.identifierType = try attr.u32(in: names)
            case NFL.Attr.identifier: s.identifier = try attr.u32(in: names)
            case NFL.Attr.flowsError: s.errorStrategy = ErrorStrategy(rawValue: try attr.u32(in: names))
            // Not in a batch: the decoder checks them (and its result is dropped).
            case NFL.Attr.tables:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try decodeList(attr, elementName: "TABLE", depth: depth + 1, decodeTable)
                }
            case NFL.Attr.headers:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try decodeList(attr, elementName: "HEADER", depth: depth + 1, decodeHeader)
                }
            case NFL.Attr.actions:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try decodeList(attr, elementName: "ACTION", depth: depth + 1, decodeAction)
                }
            case NFL.Attr.headerGraph:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try decodeList(attr, elementName: "NODE", depth: depth + 1, decodeHeaderNode)
                }
            case NFL.Attr.tableGraph:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try decodeList(attr, elementName: "NODE", depth: depth + 1, decodeTableGraphNode)
                }
            case NFL.Attr.flows:
                switch layout {
                case .list:
                    // The fast pass for the usual request; the exact walk for anything else.
                    // (Its nesting, 6 levels below FLOWS, stays under the decoder's limit.)
                    if let n = FastFlowsCheck.count(attr.payload) {
                        s.flowCount = n
                    } else {
                        s.flowCount = try wrap(names, attr) { () throws(DecodeError) in
                            try checkList(attr, elementName: "FLOW", depth: depth + 1, checkFlow)
                        }
                    }
                    s.hasFlows = true
                case .selector:
                    s.selector = try wrap(names, attr) { () throws(DecodeError) in try decodeSelector(attr) }
                }
            default: throw unknown(attr)
            }
            if attr.type < 32 { s.present |= 1 << UInt32(attr.type) }
        }
    }

    /// `decodeFlow` without the flow.
    static func checkFlow(_ nest: Attribute, depth: Int) throws(DecodeError) {
        var it = nest.nested()
        var seen = CheckedAttributes()
        let names = NFL.FlowAttr.self
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            switch attr.type {
            case NFL.FlowAttr.error, NFL.FlowAttr.table, NFL.FlowAttr.uid, NFL.FlowAttr.priority:
                _ = try attr.u32(in: names)
            case NFL.FlowAttr.matches:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try checkList(attr, elementName: "FIELD_REF", depth: depth + 1, checkFieldRef)
                }
            case NFL.FlowAttr.actions:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try checkList(attr, elementName: "ACTION", depth: depth + 1, checkAction)
                }
            default: throw unknown(attr)
            }
        }
        guard seen.has(NFL.FlowAttr.table) else { throw missing("TABLE", in: nest) }
        guard seen.has(NFL.FlowAttr.uid) else { throw missing("UID", in: nest) }
        guard seen.has(NFL.FlowAttr.priority) else { throw missing("PRIORITY", in: nest) }
    }

    /// `decodeRef(_:allowNextNode: false)` without the ref.
    static func checkFieldRef(_ nest: Attribute, depth: Int) throws(DecodeError) {
        var it = nest.nested()
        var seen = CheckedAttributes()
        let names = NFL.FieldRefAttr.self
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            switch attr.type {
            case NFL.FieldRefAttr.nextNode:
                throw DecodeError(.notAllowed("NEXT_NODE is only allowed in a jump entry"), at: attr.offset)
            case NFL.FieldRefAttr.instance, NFL.FieldRefAttr.header, NFL.FieldRefAttr.field,
                 NFL.FieldRefAttr.maskType, NFL.FieldRefAttr.type:
                _ = try attr.u32(in: names)
            case NFL.FieldRefAttr.value, NFL.FieldRefAttr.mask: _ = try attr.fieldValue(in: names)
            default: throw unknown(attr)
            }
        }
        guard seen.has(NFL.FieldRefAttr.instance) else { throw missing("INSTANCE", in: nest) }
        guard seen.has(NFL.FieldRefAttr.header) else { throw missing("HEADER", in: nest) }
        guard seen.has(NFL.FieldRefAttr.field) else { throw missing("FIELD", in: nest) }
        guard seen.has(NFL.FieldRefAttr.maskType) else { throw missing("MASK_TYPE", in: nest) }
        guard seen.has(NFL.FieldRefAttr.type) else { throw missing("TYPE", in: nest) }
    }

    /// `decodeAction` without the action.
    static func checkAction(_ nest: Attribute, depth: Int) throws(DecodeError) {
        var it = nest.nested()
        var seen = CheckedAttributes()
        let names = NFL.ActionAttr.self
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            switch attr.type {
            case NFL.ActionAttr.name: try checkString(attr, names)
            case NFL.ActionAttr.uid: _ = try attr.u32(in: names)
            case NFL.ActionAttr.signature:
                _ = try wrap(names, attr) { () throws(DecodeError) in
                    try checkList(attr, elementName: "ACTION_ARG", depth: depth + 1, checkActionArg)
                }
            default: throw unknown(attr)
            }
        }
        guard seen.has(NFL.ActionAttr.uid) else { throw missing("UID", in: nest) }
    }

    /// `decodeActionArg` without the argument.
    static func checkActionArg(_ nest: Attribute, depth: Int) throws(DecodeError) {
        var it = nest.nested()
        var seen = CheckedAttributes()
        let names = NFL.ActionArgAttr.self
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            switch attr.type {
            case NFL.ActionArgAttr.name: try checkString(attr, names)
            case NFL.ActionArgAttr.type: _ = try attr.u32(in: names)
            case NFL.ActionArgAttr.value: _ = try attr.fieldValue(in: names)
            default: throw unknown(attr)
            }
        }
        guard seen.has(NFL.ActionArgAttr.type) else { throw missing("TYPE", in: nest) }
        guard seen.has(NFL.ActionArgAttr.value) else { throw missing("VALUE", in: nest) }
    }

    /// `Attribute.string(in:)` without the String for the usual case (ASCII, no NUL inside);
    /// anything else goes to the reader itself, which gives its verdict and error.
    @inline(__always)
    static func checkString<S: AttributeNames>(_ attr: Attribute, _ names: S.Type) throws(DecodeError) {
        var bytes = attr.payload
        if let last = bytes.last, last == 0 { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast()) }
        for b in bytes where b == 0 || b >= 0x80 {
            _ = try attr.string(in: names)
            return
        }
    }
}

// MARK: the fast pre-check of FLOWS

/// A tight, conservative pass over a FLOWS payload (list layout) for the common case: every
/// element well formed by the rules of `checkFlow` and below, names plain ASCII. It returns
/// the number of flows only when the decoder would certainly accept them all; nil means "look
/// closer", and the exact walk (`checkList(…, checkFlow)`) then gives the verdict and its error.
/// So it may refuse more than the decoder (never less): a false nil costs time, not a verdict.
/// It exists because the exact walk, built on the decoder's Attribute/iterator/typed-throws
/// plumbing, cost ~2,300 instructions per flow; this costs a fraction.
enum FastFlowsCheck {
    /// Calls `body(type, payloadStart, payloadEnd)` for each attribute of [start, end) as
    /// AttributeIterator walks it; false at the first malformed header or when `body` says so.
    @inline(__always)
    static func walk(_ p: UnsafeRawPointer, _ start: Int, _ end: Int,
                     _ body: (UInt16, Int, Int) -> Bool) -> Bool {
        var pos = start
        while pos < end {
            guard end - pos >= 4 else { return false }
            let len = Int(p.loadUnaligned(fromByteOffset: pos, as: UInt16.self))
            guard len >= 4, len <= end - pos else { return false }
            let type = p.loadUnaligned(fromByteOffset: pos + 2, as: UInt16.self) & Netlink.attributeTypeMask
            guard body(type, pos + 4, pos + len) else { return false }
            pos = min(pos + Netlink.align(len), end)
        }
        return true
    }

    /// Marks `type` (< 16) seen; false on a repeat.
    @inline(__always)
    static func mark(_ seen: inout UInt16, _ type: UInt16) -> Bool {
        let bit: UInt16 = 1 << type
        if seen & bit != 0 { return false }
        seen |= bit
        return true
    }

    /// A name the decoder takes as is: ASCII without NUL (a trailing NUL allowed).
    @inline(__always)
    static func plainName(_ p: UnsafeRawPointer, _ start: Int, _ end: Int) -> Bool {
        var e = end
        if e > start && p.load(fromByteOffset: e - 1, as: UInt8.self) == 0 { e -= 1 }
        var i = start
        while i < e {
            let b = p.load(fromByteOffset: i, as: UInt8.self)
            if b == 0 || b >= 0x80 { return false }
            i += 1
        }
        return true
    }

    static func fieldRef(_ p: UnsafeRawPointer, _ start: Int, _ end: Int) -> Bool {
        var seen: UInt16 = 0
        let ok = walk(p, start, end) { type, s, e in
            switch type {
            case NFL.FieldRefAttr.instance, NFL.FieldRefAttr.header, NFL.FieldRefAttr.field,
                 NFL.FieldRefAttr.maskType, NFL.FieldRefAttr.type:
                return e - s == 4 && mark(&seen, type)
            case NFL.FieldRefAttr.value, NFL.FieldRefAttr.mask:
                return e - s >= 1 && e - s <= 8 && mark(&seen, type)
            default: return false // NEXT_NODE, unknown
            }
        }
        let required: UInt16 = 1 << NFL.FieldRefAttr.instance | 1 << NFL.FieldRefAttr.header
            | 1 << NFL.FieldRefAttr.field | 1 << NFL.FieldRefAttr.maskType | 1 << NFL.FieldRefAttr.type
        return ok && seen & required == required
    }

    static func actionArg(_ p: UnsafeRawPointer, _ start: Int, _ end: Int) -> Bool {
        var seen: UInt16 = 0
        let ok = walk(p, start, end) { type, s, e in
            switch type {
            case NFL.ActionArgAttr.name: return plainName(p, s, e) && mark(&seen, type)
            case NFL.ActionArgAttr.type: return e - s == 4 && mark(&seen, type)
            case NFL.ActionArgAttr.value: return e - s >= 1 && e - s <= 8 && mark(&seen, type)
            default: return false
            }
        }
        let required: UInt16 = 1 << NFL.ActionArgAttr.type | 1 << NFL.ActionArgAttr.value
        return ok && seen & required == required
    }

    static func action(_ p: UnsafeRawPointer, _ start: Int, _ end: Int) -> Bool {
        var seen: UInt16 = 0
        let ok = walk(p, start, end) { type, s, e in
            switch type {
            case NFL.ActionAttr.name: return plainName(p, s, e) && mark(&seen, type)
            case NFL.ActionAttr.uid: return e - s == 4 && mark(&seen, type)
            case NFL.ActionAttr.signature:
                return mark(&seen, type) && walk(p, s, e) { t, s2, e2 in t == NFL.listElement && actionArg(p, s2, e2) }
            default: return false
            }
        }
        return ok && seen & (1 << NFL.ActionAttr.uid) != 0
    }

    static func flow(_ p: UnsafeRawPointer, _ start: Int, _ end: Int) -> Bool {
        var seen: UInt16 = 0
        let ok = walk(p, start, end) { type, s, e in
            switch type {
            case NFL.FlowAttr.error, NFL.FlowAttr.table, NFL.FlowAttr.uid, NFL.FlowAttr.priority:
                return e - s == 4 && mark(&seen, type)
            case NFL.FlowAttr.matches:
                return mark(&seen, type) && walk(p, s, e) { t, s2, e2 in t == NFL.listElement && fieldRef(p, s2, e2) }
            case NFL.FlowAttr.actions:
                return mark(&seen, type) && walk(p, s, e) { t, s2, e2 in t == NFL.listElement && action(p, s2, e2) }
            default: return false
            }
        }
        let required: UInt16 = 1 << NFL.FlowAttr.table | 1 << NFL.FlowAttr.uid | 1 << NFL.FlowAttr.priority
        return ok && seen & required == required
    }

    /// The number of flows in `payload` (FLOWS' payload) if all are surely valid, else nil.
    static func count(_ payload: UnsafeRawBufferPointer) -> Int? {
        guard let p = payload.baseAddress else { return payload.isEmpty ? 0 : nil }
        var n = 0
        let ok = walk(p, 0, payload.count) { type, s, e in
            n += 1
            return type == NFL.listElement && flow(p, s, e)
        }
        return ok ? n : nil
    }
}
