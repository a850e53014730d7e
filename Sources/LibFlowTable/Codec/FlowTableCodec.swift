// Encoding and decoding of the Flow Table API attribute sets (NFL_*), one function pair per
// set, in the order of spec/net_flow_nl.yaml. Decoders are strict: each walks its set with
// StrictWalk, which refuses unknown or repeated attributes, wrong payload lengths and missing
// required attributes by the generated descriptors, with errors that name the attribute path and
// byte offset; the decoders only read the values. Encoders write attributes in attribute-number
// order.

public enum FlowTableCodec {

    // MARK: top level

    /// Writes the top-level attribute set. `layout` says which FLOWS layout the message uses;
    /// setting the other one is an error.
    public static func encode(
        _ a: FlowTableAttributes, layout: FlowsLayout,
        into w: inout NetlinkWriter
    ) throws(EncodeError) {
        if let v = a.identifierType { w.put(NFL.Attr.identifierType, u32: v) }
        if let v = a.identifier { w.put(NFL.Attr.identifier, u32: v) }
        if let v = a.errorStrategy { w.put(NFL.Attr.flowsError, u32: v.rawValue) }
        try putList(NFL.Attr.tables, a.tables, into: &w) { (x, w) throws(EncodeError) in try encode(x, into: &w) }
        try putList(NFL.Attr.headers, a.headers, into: &w) { (x, w) throws(EncodeError) in try encode(x, into: &w) }
        try putList(NFL.Attr.actions, a.actions, into: &w) { (x, w) throws(EncodeError) in try encode(x, into: &w) }
        try putList(NFL.Attr.headerGraph, a.headerGraph, into: &w) { (x, w) throws(EncodeError) in
            try encode(x, into: &w)
        }
        try putList(NFL.Attr.tableGraph, a.tableGraph, into: &w) { (x, w) throws(EncodeError) in
            try encode(x, into: &w)
        }
        switch layout {
        case .list, .deleteList:
            if a.selector != nil {
                throw .invalidMessage("a get-flows selector is only allowed in a GET_FLOWS request")
            }
            if let flows = a.flows {
                let n = w.beginNest(NFL.Attr.flows)
                // By index: `for f in flows` copied each flow (retaining its arrays) first.
                for i in flows.indices { try encode(flows[i], into: &w) }
                try w.endNest(n)
            }
        case .selector:
            if a.flows != nil {
                throw .invalidMessage("a GET_FLOWS request carries a selector, not a list of flows")
            }
            if let s = a.selector {
                let n = w.beginNest(NFL.Attr.flows)
                w.put(NFL.TableFlowsAttr.table, u32: s.table)
                if let v = s.minPriority { w.put(NFL.TableFlowsAttr.minPriority, u32: v) }
                if let v = s.maxPriority { w.put(NFL.TableFlowsAttr.maxPriority, u32: v) }
                try w.endNest(n)
            }
        }
    }

    /// The list nest `type` holding `items`, each written by `element`; nothing when nil.
    @inline(__always)
    static func putList<T>(
        _ type: UInt16, _ items: [T]?, into w: inout NetlinkWriter,
        _ element: (T, inout NetlinkWriter) throws(EncodeError) -> Void
    ) throws(EncodeError) {
        guard let items else { return }
        let n = w.beginNest(type)
        for x in items { try element(x, &w) }
        try w.endNest(n)
    }

    /// Reads the top-level attribute set from `it`.
    public static func decode(
        _ it: AttributeIterator, layout: FlowsLayout,
        depth: Int = 0
    ) throws(DecodeError) -> FlowTableAttributes {
        // Locals, one memberwise init at the end: a FlowTableAttributes built up in place was
        // copied and destroyed whole.
        var identifierType: UInt32?, identifier: UInt32?, errorStrategy: ErrorStrategy?
        var tables: [Table]?, headers: [Header]?, actions: [Action]?
        var headerGraph: [HeaderGraphNode]?, tableGraph: [TableGraphNode]?
        var flows: [Flow]?, selector: FlowSelector?
        let set = AttributeSetID.nflAttrs
        var w = StrictWalk.Walker<StrictWalk.Exact>(it, nestOffset: 0, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.Attr.identifierType: identifierType = attr.checkedU32
            case NFL.Attr.identifier: identifier = attr.checkedU32
            case NFL.Attr.flowsError: errorStrategy = ErrorStrategy(rawValue: attr.checkedU32)
            case NFL.Attr.tables: tables = try outlinedList(attr, d, in: set, depth: depth + 1, decodeTable)
            case NFL.Attr.headers: headers = try outlinedList(attr, d, in: set, depth: depth + 1, decodeHeader)
            case NFL.Attr.actions: actions = try outlinedList(attr, d, in: set, depth: depth + 1, decodeAction)
            case NFL.Attr.headerGraph:
                headerGraph = try outlinedList(attr, d, in: set, depth: depth + 1, decodeHeaderNode)
            case NFL.Attr.tableGraph:
                tableGraph = try outlinedList(attr, d, in: set, depth: depth + 1, decodeTableGraphNode)
            case NFL.Attr.flows:
                switch layout {
                case .list: flows = try decodeList(attr, d, in: set, depth: depth + 1, decodeFlow)
                case .deleteList:
                    flows = try outlinedList(attr, .nflFlowListInDelFlows, in: set, depth: depth + 1, decodeDeletedFlow)
                case .selector:
                    selector = try wrap(NFL.Attr.self, attr) { () throws(DecodeError) in try decodeSelector(attr) }
                }
            default: break  // the walk admits only the set's attributes
            }
        }
        _ = try w.finish()
        return FlowTableAttributes(
            identifierType: identifierType, identifier: identifier, tables: tables, headers: headers,
            actions: actions, headerGraph: headerGraph, tableGraph: tableGraph, flows: flows,
            selector: selector, errorStrategy: errorStrategy)
    }

    /// `decodeList` as a call of its own, for the lists a SET_FLOWS request does not carry
    /// (inlined, they made the top-level walk's frame large and slow to set up).
    @inline(never)
    static func outlinedList<T>(
        _ nest: Attribute, _ d: AttributeDescriptor, in parent: AttributeSetID, depth: Int,
        _ element: (Attribute, Int) throws(DecodeError) -> T
    ) throws(DecodeError) -> [T] {
        try decodeList(nest, d, in: parent, depth: depth, element)
    }

    @inline(never)
    static func outlinedList<T>(
        _ nest: Attribute, _ list: AttributeSetID, in parent: AttributeSetID, depth: Int,
        _ element: (Attribute, Int) throws(DecodeError) -> T
    ) throws(DecodeError) -> [T] {
        try decodeList(nest, list, in: parent, depth: depth, element)
    }

    @inline(__always)
    static func wrap<T>(_ name: String, _ body: () throws(DecodeError) -> T) throws(DecodeError) -> T {
        do { return try body() } catch { throw error.within(name) }
    }

    /// Runs `body`; an error is put under the attribute's name (looked up only on failure).
    @inline(__always)
    static func wrap<T, S: AttributeNames>(
        _ names: S.Type, _ attr: Attribute,
        _ body: () throws(DecodeError) -> T
    ) throws(DecodeError) -> T {
        do { return try body() } catch { throw error.within(attr.name(in: names)) }
    }

    // MARK: field, header

    static func encode(_ h: Header, into w: inout NetlinkWriter) throws(EncodeError) {
        let n = w.beginNest(NFL.listElement)
        w.put(NFL.HeaderAttr.name, string: h.name)
        w.put(NFL.HeaderAttr.uid, u32: h.uid)
        let f = w.beginNest(NFL.HeaderAttr.fields)
        for field in h.fields {
            let e = w.beginNest(NFL.listElement)
            w.put(NFL.FieldAttr.name, string: field.name)
            w.put(NFL.FieldAttr.uid, u32: field.uid)
            w.put(NFL.FieldAttr.bitwidth, u32: field.bitwidth)
            try w.endNest(e)
        }
        try w.endNest(f)
        try w.endNest(n)
    }

    static func decodeHeader(_ nest: Attribute, depth: Int) throws(DecodeError) -> Header {
        let set = AttributeSetID.nflHeader
        var name = "", uid: UInt32 = 0, fields: [Field] = []
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.HeaderAttr.name: name = attr.checkedString
            case NFL.HeaderAttr.uid: uid = attr.checkedU32
            case NFL.HeaderAttr.fields: fields = try decodeList(attr, d, in: set, depth: depth + 1, decodeField)
            default: break
            }
        }
        _ = try w.finish()
        return Header(name: name, uid: uid, fields: fields)
    }

    static func decodeField(_ nest: Attribute, depth: Int) throws(DecodeError) -> Field {
        var name = "", uid: UInt32 = 0, bitwidth: UInt32 = 0
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, .nflField)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.FieldAttr.name: name = attr.checkedString
            case NFL.FieldAttr.uid: uid = attr.checkedU32
            case NFL.FieldAttr.bitwidth: bitwidth = attr.checkedU32
            default: break
            }
        }
        _ = try w.finish()
        return Field(name: name, uid: uid, bitwidth: bitwidth)
    }

    // MARK: field refs and jump entries

    /// The attributes of a field ref, without the enclosing nest (jump entries add NEXT_NODE
    /// in front of the same attributes). Part of a run of writes (see `makeUnique`).
    @inline(__always)
    static func encodeRefBody(_ r: FieldRef, into w: inout NetlinkWriter) {
        w.putInRun(NFL.FieldRefAttr.instance, u32: r.instance)
        w.putInRun(NFL.FieldRefAttr.header, u32: r.header)
        w.putInRun(NFL.FieldRefAttr.field, u32: r.field)
        w.putInRun(NFL.FieldRefAttr.maskType, u32: r.maskType.rawValue)
        w.putInRun(NFL.FieldRefAttr.type, u32: r.type.rawValue)
        if let v = r.value { w.putInRun(NFL.FieldRefAttr.value, value: v) }
        if let m = r.mask { w.putInRun(NFL.FieldRefAttr.mask, value: m) }
    }

    /// A field ref inside a run of writes (the caller called `makeUnique`).
    @inline(__always)
    static func encodeInRun(_ r: FieldRef, into w: inout NetlinkWriter) throws(EncodeError) {
        let n = w.beginNestInRun(NFL.listElement)
        encodeRefBody(r, into: &w)
        try w.endNestInRun(n)
    }

    @inline(__always)
    static func encode(_ r: FieldRef, into w: inout NetlinkWriter) throws(EncodeError) {
        w.makeUnique()
        try encodeInRun(r, into: &w)
    }

    static func encode(_ j: JumpEntry, into w: inout NetlinkWriter) throws(EncodeError) {
        w.makeUnique()
        let n = w.beginNest(NFL.listElement)
        w.put(NFL.FieldRefAttr.nextNode, u32: j.nextNode)
        encodeRefBody(j.ref, into: &w)
        try w.endNest(n)
    }

    /// Decodes a field ref as the set `set`: a match's (NEXT_NODE refused) or a jump entry's
    /// (NEXT_NODE required), as the generator hints say.
    @inline(__always)
    static func decodeRef(_ nest: Attribute, _ set: AttributeSetID) throws(DecodeError) -> (FieldRef, UInt32) {
        var next: UInt32 = 0, instance: UInt32 = 0, header: UInt32 = 0, field: UInt32 = 0
        var maskType: UInt32 = 0, type: UInt32 = 0, value: FieldValue?, mask: FieldValue?
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.FieldRefAttr.nextNode: next = attr.checkedU32
            case NFL.FieldRefAttr.instance: instance = attr.checkedU32
            case NFL.FieldRefAttr.header: header = attr.checkedU32
            case NFL.FieldRefAttr.field: field = attr.checkedU32
            case NFL.FieldRefAttr.maskType: maskType = attr.checkedU32
            case NFL.FieldRefAttr.type: type = attr.checkedU32
            case NFL.FieldRefAttr.value: value = attr.checkedFieldValue
            case NFL.FieldRefAttr.mask: mask = attr.checkedFieldValue
            default: break
            }
        }
        _ = try w.finish()
        let ref = FieldRef(
            instance: instance, header: header, field: field,
            maskType: MaskType(rawValue: maskType), type: FieldType(rawValue: type),
            value: value, mask: mask)
        return (ref, next)
    }

    static func decodeFieldRef(_ nest: Attribute, depth: Int) throws(DecodeError) -> FieldRef {
        try decodeRef(nest, .nflFieldRefInFieldRefList).0
    }

    static func decodeJumpEntry(_ nest: Attribute, depth: Int) throws(DecodeError) -> JumpEntry {
        let (ref, next) = try decodeRef(nest, .nflFieldRefInJumpList)
        return JumpEntry(nextNode: next, ref: ref)
    }

    // MARK: actions

    static func encode(_ a: Action, into w: inout NetlinkWriter) throws(EncodeError) {
        w.makeUnique()
        try encodeInRun(a, into: &w)
    }

    /// An action inside a run of writes (the caller called `makeUnique`).
    static func encodeInRun(_ a: Action, into w: inout NetlinkWriter) throws(EncodeError) {
        let n = w.beginNestInRun(NFL.listElement)
        if let name = a.name { w.putInRun(NFL.ActionAttr.name, string: name) }
        w.putInRun(NFL.ActionAttr.uid, u32: a.uid)
        if let sig = a.signature {
            let s = w.beginNestInRun(NFL.ActionAttr.signature)
            for i in sig.indices {
                let e = w.beginNestInRun(NFL.listElement)
                if let name = sig[i].name { w.putInRun(NFL.ActionArgAttr.name, string: name) }
                w.putInRun(NFL.ActionArgAttr.type, u32: sig[i].type.rawValue)
                w.putInRun(NFL.ActionArgAttr.value, value: sig[i].value)
                try w.endNestInRun(e)
            }
            try w.endNestInRun(s)
        }
        try w.endNestInRun(n)
    }

    static func decodeAction(_ nest: Attribute, depth: Int) throws(DecodeError) -> Action {
        let set = AttributeSetID.nflAction
        var name: String?, uid: UInt32 = 0, signature: [ActionArg]?
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.ActionAttr.name: name = attr.checkedString
            case NFL.ActionAttr.uid: uid = attr.checkedU32
            case NFL.ActionAttr.signature:
                signature = try decodeList(attr, d, in: set, depth: depth + 1, decodeActionArg)
            default: break
            }
        }
        _ = try w.finish()
        return Action(name: name, uid: uid, signature: signature)
    }

    static func decodeActionArg(_ nest: Attribute, depth: Int) throws(DecodeError) -> ActionArg {
        var name: String?, type: UInt32 = 0, value = FieldValue(rawBits: 0, byteCount: 1)
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, .nflActionArg)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.ActionArgAttr.name: name = attr.checkedString
            case NFL.ActionArgAttr.type: type = attr.checkedU32
            case NFL.ActionArgAttr.value: value = attr.checkedFieldValue
            default: break
            }
        }
        _ = try w.finish()
        return ActionArg(name: name, type: FieldType(rawValue: type), value: value)
    }

    // MARK: tables

    static func encode(_ t: Table, into w: inout NetlinkWriter) throws(EncodeError) {
        let n = w.beginNest(NFL.listElement)
        w.put(NFL.TableAttr.name, string: t.name)
        w.put(NFL.TableAttr.uid, u32: t.uid)
        w.put(NFL.TableAttr.source, u32: t.source)
        if let v = t.apply { w.put(NFL.TableAttr.apply, u32: v) }
        w.put(NFL.TableAttr.size, u32: t.size)
        let m = w.beginNest(NFL.TableAttr.matches)
        for r in t.matches { try encode(r, into: &w) }
        try w.endNest(m)
        let a = w.beginNest(NFL.TableAttr.actions)
        // A table's action list holds bare ACTION_ATTR_UID attributes, not ACTION nests.
        for uid in t.actions { w.put(NFL.ActionAttr.uid, u32: uid) }
        try w.endNest(a)
        try w.endNest(n)
    }

    static func decodeTable(_ nest: Attribute, depth: Int) throws(DecodeError) -> Table {
        let set = AttributeSetID.nflTable
        var name = "", uid: UInt32 = 0, source: UInt32 = 0, apply: UInt32?, size: UInt32 = 0
        var matches: [FieldRef] = [], actions: [UInt32] = []
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.TableAttr.name: name = attr.checkedString
            case NFL.TableAttr.uid: uid = attr.checkedU32
            case NFL.TableAttr.source: source = attr.checkedU32
            case NFL.TableAttr.apply: apply = attr.checkedU32
            case NFL.TableAttr.size: size = attr.checkedU32
            case NFL.TableAttr.matches: matches = try decodeList(attr, d, in: set, depth: depth + 1, decodeFieldRef)
            // A table's action list holds bare ACTION_ATTR_UID attributes, not ACTION nests.
            case NFL.TableAttr.actions:
                actions = try decodeList(attr, d, in: set, depth: depth + 1) { (a, _) throws(DecodeError) in
                    a.checkedU32
                }
            default: break
            }
        }
        _ = try w.finish()
        return Table(
            name: name, uid: uid, source: source, apply: apply, size: size,
            matches: matches, actions: actions)
    }

    // MARK: graphs

    static func encode(_ node: HeaderGraphNode, into w: inout NetlinkWriter) throws(EncodeError) {
        let n = w.beginNest(NFL.listElement)
        w.put(NFL.HeaderNodeAttr.name, string: node.name)
        w.put(NFL.HeaderNodeAttr.uid, u32: node.uid)
        let h = w.beginNest(NFL.HeaderNodeAttr.hdrs)
        for uid in node.headers { w.put(NFL.listElement, u32: uid) }
        try w.endNest(h)
        let j = w.beginNest(NFL.HeaderNodeAttr.jump)
        for e in node.jumps { try encode(e, into: &w) }
        try w.endNest(j)
        try w.endNest(n)
    }

    static func decodeHeaderNode(_ nest: Attribute, depth: Int) throws(DecodeError) -> HeaderGraphNode {
        let set = AttributeSetID.nflHeaderNode
        var name = "", uid: UInt32 = 0, hdrs: [UInt32] = [], jumps: [JumpEntry] = []
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.HeaderNodeAttr.name: name = attr.checkedString
            case NFL.HeaderNodeAttr.uid: uid = attr.checkedU32
            case NFL.HeaderNodeAttr.hdrs:
                hdrs = try decodeList(attr, d, in: set, depth: depth + 1) { (a, _) throws(DecodeError) in a.checkedU32 }
            case NFL.HeaderNodeAttr.jump: jumps = try decodeList(attr, d, in: set, depth: depth + 1, decodeJumpEntry)
            default: break
            }
        }
        _ = try w.finish()
        return HeaderGraphNode(name: name, uid: uid, headers: hdrs, jumps: jumps)
    }

    static func encode(_ node: TableGraphNode, into w: inout NetlinkWriter) throws(EncodeError) {
        let n = w.beginNest(NFL.listElement)
        w.put(NFL.TableGraphNodeAttr.uid, u32: node.uid)
        w.put(NFL.TableGraphNodeAttr.flags, u32: node.flags)
        let j = w.beginNest(NFL.TableGraphNodeAttr.jump)
        for e in node.jumps { try encode(e, into: &w) }
        try w.endNest(j)
        try w.endNest(n)
    }

    static func decodeTableGraphNode(_ nest: Attribute, depth: Int) throws(DecodeError) -> TableGraphNode {
        let set = AttributeSetID.nflTableGraphNode
        var uid: UInt32 = 0, flags: UInt32 = 0, jumps: [JumpEntry] = []
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.TableGraphNodeAttr.uid: uid = attr.checkedU32
            case NFL.TableGraphNodeAttr.flags: flags = attr.checkedU32
            case NFL.TableGraphNodeAttr.jump:
                jumps = try decodeList(attr, d, in: set, depth: depth + 1, decodeJumpEntry)
            default: break
            }
        }
        _ = try w.finish()
        return TableGraphNode(uid: uid, flags: flags, jumps: jumps)
    }

    // MARK: flows

    /// One flow: a run of writes with one uniqueness check (see `makeUnique`).
    public static func encode(_ f: Flow, into w: inout NetlinkWriter) throws(EncodeError) {
        w.makeUnique()
        let n = w.beginNestInRun(NFL.listElement)
        if let e = f.error { w.putInRun(NFL.FlowAttr.error, u32: e) }
        w.putInRun(NFL.FlowAttr.table, u32: f.table)
        w.putInRun(NFL.FlowAttr.uid, u32: f.uid)
        w.putInRun(NFL.FlowAttr.priority, u32: f.priority)
        if let matches = f.matches {
            let m = w.beginNestInRun(NFL.FlowAttr.matches)
            for i in matches.indices { try encodeInRun(matches[i], into: &w) }
            try w.endNestInRun(m)
        }
        if let actions = f.actions {
            let a = w.beginNestInRun(NFL.FlowAttr.actions)
            for i in actions.indices { try encodeInRun(actions[i], into: &w) }
            try w.endNestInRun(a)
        }
        try w.endNestInRun(n)
    }

    /// Whether `element`, a FLOW list element (header included) that the decoder accepts, is
    /// byte for byte what `encode(_: Flow)` writes for the flow decoded from it: a stored
    /// request element that is can be answered as it is, with no decode and encode. The
    /// encoder's form, by the descriptors of the sets: attributes in rising type order (list
    /// elements in theirs), NLA_F_NESTED on nests and no flag elsewhere, every attribute padded
    /// with zeros, strings with their NUL. What it writes always is what the sets require, which
    /// a valid element has. `FlowEncoderFormTests` hold it to the encoder.
    package static func isEncoderForm(flow element: UnsafeRawBufferPointer) -> Bool {
        guard element.count >= Netlink.attributeHeaderLength, let p = element.baseAddress,
            Int(p.loadUnaligned(as: UInt16.self)) == element.count,
            p.loadUnaligned(fromByteOffset: 2, as: UInt16.self) == NFL.listElement | Netlink.attributeFlagNested
        else { return false }
        return isEncoderForm(p + Netlink.attributeHeaderLength, element.count - Netlink.attributeHeaderLength, .nflFlow)
    }

    /// The attributes at `p ..< p + count` as the encoder writes those of the set `id`.
    static func isEncoderForm(_ start: UnsafeRawPointer, _ count: Int, _ id: AttributeSetID) -> Bool {
        let set = id.outlinedDescriptor
        var p = start
        let end = start + count
        var seen: UInt64 = 0
        while p < end {
            let remaining = end - p
            guard remaining >= Netlink.attributeHeaderLength else { return false }
            let len = Int(p.loadUnaligned(as: UInt16.self))
            let raw = p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
            let type = raw & Netlink.attributeTypeMask
            let padded = Netlink.align(len)
            guard len >= Netlink.attributeHeaderLength, padded <= remaining, Int(type) < set.count else { return false }
            for i in len..<padded where p.load(fromByteOffset: i, as: UInt8.self) != 0 { return false }
            if set.element != 0 {
                guard type == set.element else { return false }
            } else {
                // Rising order, so no repeats either.
                let bit: UInt64 = type < 64 ? 1 << UInt64(type) : 0
                guard bit > seen else { return false }
                seen |= bit
            }
            let d = attributeDescriptors[set.first + Int(type)]
            let payload = len - Netlink.attributeHeaderLength
            if d.kind == .nest, let inner = d.nested {
                guard raw == type | Netlink.attributeFlagNested,
                    isEncoderForm(p + Netlink.attributeHeaderLength, payload, inner)
                else { return false }
            } else {
                guard raw == type else { return false }
                if d.kind == .string {
                    guard payload > 0, p.load(fromByteOffset: len - 1, as: UInt8.self) == 0 else { return false }
                }
            }
            p += padded
        }
        return true
    }

    static func decodeFlow(_ nest: Attribute, depth: Int) throws(DecodeError) -> Flow {
        try decodeFlow(nest, .nflFlow, depth: depth)
    }

    /// A FLOW of a DEL_FLOWS message (no PRIORITY needed: 0 when absent).
    static func decodeDeletedFlow(_ nest: Attribute, depth: Int) throws(DecodeError) -> Flow {
        try decodeFlow(nest, .nflFlowInDelFlows, depth: depth)
    }

    @inline(__always)
    static func decodeFlow(_ nest: Attribute, _ set: AttributeSetID, depth: Int) throws(DecodeError) -> Flow {
        var error: UInt32?, table: UInt32 = 0, uid: UInt32 = 0, priority: UInt32 = 0
        var matches: [FieldRef]?, actions: [Action]?
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.FlowAttr.error: error = attr.checkedU32
            case NFL.FlowAttr.table: table = attr.checkedU32
            case NFL.FlowAttr.uid: uid = attr.checkedU32
            case NFL.FlowAttr.priority: priority = attr.checkedU32
            case NFL.FlowAttr.matches: matches = try decodeList(attr, d, in: set, depth: depth + 1, decodeFieldRef)
            case NFL.FlowAttr.actions: actions = try decodeList(attr, d, in: set, depth: depth + 1, decodeAction)
            default: break
            }
        }
        _ = try w.finish()
        return Flow(error: error, table: table, uid: uid, priority: priority, matches: matches, actions: actions)
    }

    /// The GET_FLOWS selector (TABLE, MINPRIO, MAXPRIO; the hints refuse FLOWS).
    static func decodeSelector(_ nest: Attribute) throws(DecodeError) -> FlowSelector {
        let set = AttributeSetID.nflTableFlows
        var table: UInt32 = 0, lo: UInt32?, hi: UInt32?
        var w = StrictWalk.Walker<StrictWalk.Exact>(nest, set)
        while let (attr, d) = try w.next() {
            switch attr.type {
            case NFL.TableFlowsAttr.table: table = attr.checkedU32
            case NFL.TableFlowsAttr.minPriority: lo = attr.checkedU32
            case NFL.TableFlowsAttr.maxPriority: hi = attr.checkedU32
            default: break
            }
        }
        _ = try w.finish()
        return FlowSelector(table: table, minPriority: lo, maxPriority: hi)
    }
}
