// Validating flows against the advertised pipeline model, and the model against itself.
//
// The originals hardly validated anything: the late kernel checked only "≥1 match, ≥1 action,
// action in the table and < 8, (header, field) among the table's matches" (and the < 8 rule is
// itself a bug); zero ids silently acted as list terminators; hairpind and the dummy backend
// had an "XXX verify" note instead of checks. Here every check
// is a distinct error case naming the flow and the offending part, so the daemon can answer
// with a precise errno and log a precise reason.
//
// errno mapping (Linux numbers: the wire always carries Linux errnos, whatever the host):
//   ENOENT      the flow names a table the model does not have;
//   EOPNOTSUPP  an action the model does not know or the table does not allow;
//   EINVAL      everything else: the flow is malformed or asks for a match the table cannot do.

/// Which request a flow belongs to: SET_FLOWS needs a complete flow, DEL_FLOWS only needs what
/// identifies it.
public enum FlowOperation: Hashable, Sendable {
    case set
    case del
}

/// The flow an error is about, as the request named it.
public struct FlowIdentity: Hashable, Sendable, CustomStringConvertible {
    public var table: UInt32
    public var uid: UInt32

    public init(table: UInt32, uid: UInt32) {
        self.table = table
        self.uid = uid
    }

    public init(_ flow: Flow) { self.init(table: flow.table, uid: flow.uid) }

    public var description: String { "flow table \(table) uid \(uid)" }
}

/// The part of a flow that holds a reserved zero id. Indexes are 0-based positions in the
/// flow's `matches` / `actions`.
public enum FlowPart: Hashable, Sendable, CustomStringConvertible {
    case table
    case uid
    case matchInstance(match: Int)
    case matchHeader(match: Int)
    case matchField(match: Int)
    case actionUID(action: Int)

    public var description: String {
        switch self {
        case .table: return "table id"
        case .uid: return "flow uid"
        case .matchInstance(let i): return "instance of match #\(i)"
        case .matchHeader(let i): return "header of match #\(i)"
        case .matchField(let i): return "field of match #\(i)"
        case .actionUID(let i): return "uid of action #\(i)"
        }
    }
}

/// Why a flow is rejected. Every case names the flow; `match`/`action`/`argument` are 0-based
/// positions in the flow's lists.
public enum FlowValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An id is 0, which the kernel's lists take as their terminator.
    case reservedZero(FlowIdentity, FlowPart)
    /// The model has no table with the flow's table id.
    case unknownTable(FlowIdentity)
    /// SET_FLOWS: the flow has no matches (the late kernel's rule, kept: a match-all flow must
    /// say so with an explicit zero-mask match).
    case noMatches(FlowIdentity)
    /// SET_FLOWS: the flow has no actions.
    case noActions(FlowIdentity)
    /// The match names a header the model does not have.
    case unknownHeader(FlowIdentity, match: Int, ref: FieldRef)
    /// The match names a field its header does not have.
    case unknownField(FlowIdentity, match: Int, ref: FieldRef)
    /// (instance, header, field) is not among the table's matches.
    case fieldNotInTable(FlowIdentity, match: Int, ref: FieldRef)
    /// The match's mask type differs from the one the table advertises for the field.
    case maskTypeMismatch(FlowIdentity, match: Int, ref: FieldRef, expected: MaskType)
    /// The match carries no VALUE (a flow's matches must; a mask without value is meaningless).
    case missingValue(FlowIdentity, match: Int, ref: FieldRef)
    /// A value is present but TYPE is UNSPEC or unknown, so its width means nothing.
    case invalidValueType(FlowIdentity, match: Int, ref: FieldRef)
    /// The table advertises a value TYPE for the field and the match uses another.
    case valueTypeMismatch(FlowIdentity, match: Int, ref: FieldRef, expected: FieldType)
    /// VALUE's byte count is not TYPE's width.
    case valueWidthMismatch(FlowIdentity, match: Int, ref: FieldRef)
    /// MASK's byte count is not TYPE's width.
    case maskWidthMismatch(FlowIdentity, match: Int, ref: FieldRef)
    /// VALUE has bits set above the field's bitwidth: no packet could ever match.
    case valueExceedsBitwidth(FlowIdentity, match: Int, ref: FieldRef, bitwidth: UInt32)
    /// The table matches the field EXACT but the mask does not cover the whole field.
    case maskNotExact(FlowIdentity, match: Int, ref: FieldRef)
    /// The table matches the field LPM but the mask is not a prefix (high bits of the field).
    case maskNotPrefix(FlowIdentity, match: Int, ref: FieldRef)
    /// Two matches of the flow on the same field contradict each other: the flow could never
    /// match a packet. (Compatible duplicates are allowed: they simply intersect.)
    case conflictingMatches(FlowIdentity, first: Int, second: Int, ref: FieldRef)
    /// The model has no action with this uid.
    case unknownAction(FlowIdentity, action: Int, uid: UInt32)
    /// The action exists but the table does not allow it.
    case actionNotInTable(FlowIdentity, action: Int, uid: UInt32)
    /// The action has another number of arguments than its advertised signature.
    case actionArgumentCount(FlowIdentity, action: Int, uid: UInt32, expected: Int, got: Int)
    /// An argument's type differs from the advertised signature's.
    case actionArgumentType(
        FlowIdentity, action: Int, uid: UInt32, argument: Int,
        expected: FieldType, got: FieldType)
    /// An argument's value byte count is not its type's width (or the type has no width).
    case actionArgumentWidth(FlowIdentity, action: Int, uid: UInt32, argument: Int, arg: ActionArg)

    /// The cases without their payload, e.g. to count or to test which kinds occur.
    public enum Kind: String, CaseIterable, Hashable, Sendable {
        case reservedZero, unknownTable, noMatches, noActions, unknownHeader, unknownField
        case fieldNotInTable, maskTypeMismatch, missingValue, invalidValueType, valueTypeMismatch
        case valueWidthMismatch, maskWidthMismatch, valueExceedsBitwidth, maskNotExact, maskNotPrefix
        case conflictingMatches, unknownAction, actionNotInTable, actionArgumentCount
        case actionArgumentType, actionArgumentWidth
    }

    public var kind: Kind {
        switch self {
        case .reservedZero: return .reservedZero
        case .unknownTable: return .unknownTable
        case .noMatches: return .noMatches
        case .noActions: return .noActions
        case .unknownHeader: return .unknownHeader
        case .unknownField: return .unknownField
        case .fieldNotInTable: return .fieldNotInTable
        case .maskTypeMismatch: return .maskTypeMismatch
        case .missingValue: return .missingValue
        case .invalidValueType: return .invalidValueType
        case .valueTypeMismatch: return .valueTypeMismatch
        case .valueWidthMismatch: return .valueWidthMismatch
        case .maskWidthMismatch: return .maskWidthMismatch
        case .valueExceedsBitwidth: return .valueExceedsBitwidth
        case .maskNotExact: return .maskNotExact
        case .maskNotPrefix: return .maskNotPrefix
        case .conflictingMatches: return .conflictingMatches
        case .unknownAction: return .unknownAction
        case .actionNotInTable: return .actionNotInTable
        case .actionArgumentCount: return .actionArgumentCount
        case .actionArgumentType: return .actionArgumentType
        case .actionArgumentWidth: return .actionArgumentWidth
        }
    }

    /// The flow the error is about.
    public var flow: FlowIdentity {
        switch self {
        case .reservedZero(let f, _), .unknownTable(let f), .noMatches(let f), .noActions(let f),
            .unknownHeader(let f, _, _), .unknownField(let f, _, _), .fieldNotInTable(let f, _, _),
            .maskTypeMismatch(let f, _, _, _), .missingValue(let f, _, _), .invalidValueType(let f, _, _),
            .valueTypeMismatch(let f, _, _, _), .valueWidthMismatch(let f, _, _),
            .maskWidthMismatch(let f, _, _), .valueExceedsBitwidth(let f, _, _, _),
            .maskNotExact(let f, _, _), .maskNotPrefix(let f, _, _), .conflictingMatches(let f, _, _, _),
            .unknownAction(let f, _, _), .actionNotInTable(let f, _, _),
            .actionArgumentCount(let f, _, _, _, _), .actionArgumentType(let f, _, _, _, _, _),
            .actionArgumentWidth(let f, _, _, _, _):
            return f
        }
    }

    /// The positive errno the daemon answers with (see the mapping at the top of the file).
    public var errno: Int32 {
        switch self {
        case .unknownTable: return Int32(Errno.ENOENT)
        case .unknownAction, .actionNotInTable: return Int32(Errno.EOPNOTSUPP)
        default: return Int32(Errno.EINVAL)
        }
    }

    public var description: String {
        func m(_ i: Int, _ r: FieldRef) -> String {
            "match #\(i) (instance \(r.instance), header \(r.header), field \(r.field))"
        }
        func hex(_ v: FieldValue?) -> String {
            guard let v else { return "absent" }
            return "0x\(String(v.rawBits, radix: 16)) (\(v.byteCount) bytes)"
        }
        switch self {
        case .reservedZero(let f, let part):
            return "\(f): \(part) is 0, a reserved id (the kernel treats 0 as a list terminator)"
        case .unknownTable(let f):
            return "\(f): table \(f.table) does not exist"
        case .noMatches(let f):
            return "\(f): no matches (a flow to set needs at least one)"
        case .noActions(let f):
            return "\(f): no actions (a flow to set needs at least one)"
        case .unknownHeader(let f, let i, let r):
            return "\(f): \(m(i, r)): header \(r.header) does not exist"
        case .unknownField(let f, let i, let r):
            return "\(f): \(m(i, r)): header \(r.header) has no field \(r.field)"
        case .fieldNotInTable(let f, let i, let r):
            return "\(f): \(m(i, r)): table \(f.table) cannot match this field"
        case .maskTypeMismatch(let f, let i, let r, let expected):
            return "\(f): \(m(i, r)): mask type \(r.maskType), but the table matches it \(expected)"
        case .missingValue(let f, let i, let r):
            return "\(f): \(m(i, r)): no value"
        case .invalidValueType(let f, let i, let r):
            return "\(f): \(m(i, r)): value present with type \(r.type)"
        case .valueTypeMismatch(let f, let i, let r, let expected):
            return "\(f): \(m(i, r)): type \(r.type), but the table expects \(expected)"
        case .valueWidthMismatch(let f, let i, let r):
            return "\(f): \(m(i, r)): value \(hex(r.value)) does not have the width of \(r.type)"
        case .maskWidthMismatch(let f, let i, let r):
            return "\(f): \(m(i, r)): mask \(hex(r.mask)) does not have the width of \(r.type)"
        case .valueExceedsBitwidth(let f, let i, let r, let bits):
            return "\(f): \(m(i, r)): value \(hex(r.value)) does not fit the field's \(bits) bits"
        case .maskNotExact(let f, let i, let r):
            return "\(f): \(m(i, r)): mask \(hex(r.mask)) does not cover the field of an exact match"
        case .maskNotPrefix(let f, let i, let r):
            return "\(f): \(m(i, r)): mask \(hex(r.mask)) is not a prefix (LPM)"
        case .conflictingMatches(let f, let a, let b, let r):
            return "\(f): matches #\(a) and #\(b) on instance \(r.instance), header \(r.header), "
                + "field \(r.field) contradict each other (the flow could never match)"
        case .unknownAction(let f, let i, let uid):
            return "\(f): action #\(i): action \(uid) does not exist"
        case .actionNotInTable(let f, let i, let uid):
            return "\(f): action #\(i): table \(f.table) does not allow action \(uid)"
        case .actionArgumentCount(let f, let i, let uid, let expected, let got):
            return "\(f): action #\(i) (uid \(uid)): \(got) arguments, its signature has \(expected)"
        case .actionArgumentType(let f, let i, let uid, let a, let expected, let got):
            return "\(f): action #\(i) (uid \(uid)): argument #\(a) is \(got), its signature says \(expected)"
        case .actionArgumentWidth(let f, let i, let uid, let a, let arg):
            return "\(f): action #\(i) (uid \(uid)): argument #\(a) value \(hex(arg.value)) "
                + "does not have the width of \(arg.type)"
        }
    }
}

/// A PipelineModel indexed for validating many flows: built once (when the model is loaded),
/// then each validation is a few hash lookups per match and action, and allocates nothing unless
/// errors are collected into an array.
public struct ValidationIndex: Sendable {
    /// (header, field) of the model: the headers' field lists flattened.
    struct HeaderField: Hashable, Sendable {
        var header: UInt32
        var field: UInt32
    }

    struct TableEntry: Sendable {
        /// The table's match descriptors by (instance, header, field); the first one wins if the
        /// model repeats one (`PipelineModel.validate()` reports that).
        var matches: [MatchField: FieldRef] = [:]
        var actions: Set<UInt32> = []
        /// The answers of the valid case in one look-up each (the hot path of the daemon, where
        /// separate look-ups were most of a flow's validation): a match field whose header and
        /// field the model knows → (descriptor, bitwidth); an action of the table the model
        /// defines → its argument list. A miss takes the step-by-step path that names the error.
        var knownMatches: [MatchField: (descriptor: FieldRef, bitwidth: UInt32)] = [:]
        var knownActions: [UInt32: [ActionArg]] = [:]
    }

    var tables: [UInt32: TableEntry] = [:]
    /// The same tables for the byte-level path (PartsValidation.swift): the known matches and
    /// actions as short lists, because a linear scan over a handful costs less than hashing.
    var tableList: [PartsTable] = []
    var tableUIDs: [UInt32] = []
    var headers: Set<UInt32> = []
    /// Bitwidth by (header, field).
    var fields: [HeaderField: UInt32] = [:]
    /// Argument lists by action uid (a missing signature = no arguments).
    var actions: [UInt32: [ActionArg]] = [:]

    public init(_ model: PipelineModel) {
        for header in model.headers {
            headers.insert(header.uid)
            for field in header.fields {
                let key = HeaderField(header: header.uid, field: field.uid)
                if fields[key] == nil { fields[key] = field.bitwidth }
            }
        }
        for action in model.actions where actions[action.uid] == nil {
            actions[action.uid] = action.signature ?? []
        }
        for table in model.tables where tables[table.uid] == nil {
            var entry = TableEntry()
            for ref in table.matches where entry.matches[ref.matchField] == nil {
                entry.matches[ref.matchField] = ref
            }
            entry.actions = Set(table.actions)
            for (key, ref) in entry.matches where headers.contains(ref.header) {
                if let bitwidth = fields[HeaderField(header: ref.header, field: ref.field)] {
                    entry.knownMatches[key] = (ref, bitwidth)
                }
            }
            for uid in entry.actions { if let signature = actions[uid] { entry.knownActions[uid] = signature } }
            tables[table.uid] = entry
            tableList.append(PartsTable(uid: table.uid, entry: entry))
            tableUIDs.append(table.uid)
        }
    }

    /// Every problem of `flow`, in flow order (identity, matches, actions); empty when valid.
    public func validate(_ flow: Flow, for operation: FlowOperation) -> [FlowValidationError] {
        var errors: [FlowValidationError] = []
        run(flow, operation) {
            errors.append($0); return true
        }
        return errors
    }

    /// The first problem of `flow`, or nil when it is valid. Stops at the first problem.
    public func firstError(in flow: Flow, for operation: FlowOperation) -> FlowValidationError? {
        var first: FlowValidationError?
        run(flow, operation) {
            first = $0; return false
        }
        return first
    }

    /// Throws the first problem of `flow`.
    public func check(_ flow: Flow, for operation: FlowOperation) throws(FlowValidationError) {
        if let error = firstError(in: flow, for: operation) { throw error }
    }

    /// The checks, reporting each problem to `report`; `report` returns false to stop.
    /// Returns false when stopped. A closure rather than an array keeps the first-error path
    /// free of allocations.
    @discardableResult
    private func run(
        _ flow: Flow, _ operation: FlowOperation,
        _ report: (FlowValidationError) -> Bool
    ) -> Bool {
        let id = FlowIdentity(flow)
        if flow.table == 0, !report(.reservedZero(id, .table)) { return false }
        if flow.uid == 0, !report(.reservedZero(id, .uid)) { return false }
        guard flow.table != 0 else { return true }
        guard let table = tables[flow.table] else { return report(.unknownTable(id)) }
        // DEL_FLOWS identifies the flow by table and uid; what else it carries is not checked.
        guard operation == .set else { return true }

        let matches = flow.matches ?? []
        if matches.isEmpty, !report(.noMatches(id)) { return false }
        for (i, ref) in matches.enumerated() {
            if !checkMatch(ref, at: i, of: id, in: table, report) { return false }
        }
        // Pairwise on purpose: flows have a handful of matches, and this allocates nothing.
        // Matches without a value were reported above and select nothing meaningful: skipped.
        for i in matches.indices where matches[i].value != nil {
            let a = FieldConstraint(MatchKey(matches[i]))
            for j in matches.indices where j > i && matches[j].value != nil {
                let b = FieldConstraint(MatchKey(matches[j]))
                if a.field == b.field, !a.isCompatible(with: b),
                    !report(.conflictingMatches(id, first: i, second: j, ref: matches[j]))
                {
                    return false
                }
            }
        }

        let actions = flow.actions ?? []
        if actions.isEmpty, !report(.noActions(id)) { return false }
        for (i, action) in actions.enumerated() {
            if !checkAction(action, at: i, of: id, in: table, report) { return false }
        }
        return true
    }

    func checkMatch(
        _ ref: FieldRef, at i: Int, of id: FlowIdentity, in table: TableEntry,
        _ report: (FlowValidationError) -> Bool
    ) -> Bool {
        // Identity first: when it is wrong, nothing else about the match can be judged.
        var zero = false
        if ref.instance == 0 { zero = true; if !report(.reservedZero(id, .matchInstance(match: i))) { return false } }
        if ref.header == 0 { zero = true; if !report(.reservedZero(id, .matchHeader(match: i))) { return false } }
        if ref.field == 0 { zero = true; if !report(.reservedZero(id, .matchField(match: i))) { return false } }
        if zero { return true }
        let descriptor: FieldRef, bitwidth: UInt32
        if let known = table.knownMatches[ref.matchField] {
            (descriptor, bitwidth) = known
        } else {
            guard headers.contains(ref.header) else { return report(.unknownHeader(id, match: i, ref: ref)) }
            guard let width = fields[HeaderField(header: ref.header, field: ref.field)] else {
                return report(.unknownField(id, match: i, ref: ref))
            }
            guard let d = table.matches[ref.matchField] else {
                return report(.fieldNotInTable(id, match: i, ref: ref))
            }
            (descriptor, bitwidth) = (d, width)
        }
        return checkValue(ref, at: i, of: id, descriptor: descriptor, bitwidth: bitwidth, report)
    }

    /// The checks of a match whose (instance, header, field) the table has: mask type, value,
    /// widths, bitwidth, mask shape.
    @inline(__always)
    func checkValue(
        _ ref: FieldRef, at i: Int, of id: FlowIdentity, descriptor: FieldRef, bitwidth: UInt32,
        _ report: (FlowValidationError) -> Bool
    ) -> Bool {
        if ref.maskType != descriptor.maskType,
            !report(.maskTypeMismatch(id, match: i, ref: ref, expected: descriptor.maskType))
        {
            return false
        }

        // Value and mask.
        guard let value = ref.value else { return report(.missingValue(id, match: i, ref: ref)) }
        guard let width = ref.type.byteWidth else { return report(.invalidValueType(id, match: i, ref: ref)) }
        // A table that advertises no TYPE (UNSPEC, as the kernel's own tables do) accepts any width.
        if descriptor.type != .unspec, ref.type != descriptor.type,
            !report(.valueTypeMismatch(id, match: i, ref: ref, expected: descriptor.type))
        {
            return false
        }
        var widthsOK = true
        if Int(value.byteCount) != width {
            widthsOK = false
            if !report(.valueWidthMismatch(id, match: i, ref: ref)) { return false }
        }
        if let mask = ref.mask, Int(mask.byteCount) != width {
            widthsOK = false
            if !report(.maskWidthMismatch(id, match: i, ref: ref)) { return false }
        }
        guard widthsOK else { return true }

        // Bits the field can hold, limited to the type's width. Bitwidth 0 is the model's
        // "variable length" (ipv4 options) and ≥ 64 cannot be narrower than the type: no limit.
        let typeBits = UInt64(width) * 8
        let fieldBits = bitwidth == 0 ? typeBits : min(UInt64(bitwidth), typeBits)
        let fieldMask: UInt64 = fieldBits >= 64 ? ~0 : (1 << fieldBits) - 1
        if bitwidth != 0, value.rawBits & ~fieldMask != 0,
            !report(.valueExceedsBitwidth(id, match: i, ref: ref, bitwidth: bitwidth))
        {
            return false
        }

        // The mask's shape, judged on the field's bits only (bits above them never vary).
        let mask = (ref.mask?.rawBits ?? ~0) & fieldMask
        switch descriptor.maskType {
        case .exact:
            if mask != fieldMask, !report(.maskNotExact(id, match: i, ref: ref)) { return false }
        case .lpm:
            // A prefix: the free bits (inside the field) are the low ones, i.e. 2^k - 1.
            let free = ~mask & fieldMask
            if free & (free &+ 1) != 0, !report(.maskNotPrefix(id, match: i, ref: ref)) { return false }
        default:
            break
        }
        return true
    }

    private func checkAction(
        _ action: Action, at i: Int, of id: FlowIdentity, in table: TableEntry,
        _ report: (FlowValidationError) -> Bool
    ) -> Bool {
        guard action.uid != 0 else { return report(.reservedZero(id, .actionUID(action: i))) }
        let signature: [ActionArg]
        if let known = table.knownActions[action.uid] {
            signature = known
        } else {
            guard let s = actions[action.uid] else {
                return report(.unknownAction(id, action: i, uid: action.uid))
            }
            guard table.actions.contains(action.uid) else {
                return report(.actionNotInTable(id, action: i, uid: action.uid))
            }
            signature = s
        }
        let args = action.signature ?? []
        guard args.count == signature.count else {
            return report(
                .actionArgumentCount(
                    id, action: i, uid: action.uid,
                    expected: signature.count, got: args.count))
        }
        for (a, arg) in args.enumerated() {
            let expected = signature[a].type
            if arg.type != expected {
                if !report(
                    .actionArgumentType(
                        id, action: i, uid: action.uid, argument: a,
                        expected: expected, got: arg.type))
                {
                    return false
                }
                continue
            }
            if arg.type.byteWidth != Int(arg.value.byteCount),
                !report(.actionArgumentWidth(id, action: i, uid: action.uid, argument: a, arg: arg))
            {
                return false
            }
        }
        return true
    }
}

extension PipelineModel {
    /// Every problem of `flow` against this model. Builds a `ValidationIndex` on each call: for
    /// more than one flow build the index once and use it.
    public func validate(_ flow: Flow, for operation: FlowOperation) -> [FlowValidationError] {
        ValidationIndex(self).validate(flow, for: operation)
    }
}
