// Reading one FLOW element of a SET_FLOWS / DEL_FLOWS request in place, for the byte-level
// path (SingleFlowPath): table, uid, priority, the matches as FieldRefs and the actions as
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

    var matchBuffer: UnsafeBufferPointer<FieldRef> { UnsafeBufferPointer(start: matches, count: matchCount) }
    var actionBuffer: UnsafeBufferPointer<ActionShape> { UnsafeBufferPointer(start: actions, count: actionCount) }
    var argBuffer: UnsafeBufferPointer<ActionArgShape> { UnsafeBufferPointer(start: args, count: argCount) }

    /// Frees the buffers (the owner calls it once, in its deinit).
    func deallocate() {
        matches.deallocate()
        actions.deallocate()
        args.deallocate()
    }

    /// Reads the FLOW element `flow` (a list element of FLOWS). False: not in the subset.
    mutating func read(_ flow: Attribute) -> Bool {
        matchCount = 0
        actionCount = 0
        argCount = 0
        var it = flow.nested()
        var seen: UInt64 = 0
        var table: UInt32?, uid: UInt32?, priority: UInt32?
        while true {
            let a: Attribute
            do throws(DecodeError) {
                guard let next = try it.next() else { break }
                a = next
            } catch { return false }
            guard Self.mark(a, &seen) else { return false }
            switch a.type {
            case NFL.FlowAttr.table: guard let v = Self.u32(a) else { return false }; table = v
            case NFL.FlowAttr.uid: guard let v = Self.u32(a) else { return false }; uid = v
            case NFL.FlowAttr.priority: guard let v = Self.u32(a) else { return false }; priority = v
            case NFL.FlowAttr.matches: guard readMatches(a) else { return false }
            case NFL.FlowAttr.actions: guard readActions(a) else { return false }
            default: return false   // ERROR, unknown
            }
        }
        guard let table, let uid, let priority else { return false }
        self.table = table
        self.uid = uid
        self.priority = priority
        return true
    }

    private mutating func readMatches(_ list: Attribute) -> Bool {
        var it = list.nested()
        while true {
            let e: Attribute
            do throws(DecodeError) {
                guard let next = try it.next() else { return true }
                e = next
            } catch { return false }
            guard e.type == NFL.listElement, matchCount < Self.maxMatches, let ref = Self.fieldRef(e) else { return false }
            matches[matchCount] = ref
            matchCount += 1
        }
    }

    private static func fieldRef(_ nest: Attribute) -> FieldRef? {
        var it = nest.nested()
        var seen: UInt64 = 0
        var instance: UInt32?, header: UInt32?, field: UInt32?, maskType: UInt32?, type: UInt32?
        var value: FieldValue?, mask: FieldValue?
        while true {
            let a: Attribute
            do throws(DecodeError) {
                guard let next = try it.next() else { break }
                a = next
            } catch { return nil }
            guard mark(a, &seen) else { return nil }
            switch a.type {
            case NFL.FieldRefAttr.instance: guard let v = u32(a) else { return nil }; instance = v
            case NFL.FieldRefAttr.header: guard let v = u32(a) else { return nil }; header = v
            case NFL.FieldRefAttr.field: guard let v = u32(a) else { return nil }; field = v
            case NFL.FieldRefAttr.maskType: guard let v = u32(a) else { return nil }; maskType = v
            case NFL.FieldRefAttr.type: guard let v = u32(a) else { return nil }; type = v
            case NFL.FieldRefAttr.value: guard let v = fieldValue(a) else { return nil }; value = v
            case NFL.FieldRefAttr.mask: guard let v = fieldValue(a) else { return nil }; mask = v
            default: return nil   // NEXT_NODE (not allowed in a flow's match), unknown
            }
        }
        guard let instance, let header, let field, let maskType, let type else { return nil }
        return FieldRef(instance: instance, header: header, field: field, maskType: MaskType(rawValue: maskType),
                        type: FieldType(rawValue: type), value: value, mask: mask)
    }

    private mutating func readActions(_ list: Attribute) -> Bool {
        var it = list.nested()
        while true {
            let e: Attribute
            do throws(DecodeError) {
                guard let next = try it.next() else { return true }
                e = next
            } catch { return false }
            guard e.type == NFL.listElement, actionCount < Self.maxActions, readAction(e) else { return false }
        }
    }

    private mutating func readAction(_ nest: Attribute) -> Bool {
        var it = nest.nested()
        var seen: UInt64 = 0
        var uid: UInt32?
        let argStart = argCount
        while true {
            let a: Attribute
            do throws(DecodeError) {
                guard let next = try it.next() else { break }
                a = next
            } catch { return false }
            guard Self.mark(a, &seen) else { return false }
            switch a.type {
            case NFL.ActionAttr.name: guard Self.isPlainString(a) else { return false }
            case NFL.ActionAttr.uid: guard let v = Self.u32(a) else { return false }; uid = v
            case NFL.ActionAttr.signature:
                var args = a.nested()
                while true {
                    let e: Attribute
                    do throws(DecodeError) {
                        guard let next = try args.next() else { break }
                        e = next
                    } catch { return false }
                    guard e.type == NFL.listElement, argCount < Self.maxArguments, let arg = Self.argument(e) else { return false }
                    self.args[argCount] = arg
                    argCount += 1
                }
            default: return false
            }
        }
        guard let uid else { return false }
        actions[actionCount] = ActionShape(uid: uid, argStart: argStart, argCount: argCount - argStart)
        actionCount += 1
        return true
    }

    private static func argument(_ nest: Attribute) -> ActionArgShape? {
        var it = nest.nested()
        var seen: UInt64 = 0
        var type: UInt32?, value: FieldValue?
        while true {
            let a: Attribute
            do throws(DecodeError) {
                guard let next = try it.next() else { break }
                a = next
            } catch { return nil }
            guard mark(a, &seen) else { return nil }
            switch a.type {
            case NFL.ActionArgAttr.name: guard isPlainString(a) else { return nil }
            case NFL.ActionArgAttr.type: guard let v = u32(a) else { return nil }; type = v
            case NFL.ActionArgAttr.value: guard let v = fieldValue(a) else { return nil }; value = v
            default: return nil
            }
        }
        guard let type, let value else { return nil }
        return ActionArgShape(type: FieldType(rawValue: type), valueByteCount: value.byteCount)
    }

    // MARK: the decoder's rules, each returning nil / false where it throws

    /// SeenAttributes.mark: a repeated type (< 64) is refused.
    @inline(__always)
    private static func mark(_ a: Attribute, _ seen: inout UInt64) -> Bool {
        guard a.type < 64 else { return true }
        let bit: UInt64 = 1 << UInt64(a.type)
        if seen & bit != 0 { return false }
        seen |= bit
        return true
    }

    @inline(__always)
    private static func u32(_ a: Attribute) -> UInt32? {
        guard a.payload.count == 4 else { return nil }
        return a.payload.loadUnaligned(as: UInt32.self)
    }

    @inline(__always)
    private static func fieldValue(_ a: Attribute) -> FieldValue? {
        try? a.fieldValue()
    }

    /// A string the decoder reads without its UTF-8 validator: ASCII, no NUL but a last one.
    private static func isPlainString(_ a: Attribute) -> Bool {
        var bytes = a.payload
        if let last = bytes.last, last == 0 { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast()) }
        for b in bytes where b == 0 || b >= 0x80 { return false }
        return true
    }
}
