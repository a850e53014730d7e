// A strict RFC 8259 parser for JSONValue.
//
// Strict because the files it reads program hardware: a typo must be an error with a position,
// not a silently different rule. Rejected: trailing garbage, trailing commas, comments, leading
// zeros, NaN/Infinity, unescaped control characters, invalid UTF-8, unpaired surrogates, and
// nesting deeper than a limit (so hostile input cannot exhaust the stack). A leading UTF-8
// byte-order mark is skipped, which RFC 8259 allows.

extension JSONValue {
    /// Parses JSON text. Errors carry the path, line and column, and what was expected.
    public init(parsing text: String, maxDepth: Int = JSONParser.defaultMaxDepth) throws(JSONError) {
        try self.init(parsing: Array(text.utf8), maxDepth: maxDepth)
    }

    /// Parses UTF-8 JSON text.
    public init(parsing bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth) throws(JSONError) {
        let result: Result<JSONValue, JSONError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(buffer, maxDepth: maxDepth)
            do throws(JSONError) {
                return .success(try parser.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }
}

/// The parser behind `JSONValue(parsing:)`. Also finds the text position of a path afterwards
/// (`JSONError.located(in:)`), so mapping errors get line:column without keeping positions for
/// every value of every successfully read file.
public struct JSONParser {
    /// Arrays and objects may nest this deep; one more level is an error.
    public static let defaultMaxDepth = 64

    private let buf: UnsafeBufferPointer<UInt8>
    private let maxDepth: Int
    private var pos = 0
    private var depth = 0
    /// Where the parser is, for error messages; only turned into text when an error happens.
    private var path: [JSONPath.Component] = []

    init(_ buf: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.buf = buf
        self.maxDepth = maxDepth
    }

    // MARK: document

    mutating func parseDocument() throws(JSONError) -> JSONValue {
        skipByteOrderMark()
        skipWhitespace()
        guard pos < buf.count else { throw error("expected a JSON value, got end of input") }
        let value = try parseValue()
        skipWhitespace()
        if pos < buf.count {
            path = []
            throw error("expected end of input after the top-level value, got \(describeHere())")
        }
        return value
    }

    private mutating func skipByteOrderMark() {
        if buf.count >= 3, buf[0] == 0xEF, buf[1] == 0xBB, buf[2] == 0xBF { pos = 3 }
    }

    private mutating func skipWhitespace() {
        while pos < buf.count {
            switch buf[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    /// Parses the value starting at `pos` (whitespace already skipped).
    private mutating func parseValue() throws(JSONError) -> JSONValue {
        guard pos < buf.count else { throw error("expected a JSON value, got end of input") }
        switch buf[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            if startsWith("NaN") || startsWith("Infinity") {
                throw error("NaN and Infinity are not JSON numbers")
            }
            fallthrough
        default:
            throw error(
                "expected a JSON value (object, array, string, number, true, false or null), got \(describeHere())")
        }
    }

    private func startsWith(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard buf.count - pos >= count else { return false }
        let w = word.utf8Start
        for i in 0..<count where buf[pos + i] != w[i] { return false }
        return true
    }

    private mutating func expectLiteral(_ word: StaticString) throws(JSONError) {
        guard startsWith(word) else { throw error("expected '\(word)', got \(describeHere())") }
        pos += word.utf8CodeUnitCount
    }

    // MARK: containers

    private mutating func enter() throws(JSONError) {
        guard depth < maxDepth else {
            throw JSONError(
                kind: .tooDeep, path: JSONPath(path),
                message: "arrays and objects nested deeper than \(maxDepth) levels",
                line: nil, column: nil, file: nil, pointsAtKey: false
            ).at(pos, in: buf)
        }
        depth += 1
    }

    private mutating func parseObject() throws(JSONError) -> JSONValue {
        try enter()
        pos += 1  // '{'
        var members: [JSONMember] = []
        skipWhitespace()
        if closes("}") { return .object(members) }
        while true {
            guard pos < buf.count, buf[pos] == UInt8(ascii: "\"") else {
                throw error(
                    members.isEmpty
                        ? "expected a string key or '}', got \(describeHere())"
                        : "expected a string key after ',', got \(describeHere())")
            }
            let key = try parseString()
            skipWhitespace()
            guard pos < buf.count, buf[pos] == UInt8(ascii: ":") else {
                throw error("expected ':' after the key \(JSONValue.string(key)), got \(describeHere())")
            }
            pos += 1
            skipWhitespace()
            path.append(.key(key, memberIndex: members.count))
            let value = try parseValue()
            path.removeLast()
            members.append(JSONMember(key, value))
            if try ends("}", in: "an object", after: "an object member") { return .object(members) }
        }
    }

    private mutating func parseArray() throws(JSONError) -> JSONValue {
        try enter()
        pos += 1  // '['
        var elements: [JSONValue] = []
        skipWhitespace()
        if closes("]") { return .array(elements) }
        while true {
            path.append(.index(elements.count))
            guard pos < buf.count else {
                throw error(
                    elements.isEmpty
                        ? "expected a JSON value or ']', got end of input"
                        : "expected a JSON value after ',', got end of input")
            }
            if buf[pos] == UInt8(ascii: "]") { throw error("expected a JSON value after ',', got ']'") }
            let value = try parseValue()
            path.removeLast()
            elements.append(value)
            if try ends("]", in: "an array", after: "an array element") { return .array(elements) }
        }
    }

    /// At `close` (an empty object or array): steps over it and leaves the container.
    @inline(__always)
    private mutating func closes(_ close: Unicode.Scalar) -> Bool {
        guard pos < buf.count, buf[pos] == UInt8(ascii: close) else { return false }
        pos += 1
        depth -= 1
        return true
    }

    /// After a member or element: ',' (false: another follows) or `close` (true: the container
    /// ends and is left); anything else is an error naming the container.
    @inline(__always)
    private mutating func ends(_ close: Unicode.Scalar, in container: String, after item: String) throws(JSONError)
        -> Bool
    {
        skipWhitespace()
        guard pos < buf.count else { throw error("expected ',' or '\(close)' in \(container), got end of input") }
        if buf[pos] == UInt8(ascii: ",") {
            pos += 1
            skipWhitespace()
            return false
        }
        if closes(close) { return true }
        throw error("expected ',' or '\(close)' after \(item), got \(describeHere())")
    }

    // MARK: numbers

    private func isDigit(_ i: Int) -> Bool {
        i < buf.count && buf[i] >= UInt8(ascii: "0") && buf[i] <= UInt8(ascii: "9")
    }

    private mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = pos
        let negative = buf[pos] == UInt8(ascii: "-")
        if negative {
            pos += 1
            if pos < buf.count, buf[pos] == UInt8(ascii: "I") {
                throw error("NaN and Infinity are not JSON numbers")
            }
        }
        guard isDigit(pos) else { throw error("expected a digit, got \(describeHere())") }
        let digitsStart = pos
        if buf[pos] == UInt8(ascii: "0") {
            pos += 1
            if isDigit(pos) { throw error("leading zeros are not allowed in JSON numbers") }
        } else {
            while isDigit(pos) { pos += 1 }
        }
        let digitsEnd = pos
        var isInteger = true
        if pos < buf.count, buf[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard isDigit(pos) else { throw error("expected a digit after '.', got \(describeHere())") }
            while isDigit(pos) { pos += 1 }
        }
        if pos < buf.count, buf[pos] == UInt8(ascii: "e") || buf[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < buf.count, buf[pos] == UInt8(ascii: "+") || buf[pos] == UInt8(ascii: "-") { pos += 1 }
            guard isDigit(pos) else { throw error("expected a digit in the exponent, got \(describeHere())") }
            while isDigit(pos) { pos += 1 }
        }
        if isInteger {
            // Exact integers: accumulate the magnitude in 64 bits; only beyond that fall back
            // to a double.
            var magnitude: UInt64 = 0
            var overflow = false
            for i in digitsStart..<digitsEnd {
                let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(buf[i] - UInt8(ascii: "0")))
                if o1 || o2 { overflow = true; break }
                magnitude = s
            }
            if !overflow {
                if !negative { return .number(magnitude) }
                if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
                if magnitude == UInt64(Int64.max) + 1 { return .int(Int64.min) }
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            pos = start
            throw error("number \(text) is out of range")
        }
        return .double(d)
    }

    // MARK: strings

    /// Parses a string at `pos` (on the opening quote).
    private mutating func parseString() throws(JSONError) -> String {
        let open = pos
        pos += 1
        let start = pos
        // Fast path: no escapes, so the bytes are the string.
        while pos < buf.count {
            let c = buf[pos]
            if c == UInt8(ascii: "\"") {
                guard let s = String(validating: UnsafeBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self) else {
                    pos = open
                    throw error("invalid UTF-8 in string")
                }
                pos += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character \(describeHere()) must be escaped in a string") }
            pos += 1
        }
        var bytes = Array(UnsafeBufferPointer(rebasing: buf[start..<pos]))
        while true {
            guard pos < buf.count else { throw error("expected '\"' to end the string, got end of input") }
            let c = buf[pos]
            if c == UInt8(ascii: "\"") {
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    pos = open
                    throw error("invalid UTF-8 in string")
                }
                pos += 1
                return s
            }
            if c < 0x20 { throw error("control character \(describeHere()) must be escaped in a string") }
            if c != UInt8(ascii: "\\") {
                bytes.append(c)
                pos += 1
                continue
            }
            pos += 1
            guard pos < buf.count else { throw error("expected an escape character after '\\', got end of input") }
            let e = buf[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                let escapeStart = pos - 2
                var scalar = try parseHex4()
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard startsWith("\\u") else {
                        pos = escapeStart
                        throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in string")
                    }
                    pos += 2
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low <= 0xDFFF else {
                        pos = escapeStart
                        throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in string")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                    pos = escapeStart
                    throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in string")
                }
                guard let u = Unicode.Scalar(scalar) else {
                    pos = escapeStart
                    throw error("invalid \\u escape")
                }
                if let encoded = UTF8.encode(u) { bytes.append(contentsOf: encoded) }
            default:
                pos -= 1
                throw error("expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, got \\\(describeHere())")
            }
        }
    }

    private mutating func parseHex4() throws(JSONError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard pos < buf.count else { throw error("expected 4 hex digits after \\u, got end of input") }
            let c = buf[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("expected 4 hex digits after \\u, got \(describeHere())")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    // MARK: errors

    /// What is at `pos`, for "expected X, got Y".
    private func describeHere() -> String {
        guard pos < buf.count else { return "end of input" }
        let c = buf[pos]
        switch c {
        case 0x0A: return "a newline"
        case 0x09: return "a tab"
        case 0x0D: return "a carriage return"
        case 0x20..<0x7F: return "'\(Character(Unicode.Scalar(c)))'"
        case 0..<0x20, 0x7F: return "byte 0x" + String(c, radix: 16)
        default:
            // Name the character when the bytes form one, else the raw byte.
            var end = pos + 1
            while end < buf.count, end - pos < 4, buf[end] & 0xC0 == 0x80 { end += 1 }
            if let s = String(validating: UnsafeBufferPointer(rebasing: buf[pos..<end]), as: UTF8.self),
                let scalar = s.unicodeScalars.first
            {
                return "'\(s)' (U+" + String(scalar.value, radix: 16, uppercase: true) + ")"
            }
            return "byte 0x" + String(c, radix: 16)
        }
    }

    private func error(_ message: String) -> JSONError {
        JSONError(
            kind: .syntax, path: JSONPath(path), message: message, line: nil, column: nil, file: nil,
            pointsAtKey: false
        ).at(pos, in: buf)
    }

    // MARK: positions

    /// 1-based line and column (counted in Unicode scalars, so a non-ASCII name does not shift
    /// the column) of a byte offset.
    public static func lineColumn(of offset: Int, in text: [UInt8]) -> (line: Int, column: Int) {
        text.withUnsafeBufferPointer { lineColumn(of: offset, in: $0) }
    }

    static func lineColumn(of offset: Int, in buf: UnsafeBufferPointer<UInt8>) -> (line: Int, column: Int) {
        let end = min(max(offset, 0), buf.count)
        var line = 1
        var lineStart = 0
        for i in 0..<end where buf[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        var column = 1
        for i in lineStart..<end where buf[i] & 0xC0 != 0x80 { column += 1 }
        return (line, column)
    }

    /// The byte offset of the value (or, with `pointsAtKey`, of the key) that `path` names, by
    /// parsing `text` again up to it. A key component without a member index (a missing key)
    /// stops at the object that lacks it. Nil when the path does not exist in the text.
    static func offset(of path: JSONPath, pointsAtKey: Bool, in text: [UInt8]) -> Int? {
        text.withUnsafeBufferPointer { buffer in
            // The text may be any caller's, so skipping values stays depth-limited (generously,
            // since the document may have been parsed with a larger limit than the default).
            var parser = JSONParser(buffer, maxDepth: 8 * defaultMaxDepth)
            parser.skipByteOrderMark()
            parser.skipWhitespace()
            return parser.locate(path.components[...], pointsAtKey: pointsAtKey)
        }
    }

    /// Steps over a value and the comma after it, to the next member or element: false at the
    /// end of the container or at bytes that are not JSON.
    private mutating func skipValueAndComma() -> Bool {
        guard (try? parseValue()) != nil else { return false }
        skipWhitespace()
        guard pos < buf.count, buf[pos] == UInt8(ascii: ",") else { return false }
        pos += 1
        skipWhitespace()
        return true
    }

    private mutating func locate(_ components: ArraySlice<JSONPath.Component>, pointsAtKey: Bool) -> Int? {
        guard let first = components.first else { return pos }
        let rest = components.dropFirst()
        guard pos < buf.count else { return nil }
        switch first {
        case .index(let target):
            guard buf[pos] == UInt8(ascii: "[") else { return nil }
            pos += 1
            skipWhitespace()
            var i = 0
            while pos < buf.count, buf[pos] != UInt8(ascii: "]") {
                if i == target { return locate(rest, pointsAtKey: pointsAtKey) }
                guard skipValueAndComma() else { return nil }
                i += 1
            }
            return nil
        case .key(_, let memberIndex):
            // A missing key is reported at the container that lacks it (an object, or the
            // array of one-key objects of a jump entry).
            guard let target = memberIndex else { return pos }
            guard buf[pos] == UInt8(ascii: "{") else { return nil }
            pos += 1
            skipWhitespace()
            var i = 0
            while pos < buf.count, buf[pos] == UInt8(ascii: "\"") {
                let keyStart = pos
                guard (try? parseString()) != nil else { return nil }
                skipWhitespace()
                guard pos < buf.count, buf[pos] == UInt8(ascii: ":") else { return nil }
                pos += 1
                skipWhitespace()
                if i == target {
                    return rest.isEmpty && pointsAtKey ? keyStart : locate(rest, pointsAtKey: pointsAtKey)
                }
                guard skipValueAndComma() else { return nil }
                i += 1
            }
            return nil
        }
    }
}

extension JSONError {
    /// This error positioned at a byte offset of the text being parsed.
    fileprivate func at(_ offset: Int, in buf: UnsafeBufferPointer<UInt8>) -> JSONError {
        var copy = self
        let (line, column) = JSONParser.lineColumn(of: offset, in: buf)
        copy.line = line
        copy.column = column
        return copy
    }
}
