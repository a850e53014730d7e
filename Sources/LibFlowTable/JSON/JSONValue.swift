// A small JSON value type with ordered objects, and its writer.
//
// Foundation's JSONSerialization is not used: it loses key order (libflow-table output is in
// attribute order and compat files should write back byte for byte), cannot report duplicate
// keys, and bridges numbers through NSNumber, where 1 and true and 4294967295 and 4294967295.0
// get mixed up. Here integers stay exact and objects are plain arrays of members.

/// One member of a JSON object. Objects are arrays of members, so order is kept and a repeated
/// key stays visible (RFC 8259 leaves duplicates to the reader; the libflow-table mapping
/// rejects them).
public struct JSONMember: Hashable, Sendable {
    public var key: String
    public var value: JSONValue

    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A JSON value. Integers that fit are kept exactly: `.int` for everything in Int64,
/// `.uint` only above Int64.max (the parser and `number(_:)` normalise, so one integer has one
/// representation); `.double` for numbers with a fraction or exponent and for integers beyond
/// 64 bits.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// An unsigned integer in its normal representation (`.int` when it fits).
    public static func number(_ value: UInt64) -> JSONValue {
        value <= UInt64(Int64.max) ? .int(Int64(value)) : .uint(value)
    }

    public static func number(_ value: UInt32) -> JSONValue { .int(Int64(value)) }

    /// An object from key/value pairs in the given order.
    public static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object(pairs.map { JSONMember($0.key, $0.value) })
    }

    // MARK: access

    public var members: [JSONMember]? {
        if case .object(let m) = self { return m }
        return nil
    }

    public var elements: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The integer, when the value is one that fits Int64.
    public var int64Value: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    /// The integer, when the value is a non-negative one.
    public var uint64Value: UInt64? {
        switch self {
        case .int(let i) where i >= 0: return UInt64(i)
        case .uint(let u): return u
        default: return nil
        }
    }

    /// The first member with this key (objects only).
    public subscript(key: String) -> JSONValue? {
        members?.first(where: { $0.key == key })?.value
    }

    /// Keys that occur more than once in this object, each once, in order of first repetition.
    public var duplicateKeys: [String] {
        guard let members else { return [] }
        var seen = Set<String>()
        var reported = Set<String>()
        var repeated: [String] = []
        for m in members where !seen.insert(m.key).inserted && reported.insert(m.key).inserted {
            repeated.append(m.key)
        }
        return repeated
    }

    /// "object", "array", … for messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .uint: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Equality as JSON data: object members compared regardless of their order (members with
    /// the same key keep their relative order), arrays in order, numbers by exact value.
    /// `==` instead also requires equal key order.
    public func isEquivalent(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.isEquivalent(to: $1) }
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            // Pair each member of `a` with the next unused member of `b` with the same key.
            var used = [Bool](repeating: false, count: b.count)
            for m in a {
                guard let j = b.indices.first(where: { !used[$0] && b[$0].key == m.key }),
                    m.value.isEquivalent(to: b[j].value)
                else { return false }
                used[j] = true
            }
            return true
        default:
            return self == other
        }
    }
}

// Literals make hand-written expected values in tests and tools readable. Dictionary
// literals keep their order (and allow repeated keys), as objects here do.
extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(elements.map { JSONMember($0.0, $0.1) })
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact one-line form.
    public var description: String { serialized(style: .compact) }
}

// MARK: - writer

/// How `JSONValue.serialized` lays out its output. Neither style ends with a newline.
public enum JSONStyle: Sendable {
    /// The json-c pretty style of the libflow-table tools (json-c 0.12, JSON_C_TO_STRING_PRETTY
    /// without SPACED): two-space indent, `"key":value` without a space, one element or member
    /// per line, an empty array as `[`, newline, indent, `]` (and an empty object likewise),
    /// `/` escaped as `\/`. The compat example files are in exactly this form.
    case pretty
    /// Everything on one line without any spaces (for JSON lines); `/` is not escaped.
    case compact
}

extension JSONValue {
    /// The JSON text of this value. Non-finite doubles (which JSON cannot express and the parser
    /// never produces) are written as `null`.
    public func serialized(style: JSONStyle = .pretty) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out, style: style, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// The JSON text as UTF-8 bytes.
    public func serializedBytes(style: JSONStyle = .pretty) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out, style: style, level: 0)
        return out
    }

    private func write(to out: inout [UInt8], style: JSONStyle, level: Int) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let b):
            out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i):
            if i < 0 { out.append(UInt8(ascii: "-")) }
            Self.writeDigits(i.magnitude, to: &out)
        case .uint(let u):
            Self.writeDigits(u, to: &out)
        case .double(let d):
            // Swift's shortest round-trip form ("0.1", "1e+20", "5.0") is valid JSON.
            out.append(contentsOf: (d.isFinite ? d.description : "null").utf8)
        case .string(let s):
            Self.writeString(s, to: &out, escapeSlash: style == .pretty)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            if style == .pretty { out.append(0x0A) }
            for (i, element) in elements.enumerated() {
                if i > 0 {
                    out.append(UInt8(ascii: ","))
                    if style == .pretty { out.append(0x0A) }
                }
                if style == .pretty { Self.indent(&out, level + 1) }
                element.write(to: &out, style: style, level: level + 1)
            }
            if style == .pretty {
                if !elements.isEmpty { out.append(0x0A) }
                Self.indent(&out, level)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            if style == .pretty { out.append(0x0A) }
            for (i, member) in members.enumerated() {
                if i > 0 {
                    out.append(UInt8(ascii: ","))
                    if style == .pretty { out.append(0x0A) }
                }
                if style == .pretty { Self.indent(&out, level + 1) }
                Self.writeString(member.key, to: &out, escapeSlash: style == .pretty)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out, style: style, level: level + 1)
            }
            if style == .pretty {
                if !members.isEmpty { out.append(0x0A) }
                Self.indent(&out, level)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Decimal digits without a String per number: flow files are mostly small integers.
    private static func writeDigits(_ value: UInt64, to out: inout [UInt8]) {
        var count = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        var v = value
        for i in stride(from: start + count - 1, through: start, by: -1) {
            out[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
    }

    private static func indent(_ out: inout [UInt8], _ level: Int) {
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// json-c's escaping: the two mandatory escapes, the short forms for control characters,
    /// `\u00xx` for the other control characters; everything else (including non-ASCII) as is.
    private static func writeString(_ s: String, to out: inout [UInt8], escapeSlash: Bool) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, c])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, c])
            case UInt8(ascii: "/") where escapeSlash: out.append(contentsOf: [0x5C, c])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [
                    0x5C, UInt8(ascii: "u"), 0x30, 0x30,
                    hexDigits[Int(c >> 4)], hexDigits[Int(c & 0xF)],
                ])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
