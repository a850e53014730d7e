// Validating a flow that was never built as a `Flow`: the daemon's byte-level path reads a
// request's FLOW nest in place into a few scratch buffers (the matches as FieldRefs, which hold
// no heap storage, and each action's uid and argument types and widths) and asks here whether
// `firstError` would find nothing. Only the yes is answered: on any problem the caller falls
// back to the typed path, which builds the Flow and names the error (ValidationIndex.run), so
// the error texts stay in one place. The match checks are the very functions the typed path
// runs (checkMatch and the pairwise conflict test); the action checks repeat checkAction's
// conditions on the argument types and widths instead of ActionArg values (whose names are
// Strings). FlowPartsValidationTests compares this with firstError on generated valid and
// invalid flows.

/// One argument of an action, as far as validation looks at it.
public struct ActionArgShape: Hashable, Sendable {
    public var type: FieldType
    /// VALUE's byte count.
    public var valueByteCount: UInt8

    public init(type: FieldType, valueByteCount: UInt8) {
        self.type = type
        self.valueByteCount = valueByteCount
    }
}

/// One action, as far as validation looks at it: its arguments are `args[argStart ..< argStart
/// + argCount]` of the buffer passed beside it.
public struct ActionShape: Hashable, Sendable {
    public var uid: UInt32
    public var argStart: Int
    public var argCount: Int

    public init(uid: UInt32, argStart: Int, argCount: Int) {
        self.uid = uid
        self.argStart = argStart
        self.argCount = argCount
    }
}

/// A table of the model as the byte-level path looks it up (built with ValidationIndex).
final class PartsTable: Sendable {
    let uid: UInt32
    let matchFields: [MatchField]
    let matchInfo: [(descriptor: FieldRef, bitwidth: UInt32)]
    let actionUIDs: [UInt32]
    let actionSignatures: [[ActionArg]]

    init(uid: UInt32, entry: ValidationIndex.TableEntry) {
        self.uid = uid
        let known = entry.knownMatches.sorted { $0.key < $1.key }
        matchFields = known.map(\.key)
        matchInfo = known.map(\.value)
        let actions = entry.knownActions.sorted { $0.key < $1.key }
        actionUIDs = actions.map(\.key)
        actionSignatures = actions.map(\.value)
    }
}

extension ValidationIndex {
    /// True exactly when `firstError(in:for:)` returns nil for the flow with these parts (an
    /// absent MATCHES or ACTIONS is an empty buffer, as the typed checks read `?? []`).
    public func isValid(
        table: UInt32, uid: UInt32, for operation: FlowOperation,
        matches: UnsafeBufferPointer<FieldRef>,
        actions: UnsafeBufferPointer<ActionShape>,
        args: UnsafeBufferPointer<ActionArgShape>
    ) -> Bool {
        guard table != 0, uid != 0 else { return false }
        // A table the model lists twice is indexed once (the first); tableList keeps the same.
        guard let k = tableUIDs.firstIndex(of: table) else { return false }
        let entry = tableList[k]
        guard operation == .set else { return true }
        return isValid(
            table: entry, id: FlowIdentity(table: table, uid: uid),
            matches: matches, actions: actions, args: args)
    }

    private func isValid(
        table: PartsTable, id: FlowIdentity, matches: UnsafeBufferPointer<FieldRef>,
        actions: UnsafeBufferPointer<ActionShape>,
        args: UnsafeBufferPointer<ActionArgShape>
    ) -> Bool {
        guard !matches.isEmpty, !actions.isEmpty else { return false }
        let refuse: (FlowValidationError) -> Bool = { _ in false }
        for i in matches.indices {
            let ref = matches[i]
            // A zero id, or a field the table does not have (a miss in knownMatches is always an
            // error: unknown header, unknown field or not in the table): the typed path names it.
            guard ref.instance != 0, ref.header != 0, ref.field != 0 else { return false }
            var k = -1
            for (j, f) in table.matchFields.enumerated()
            where f.instance == ref.instance && f.header == ref.header && f.field == ref.field {
                k = j
                break
            }
            guard k >= 0 else { return false }
            let known = table.matchInfo[k]
            guard checkValue(ref, at: i, of: id, descriptor: known.descriptor, bitwidth: known.bitwidth, refuse) else {
                return false
            }
        }
        // Every match has a value here (a missing one was refused above).
        // Only two matches of one field can conflict: the constraints are built for those alone.
        for i in matches.indices {
            let a = matches[i]
            for j in matches.indices where j > i {
                let b = matches[j]
                guard a.field == b.field, a.header == b.header, a.instance == b.instance else { continue }
                if !FieldConstraint(MatchKey(a)).isCompatible(with: FieldConstraint(MatchKey(b))) { return false }
            }
        }
        for action in actions {
            // Not among the table's known actions: unknown, not allowed, or uid 0 — all errors.
            guard action.uid != 0, let k = table.actionUIDs.firstIndex(of: action.uid) else { return false }
            let signature = table.actionSignatures[k]
            guard action.argCount == signature.count,
                action.argStart >= 0, action.argStart + action.argCount <= args.count
            else { return false }
            for a in 0..<action.argCount {
                let arg = args[action.argStart + a]
                guard arg.type == signature[a].type, arg.type.byteWidth == Int(arg.valueByteCount) else { return false }
            }
        }
        return true
    }
}
