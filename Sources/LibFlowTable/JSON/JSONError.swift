// Errors of the JSON parser and of the libflow-table mapping, and the paths they name.
//
// Every error names where in the document it happened as a path such as
// `flows[2].flow.matches[0].field_ref.value`, so a user can find the spot even when the JSON
// did not come from a file. When the document's text is known, line and column are added too.

/// A position inside a JSON document: object keys and array indices from the top down.
///
/// The description is the dotted form used in error messages: `flows[2].flow.uid`; the
/// document itself is the empty path.
public struct JSONPath: Hashable, Sendable, CustomStringConvertible {
    public enum Component: Hashable, Sendable {
        /// An object member. `memberIndex` is its position among the object's members (keys may
        /// repeat, so the name alone does not say which member is meant); nil for a key that is
        /// not there (a missing required key).
        case key(String, memberIndex: Int?)
        /// An array element.
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    public static let root = JSONPath()

    public var isRoot: Bool { components.isEmpty }

    public func appending(key: String, memberIndex: Int?) -> JSONPath {
        var copy = self
        copy.components.append(.key(key, memberIndex: memberIndex))
        return copy
    }

    public func appending(index: Int) -> JSONPath {
        var copy = self
        copy.components.append(.index(index))
        return copy
    }

    public var description: String {
        var out = ""
        for component in components {
            switch component {
            case .key(let name, _):
                if Self.isPlainKey(name) {
                    if !out.isEmpty { out += "." }
                    out += name
                } else {
                    // Keys with dots, brackets or odd characters would make the dotted form
                    // ambiguous, so they are written as quoted subscripts.
                    out += "[" + JSONValue.string(name).serialized(style: .compact) + "]"
                }
            case .index(let i):
                out += "[\(i)]"
            }
        }
        return out
    }

    private static func isPlainKey(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
                    || c == 0x2D
            }
    }
}

/// A failure to parse JSON text or to map a JSON value to the model.
///
/// `description` reads like a compiler diagnostic:
/// `flows.json:12:17: flows[0].flow.uid: expected an unsigned 32-bit integer (0…4294967295), got -1`.
public struct JSONError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// The text is not JSON (RFC 8259), including a truncated document and trailing garbage.
        case syntax
        /// Arrays/objects nested deeper than the parser's limit.
        case tooDeep
        /// A value of the wrong JSON type (e.g. a string where an integer belongs).
        case wrongType
        /// A required key is absent.
        case missingKey
        /// A key the format does not define.
        case unknownKey
        /// A key that appears twice in one object (or one jump entry).
        case duplicateKey
        /// A number outside the range of its field (u32, byte).
        case outOfRange
        /// An array with a length the format does not allow (VALUE/MASK: 1 to 8 bytes).
        case badLength
        /// Reading or writing a file failed.
        case io
    }

    public var kind: Kind
    public var path: JSONPath
    public var message: String
    /// 1-based line and column (in characters) of the offending text, when the text is known.
    public var line: Int?
    public var column: Int?
    public var file: String?
    /// For a key error the position is that of the key rather than of its value; used when the
    /// text is searched for the position afterwards.
    var pointsAtKey: Bool

    public init(
        kind: Kind, path: JSONPath = .root, message: String, line: Int? = nil, column: Int? = nil,
        file: String? = nil
    ) {
        self.init(
            kind: kind, path: path, message: message, line: line, column: column, file: file,
            pointsAtKey: false)
    }

    init(
        kind: Kind, path: JSONPath, message: String, line: Int?, column: Int?, file: String?,
        pointsAtKey: Bool
    ) {
        self.kind = kind
        self.path = path
        self.message = message
        self.line = line
        self.column = column
        self.file = file
        self.pointsAtKey = pointsAtKey
    }

    public var description: String {
        var out = ""
        if let file { out += file + ":" }
        if let line {
            out += "\(line):"
            if let column { out += "\(column):" }
        }
        if !out.isEmpty { out += " " }
        out += path.isRoot ? "top level" : path.description
        out += ": " + message
        return out
    }

    /// This error with line and column filled in from the document's text (when the error came
    /// from mapping an already parsed value, which has no positions). The text is scanned
    /// again only now, so successful decoding pays nothing for positions.
    public func located(in text: [UInt8], file: String? = nil) -> JSONError {
        var copy = self
        if let file, copy.file == nil { copy.file = file }
        if copy.line == nil, let offset = JSONParser.offset(of: path, pointsAtKey: pointsAtKey, in: text) {
            let (line, column) = JSONParser.lineColumn(of: offset, in: text)
            copy.line = line
            copy.column = column
        }
        return copy
    }
}
