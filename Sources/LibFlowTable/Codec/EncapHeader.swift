// The one reader of the hairpin ENCAP nest (NFLH.EncapAttr): the typed decoder
// (HairpinCodec.decodeEncap), the daemon's byte path (SingleFlowPath.readCall), the replay and
// `flowtrace show`/`stats` (MessageSummary) all read CMD_TYPE, CMD, SEQ, STATUS, PART, MORE and
// where RESULTS, ERROR_MSG and ATTR are through it, so they cannot disagree on what an ENCAP
// holds. It reads in place and allocates nothing; the typed HairpinEncap is built from it only
// by the decoder. Inlinable: the byte path and the replay read headers at millions per second.

/// The fixed fields of one ENCAP nest and views of its nested parts, read by the decoder's rules:
/// every attribute well formed and of its size, none repeated, none unknown, CMD_TYPE, CMD and
/// SEQ present. The errors are the decoder's (path below the ENCAP nest, byte offsets from the
/// start of the message).
package struct EncapHeader {
    package var commandType: UInt32
    package var command: UInt32
    package var sequence: UInt64
    /// Byte offset of SEQ's u64 payload from the start of the message.
    package var sequenceOffset: Int
    /// Present in answers only (what makes an ENCAP an answer).
    package var status: UInt32?
    package var part: UInt32?
    package var more: Bool
    /// ERROR_MSG, RESULTS, ATTR as sent (their contents are read by whoever needs them).
    package var errorMessage: Attribute?
    package var results: Attribute?
    package var attributes: Attribute?
    /// One bit per attribute type present (`bit(NFLH.EncapAttr.x)`).
    package var present: UInt64

    package var isAnswer: Bool { status != nil }

    /// `present`'s bit for an attribute type.
    @inlinable @inline(__always)
    package static func bit(_ type: UInt16) -> UInt64 { 1 << UInt64(type) }

    /// Reads the ENCAP nest `nest`.
    @inlinable
    package init(_ nest: Attribute) throws(DecodeError) {
        var it = nest.nested()
        var seen: UInt64 = 0
        var cmdType: UInt32?, cmd: UInt32?, seq: UInt64?, seqAt = -1
        var status: UInt32?, part: UInt32?, more = false
        var text: Attribute?, results: Attribute?, inner: Attribute?
        while let a = try it.next() {
            // Types above 63 are not in the set: the switch refuses them as unknown.
            if a.type < 64 {
                let bit: UInt64 = 1 << UInt64(a.type)
                if seen & bit != 0 { throw Self.repeated(a) }
                seen |= bit
            }
            switch a.type {
            case NFLH.EncapAttr.cmdType: cmdType = try Self.u32(a)
            case NFLH.EncapAttr.cmd: cmd = try Self.u32(a)
            case NFLH.EncapAttr.status: status = try Self.u32(a)
            case NFLH.EncapAttr.seq:
                guard a.payload.count == 8 else { throw Self.size(a, "8 (u64)") }
                seq = a.payload.loadUnaligned(as: UInt64.self)
                seqAt = a.payloadOffset
            case NFLH.EncapAttr.part: part = try Self.u32(a)
            case NFLH.EncapAttr.more:
                guard a.payload.isEmpty else { throw Self.size(a, "0 (flag)") }
                more = true
            case NFLH.EncapAttr.errorMessage: text = a
            case NFLH.EncapAttr.pad: break
            case NFLH.EncapAttr.results: results = a
            case NFLH.EncapAttr.attr: inner = a
            default: throw Self.unknown(a)
            }
        }
        guard let cmdType else { throw Self.missing("CMD_TYPE", nest) }
        guard let cmd else { throw Self.missing("CMD", nest) }
        guard let seq else { throw Self.missing("SEQ", nest) }
        self.commandType = cmdType
        self.command = cmd
        self.sequence = seq
        self.sequenceOffset = seqAt
        self.status = status
        self.part = part
        self.more = more
        self.errorMessage = text
        self.results = results
        self.attributes = inner
        self.present = seen
    }

    /// The ENCAP of one hairpin message (`message`: the netlink message, headers included, up
    /// to nlmsg_len): nil when it is not an ENCAP message (genl command) or has no ENCAP
    /// attribute; the first ENCAP otherwise, read as `init(_:)` reads it. The top level must
    /// walk cleanly.
    @inlinable
    package init?(message: UnsafeRawBufferPointer) throws(DecodeError) {
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard message.count >= start, message[Netlink.headerLength] == NFLH.Command.encap.rawValue else { return nil }
        let end = Swift.min(Int(message.loadUnaligned(as: UInt32.self)), message.count)
        guard end > start else { return nil }
        var top = AttributeIterator(UnsafeRawBufferPointer(rebasing: message[start..<end]), baseOffset: start)
        while let a = try top.next() {
            guard a.type == NFLH.Attr.encap else { continue }
            do { try self.init(a) } catch { throw Self.named(error, "ENCAP") }
            return
        }
        return nil
    }

    /// `init(message:)` for callers that only need a readable header: nil also when the
    /// message is malformed.
    @inlinable @inline(__always)
    package static func peek(_ message: UnsafeRawBufferPointer) -> EncapHeader? {
        do { return try EncapHeader(message: message) } catch { return nil }
    }

    // The error paths: out of line, so the inlined walk stays small.
    @usableFromInline
    static func name(_ a: Attribute) -> String { NFLH.EncapAttr.names[a.type] ?? "type \(a.type)" }

    @usableFromInline @inline(never)
    static func repeated(_ a: Attribute) -> DecodeError {
        DecodeError(.repeatedAttribute(name(a)), at: a.offset)
    }

    @usableFromInline @inline(never)
    static func size(_ a: Attribute, _ expected: String) -> DecodeError {
        DecodeError(.payloadLength(expected: expected, got: a.payload.count), at: a.offset).within(name(a))
    }

    @usableFromInline @inline(never)
    static func unknown(_ a: Attribute) -> DecodeError {
        DecodeError(.unknownAttribute(a.type), at: a.offset)
    }

    @usableFromInline @inline(never)
    static func missing(_ what: String, _ nest: Attribute) -> DecodeError {
        DecodeError(.missingAttribute(what), at: nest.offset)
    }

    @usableFromInline @inline(never)
    static func named(_ e: DecodeError, _ component: String) -> DecodeError { e.within(component) }

    @inlinable @inline(__always)
    static func u32(_ a: Attribute) throws(DecodeError) -> UInt32 {
        guard a.payload.count == 4 else { throw size(a, "4 (u32)") }
        return a.payload.loadUnaligned(as: UInt32.self)
    }
}

extension EncapHeader {
    /// SEQ, and CMD and CMD_TYPE when readable, of an ENCAP message the strict reading refused:
    /// the first well-formed SEQ (CMD, CMD_TYPE) of the first ENCAP nest, read leniently. The
    /// listener answers such a message EINVAL under that SEQ; the replay pairs the two by it.
    package static func salvage(message: UnsafeRawBufferPointer)
        -> (sequence: UInt64, command: UInt32?, commandType: UInt32?)? {
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard message.count >= start, message[Netlink.headerLength] == NFLH.Command.encap.rawValue else { return nil }
        let end = Swift.min(Int(message.loadUnaligned(as: UInt32.self)), message.count)
        guard end > start else { return nil }
        var top = AttributeIterator(UnsafeRawBufferPointer(rebasing: message[start..<end]), baseOffset: start)
        while let a = try? top.next() {
            guard a.type == NFLH.Attr.encap else { continue }
            var inner = a.nested()
            var sequence: UInt64?, command: UInt32?, commandType: UInt32?
            while let e = try? inner.next() {
                switch e.type {
                case NFLH.EncapAttr.seq where sequence == nil: sequence = try? e.u64()
                case NFLH.EncapAttr.cmd where command == nil: command = try? e.u32()
                case NFLH.EncapAttr.cmdType where commandType == nil: commandType = try? e.u32()
                default: break
                }
            }
            guard let sequence else { return nil }
            return (sequence, command, commandType)
        }
        return nil
    }
}
