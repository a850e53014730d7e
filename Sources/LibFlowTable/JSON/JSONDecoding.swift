// Strict typed reading of JSONValue trees, with the JSON path of every value for errors.
//
// libflow-table read JSON loosely (any number truncated to 32 bits, unknown keys passed to
// netlink, wrong types silently ignored). Here every read says what it expected and
// where, so a broken file is rejected before anything is sent.

/// A value being decoded and where it sits in the document.
struct JSONNode {
    let value: JSONValue
    let path: JSONPath

    init(_ value: JSONValue, path: JSONPath = .root) {
        self.value = value
        self.path = path
    }

    func failure(_ kind: JSONError.Kind, _ message: String, pointsAtKey: Bool = false) -> JSONError {
        JSONError(
            kind: kind, path: path, message: message, line: nil, column: nil, file: nil,
            pointsAtKey: pointsAtKey)
    }

    /// "string \"abc\"", "-1", "an array" … for "expected X, got Y".
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .object(let m): return m.isEmpty ? "an empty object" : "an object"
        case .array(let a): return a.isEmpty ? "an empty array" : "an array"
        case .string(let s):
            let short = s.count > 40 ? String(s.prefix(40)) + "…" : s
            return "string " + JSONValue.string(short).serialized(style: .compact)
        case .null: return "null"
        default: return value.serialized(style: .compact)
        }
    }

    var got: String { Self.describe(value) }

    /// An unsigned 32-bit integer: every NFL number attribute.
    func u32() throws(JSONError) -> UInt32 {
        UInt32(
            truncatingIfNeeded: try unsigned(max: UInt64(UInt32.max), what: "an unsigned 32-bit integer (0…4294967295)")
        )
    }

    func unsigned(max: UInt64, what: String) throws(JSONError) -> UInt64 {
        switch value {
        case .int(let i):
            guard i >= 0, UInt64(i) <= max else { throw failure(.outOfRange, "expected \(what), got \(i)") }
            return UInt64(i)
        case .uint(let u):
            throw failure(.outOfRange, "expected \(what), got \(u)")
        case .double(let d) where d == d.rounded(.towardZero) && d.magnitude > Double(max):
            // An integer too large for 64 bits ends up as a double; it is a range error, not a type error.
            throw failure(.outOfRange, "expected \(what), got \(got)")
        default:
            throw failure(.wrongType, "expected \(what), got \(got)")
        }
    }

    func string() throws(JSONError) -> String {
        guard case .string(let s) = value else { throw failure(.wrongType, "expected a string, got \(got)") }
        return s
    }

    /// The elements of an array, each with its path.
    func array(of what: String) throws(JSONError) -> [JSONNode] {
        guard case .array(let elements) = value else {
            throw failure(.wrongType, "expected an array of \(what), got \(got)")
        }
        var nodes: [JSONNode] = []
        nodes.reserveCapacity(elements.count)
        for (i, e) in elements.enumerated() { nodes.append(JSONNode(e, path: path.appending(index: i))) }
        return nodes
    }

    /// An object with only the given keys, each at most once.
    func object(_ what: String, keys: [String]) throws(JSONError) -> JSONKeyedNodes {
        guard case .object(let members) = value else {
            throw failure(.wrongType, "expected an object (\(what)), got \(got)")
        }
        var entries: [(key: String, node: JSONNode)] = []
        entries.reserveCapacity(members.count)
        for (i, m) in members.enumerated() {
            let node = JSONNode(m.value, path: path.appending(key: m.key, memberIndex: i))
            guard keys.contains(m.key) else {
                throw node.failure(
                    .unknownKey,
                    "unknown key \(JSONValue.string(m.key)) in \(what); "
                        + "expected one of \(JSONKeyedNodes.list(keys))", pointsAtKey: true)
            }
            // Only keys from `keys` got here, and each only once so far, so this scan is short.
            if entries.contains(where: { $0.key == m.key }) {
                throw node.failure(
                    .duplicateKey, "duplicate key \(JSONValue.string(m.key)) in \(what)",
                    pointsAtKey: true)
            }
            entries.append((m.key, node))
        }
        return JSONKeyedNodes(path: path, what: what, entries: entries)
    }

    /// The value of a one-key list element such as `{"table":{…}}`. `listPath` names the list
    /// in messages; it is turned into text only on failure.
    func element(_ key: String, inList listPath: JSONPath) throws(JSONError) -> JSONNode {
        guard case .object(let members) = value, members.count == 1, let first = members.first,
            first.key == key
        else {
            throw elementFailure(key, listPath)
        }
        return JSONNode(first.value, path: path.appending(key: key, memberIndex: 0))
    }

    private func elementFailure(_ key: String, _ listPath: JSONPath) -> JSONError {
        let list = listPath.isRoot ? "the list" : listPath.description
        guard case .object(let members) = value else {
            return failure(.wrongType, "expected {\"\(key)\":…} as element of \(list), got \(got)")
        }
        for (i, m) in members.enumerated() where m.key != key || i > 0 {
            let node = JSONNode(m.value, path: path.appending(key: m.key, memberIndex: i))
            if m.key == key {
                return node.failure(
                    .duplicateKey, "duplicate key \(JSONValue.string(key)) in an element of \(list)",
                    pointsAtKey: true)
            }
            return node.failure(
                .unknownKey,
                "unknown key \(JSONValue.string(m.key)); each element of \(list) "
                    + "must be {\"\(key)\":…} with no other key", pointsAtKey: true)
        }
        return path.appending(key: key, memberIndex: nil).failure(
            .missingKey, "expected {\"\(key)\":…} as element of \(list), got an empty object")
    }

    /// VALUE/MASK: an array of 1 to 8 byte integers, most significant first (the order
    /// libflow-table writes). The length is kept as the value's byte count; whether it fits the
    /// TYPE's width is for validation to say.
    func fieldValue() throws(JSONError) -> FieldValue {
        guard case .array(let elements) = value else {
            throw failure(.wrongType, "expected an array of 1 to 8 bytes (most significant first), got \(got)")
        }
        guard (1...8).contains(elements.count) else {
            throw failure(.badLength, "expected an array of 1 to 8 bytes, got \(elements.count) elements")
        }
        var bits: UInt64 = 0
        for (i, e) in elements.enumerated() {
            let byte = try JSONNode(e, path: path.appending(index: i)).unsigned(max: 255, what: "a byte (0…255)")
            bits = bits << 8 | byte
        }
        return FieldValue(rawBits: bits, byteCount: UInt8(elements.count))
    }
}

extension JSONPath {
    func failure(_ kind: JSONError.Kind, _ message: String) -> JSONError {
        JSONNode(.null, path: self).failure(kind, message)
    }
}

/// The members of an object (or the one-key elements of a jump entry) after the key checks.
struct JSONKeyedNodes {
    let path: JSONPath
    let what: String
    let entries: [(key: String, node: JSONNode)]

    func optional(_ key: String) -> JSONNode? {
        entries.first(where: { $0.key == key })?.node
    }

    func required(_ key: String) throws(JSONError) -> JSONNode {
        guard let node = optional(key) else {
            throw path.appending(key: key, memberIndex: nil).failure(
                .missingKey, "missing required key \(JSONValue.string(key)) in \(what)")
        }
        return node
    }

    static func list(_ keys: [String]) -> String {
        keys.map { JSONValue.string($0).serialized(style: .compact) }.joined(separator: ", ")
    }
}

/// One key of an object in the libflow-table format, with the netlink attribute it stands for.
/// Output is sorted by attribute number, the order libflow-table writes.
struct JSONKeySpec {
    let name: String
    let attribute: UInt16

    init(_ name: String, _ attribute: UInt16) {
        self.name = name
        self.attribute = attribute
    }
}

/// Builds an object whose members come out in key-spec order, whatever order the code sets
/// them in; an unset key (an absent attribute) is left out.
struct JSONObjectBuilder {
    let keys: [JSONKeySpec]
    private var slots: [JSONValue?]

    init(_ keys: [JSONKeySpec]) {
        self.keys = keys
        self.slots = Array(repeating: nil, count: keys.count)
    }

    mutating func set(_ name: String, _ value: JSONValue?) {
        guard let value else { return }
        if let i = keys.firstIndex(where: { $0.name == name }) {
            slots[i] = value
        } else {
            assertionFailure("key \(name) is not in the key spec")
        }
    }

    var value: JSONValue {
        var members: [JSONMember] = []
        members.reserveCapacity(keys.count)
        for (k, v) in zip(keys, slots) {
            if let v { members.append(JSONMember(k.name, v)) }
        }
        return .object(members)
    }
}
