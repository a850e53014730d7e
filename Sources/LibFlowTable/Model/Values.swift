// Small value types shared by the whole model. Enumerations from the wire are kept as raw
// numbers wrapped in a type (like the kernel's u32 attributes), so a decoder never fails on a
// value it does not know; validation says whether a value is acceptable.

/// A native-endian integer of 1 to 8 bytes, as carried by VALUE and MASK attributes.
/// `rawBits` holds the integer; `byteCount` is the attribute's payload length.
public struct FieldValue: Hashable, Sendable {
    public var rawBits: UInt64
    public var byteCount: UInt8

    public init(rawBits: UInt64, byteCount: UInt8) {
        self.rawBits = rawBits
        self.byteCount = byteCount
    }

    public init(_ value: UInt64, type: FieldType) {
        self.init(rawBits: value, byteCount: UInt8(type.byteWidth ?? 8))
    }

    /// The bytes most significant first, the libflow-table JSON order.
    public var bigEndianBytes: [UInt8] {
        (0..<Int(byteCount)).reversed().map { UInt8(truncatingIfNeeded: rawBits >> (8 * UInt64($0))) }
    }

    /// All bits the value's width can hold.
    public var widthMask: UInt64 { byteCount >= 8 ? ~0 : (1 << (8 * UInt64(byteCount))) - 1 }
}

/// NFL_FIELD_REF_ATTR_TYPE_* (and NFL_ACTION_ARG_TYPE_*, which share the numbers).
public struct FieldType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let unspec = FieldType(rawValue: 0)
    public static let u8 = FieldType(rawValue: 1)
    public static let u16 = FieldType(rawValue: 2)
    public static let u32 = FieldType(rawValue: 3)
    public static let u64 = FieldType(rawValue: 4)

    /// Bytes of VALUE/MASK for this type; nil for UNSPEC/NULL and unknown types.
    public var byteWidth: Int? {
        switch rawValue {
        case 1: return 1
        case 2: return 2
        case 3: return 4
        case 4: return 8
        default: return nil
        }
    }

    public var description: String {
        switch rawValue {
        case 0: return "unspec"
        case 1: return "u8"
        case 2: return "u16"
        case 3: return "u32"
        case 4: return "u64"
        default: return "type \(rawValue)"
        }
    }
}

/// NFL_MASK_TYPE_*
public struct MaskType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let unspec = MaskType(rawValue: 0)
    public static let exact = MaskType(rawValue: 1)
    public static let lpm = MaskType(rawValue: 2)
    public static let mask = MaskType(rawValue: 3)

    public var description: String {
        switch rawValue {
        case 0: return "unspec"
        case 1: return "exact"
        case 2: return "lpm"
        case 3: return "mask"
        default: return "mask type \(rawValue)"
        }
    }
}

/// NFL_FLOWS_ERROR_*: what SET_FLOWS / DEL_FLOWS do when one flow of a batch fails.
public struct ErrorStrategy: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Stop at the first failure and roll back the request's earlier flows.
    public static let abort = ErrorStrategy(rawValue: 0)
    /// Ignore failures.
    public static let `continue` = ErrorStrategy(rawValue: 1)
    /// Like abort, and reply with the failed flow and its errno.
    public static let abortLog = ErrorStrategy(rawValue: 2)
    /// Like continue, and reply with every failed flow and its errno.
    public static let continueLog = ErrorStrategy(rawValue: 3)

    public static let all: [ErrorStrategy] = [.abort, .continue, .abortLog, .continueLog]

    public var name: String {
        switch rawValue {
        case 0: return "abort"
        case 1: return "continue"
        case 2: return "abort-log"
        case 3: return "cont-log"
        default: return "strategy \(rawValue)"
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "abort": self = .abort
        case "continue": self = .continue
        case "abort-log", "abort_log": self = .abortLog
        case "cont-log", "cont_log", "continue-log": self = .continueLog
        default: return nil
        }
    }

    public var description: String { name }
}
