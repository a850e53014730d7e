// The one reader of the hairpin ENCAP nest (NFLH.EncapAttr): the typed decoder
// (HairpinCodec.decodeEncap), the daemon's byte path (ByteService.readCall), the replay and
// `flowtrace show`/`stats` (MessageSummary) all read CMD_TYPE, CMD, SEQ, STATUS, PART, MORE and
// where RESULTS, ERROR_MSG and ATTR are through it, so they cannot disagree on what an ENCAP
// holds. It reads in place and allocates nothing; the typed HairpinEncap is built from it only
// by the decoder. Inlinable: the byte path and the replay read headers at millions per second.

/// The fixed fields of one ENCAP nest and views of its nested parts, read by the decoder's rules:
/// every attribute well formed and of its size, none repeated, none unknown, CMD_TYPE, CMD and
/// SEQ present. The errors are the decoder's (path below the ENCAP nest, byte offsets from the
/// start of the message).
// Public and inlinable (not `package`: a package declaration's body is not inlined into the
// other modules), and small: where the nested parts are is kept as offsets, not Attribute
// values, so a header is copied in a few moves.
public struct EncapHeader {
    public let commandType: UInt32
    public let command: UInt32
    public let sequence: UInt64
    @usableFromInline let statusValue: UInt32
    @usableFromInline let partValue: UInt32
    /// Byte offsets from the start of the message: SEQ's payload; the headers of ERROR_MSG,
    /// RESULTS and ATTR (-1: absent).
    @usableFromInline let sequenceAt: Int32
    @usableFromInline let textAt: Int32
    @usableFromInline let resultsAt: Int32
    @usableFromInline let attributesAt: Int32
    /// Where offset 0 is (the message's first byte).
    @usableFromInline let base: UnsafeRawPointer
    /// One bit per attribute type present (`bit(NFLH.EncapAttr.x)`; all types known are < 16).
    public let present: UInt16

    @inlinable @inline(__always)
    public static func bit(_ type: UInt16) -> UInt16 { 1 << type }

    /// Byte offset of SEQ's u64 payload from the start of the message.
    @inlinable public var sequenceOffset: Int { Int(sequenceAt) }
    /// Present in answers only (what makes an ENCAP an answer).
    @inlinable public var status: UInt32? { present & Self.bit(NFLH.EncapAttr.status) != 0 ? statusValue : nil }
    @inlinable public var part: UInt32? { present & Self.bit(NFLH.EncapAttr.part) != 0 ? partValue : nil }
    @inlinable public var more: Bool { present & Self.bit(NFLH.EncapAttr.more) != 0 }
    @inlinable public var isAnswer: Bool { present & Self.bit(NFLH.EncapAttr.status) != 0 }
    /// ERROR_MSG, RESULTS, ATTR as sent (their contents are read by whoever needs them).
    @inlinable public var errorMessage: Attribute? { attribute(at: textAt) }
    @inlinable public var results: Attribute? { attribute(at: resultsAt) }
    @inlinable public var attributes: Attribute? { attribute(at: attributesAt) }

    @inlinable @inline(__always)
    func attribute(at offset: Int32) -> Attribute? {
        guard offset >= 0 else { return nil }
        let at = base + Int(offset)
        let len = Int(at.loadUnaligned(as: UInt16.self))
        let raw = at.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        return Attribute(
            type: raw & Netlink.attributeTypeMask, flags: raw & ~Netlink.attributeTypeMask,
            payload: UnsafeRawBufferPointer(
                start: at + Netlink.attributeHeaderLength,
                count: len - Netlink.attributeHeaderLength),
            offset: Int(offset))
    }

    /// Reads the ENCAP nest `nest`.
    @inlinable @inline(__always)
    public init(_ nest: Attribute) throws(DecodeError) {
        var it = nest.nested()
        var seen: UInt64 = 0
        var cmdType: UInt32 = 0, cmd: UInt32 = 0, seq: UInt64 = 0, seqAt: Int32 = -1
        var status: UInt32 = 0, part: UInt32 = 0
        var text: Int32 = -1, results: Int32 = -1, inner: Int32 = -1
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
                seqAt = Int32(truncatingIfNeeded: a.payloadOffset)
            case NFLH.EncapAttr.part: part = try Self.u32(a)
            case NFLH.EncapAttr.more:
                guard a.payload.isEmpty else { throw Self.size(a, "0 (flag)") }
            case NFLH.EncapAttr.errorMessage: text = Int32(truncatingIfNeeded: a.offset)
            case NFLH.EncapAttr.pad: break
            case NFLH.EncapAttr.results: results = Int32(truncatingIfNeeded: a.offset)
            case NFLH.EncapAttr.attr: inner = Int32(truncatingIfNeeded: a.offset)
            default: throw Self.unknown(a)
            }
        }
        // What the spec requires (CMD_TYPE, CMD, SEQ), from the generated set.
        if seen & NFLH.EncapAttr.required != NFLH.EncapAttr.required { throw Self.missing(seen, nest) }
        commandType = cmdType
        command = cmd
        sequence = seq
        statusValue = status
        partValue = part
        sequenceAt = seqAt
        textAt = text
        resultsAt = results
        attributesAt = inner
        // The nest's payload starts `payloadOffset` bytes into the message.
        base = (nest.payload.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!) - nest.payloadOffset
        present = UInt16(truncatingIfNeeded: seen)
    }

    /// The ENCAP of one hairpin message (`message`: the netlink message, headers included, up
    /// to nlmsg_len): nil when it is not an ENCAP message (genl command) or has no ENCAP
    /// attribute; the first ENCAP otherwise, read as `init(_:)` reads it. The top level is
    /// walked strictly up to that ENCAP; what follows it is not read.
    @inlinable @inline(__always)
    public init?(message: UnsafeRawBufferPointer) throws(DecodeError) {
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
    public static func peek(_ message: UnsafeRawBufferPointer) -> EncapHeader? {
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

    /// The first required attribute (lowest type) not `seen`, as the decoder reports it.
    @usableFromInline @inline(never)
    static func missing(_ seen: UInt64, _ nest: Attribute) -> DecodeError {
        let type = UInt16((NFLH.EncapAttr.required & ~seen).trailingZeroBitCount)
        return DecodeError(.missingAttribute(NFLH.EncapAttr.names[type] ?? "type \(type)"), at: nest.offset)
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
    public static func salvage(message: UnsafeRawBufferPointer)
        -> (sequence: UInt64, command: UInt32?, commandType: UInt32?)?
    {
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
