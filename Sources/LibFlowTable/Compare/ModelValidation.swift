// Cross-validation of a PipelineModel: do tables, headers, actions and the two graphs agree?
// The originals served their discovery JSON as-is and never checked it; their examples
// reference actions and instances that do not exist and use 0 ids. The
// daemon runs `validate()` on its model at startup and refuses a model with errors.
//
// Rules (each a case of ModelValidationError):
// * ids are nonzero (0 terminates the kernel's lists): header, field, action, table, graph node
//   uids, and the instance/header/field of table matches, node headers and table actions;
// * uids are unique among their kind (fields: within their header; table matches: one per
//   (instance, header, field); table actions: no repeats);
// * field bitwidth ≤ 64 (0 = variable length is allowed);
// * a table match names an existing header and field, at an instance that is a header-graph node
//   recognising that header; its mask type is EXACT, LPM or MASK, its TYPE UNSPEC or U8…U64;
// * a table's actions exist; action signature arguments have a type U8…U64 and a value of that
//   width;
// * header-graph nodes list existing headers; a jump's field ref (unless unconditional, header
//   0) names an existing header and field; it goes to 0 (DONE, v2) or an existing node of the
//   same graph (header graph: node uids; table graph: table uids). 0xFFFFFFFF, the v1 terminator
//   the shipped examples still use, is rejected;
// * table-graph nodes are existing tables.

/// Where in a model a problem is. Indexes are 0-based list positions.
public enum ModelLocation: Hashable, Sendable, CustomStringConvertible {
    case header(UInt32)
    case field(header: UInt32, field: UInt32)
    case action(UInt32)
    case actionArgument(action: UInt32, argument: Int)
    case table(UInt32)
    case tableMatch(table: UInt32, match: Int)
    case tableAction(table: UInt32, action: Int)
    case headerNode(UInt32)
    case headerNodeHeader(node: UInt32, header: Int)
    case headerNodeJump(node: UInt32, jump: Int)
    case tableNode(UInt32)
    case tableNodeJump(node: UInt32, jump: Int)

    public var description: String {
        switch self {
        case .header(let h): return "header \(h)"
        case .field(let h, let f): return "header \(h) field \(f)"
        case .action(let a): return "action \(a)"
        case .actionArgument(let a, let i): return "action \(a) argument #\(i)"
        case .table(let t): return "table \(t)"
        case .tableMatch(let t, let i): return "table \(t) match #\(i)"
        case .tableAction(let t, let i): return "table \(t) action #\(i)"
        case .headerNode(let n): return "header-graph node \(n)"
        case .headerNodeHeader(let n, let i): return "header-graph node \(n) header #\(i)"
        case .headerNodeJump(let n, let i): return "header-graph node \(n) jump #\(i)"
        case .tableNode(let n): return "table-graph node \(n)"
        case .tableNodeJump(let n, let i): return "table-graph node \(n) jump #\(i)"
        }
    }
}

/// Why a pipeline model is inconsistent.
public enum ModelValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An id at this place is 0; `what` names which one ("uid", "instance", "header", …).
    case reservedZero(ModelLocation, what: String)
    /// The uid (or reference) at this place repeats an earlier one of the same kind.
    case duplicate(ModelLocation)
    /// A field wider than 64 bits: no VALUE can hold it.
    case fieldBitwidth(ModelLocation, bitwidth: UInt32)
    case unknownHeader(ModelLocation, header: UInt32)
    case unknownField(ModelLocation, header: UInt32, field: UInt32)
    /// A table match's instance is not a header-graph node.
    case unknownInstance(ModelLocation, instance: UInt32)
    /// A table match's instance (a header-graph node) does not recognise the match's header.
    case headerNotAtInstance(ModelLocation, instance: UInt32, header: UInt32)
    case invalidMaskType(ModelLocation, MaskType)
    /// A TYPE that is not UNSPEC/U8…U64 (table match), or not U8…U64 (action argument).
    case invalidType(ModelLocation, FieldType)
    /// A value whose byte count is not its type's width.
    case valueWidthMismatch(ModelLocation, type: FieldType, byteCount: UInt8)
    case unknownAction(ModelLocation, action: UInt32)
    /// A jump to a node that is neither DONE (0) nor in the graph.
    case unknownJumpTarget(ModelLocation, target: UInt32)
    /// A table-graph node for a table the model does not have.
    case unknownTable(ModelLocation, table: UInt32)

    public enum Kind: String, CaseIterable, Hashable, Sendable {
        case reservedZero, duplicate, fieldBitwidth, unknownHeader, unknownField, unknownInstance
        case headerNotAtInstance, invalidMaskType, invalidType, valueWidthMismatch, unknownAction
        case unknownJumpTarget, unknownTable
    }

    public var kind: Kind {
        switch self {
        case .reservedZero: return .reservedZero
        case .duplicate: return .duplicate
        case .fieldBitwidth: return .fieldBitwidth
        case .unknownHeader: return .unknownHeader
        case .unknownField: return .unknownField
        case .unknownInstance: return .unknownInstance
        case .headerNotAtInstance: return .headerNotAtInstance
        case .invalidMaskType: return .invalidMaskType
        case .invalidType: return .invalidType
        case .valueWidthMismatch: return .valueWidthMismatch
        case .unknownAction: return .unknownAction
        case .unknownJumpTarget: return .unknownJumpTarget
        case .unknownTable: return .unknownTable
        }
    }

    public var location: ModelLocation {
        switch self {
        case .reservedZero(let l, _), .duplicate(let l), .fieldBitwidth(let l, _), .unknownHeader(let l, _),
            .unknownField(let l, _, _), .unknownInstance(let l, _), .headerNotAtInstance(let l, _, _),
            .invalidMaskType(let l, _), .invalidType(let l, _), .valueWidthMismatch(let l, _, _),
            .unknownAction(let l, _), .unknownJumpTarget(let l, _), .unknownTable(let l, _):
            return l
        }
    }

    public var description: String {
        switch self {
        case .reservedZero(let l, let what):
            return "\(l): \(what) is 0, a reserved id (the kernel treats 0 as a list terminator)"
        case .duplicate(let l):
            return "\(l): duplicate"
        case .fieldBitwidth(let l, let bits):
            return "\(l): bitwidth \(bits) exceeds 64"
        case .unknownHeader(let l, let h):
            return "\(l): header \(h) does not exist"
        case .unknownField(let l, let h, let f):
            return "\(l): header \(h) has no field \(f)"
        case .unknownInstance(let l, let i):
            return "\(l): instance \(i) is not a header-graph node"
        case .headerNotAtInstance(let l, let i, let h):
            return "\(l): header-graph node \(i) does not parse header \(h)"
        case .invalidMaskType(let l, let t):
            return "\(l): invalid mask type \(t)"
        case .invalidType(let l, let t):
            return "\(l): invalid value type \(t)"
        case .valueWidthMismatch(let l, let t, let n):
            return "\(l): \(n)-byte value for type \(t)"
        case .unknownAction(let l, let a):
            return "\(l): action \(a) does not exist"
        case .unknownJumpTarget(let l, let n):
            return "\(l): jump to node \(n), which is neither DONE (0) nor in the graph"
        case .unknownTable(let l, let t):
            return "\(l): table \(t) does not exist"
        }
    }
}

extension PipelineModel {
    /// Every inconsistency of the model, in model order (headers, actions, tables, header graph,
    /// table graph); empty when the model is consistent. See the rules at the top of the file.
    public func validate() -> [ModelValidationError] {
        var errors: [ModelValidationError] = []

        // Headers and fields.
        var headerUIDs = Set<UInt32>()
        var fieldUIDs = Set<ValidationIndex.HeaderField>()
        for header in headers {
            if header.uid == 0 {
                errors.append(.reservedZero(.header(0), what: "uid"))
            } else if !headerUIDs.insert(header.uid).inserted {
                errors.append(.duplicate(.header(header.uid)))
            }
            for field in header.fields {
                let location = ModelLocation.field(header: header.uid, field: field.uid)
                if field.uid == 0 {
                    errors.append(.reservedZero(location, what: "uid"))
                } else if !fieldUIDs.insert(.init(header: header.uid, field: field.uid)).inserted {
                    errors.append(.duplicate(location))
                }
                if field.bitwidth > 64 { errors.append(.fieldBitwidth(location, bitwidth: field.bitwidth)) }
            }
        }

        // Actions.
        var actionUIDs = Set<UInt32>()
        for action in actions {
            if action.uid == 0 {
                errors.append(.reservedZero(.action(0), what: "uid"))
            } else if !actionUIDs.insert(action.uid).inserted {
                errors.append(.duplicate(.action(action.uid)))
            }
            for (i, arg) in (action.signature ?? []).enumerated() {
                let location = ModelLocation.actionArgument(action: action.uid, argument: i)
                if let width = arg.type.byteWidth {
                    if Int(arg.value.byteCount) != width {
                        errors.append(.valueWidthMismatch(location, type: arg.type, byteCount: arg.value.byteCount))
                    }
                } else {
                    errors.append(.invalidType(location, arg.type))
                }
            }
        }

        // The header graph's nodes, needed by table matches (instances) and jumps.
        var nodeHeaders: [UInt32: [UInt32]] = [:]
        for node in headerGraph where node.uid != 0 && nodeHeaders[node.uid] == nil {
            nodeHeaders[node.uid] = node.headers
        }
        let tableUIDs = Set(tables.map(\.uid))

        // Checks a field ref's header/field against the headers (header 0 = unconditional jump).
        func checkField(_ ref: FieldRef, _ location: ModelLocation) -> Bool {
            if !headerUIDs.contains(ref.header) {
                errors.append(.unknownHeader(location, header: ref.header))
                return false
            }
            if !fieldUIDs.contains(.init(header: ref.header, field: ref.field)) {
                errors.append(.unknownField(location, header: ref.header, field: ref.field))
                return false
            }
            return true
        }

        // Tables.
        var seenTables = Set<UInt32>()
        for table in tables {
            if table.uid == 0 {
                errors.append(.reservedZero(.table(0), what: "uid"))
            } else if !seenTables.insert(table.uid).inserted {
                errors.append(.duplicate(.table(table.uid)))
            }
            var seenMatches = Set<MatchField>()
            for (i, ref) in table.matches.enumerated() {
                let location = ModelLocation.tableMatch(table: table.uid, match: i)
                var zero = false
                for (id, what) in [(ref.instance, "instance"), (ref.header, "header"), (ref.field, "field")]
                where id == 0 {
                    zero = true
                    errors.append(.reservedZero(location, what: what))
                }
                if !zero {
                    if !seenMatches.insert(ref.matchField).inserted { errors.append(.duplicate(location)) }
                    if checkField(ref, location) {
                        if let parsed = nodeHeaders[ref.instance] {
                            if !parsed.contains(ref.header) {
                                errors.append(
                                    .headerNotAtInstance(
                                        location, instance: ref.instance,
                                        header: ref.header))
                            }
                        } else {
                            errors.append(.unknownInstance(location, instance: ref.instance))
                        }
                    }
                }
                if ![MaskType.exact, .lpm, .mask].contains(ref.maskType) {
                    errors.append(.invalidMaskType(location, ref.maskType))
                }
                if ref.type != .unspec, ref.type.byteWidth == nil {
                    errors.append(.invalidType(location, ref.type))
                }
            }
            var seenActions = Set<UInt32>()
            for (i, uid) in table.actions.enumerated() {
                let location = ModelLocation.tableAction(table: table.uid, action: i)
                if uid == 0 { errors.append(.reservedZero(location, what: "action uid")); continue }
                if !seenActions.insert(uid).inserted { errors.append(.duplicate(location)) }
                if !actionUIDs.contains(uid) { errors.append(.unknownAction(location, action: uid)) }
            }
        }

        // Jump entries of either graph.
        func checkJump(_ jump: JumpEntry, _ location: ModelLocation, targets: (UInt32) -> Bool) {
            if jump.ref.header != 0 {
                _ = checkField(jump.ref, location)
                if let value = jump.ref.value {
                    if let width = jump.ref.type.byteWidth {
                        if Int(value.byteCount) != width {
                            errors.append(
                                .valueWidthMismatch(location, type: jump.ref.type, byteCount: value.byteCount))
                        }
                    } else {
                        errors.append(.invalidType(location, jump.ref.type))
                    }
                }
            }
            if jump.nextNode != 0, !targets(jump.nextNode) {
                errors.append(.unknownJumpTarget(location, target: jump.nextNode))
            }
        }

        // Header graph.
        var seenNodes = Set<UInt32>()
        for node in headerGraph {
            if node.uid == 0 {
                errors.append(.reservedZero(.headerNode(0), what: "uid"))
            } else if !seenNodes.insert(node.uid).inserted {
                errors.append(.duplicate(.headerNode(node.uid)))
            }
            for (i, header) in node.headers.enumerated() {
                let location = ModelLocation.headerNodeHeader(node: node.uid, header: i)
                if header == 0 {
                    errors.append(.reservedZero(location, what: "header"))
                } else if !headerUIDs.contains(header) {
                    errors.append(.unknownHeader(location, header: header))
                }
            }
            for (i, jump) in node.jumps.enumerated() {
                checkJump(jump, .headerNodeJump(node: node.uid, jump: i)) { nodeHeaders[$0] != nil }
            }
        }

        // Table graph: nodes are tables, jumps go to tables.
        var seenTableNodes = Set<UInt32>()
        for node in tableGraph {
            if node.uid == 0 {
                errors.append(.reservedZero(.tableNode(0), what: "uid"))
            } else {
                if !seenTableNodes.insert(node.uid).inserted { errors.append(.duplicate(.tableNode(node.uid))) }
                if !tableUIDs.contains(node.uid) { errors.append(.unknownTable(.tableNode(node.uid), table: node.uid)) }
            }
            for (i, jump) in node.jumps.enumerated() {
                checkJump(jump, .tableNodeJump(node: node.uid, jump: i)) { tableUIDs.contains($0) }
            }
        }
        return errors
    }
}
