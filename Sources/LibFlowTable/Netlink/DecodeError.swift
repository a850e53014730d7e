// One error type for everything that reads bytes off the wire. It names what was wrong, the
// attribute path from the top of the message (e.g. FLOWS.FLOW[2].MATCHES.FIELD_REF[0].VALUE)
// and the byte offset from the start of the message, so a bug report can point at the byte.

public struct DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The buffer ends before a header or payload that its length fields promise.
        case truncated(needed: Int, available: Int)
        /// nlmsg_len smaller than the headers or larger than the buffer.
        case badMessageLength(UInt32)
        /// nla_len below 4 or past the end of its enclosing region.
        case badAttributeLength(UInt16)
        /// Bytes left over after the last attribute that cannot form an attribute.
        case trailingBytes(Int)
        case payloadLength(expected: String, got: Int)
        case missingAttribute(String)
        case unknownAttribute(UInt16)
        case repeatedAttribute(String)
        case nestingTooDeep(Int)
        case invalidString
        case wrongFamily(expected: UInt16, got: UInt16)
        case unknownCommand(UInt8)
        /// The attribute is well formed but not allowed here (e.g. both FLOWS layouts).
        case notAllowed(String)
    }

    public var reason: Reason
    public var offset: Int
    /// Attribute names from the top level down; an index follows a list element's name.
    public var path: [String]

    public init(_ reason: Reason, at offset: Int, path: [String] = []) {
        self.reason = reason
        self.offset = offset
        self.path = path
    }

    /// Called by each decoding level on the way out, so the path is only built when an error
    /// actually happened (the hot path allocates nothing for it).
    public func within(_ component: String) -> DecodeError {
        var e = self
        e.path.insert(component, at: 0)
        return e
    }

    public var pathString: String { path.isEmpty ? "message" : path.joined(separator: ".") }

    public var description: String {
        "\(pathString) at byte \(offset): \(reasonText)"
    }

    public var reasonText: String {
        switch reason {
        case let .truncated(needed, available):
            return "truncated: \(needed) bytes needed, \(available) available"
        case let .badMessageLength(len):
            return "nlmsg_len \(len) does not fit the headers and the buffer"
        case let .badAttributeLength(len):
            return "nla_len \(len) is below 4 or runs past the end of its enclosing attribute"
        case let .trailingBytes(n):
            return "\(n) trailing bytes after the last attribute"
        case let .payloadLength(expected, got):
            return "payload is \(got) bytes, expected \(expected)"
        case let .missingAttribute(name):
            return "required attribute \(name) is missing"
        case let .unknownAttribute(type):
            return "unknown attribute type \(type)"
        case let .repeatedAttribute(name):
            return "attribute \(name) appears more than once"
        case let .nestingTooDeep(depth):
            return "attributes nested deeper than \(depth) levels"
        case .invalidString:
            return "string is not valid UTF-8 or has a NUL byte inside"
        case let .wrongFamily(expected, got):
            return "nlmsg_type \(got) is not the expected family id \(expected)"
        case let .unknownCommand(cmd):
            return "unknown command \(cmd)"
        case let .notAllowed(what):
            return what
        }
    }
}
