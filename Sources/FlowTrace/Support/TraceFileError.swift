// What can go wrong with a trace file, and the one thing that is not an error: a file that
// ends inside a block. A recorder killed with -9 leaves such a tail, and every record before
// it is still good, so readers hand those out and report the cut as a notice instead.

import Posix

/// A trace file could not be opened, read or written, or its bytes are not a valid trace.
/// Format errors name the byte offset of the offending block or field, so a hostile or
/// damaged file can be inspected with a hex dump at that spot.
public struct TraceFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// open/read/write/close failed with this errno.
        case io(Int32)
        /// The bytes contradict the format (lengths, magic numbers, indexes).
        case malformed
        /// Valid but not something this reader handles (e.g. pcapng version 2).
        case unsupported
        /// The caller asked for something the file cannot hold (writer side).
        case invalidArgument
    }

    public var kind: Kind
    /// The file, when known.
    public var path: String?
    /// Byte offset from the start of the file, for format errors.
    public var offset: UInt64?
    public var message: String

    public init(_ kind: Kind, _ message: String, path: String? = nil, offset: UInt64? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.offset = offset
    }

    public var description: String {
        var s = path.map { "\($0): " } ?? ""
        if let offset { s += "at byte \(offset): " }
        s += message
        if case let .io(code) = kind { s += " (\(Sys.errorText(code)))" }
        return s
    }
}

/// The file ends inside a block (or record). Everything before `blockOffset` was read.
public struct TraceTruncation: Hashable, Sendable, CustomStringConvertible {
    /// Where the data ends: the file's size.
    public var fileEnd: UInt64
    /// Where the incomplete block starts.
    public var blockOffset: UInt64
    /// The block type (pcapng) when its first 4 bytes are present; nil for classic pcap records.
    public var blockType: UInt32?
    /// The length its header declares, when the header is complete.
    public var declaredLength: UInt64?
    /// Why the data ends early when it is not a cut block (a gzip stream cut short).
    public var reason: String?

    public init(fileEnd: UInt64, blockOffset: UInt64, blockType: UInt32?, declaredLength: UInt64?) {
        self.fileEnd = fileEnd
        self.blockOffset = blockOffset
        self.blockType = blockType
        self.declaredLength = declaredLength
    }

    public var description: String {
        guard blockType != nil || declaredLength != nil || blockOffset != fileEnd || reason == nil else {
            return "truncated at byte \(fileEnd): \(reason ?? "")"
        }
        var s = "truncated at byte \(fileEnd) ("
        let what = blockType.map { "block of type 0x" + String($0, radix: 16) } ?? "record"
        if let declaredLength {
            s += "\(what) at byte \(blockOffset) declared \(declaredLength) bytes, \(fileEnd - blockOffset) present"
        } else {
            s += "\(what) at byte \(blockOffset) cut inside its header"
        }
        return s + ")" + (reason.map { "; \($0)" } ?? "")
    }
}
