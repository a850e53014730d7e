// Numbers of the hairpin family `net_flow_hairpin`, from spec/net_flow_hairpin.yaml.
// The 2015 numbers were never published; these are defined fresh (see the spec's doc).

public enum NFLH {
    public static let familyName = "net_flow_hairpin"
    public static let version: UInt8 = 1

    public enum Command: UInt8, CaseIterable, Sendable {
        case setListener = 1
        case getListener = 2
        case encap = 3

        public var name: String {
            switch self {
            case .setListener: return "SET_LISTENER"
            case .getListener: return "GET_LISTENER"
            case .encap: return "ENCAP"
            }
        }
    }

    /// Top-level attributes (NFLH_*).
    public enum Attr {
        public static let encap: UInt16 = 1
        public static let listener: UInt16 = 2
        public static let names: [UInt16: String] = [1: "ENCAP", 2: "LISTENER"]
    }

    /// NFLH_LISTENER_ATTR_*
    public enum ListenerAttr {
        public static let type: UInt16 = 1
        /// Informational in GET_LISTENER replies; SET_LISTENER uses the sender's port, never this.
        public static let port: UInt16 = 2
        public static let names: [UInt16: String] = [1: "TYPE", 2: "PORT"]
    }

    /// NFLH_LISTENER_TYPE_*
    public enum ListenerType {
        public static let encap: UInt32 = 1
    }

    /// NFLH_ENCAP_*
    public enum EncapAttr {
        public static let cmdType: UInt16 = 1
        public static let cmd: UInt16 = 2
        public static let status: UInt16 = 3
        public static let seq: UInt16 = 4
        public static let attr: UInt16 = 5
        public static let results: UInt16 = 6
        public static let part: UInt16 = 7
        public static let more: UInt16 = 8
        public static let errorMessage: UInt16 = 9
        public static let pad: UInt16 = 10
        public static let names: [UInt16: String] = [
            1: "CMD_TYPE", 2: "CMD", 3: "STATUS", 4: "SEQ", 5: "ATTR", 6: "RESULTS", 7: "PART",
            8: "MORE", 9: "ERROR_MSG", 10: "PAD",
        ]
    }

    /// NFLH_ENCAP_CMD_TYPE_*
    public enum EncapCmdType {
        public static let nflCommand: UInt32 = 1
    }

    /// NFLH_RESULT_* (one per flow of a batched SET/DEL answer, inside RESULTS).
    public enum ResultAttr {
        public static let index: UInt16 = 1
        public static let errno: UInt16 = 2
        public static let names: [UInt16: String] = [1: "INDEX", 2: "ERRNO"]
    }
}
