// The pipeline model a device advertises: headers and their fields, the parse (header) graph,
// tables, the table graph and actions. Mirrors the NFL attribute sets one type per set.

/// A header field: `NFL_FIELD_ATTR_*`.
public struct Field: Hashable, Sendable {
    public var name: String
    public var uid: UInt32
    public var bitwidth: UInt32

    public init(name: String, uid: UInt32, bitwidth: UInt32) {
        self.name = name
        self.uid = uid
        self.bitwidth = bitwidth
    }
}

/// A packet header: `NFL_HEADER_ATTR_*`.
public struct Header: Hashable, Sendable {
    public var name: String
    public var uid: UInt32
    public var fields: [Field]

    public init(name: String, uid: UInt32, fields: [Field]) {
        self.name = name
        self.uid = uid
        self.fields = fields
    }
}

/// A reference to a header field, with an optional value and mask: `NFL_FIELD_REF_*`.
/// In table descriptions only the descriptor is set; in flows and jump entries value and mask too.
public struct FieldRef: Hashable, Sendable {
    /// The header-graph node (header instance) the field is read from.
    public var instance: UInt32
    public var header: UInt32
    public var field: UInt32
    public var maskType: MaskType
    public var type: FieldType
    public var value: FieldValue?
    public var mask: FieldValue?

    public init(
        instance: UInt32, header: UInt32, field: UInt32, maskType: MaskType, type: FieldType,
        value: FieldValue? = nil, mask: FieldValue? = nil
    ) {
        self.instance = instance
        self.header = header
        self.field = field
        self.maskType = maskType
        self.type = type
        self.value = value
        self.mask = mask
    }
}

/// An edge of the header graph or table graph: `NFL_JUMP_ENTRY`, a field ref plus the node to
/// continue at when the field matches.
public struct JumpEntry: Hashable, Sendable {
    public var nextNode: UInt32
    public var ref: FieldRef

    public init(nextNode: UInt32, ref: FieldRef) {
        self.nextNode = nextNode
        self.ref = ref
    }
}

/// An action argument: `NFL_ACTION_ARG_*`. In a signature the value is a placeholder.
public struct ActionArg: Hashable, Sendable {
    public var name: String?
    public var type: FieldType
    public var value: FieldValue

    public init(name: String? = nil, type: FieldType, value: FieldValue) {
        self.name = name
        self.type = type
        self.value = value
    }
}

/// An action: `NFL_ACTION_ATTR_*`. Both the advertised actions and the actions of a flow.
public struct Action: Hashable, Sendable {
    public var name: String?
    public var uid: UInt32
    /// nil when the attribute is absent (the late kernel omits it for argument-less actions).
    public var signature: [ActionArg]?

    public init(name: String? = nil, uid: UInt32, signature: [ActionArg]? = nil) {
        self.name = name
        self.uid = uid
        self.signature = signature
    }
}

/// A table: `NFL_TABLE_ATTR_*`.
public struct Table: Hashable, Sendable {
    public var name: String
    public var uid: UInt32
    public var source: UInt32
    /// Absent in v1 models.
    public var apply: UInt32?
    /// Maximum number of entries; `Table.unbounded` for no limit.
    public var size: UInt32
    /// The fields a flow in this table may match (descriptors only).
    public var matches: [FieldRef]
    /// The uids of the actions a flow in this table may use.
    public var actions: [UInt32]

    public static let unbounded: UInt32 = 0xFFFF_FFFF

    public init(
        name: String, uid: UInt32, source: UInt32, apply: UInt32? = nil, size: UInt32,
        matches: [FieldRef], actions: [UInt32]
    ) {
        self.name = name
        self.uid = uid
        self.source = source
        self.apply = apply
        self.size = size
        self.matches = matches
        self.actions = actions
    }
}

/// A node of the header (parse) graph: `NFL_HEADER_NODE_*`. Its uid is the instance that field
/// refs name.
public struct HeaderGraphNode: Hashable, Sendable {
    public var name: String
    public var uid: UInt32
    public var headers: [UInt32]
    public var jumps: [JumpEntry]

    public init(name: String, uid: UInt32, headers: [UInt32], jumps: [JumpEntry]) {
        self.name = name
        self.uid = uid
        self.headers = headers
        self.jumps = jumps
    }
}

/// A node of the table graph: `NFL_TABLE_GRAPH_NODE_*`.
public struct TableGraphNode: Hashable, Sendable {
    public var uid: UInt32
    public var flags: UInt32
    public var jumps: [JumpEntry]

    public init(uid: UInt32, flags: UInt32, jumps: [JumpEntry]) {
        self.uid = uid
        self.flags = flags
        self.jumps = jumps
    }
}

/// Everything a device advertises through the five discovery commands.
public struct PipelineModel: Hashable, Sendable {
    public var headers: [Header]
    public var actions: [Action]
    public var tables: [Table]
    public var headerGraph: [HeaderGraphNode]
    public var tableGraph: [TableGraphNode]

    public init(
        headers: [Header] = [], actions: [Action] = [], tables: [Table] = [],
        headerGraph: [HeaderGraphNode] = [], tableGraph: [TableGraphNode] = []
    ) {
        self.headers = headers
        self.actions = actions
        self.tables = tables
        self.headerGraph = headerGraph
        self.tableGraph = tableGraph
    }
}
