// Splitting a receive buffer (or a pcap record) into netlink messages, and reading the fixed
// headers of one message, without copying.

/// One netlink message inside a larger buffer.
public struct NetlinkMessageView {
    public let header: NetlinkHeader
    /// The bytes after nlmsghdr, up to nlmsg_len (padding excluded).
    public let payload: UnsafeRawBufferPointer
    /// The whole message, headers included.
    public let bytes: UnsafeRawBufferPointer
    /// Offset of the message in the buffer it came from.
    public let offset: Int

    @usableFromInline
    init(header: NetlinkHeader, payload: UnsafeRawBufferPointer, bytes: UnsafeRawBufferPointer, offset: Int) {
        self.header = header
        self.payload = payload
        self.bytes = bytes
        self.offset = offset
    }

    /// The genl header and the attribute region of a generic netlink message.
    public func generic() throws(DecodeError) -> (GenericHeader, AttributeIterator) {
        guard payload.count >= Netlink.genericHeaderLength else {
            throw DecodeError(
                .truncated(
                    needed: Netlink.headerLength + Netlink.genericHeaderLength,
                    available: bytes.count), at: Netlink.headerLength)
        }
        let g = GenericHeader(
            command: payload[0], version: payload[1],
            reserved: payload.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let attrs = UnsafeRawBufferPointer(rebasing: payload[Netlink.genericHeaderLength...])
        return (g, AttributeIterator(attrs, baseOffset: Netlink.headerLength + Netlink.genericHeaderLength))
    }
}

/// Walks the messages of a buffer. nlmsg_len must cover the header and fit the buffer; the
/// padding after the last message may be missing.
public struct NetlinkMessageIterator {
    // Inlinable across modules: the replay walks every record's messages with it.
    @usableFromInline let buffer: UnsafeRawBufferPointer
    @usableFromInline var position = 0

    @inlinable
    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    /// The bytes not walked yet (all of them after an error), and the walk ended: for readers
    /// that keep what is not a message whole (a replay still compares it as bytes).
    @inlinable
    public mutating func rest() -> UnsafeRawBufferPointer {
        let r = UnsafeRawBufferPointer(rebasing: buffer[position...])
        position = buffer.count
        return r
    }

    @inlinable @inline(__always)
    public mutating func next() throws(DecodeError) -> NetlinkMessageView? {
        let remaining = buffer.count - position
        if remaining == 0 { return nil }
        guard remaining >= Netlink.headerLength else {
            throw Self.truncated(remaining, at: position)
        }
        // At least 16 bytes from `position`: a base address.
        let h = NetlinkHeader(at: buffer.baseAddress.unsafelyUnwrapped + position)
        guard h.length >= UInt32(Netlink.headerLength), Int(h.length) <= remaining else {
            throw Self.badLength(h.length, at: position)
        }
        let start = position
        let whole = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + Int(h.length))])
        let payload = UnsafeRawBufferPointer(rebasing: whole[Netlink.headerLength...])
        position = min(start + Netlink.align(Int(h.length)), buffer.count)
        return NetlinkMessageView(header: h, payload: payload, bytes: whole, offset: start)
    }

    @usableFromInline @inline(never)
    static func truncated(_ remaining: Int, at position: Int) -> DecodeError {
        DecodeError(.truncated(needed: Netlink.headerLength, available: remaining), at: position)
    }

    @usableFromInline @inline(never)
    static func badLength(_ length: UInt32, at position: Int) -> DecodeError {
        DecodeError(.badMessageLength(length), at: position)
    }
}

extension NetlinkMessageView {
    /// Reads exactly one message from `bytes`; anything after it is an error.
    public static func single(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> NetlinkMessageView {
        var it = NetlinkMessageIterator(bytes)
        guard let m = try it.next() else {
            throw DecodeError(.truncated(needed: Netlink.headerLength, available: 0), at: 0)
        }
        if let extra = try it.next() {
            throw DecodeError(.notAllowed("a second message follows the first"), at: extra.offset)
        }
        return m
    }
}
