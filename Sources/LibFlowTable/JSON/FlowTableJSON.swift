// The libflow-table JSON format (spec section 4) both ways: model ⇄ JSONValue, plus parsing,
// loading and the single-key check of the original tools.
//
// Shape (4.1/4.2): a message is one object keyed by top-level attribute names; a list is an
// array of one-key objects ({"table":{…}}); a jump entry is an array of one-key objects
// ({"jump_entry":[{"next_node":N},{"instance":I},…]}); VALUE/MASK are arrays of bytes, most
// significant first. Output keys come in attribute-number order, and an absent attribute has
// no key while an empty list is written as [] — the model keeps that difference (nil vs []) and
// so does the JSON.
//
// Reading is strict where libflow-table was not: wrong types, missing/unknown/
// duplicate keys, u32s out of range, bytes out of 0…255 and VALUE/MASK arrays of 0 or more than
// 8 bytes are errors naming the JSON path. Whether a VALUE's length matches its TYPE is left to
// validation; the model keeps the length as given.

/// Key tables: JSON name and NFL attribute number, in attribute order. The writer orders its
/// output by these and the reader accepts exactly these keys.
enum FlowTableJSONKeys {
    static let top: [JSONKeySpec] = [
        .init("tables", NFL.Attr.tables), .init("headers", NFL.Attr.headers),
        .init("actions", NFL.Attr.actions), .init("header_graph", NFL.Attr.headerGraph),
        .init("table_graph", NFL.Attr.tableGraph), .init("flows", NFL.Attr.flows),
    ]
    /// Our own extension of the top level: preamble, selector and error strategy.
    static let extendedTop: [JSONKeySpec] =
        [
            .init("identifier_type", NFL.Attr.identifierType), .init("identifier", NFL.Attr.identifier),
        ] + top + [
            .init("selector", NFL.Attr.flows), .init("error_strategy", NFL.Attr.flowsError),
        ]
    static let field: [JSONKeySpec] = [
        .init("name", NFL.FieldAttr.name), .init("uid", NFL.FieldAttr.uid),
        .init("bitwidth", NFL.FieldAttr.bitwidth),
    ]
    static let header: [JSONKeySpec] = [
        .init("name", NFL.HeaderAttr.name), .init("uid", NFL.HeaderAttr.uid),
        .init("fields", NFL.HeaderAttr.fields),
    ]
    /// A field ref outside jump entries: no next_node.
    static let fieldRef: [JSONKeySpec] = Array(jumpEntry.dropFirst())
    static let jumpEntry: [JSONKeySpec] = [
        .init("next_node", NFL.FieldRefAttr.nextNode), .init("instance", NFL.FieldRefAttr.instance),
        .init("header", NFL.FieldRefAttr.header), .init("field", NFL.FieldRefAttr.field),
        .init("mask_type", NFL.FieldRefAttr.maskType), .init("type", NFL.FieldRefAttr.type),
        .init("value", NFL.FieldRefAttr.value), .init("mask", NFL.FieldRefAttr.mask),
    ]
    static let actionArg: [JSONKeySpec] = [
        .init("name", NFL.ActionArgAttr.name), .init("type", NFL.ActionArgAttr.type),
        .init("value", NFL.ActionArgAttr.value),
    ]
    static let action: [JSONKeySpec] = [
        .init("name", NFL.ActionAttr.name), .init("uid", NFL.ActionAttr.uid),
        .init("signature", NFL.ActionAttr.signature),
    ]
    static let table: [JSONKeySpec] = [
        .init("name", NFL.TableAttr.name), .init("uid", NFL.TableAttr.uid),
        .init("source", NFL.TableAttr.source), .init("apply", NFL.TableAttr.apply),
        .init("size", NFL.TableAttr.size), .init("matches", NFL.TableAttr.matches),
        .init("actions", NFL.TableAttr.actions),
    ]
    static let headerGraphNode: [JSONKeySpec] = [
        .init("name", NFL.HeaderNodeAttr.name), .init("uid", NFL.HeaderNodeAttr.uid),
        .init("hdrs", NFL.HeaderNodeAttr.hdrs), .init("jump", NFL.HeaderNodeAttr.jump),
    ]
    static let tableGraphNode: [JSONKeySpec] = [
        .init("uid", NFL.TableGraphNodeAttr.uid), .init("flags", NFL.TableGraphNodeAttr.flags),
        .init("jump", NFL.TableGraphNodeAttr.jump),
    ]
    static let flow: [JSONKeySpec] = [
        .init("error", NFL.FlowAttr.error), .init("table", NFL.FlowAttr.table),
        .init("uid", NFL.FlowAttr.uid), .init("priority", NFL.FlowAttr.priority),
        .init("matches", NFL.FlowAttr.matches), .init("actions", NFL.FlowAttr.actions),
    ]
    static let selector: [JSONKeySpec] = [
        .init("table", NFL.TableFlowsAttr.table), .init("min_prio", NFL.TableFlowsAttr.minPriority),
        .init("max_prio", NFL.TableFlowsAttr.maxPriority),
    ]

    static func names(_ keys: [JSONKeySpec]) -> [String] { keys.map(\.name) }

    // The accepted key names, computed once (decoding runs per element of big flow files).
    static let topNames = names(top)
    static let extendedTopNames = names(extendedTop)
    static let fieldNames = names(field)
    static let headerNames = names(header)
    static let fieldRefNames = names(fieldRef)
    static let jumpEntryNames = names(jumpEntry)
    static let actionArgNames = names(actionArg)
    static let actionNames = names(action)
    static let tableNames = names(table)
    static let headerGraphNodeNames = names(headerGraphNode)
    static let tableGraphNodeNames = names(tableGraphNode)
    static let flowNames = names(flow)
    static let selectorNames = names(selector)
}

private typealias Keys = FlowTableJSONKeys

// MARK: - whole messages

extension FlowTableAttributes {
    /// Reads a libflow-table JSON message: an object with any of the keys `tables`, `headers`,
    /// `actions`, `header_graph`, `table_graph`, `flows` (FLOWS in its list layout). Absent keys
    /// stay nil; the preamble, selector and error strategy are not part of this format and stay
    /// nil (see `init(extendedJSON:)`).
    ///
    /// Errors name the JSON path; they have no line/column because a JSONValue has no text (use
    /// `FlowTableJSON.decode(bytes:…)` or `JSONError.located(in:)` for that).
    public init(json: JSONValue) throws(JSONError) {
        self.init()
        try decode(JSONNode(json), keys: Keys.topNames)
    }

    /// The libflow-table JSON of the attributes: keys in attribute order, only for the lists
    /// that are present (an empty list is written as `[]`). The identifier preamble, the
    /// GET_FLOWS selector and FLOWS_ERROR have no libflow-table form and are left out.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.top)
        setLists(&o)
        return o.value
    }

    /// FlowTrace's extended form (beyond libflow-table): the libflow-table keys plus
    /// `identifier_type`, `identifier` (the preamble, u32), `selector` (the GET_FLOWS selector,
    /// see `FlowSelector.json()`) and `error_strategy` (FLOWS_ERROR, see `ErrorStrategy.json()`),
    /// all in attribute-number order. Lossless for every field of the model.
    public func extendedJSON() -> JSONValue {
        var o = JSONObjectBuilder(Keys.extendedTop)
        o.set("identifier_type", identifierType.map(JSONValue.number))
        o.set("identifier", identifier.map(JSONValue.number))
        setLists(&o)
        o.set("selector", selector?.json())
        o.set("error_strategy", errorStrategy?.json())
        return o.value
    }

    /// Reads the extended form written by `extendedJSON()` (plain libflow-table JSON is valid
    /// extended JSON too).
    public init(extendedJSON json: JSONValue) throws(JSONError) {
        self.init()
        let o = try decode(JSONNode(json), keys: Keys.extendedTopNames)
        identifierType = try o.optional("identifier_type")?.u32()
        identifier = try o.optional("identifier")?.u32()
        selector = try o.optional("selector").map { n throws(JSONError) in try FlowSelector.decode(n) }
        errorStrategy = try o.optional("error_strategy").map { n throws(JSONError) in try ErrorStrategy.decode(n) }
    }

    private func setLists(_ o: inout JSONObjectBuilder) {
        o.set("tables", tables.map { list($0, "table") { $0.json() } })
        o.set("headers", headers.map { list($0, "header") { $0.json() } })
        o.set("actions", actions.map { list($0, "action") { $0.json() } })
        o.set("header_graph", headerGraph.map { list($0, "header_graph_node") { $0.json() } })
        o.set("table_graph", tableGraph.map { list($0, "table_graph_node") { $0.json() } })
        o.set("flows", flows.map { list($0, "flow") { $0.json() } })
    }

    @discardableResult
    private mutating func decode(_ node: JSONNode, keys: [String]) throws(JSONError) -> JSONKeyedNodes {
        let o = try node.object("a flow table message", keys: keys)
        tables = try o.optional("tables").map { n throws(JSONError) in try decodeList(n, "table", Table.decode) }
        headers = try o.optional("headers").map { n throws(JSONError) in try decodeList(n, "header", Header.decode) }
        actions = try o.optional("actions").map { n throws(JSONError) in try decodeList(n, "action", Action.decode) }
        headerGraph = try o.optional("header_graph").map { n throws(JSONError) in
            try decodeList(n, "header_graph_node", HeaderGraphNode.decode)
        }
        tableGraph = try o.optional("table_graph").map { n throws(JSONError) in
            try decodeList(n, "table_graph_node", TableGraphNode.decode)
        }
        flows = try o.optional("flows").map { n throws(JSONError) in try decodeList(n, "flow", Flow.decode) }
        return o
    }
}

/// A list as an array of one-key objects: `[{"table":{…}}, …]`.
private func list<T>(_ items: [T], _ key: String, _ encode: (T) -> JSONValue) -> JSONValue {
    .array(items.map { .object([JSONMember(key, encode($0))]) })
}

private func decodeList<T>(
    _ node: JSONNode, _ key: String,
    _ decode: (JSONNode) throws(JSONError) -> T
) throws(JSONError) -> [T] {
    let elements = try node.array(of: "{\"\(key)\":…} objects")
    var items: [T] = []
    items.reserveCapacity(elements.count)
    for e in elements {
        items.append(try decode(try e.element(key, inList: node.path)))
    }
    return items
}

/// A list of bare u32s as one-key objects: table actions `[{"uid":N}]`, node hdrs `[{"value":H}]`.
private func u32List(_ values: [UInt32], _ key: String) -> JSONValue {
    list(values, key) { JSONValue.number($0) }
}

private func decodeU32List(_ node: JSONNode, _ key: String) throws(JSONError) -> [UInt32] {
    try decodeList(node, key) { n throws(JSONError) in try n.u32() }
}

// MARK: - pipeline model

extension Field {
    /// The field's object `{"name","uid","bitwidth"}` (the part inside `{"field":…}`).
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.field)
        o.set("name", .string(name))
        o.set("uid", .number(uid))
        o.set("bitwidth", .number(bitwidth))
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> Field {
        let o = try node.object("field", keys: Keys.fieldNames)
        return Field(
            name: try o.required("name").string(), uid: try o.required("uid").u32(),
            bitwidth: try o.required("bitwidth").u32())
    }
}

extension Header {
    /// The header's object `{"name","uid","fields":[{"field":…}]}`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.header)
        o.set("name", .string(name))
        o.set("uid", .number(uid))
        o.set("fields", list(fields, "field") { $0.json() })
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> Header {
        let o = try node.object("header", keys: Keys.headerNames)
        return Header(
            name: try o.required("name").string(), uid: try o.required("uid").u32(),
            fields: try decodeList(try o.required("fields"), "field", Field.decode))
    }
}

extension FieldValue {
    /// The byte array of VALUE/MASK, most significant byte first, `byteCount` entries. Bits of
    /// `rawBits` above `byteCount` bytes have no place in it and are not written (as on the wire).
    public func json() -> JSONValue {
        .array(bigEndianBytes.map { .int(Int64($0)) })
    }

    /// Reads an array of 1 to 8 bytes (0…255), most significant first.
    public init(json: JSONValue) throws(JSONError) { self = try JSONNode(json).fieldValue() }
}

extension FieldRef {
    /// The field ref's object `{"instance","header","field","mask_type","type","value"?,"mask"?}`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.fieldRef)
        setMembers { o.set($0, $1) }
        return o.value
    }

    /// Sets the members in any order; the builders sort them.
    fileprivate func setMembers(_ set: (String, JSONValue?) -> Void) {
        set("instance", .number(instance))
        set("header", .number(header))
        set("field", .number(field))
        set("mask_type", .number(maskType.rawValue))
        set("type", .number(type.rawValue))
        set("value", value?.json())
        set("mask", mask?.json())
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> FieldRef {
        try decode(try node.object("field_ref", keys: Keys.fieldRefNames))
    }

    /// From the keys of a field_ref object or of a jump entry.
    static func decode(_ o: JSONKeyedNodes) throws(JSONError) -> FieldRef {
        FieldRef(
            instance: try o.required("instance").u32(), header: try o.required("header").u32(),
            field: try o.required("field").u32(),
            maskType: MaskType(rawValue: try o.required("mask_type").u32()),
            type: FieldType(rawValue: try o.required("type").u32()),
            value: try o.optional("value").map { n throws(JSONError) in try n.fieldValue() },
            mask: try o.optional("mask").map { n throws(JSONError) in try n.fieldValue() })
    }
}

extension JumpEntry {
    /// The jump entry's form: an ARRAY of one-key objects in attribute order,
    /// `[{"next_node":N},{"instance":I},{"header":H},{"field":F},{"mask_type":M},{"type":T},{"value":[…]}?,{"mask":[…]}?]`
    /// (the part inside `{"jump_entry":…}`).
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.jumpEntry)
        o.set("next_node", .number(nextNode))
        ref.setMembers { o.set($0, $1) }
        guard case .object(let members) = o.value else { return .array([]) }
        return .array(members.map { .object([$0]) })
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> JumpEntry {
        let what = "jump entry"
        let elements = try node.array(of: "one-key objects such as {\"next_node\":N}")
        let allowed = Keys.jumpEntryNames
        var entries: [(key: String, node: JSONNode)] = []
        for e in elements {
            guard case .object(let members) = e.value, members.count == 1, let m = members.first else {
                throw e.failure(
                    .wrongType,
                    "expected a one-key object such as {\"next_node\":N} in a \(what), "
                        + "got \(e.value.members.map { "an object with \($0.count) keys" } ?? e.got)")
            }
            let member = JSONNode(m.value, path: e.path.appending(key: m.key, memberIndex: 0))
            guard allowed.contains(m.key) else {
                throw member.failure(
                    .unknownKey,
                    "unknown key \(JSONValue.string(m.key)) in a \(what); "
                        + "expected one of \(JSONKeyedNodes.list(allowed))", pointsAtKey: true)
            }
            if entries.contains(where: { $0.key == m.key }) {
                throw member.failure(
                    .duplicateKey, "duplicate key \(JSONValue.string(m.key)) in a \(what)",
                    pointsAtKey: true)
            }
            entries.append((m.key, member))
        }
        let o = JSONKeyedNodes(path: node.path, what: what, entries: entries)
        return JumpEntry(nextNode: try o.required("next_node").u32(), ref: try FieldRef.decode(o))
    }
}

extension ActionArg {
    /// The argument's object `{"name"?,"type","value":[bytes]}`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.actionArg)
        o.set("name", name.map(JSONValue.string))
        o.set("type", .number(type.rawValue))
        o.set("value", value.json())
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> ActionArg {
        let o = try node.object("action_arg", keys: Keys.actionArgNames)
        // VALUE is required even in signatures, as in every parser of the originals.
        return ActionArg(
            name: try o.optional("name")?.string(),
            type: FieldType(rawValue: try o.required("type").u32()),
            value: try o.required("value").fieldValue())
    }
}

extension Action {
    /// The action's object `{"name"?,"uid","signature"?:[{"action_arg":…}]}`; a nil signature
    /// has no key, an empty one is `[]`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.action)
        o.set("name", name.map(JSONValue.string))
        o.set("uid", .number(uid))
        o.set("signature", signature.map { list($0, "action_arg") { $0.json() } })
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> Action {
        let o = try node.object("action", keys: Keys.actionNames)
        return Action(
            name: try o.optional("name")?.string(), uid: try o.required("uid").u32(),
            signature: try o.optional("signature").map { n throws(JSONError) in
                try decodeList(n, "action_arg", ActionArg.decode)
            })
    }
}

extension Table {
    /// The table's object `{"name","uid","source","apply"?,"size","matches":[{"field_ref":…}],"actions":[{"uid":N}]}`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.table)
        o.set("name", .string(name))
        o.set("uid", .number(uid))
        o.set("source", .number(source))
        o.set("apply", apply.map(JSONValue.number))
        o.set("size", .number(size))
        o.set("matches", list(matches, "field_ref") { $0.json() })
        o.set("actions", u32List(actions, "uid"))
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> Table {
        let o = try node.object("table", keys: Keys.tableNames)
        return Table(
            name: try o.required("name").string(), uid: try o.required("uid").u32(),
            source: try o.required("source").u32(), apply: try o.optional("apply")?.u32(),
            size: try o.required("size").u32(),
            matches: try decodeList(try o.required("matches"), "field_ref", FieldRef.decode),
            actions: try decodeU32List(try o.required("actions"), "uid"))
    }
}

extension HeaderGraphNode {
    /// The node's object `{"name","uid","hdrs":[{"value":H}],"jump":[{"jump_entry":[…]}]}`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.headerGraphNode)
        o.set("name", .string(name))
        o.set("uid", .number(uid))
        o.set("hdrs", u32List(headers, "value"))
        o.set("jump", list(jumps, "jump_entry") { $0.json() })
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> HeaderGraphNode {
        let o = try node.object("header_graph_node", keys: Keys.headerGraphNodeNames)
        return HeaderGraphNode(
            name: try o.required("name").string(), uid: try o.required("uid").u32(),
            headers: try decodeU32List(try o.required("hdrs"), "value"),
            jumps: try decodeList(try o.required("jump"), "jump_entry", JumpEntry.decode))
    }
}

extension TableGraphNode {
    /// The node's object `{"uid","flags","jump":[{"jump_entry":[…]}]}`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.tableGraphNode)
        o.set("uid", .number(uid))
        o.set("flags", .number(flags))
        o.set("jump", list(jumps, "jump_entry") { $0.json() })
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> TableGraphNode {
        let o = try node.object("table_graph_node", keys: Keys.tableGraphNodeNames)
        return TableGraphNode(
            uid: try o.required("uid").u32(), flags: try o.required("flags").u32(),
            jumps: try decodeList(try o.required("jump"), "jump_entry", JumpEntry.decode))
    }
}

// MARK: - flows

extension Flow {
    /// The flow's object `{"error"?,"table","uid","priority","matches"?,"actions"?}`; nil
    /// matches/actions have no key, empty ones are `[]`.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.flow)
        o.set("error", error.map(JSONValue.number))
        o.set("table", .number(table))
        o.set("uid", .number(uid))
        o.set("priority", .number(priority))
        o.set("matches", matches.map { list($0, "field_ref") { $0.json() } })
        o.set("actions", actions.map { list($0, "action") { $0.json() } })
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> Flow {
        let o = try node.object("flow", keys: Keys.flowNames)
        return Flow(
            error: try o.optional("error")?.u32(), table: try o.required("table").u32(),
            uid: try o.required("uid").u32(), priority: try o.required("priority").u32(),
            matches: try o.optional("matches").map { n throws(JSONError) in
                try decodeList(n, "field_ref", FieldRef.decode)
            },
            actions: try o.optional("actions").map { n throws(JSONError) in
                try decodeList(n, "action", Action.decode)
            })
    }
}

extension FlowSelector {
    /// FlowTrace's JSON for a GET_FLOWS selector (an extension; libflow-table has none):
    /// `{"table":T,"min_prio":N?,"max_prio":N?}`, an absent bound has no key.
    public func json() -> JSONValue {
        var o = JSONObjectBuilder(Keys.selector)
        o.set("table", .number(table))
        o.set("min_prio", minPriority.map(JSONValue.number))
        o.set("max_prio", maxPriority.map(JSONValue.number))
        return o.value
    }

    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> FlowSelector {
        let o = try node.object("selector", keys: Keys.selectorNames)
        return FlowSelector(
            table: try o.required("table").u32(), minPriority: try o.optional("min_prio")?.u32(),
            maxPriority: try o.optional("max_prio")?.u32())
    }
}

extension ErrorStrategy {
    /// FlowTrace's JSON for FLOWS_ERROR (an extension; libflow-table has none): the name
    /// (`"abort"`, `"continue"`, `"abort-log"`, `"cont-log"`), or the number for a value
    /// without a name.
    public func json() -> JSONValue {
        ErrorStrategy.all.contains(self) ? .string(name) : .number(rawValue)
    }

    /// Reads a name (also `abort_log`, `cont_log`, `continue-log`) or a u32.
    public init(json: JSONValue) throws(JSONError) { self = try Self.decode(JSONNode(json)) }

    static func decode(_ node: JSONNode) throws(JSONError) -> ErrorStrategy {
        switch node.value {
        case .string(let s):
            guard let strategy = ErrorStrategy(name: s) else {
                throw node.failure(
                    .outOfRange,
                    "expected an error strategy (\"abort\", \"continue\", "
                        + "\"abort-log\", \"cont-log\" or a number), got \(node.got)")
            }
            return strategy
        default:
            return ErrorStrategy(rawValue: try node.u32())
        }
    }
}

// MARK: - documents

/// Parsing, loading and checking libflow-table JSON documents.
public enum FlowTableJSON {
    /// The top-level keys of libflow-table JSON, in attribute order.
    public static let topLevelKeys: [String] = FlowTableJSONKeys.names(FlowTableJSONKeys.top)

    /// Parses JSON text (strict RFC 8259, nesting up to 64 levels). `file` only labels errors.
    public static func parse(_ text: String, file: String? = nil) throws(JSONError) -> JSONValue {
        try parse(bytes: Array(text.utf8), file: file)
    }

    /// Parses UTF-8 JSON text. `file` only labels errors.
    public static func parse(bytes: [UInt8], file: String? = nil) throws(JSONError) -> JSONValue {
        do throws(JSONError) {
            return try JSONValue(parsing: bytes)
        } catch {
            var e = error
            e.file = file
            throw e
        }
    }

    /// Reads and parses a JSON file; errors carry the file name, line and column.
    public static func load(file path: String) throws(JSONError) -> JSONValue {
        try parse(bytes: try readFile(path), file: path)
    }

    /// The check of libflow-table's `flow_table_json_check_type`: the document must be an
    /// object with exactly one key, `expected` (`flows` for set/del-flows, `tables`, `headers`,
    /// `actions`, `header_graph` or `table_graph` for the daemon's model files). Returns the
    /// value under that key.
    @discardableResult
    public static func requireSingleKey(_ document: JSONValue, expected: String) throws(JSONError) -> JSONValue {
        let root = JSONNode(document)
        guard case .object(let members) = document else {
            throw root.failure(
                .wrongType,
                "expected an object with the single key \(JSONValue.string(expected)), "
                    + "got \(root.got)")
        }
        var found: JSONValue?
        for (i, m) in members.enumerated() {
            let node = JSONNode(m.value, path: JSONPath.root.appending(key: m.key, memberIndex: i))
            if m.key != expected {
                throw node.failure(
                    .unknownKey,
                    "unexpected key \(JSONValue.string(m.key)); this document must "
                        + "contain only \(JSONValue.string(expected))", pointsAtKey: true)
            }
            if found != nil {
                throw node.failure(.duplicateKey, "duplicate key \(JSONValue.string(m.key))", pointsAtKey: true)
            }
            found = m.value
        }
        guard let found else {
            throw JSONPath.root.appending(key: expected, memberIndex: nil).failure(
                .missingKey, "missing the key \(JSONValue.string(expected)), the only key this document may have")
        }
        return found
    }

    /// Parses and maps a whole document to attributes, with line:column on every error.
    /// - Parameters:
    ///   - expectedKey: when set, the document must contain exactly this one top-level key
    ///     (`requireSingleKey`).
    ///   - extended: accept FlowTrace's extended keys (`FlowTableAttributes(extendedJSON:)`).
    public static func decode(
        bytes: [UInt8], file: String? = nil, expectedKey: String? = nil,
        extended: Bool = false
    ) throws(JSONError) -> FlowTableAttributes {
        let document = try parse(bytes: bytes, file: file)
        do throws(JSONError) {
            if let expectedKey { try requireSingleKey(document, expected: expectedKey) }
            return extended ? try FlowTableAttributes(extendedJSON: document) : try FlowTableAttributes(json: document)
        } catch {
            // Mapping errors know only the path; find it in the text for line:column.
            throw error.located(in: bytes, file: file)
        }
    }

    /// `decode(bytes:…)` for a string.
    public static func decode(
        _ text: String, file: String? = nil, expectedKey: String? = nil,
        extended: Bool = false
    ) throws(JSONError) -> FlowTableAttributes {
        try decode(bytes: Array(text.utf8), file: file, expectedKey: expectedKey, extended: extended)
    }

    /// Reads, parses and maps a file, e.g. `loadAttributes(file: "flows.json", expectedKey: "flows")`.
    public static func loadAttributes(
        file path: String, expectedKey: String? = nil,
        extended: Bool = false
    ) throws(JSONError) -> FlowTableAttributes {
        try decode(bytes: try readFile(path), file: path, expectedKey: expectedKey, extended: extended)
    }

    /// The document text as the libflow-table tools wrote files: pretty (json-c style) and
    /// ending with a newline.
    public static func fileText(_ value: JSONValue) -> String {
        value.serialized(style: .pretty) + "\n"
    }

    /// One JSON-lines record: compact, ending with a newline.
    public static func line(_ value: JSONValue) -> String {
        value.serialized(style: .compact) + "\n"
    }

    /// Writes `value` to a file (replacing it) in `style`, with a final newline.
    public static func write(_ value: JSONValue, toFile path: String, style: JSONStyle = .pretty) throws(JSONError) {
        var bytes = value.serializedBytes(style: style)
        bytes.append(0x0A)
        try FileIO.writeAll(bytes, to: path)
    }

    /// The bytes of a file.
    public static func readFile(_ path: String) throws(JSONError) -> [UInt8] {
        try FileIO.readAll(path)
    }
}
