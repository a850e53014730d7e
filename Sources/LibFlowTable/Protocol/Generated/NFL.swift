// Numbers of the Flow Table API family `net_flow_nl`, from spec/net_flow_nl.yaml.
// The spec is the source of truth; a test checks every number here against it.

public enum NFL {
    public static let familyName = "net_flow_nl"
    public static let version: UInt8 = 1
    /// Every list nest holds repeated attributes of this one element type.
    public static let listElement: UInt16 = 1
    /// NFL_MAX_NAME: action-argument names are cut to this length by the kernel.
    public static let maxName = 80
    /// NFL_JUMP_TABLE_DONE (v2).
    public static let jumpTableDone: UInt32 = 0

    public enum Command: UInt8, CaseIterable, Sendable {
        case getTables = 0
        case getHeaders = 1
        case getActions = 2
        case getHeaderGraph = 3
        case getTableGraph = 4
        case getFlows = 5
        case setFlows = 6
        case delFlows = 7
        case updateFlows = 8
        case createTable = 9
        case destroyTable = 10

        public var name: String {
            switch self {
            case .getTables: return "GET_TABLES"
            case .getHeaders: return "GET_HEADERS"
            case .getActions: return "GET_ACTIONS"
            case .getHeaderGraph: return "GET_HDR_GRAPH"
            case .getTableGraph: return "GET_TABLE_GRAPH"
            case .getFlows: return "GET_FLOWS"
            case .setFlows: return "SET_FLOWS"
            case .delFlows: return "DEL_FLOWS"
            case .updateFlows: return "UPDATE_FLOWS"
            case .createTable: return "CREATE_TABLE"
            case .destroyTable: return "DESTROY_TABLE"
            }
        }
    }

    /// Top-level attributes (NFL_*).
    public enum Attr {
        public static let identifierType: UInt16 = 1
        public static let identifier: UInt16 = 2
        public static let tables: UInt16 = 3
        public static let headers: UInt16 = 4
        public static let actions: UInt16 = 5
        public static let headerGraph: UInt16 = 6
        public static let tableGraph: UInt16 = 7
        public static let flows: UInt16 = 8
        public static let flowsError: UInt16 = 9
        public static let names: [UInt16: String] = [
            1: "IDENTIFIER_TYPE", 2: "IDENTIFIER", 3: "TABLES", 4: "HEADERS", 5: "ACTIONS",
            6: "HEADER_GRAPH", 7: "TABLE_GRAPH", 8: "FLOWS", 9: "FLOWS_ERROR",
        ]
    }

    /// NFL_FIELD_ATTR_*
    public enum FieldAttr {
        public static let name: UInt16 = 1
        public static let uid: UInt16 = 2
        public static let bitwidth: UInt16 = 3
        public static let names: [UInt16: String] = [1: "NAME", 2: "UID", 3: "BITWIDTH"]
    }

    /// NFL_HEADER_ATTR_*
    public enum HeaderAttr {
        public static let name: UInt16 = 1
        public static let uid: UInt16 = 2
        public static let fields: UInt16 = 3
        public static let names: [UInt16: String] = [1: "NAME", 2: "UID", 3: "FIELDS"]
    }

    /// NFL_FIELD_REF_*
    public enum FieldRefAttr {
        public static let nextNode: UInt16 = 1
        public static let instance: UInt16 = 2
        public static let header: UInt16 = 3
        public static let field: UInt16 = 4
        public static let maskType: UInt16 = 5
        public static let type: UInt16 = 6
        public static let value: UInt16 = 7
        public static let mask: UInt16 = 8
        public static let names: [UInt16: String] = [
            1: "NEXT_NODE", 2: "INSTANCE", 3: "HEADER", 4: "FIELD", 5: "MASK_TYPE", 6: "TYPE",
            7: "VALUE", 8: "MASK",
        ]
    }

    /// NFL_ACTION_ARG_*
    public enum ActionArgAttr {
        public static let name: UInt16 = 1
        public static let type: UInt16 = 2
        public static let value: UInt16 = 3
        public static let names: [UInt16: String] = [1: "NAME", 2: "TYPE", 3: "VALUE"]
    }

    /// NFL_ACTION_ATTR_*
    public enum ActionAttr {
        public static let name: UInt16 = 1
        public static let uid: UInt16 = 2
        public static let signature: UInt16 = 3
        public static let names: [UInt16: String] = [1: "NAME", 2: "UID", 3: "SIGNATURE"]
    }

    /// NFL_TABLE_ATTR_*
    public enum TableAttr {
        public static let name: UInt16 = 1
        public static let uid: UInt16 = 2
        public static let source: UInt16 = 3
        public static let apply: UInt16 = 4
        public static let size: UInt16 = 5
        public static let matches: UInt16 = 6
        public static let actions: UInt16 = 7
        public static let names: [UInt16: String] = [
            1: "NAME", 2: "UID", 3: "SOURCE", 4: "APPLY", 5: "SIZE", 6: "MATCHES", 7: "ACTIONS",
        ]
    }

    /// NFL_HEADER_NODE_*
    public enum HeaderNodeAttr {
        public static let name: UInt16 = 1
        public static let uid: UInt16 = 2
        public static let hdrs: UInt16 = 3
        public static let jump: UInt16 = 4
        public static let names: [UInt16: String] = [1: "NAME", 2: "UID", 3: "HDRS", 4: "JUMP"]
    }

    /// NFL_TABLE_GRAPH_NODE_*
    public enum TableGraphNodeAttr {
        public static let uid: UInt16 = 1
        public static let flags: UInt16 = 2
        public static let jump: UInt16 = 3
        public static let names: [UInt16: String] = [1: "UID", 2: "FLAGS", 3: "JUMP"]
    }

    /// NFL_ATTR_* (the attributes of one flow, "rule").
    public enum FlowAttr {
        public static let error: UInt16 = 1
        public static let table: UInt16 = 2
        public static let uid: UInt16 = 3
        public static let priority: UInt16 = 4
        public static let matches: UInt16 = 5
        public static let actions: UInt16 = 6
        public static let names: [UInt16: String] = [
            1: "ERROR", 2: "TABLE", 3: "UID", 4: "PRIORITY", 5: "MATCHES", 6: "ACTIONS",
        ]
    }

    /// NFL_TABLE_FLOWS_* (the GET_FLOWS request's selector inside FLOWS).
    public enum TableFlowsAttr {
        public static let table: UInt16 = 1
        public static let minPriority: UInt16 = 2
        public static let maxPriority: UInt16 = 3
        public static let flows: UInt16 = 4
        public static let names: [UInt16: String] = [1: "TABLE", 2: "MINPRIO", 3: "MAXPRIO", 4: "FLOWS"]
    }

    /// NFL_IDENTIFIER_*
    public enum IdentifierType {
        public static let unspec: UInt32 = 0
        public static let ifindex: UInt32 = 1
    }

    /// NFL_TABLE_GRAPH_NODE_FLAG_*
    public enum TableGraphNodeFlag {
        public static let egressRoot: UInt32 = 1
        public static let ingressRoot: UInt32 = 2
        public static let dynamic: UInt32 = 4
    }
}
