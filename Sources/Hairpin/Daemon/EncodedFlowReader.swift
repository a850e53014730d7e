// Reading one FLOW element of a SET_FLOWS / DEL_FLOWS request in place, for the byte-level
// path (ByteService): table, uid, priority, the matches as FieldRefs and the actions as
// shapes (uid, argument types and widths) in reusable buffers, nothing allocated per flow.
//
// It accepts a strict subset of what FlowTableCodec's decoder accepts, and reads it the same
// way (the same AttributeIterator, type flags masked, last attribute without padding allowed,
// repeats refused), so for an accepted element the values are the decoder's. Refused here, and
// left to the typed path: an element the decoder would refuse, and the rarities that are not
// worth a second reading: ERROR in a request flow, NEXT_NODE, a NAME that is not plain ASCII,
// more matches, actions or arguments than the buffers hold.
import LibFlowTable

struct EncodedFlowReader {
    static let maxMatches = 64
    static let maxActions = 64
    static let maxArguments = 256

    let matches = UnsafeMutablePointer<FieldRef>.allocate(capacity: maxMatches)
    let actions = UnsafeMutablePointer<ActionShape>.allocate(capacity: maxActions)
    let args = UnsafeMutablePointer<ActionArgShape>.allocate(capacity: maxArguments)

    /// What the last `read` found (valid until the next).
    var table: UInt32 = 0
    var uid: UInt32 = 0
    var priority: UInt32 = 0
    var matchCount = 0
    var actionCount = 0
    var argCount = 0
    /// Whether the element's payload is byte for byte what FlowTableCodec's encoder writes
    /// (FlowTableCodec.isEncoderForm's rules, checked attribute by attribute as the read walks
    /// them): a stored flow with this verdict is answered from its bytes as they are. False is
    /// always safe (the answer then checks or re-encodes the flow); true must never be wrong.
    var encoderForm = false

    var matchBuffer: UnsafeBufferPointer<FieldRef> { UnsafeBufferPointer(start: matches, count: matchCount) }
    var actionBuffer: UnsafeBufferPointer<ActionShape> { UnsafeBufferPointer(start: actions, count: actionCount) }
    var argBuffer: UnsafeBufferPointer<ActionArgShape> { UnsafeBufferPointer(start: args, count: argCount) }

    /// Frees the buffers (the owner calls it once, in its deinit).
    func deallocate() {
        matches.deallocate()
        actions.deallocate()
        args.deallocate()
    }

    /// Whether `element`, the FLOW element last read (header included), is in the encoder's
    /// form: what FlowTableCodec.isEncoderForm(flow:) says of it.
    @inline(__always)
    func isEncoderForm(element: UnsafeRawBufferPointer) -> Bool {
        guard encoderForm, element.count >= Netlink.attributeHeaderLength, let p = element.baseAddress else {
            return false
        }
        return Int(p.loadUnaligned(as: UInt16.self)) == element.count
            && p.loadUnaligned(fromByteOffset: 2, as: UInt16.self) == NFL.listElement | Netlink.attributeFlagNested
    }

    /// Reads the FLOW element `flow` (a list element of FLOWS). False: not in the subset.
    mutating func read(_ flow: Attribute) -> Bool { read(payload: flow.payload) }

    /// Reads a FLOW element given by its payload. `requirePriority` false: a DEL_FLOWS flow,
    /// named by TABLE and UID alone (the spec's del-flows rule); PRIORITY is then 0 when absent.
    mutating func read(payload flow: UnsafeRawBufferPointer, requirePriority: Bool = true) -> Bool {
        matchCount = 0
        actionCount = 0
        argCount = 0
        encoderForm = true
        var seen: UInt64 = 0
        var form = true
        var table: UInt32?, uid: UInt32?, priority: UInt32?
        let walked = Self.eachAttribute(of: flow, seen: &seen, form: &form, nests: Self.flowNests, strings: 0) {
            type, payload in
            switch type {
            case NFL.FlowAttr.table: guard let v = RawAttributes.u32(payload) else { return false }; table = v
            case NFL.FlowAttr.uid: guard let v = RawAttributes.u32(payload) else { return false }; uid = v
            case NFL.FlowAttr.priority: guard let v = RawAttributes.u32(payload) else { return false }; priority = v
            case NFL.FlowAttr.matches: return readMatches(payload)
            case NFL.FlowAttr.actions: return readActions(payload)
            default: return false  // ERROR, unknown
            }
            return true
        }
        guard walked, let table, let uid, priority != nil || !requirePriority else { return false }
        if !form { encoderForm = false }
        self.table = table
        self.uid = uid
        self.priority = priority ?? 0
        return true
    }

    private mutating func readMatches(_ list: UnsafeRawBufferPointer) -> Bool {
        var listForm = true, form = true
        let read = Self.eachElement(of: list, form: &listForm) { element in
            guard matchCount < Self.maxMatches, Self.fieldRef(element, into: matches + matchCount, form: &form)
            else { return false }
            matchCount += 1
            return true
        }
        if !(listForm && form) { encoderForm = false }
        return read
    }

    /// The header word (nla_len | nla_type << 16) of a u32 attribute of `type` without flags.
    @inline(__always)
    private static func u32Header(_ type: UInt16) -> UInt32 { 8 | UInt32(type) << 16 }

    /// A field ref as the encoder writes it: INSTANCE, HEADER, FIELD, MASK_TYPE, TYPE (u32 each,
    /// no flags), then VALUE and MASK if present, in that order. Checked word by word, which is
    /// a few compares instead of the general walk; anything else returns false and the general
    /// walk (same rules as the decoder) reads it.
    @inline(__always)
    private static func canonicalFieldRef(
        _ nest: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<FieldRef>, form: inout Bool
    ) -> Bool {
        guard nest.count >= 40, let p = nest.baseAddress,
            p.loadUnaligned(as: UInt32.self) == u32Header(NFL.FieldRefAttr.instance),
            p.loadUnaligned(fromByteOffset: 8, as: UInt32.self) == u32Header(NFL.FieldRefAttr.header),
            p.loadUnaligned(fromByteOffset: 16, as: UInt32.self) == u32Header(NFL.FieldRefAttr.field),
            p.loadUnaligned(fromByteOffset: 24, as: UInt32.self) == u32Header(NFL.FieldRefAttr.maskType),
            p.loadUnaligned(fromByteOffset: 32, as: UInt32.self) == u32Header(NFL.FieldRefAttr.type)
        else { return false }
        var position = 40
        var value: FieldValue?, mask: FieldValue?
        // The five u32s are in the encoder's form (exact headers, rising types, no padding).
        var inForm = true
        for k in 0..<2 where nest.count - position >= 4 {
            let type = k == 0 ? NFL.FieldRefAttr.value : NFL.FieldRefAttr.mask
            let len = Int(p.loadUnaligned(fromByteOffset: position, as: UInt16.self))
            guard p.loadUnaligned(fromByteOffset: position + 2, as: UInt16.self) == type,
                len >= 5, len <= 12, len <= nest.count - position,
                let v = fieldValue(UnsafeRawBufferPointer(start: p + position + 4, count: len - 4))
            else { return false }
            if type == NFL.FieldRefAttr.value { value = v } else { mask = v }
            if inForm {
                inForm = zeroPadded(p + position + 4, len - 4, end: p + nest.count)
            }
            position = min(position + Netlink.align(len), nest.count)
        }
        guard position == nest.count else { return false }
        if !inForm { form = false }
        out.initialize(
            to: FieldRef(
                instance: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
                header: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self),
                field: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self),
                maskType: MaskType(rawValue: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self)),
                type: FieldType(rawValue: p.loadUnaligned(fromByteOffset: 36, as: UInt32.self)),
                value: value, mask: mask))
        return true
    }

    private static func fieldRef(
        _ nest: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<FieldRef>, form: inout Bool
    ) -> Bool {
        if canonicalFieldRef(nest, into: out, form: &form) { return true }
        var seen: UInt64 = 0
        var instance: UInt32 = 0, header: UInt32 = 0, field: UInt32 = 0, maskType: UInt32 = 0, type: UInt32 = 0
        var value: FieldValue?, mask: FieldValue?
        let walked = eachAttribute(of: nest, seen: &seen, form: &form, nests: 0, strings: 0) { attr, payload in
            switch attr {
            case NFL.FieldRefAttr.instance: guard let v = RawAttributes.u32(payload) else { return false }; instance = v
            case NFL.FieldRefAttr.header: guard let v = RawAttributes.u32(payload) else { return false }; header = v
            case NFL.FieldRefAttr.field: guard let v = RawAttributes.u32(payload) else { return false }; field = v
            case NFL.FieldRefAttr.maskType: guard let v = RawAttributes.u32(payload) else { return false }; maskType = v
            case NFL.FieldRefAttr.type: guard let v = RawAttributes.u32(payload) else { return false }; type = v
            case NFL.FieldRefAttr.value: guard let v = fieldValue(payload) else { return false }; value = v
            case NFL.FieldRefAttr.mask: guard let v = fieldValue(payload) else { return false }; mask = v
            default: return false  // NEXT_NODE (not allowed in a flow's match), unknown
            }
            return true
        }
        // INSTANCE, HEADER, FIELD, MASK_TYPE and TYPE are required.
        let required: UInt64 =
            1 << UInt64(NFL.FieldRefAttr.instance) | 1 << UInt64(NFL.FieldRefAttr.header)
            | 1 << UInt64(NFL.FieldRefAttr.field) | 1 << UInt64(NFL.FieldRefAttr.maskType) | 1
            << UInt64(NFL.FieldRefAttr.type)
        guard walked, seen & required == required else { return false }
        out.initialize(
            to: FieldRef(
                instance: instance, header: header, field: field, maskType: MaskType(rawValue: maskType),
                type: FieldType(rawValue: type), value: value, mask: mask))
        return true
    }

    private mutating func readActions(_ list: UnsafeRawBufferPointer) -> Bool {
        var listForm = true
        let read = Self.eachElement(of: list, form: &listForm) { element in
            actionCount < Self.maxActions && readAction(element)
        }
        if !listForm { encoderForm = false }
        return read
    }

    private mutating func readAction(_ nest: UnsafeRawBufferPointer) -> Bool {
        var seen: UInt64 = 0
        var uid: UInt32?
        let argStart = argCount
        var form = true
        let walked = Self.eachAttribute(
            of: nest, seen: &seen, form: &form, nests: Self.bit(NFL.ActionAttr.signature),
            strings: Self.bit(NFL.ActionAttr.name)
        ) { type, payload in
            switch type {
            case NFL.ActionAttr.name: return Self.isPlainString(payload)
            case NFL.ActionAttr.uid: guard let v = RawAttributes.u32(payload) else { return false }; uid = v
            case NFL.ActionAttr.signature: return readArguments(payload)
            default: return false
            }
            return true
        }
        guard walked, let uid else { return false }
        if !form { encoderForm = false }
        actions[actionCount] = ActionShape(uid: uid, argStart: argStart, argCount: argCount - argStart)
        actionCount += 1
        return true
    }

    private mutating func readArguments(_ list: UnsafeRawBufferPointer) -> Bool {
        var listForm = true, form = true
        let read = Self.eachElement(of: list, form: &listForm) { element in
            guard argCount < Self.maxArguments, let arg = Self.argument(element, form: &form) else { return false }
            args[argCount] = arg
            argCount += 1
            return true
        }
        if !(listForm && form) { encoderForm = false }
        return read
    }

    private static func argument(_ nest: UnsafeRawBufferPointer, form: inout Bool) -> ActionArgShape? {
        var seen: UInt64 = 0
        var type: UInt32?, value: FieldValue?
        let walked = eachAttribute(
            of: nest, seen: &seen, form: &form, nests: 0, strings: bit(NFL.ActionArgAttr.name)
        ) { attr, payload in
            switch attr {
            case NFL.ActionArgAttr.name: return isPlainString(payload)
            case NFL.ActionArgAttr.type: guard let v = RawAttributes.u32(payload) else { return false }; type = v
            case NFL.ActionArgAttr.value: guard let v = fieldValue(payload) else { return false }; value = v
            default: return false
            }
            return true
        }
        guard walked, let type, let value else { return nil }
        return ActionArgShape(type: FieldType(rawValue: type), valueByteCount: value.byteCount)
    }

    // MARK: the walks every reader above shares

    /// The attributes of a nest, in order, as the decoder walks them (a repeated type refused,
    /// `seen` gets a bit per type < 64 for the caller's required-attribute check). `attribute`
    /// reads one (type, payload) and returns false to refuse it. False: malformed, repeated, refused.
    /// `form` is cleared at the first attribute not in the encoder's form (`nests`: the types
    /// that are nests, `strings`: the string types, as bits).
    @inline(__always)
    private static func eachAttribute(
        of nest: UnsafeRawBufferPointer, seen: inout UInt64, form: inout Bool, nests: UInt64, strings: UInt64,
        _ attribute: (UInt16, UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        let end = nest.baseAddress.map { $0 + nest.count }
        return RawAttributes.walk(nest) { type, payload in
            if form { form = inEncoderForm(type, payload, end: end, seen: seen, nests: nests, strings: strings) }
            return mark(type, &seen) && attribute(type, payload)
        }
    }

    /// The elements of a list (MATCHES, ACTIONS, SIGNATURE): every attribute must be a list
    /// element; `element` reads one payload and returns false to refuse it (a full buffer
    /// included). False: malformed, not an element, refused.
    @inline(__always)
    private static func eachElement(
        of list: UnsafeRawBufferPointer, form: inout Bool, _ element: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        let end = list.baseAddress.map { $0 + list.count }
        return RawAttributes.walk(list) { type, payload in
            guard type == NFL.listElement else { return false }
            // An element is a nest: the flag on, its padding zeros.
            if form {
                form =
                    payload.baseAddress.map {
                        $0.loadUnaligned(fromByteOffset: -2, as: UInt16.self)
                            == NFL.listElement | Netlink.attributeFlagNested
                    } ?? false
                    && zeroPadded(payload.baseAddress, payload.count, end: end)
            }
            return element(payload)
        }
    }

    // MARK: the encoder's form (FlowTableCodec.isEncoderForm, read along)

    @inline(__always)
    private static func bit(_ type: UInt16) -> UInt64 { 1 << UInt64(type) }

    /// The nests of a FLOW.
    private static var flowNests: UInt64 { bit(NFL.FlowAttr.matches) | bit(NFL.FlowAttr.actions) }

    /// One attribute (`type`, `payload`, within a region ending at `end`) as the encoder writes
    /// it, after the types in `seen`: a type above every earlier one, NLA_F_NESTED exactly on
    /// the nests, a string ending in its NUL, padding zeros up to the next attribute.
    @inline(__always)
    private static func inEncoderForm(
        _ type: UInt16, _ payload: UnsafeRawBufferPointer, end: UnsafeRawPointer?, seen: UInt64, nests: UInt64,
        strings: UInt64
    ) -> Bool {
        guard type < 64, let p = payload.baseAddress else { return false }
        let b: UInt64 = 1 << UInt64(type)
        let flags: UInt16 = nests & b != 0 ? Netlink.attributeFlagNested : 0
        guard b > seen, p.loadUnaligned(fromByteOffset: -2, as: UInt16.self) == type | flags else { return false }
        if strings & b != 0 {
            guard payload.count > 0, p.load(fromByteOffset: payload.count - 1, as: UInt8.self) == 0 else {
                return false
            }
        }
        return zeroPadded(p, payload.count, end: end)
    }

    /// The padding after a payload of `count` bytes at `p` lies within the region (ending at
    /// `end`) and is zeros. (A payload of a multiple of 4 bytes has none: the walk already
    /// found it within the region.) One aligned word holds the payload's last bytes and the
    /// padding, which is its high bytes read little-endian.
    @inline(__always)
    private static func zeroPadded(_ p: UnsafeRawPointer?, _ count: Int, end: UnsafeRawPointer?) -> Bool {
        let r = count & 3
        if r == 0 { return true }
        guard let p, let end else { return false }
        let word = p + (count - r)
        guard word + 4 <= end else { return false }
        return UInt32(littleEndian: word.loadUnaligned(as: UInt32.self)) >> UInt32(8 * r) == 0
    }

    // MARK: the decoder's rules, each returning nil / false where it throws

    /// SeenAttributes.mark: a repeated type (< 64) is refused.
    @inline(__always)
    private static func mark(_ type: UInt16, _ seen: inout UInt64) -> Bool {
        guard type < 64 else { return true }
        let bit: UInt64 = 1 << UInt64(type)
        if seen & bit != 0 { return false }
        seen |= bit
        return true
    }

    /// Attribute.fieldValue: 1 to 8 bytes, little-endian.
    @inline(__always)
    private static func fieldValue(_ p: UnsafeRawBufferPointer) -> FieldValue? {
        let n = p.count
        guard n >= 1 && n <= 8, let base = p.baseAddress else { return nil }
        let v: UInt64
        switch n {
        case 1: v = UInt64(base.load(as: UInt8.self))
        case 2: v = UInt64(base.loadUnaligned(as: UInt16.self))
        case 4: v = UInt64(base.loadUnaligned(as: UInt32.self))
        case 8: v = base.loadUnaligned(as: UInt64.self)
        default:
            var x: UInt64 = 0
            for i in 0..<n { x |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
            v = x
        }
        return FieldValue(rawBits: v, byteCount: UInt8(n))
    }

    /// A string the decoder reads without its UTF-8 validator: ASCII, no NUL but a last one.
    private static func isPlainString(_ payload: UnsafeRawBufferPointer) -> Bool {
        var bytes = payload
        if let last = bytes.last, last == 0 { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast()) }
        for b in bytes where b == 0 || b >= 0x80 { return false }
        return true
    }
}
