// The fixed headers of a generic netlink message: nlmsghdr (16 bytes) and genlmsghdr (4 bytes).
// All integers are in host byte order, as the kernel writes them.

/// Netlink constants from <linux/netlink.h> and <linux/genetlink.h> that the codec needs.
public enum Netlink {
    public static let headerLength = 16
    public static let genericHeaderLength = 4
    public static let attributeHeaderLength = 4
    /// Message and attribute lengths are padded to this boundary (NLMSG_ALIGNTO, NLA_ALIGNTO).
    public static let alignment = 4

    // nlmsg_type values below NLMSG_MIN_TYPE are control messages.
    public static let typeNoop: UInt16 = 1
    public static let typeError: UInt16 = 2
    public static let typeDone: UInt16 = 3
    public static let typeOverrun: UInt16 = 4
    public static let minFamilyType: UInt16 = 0x10
    /// The generic netlink controller's fixed family id (GENL_ID_CTRL).
    public static let controllerFamilyID: UInt16 = 0x10

    // nlmsg_flags
    public static let flagRequest: UInt16 = 0x01
    public static let flagMulti: UInt16 = 0x02
    public static let flagAck: UInt16 = 0x04
    public static let flagEcho: UInt16 = 0x08
    public static let flagDumpInterrupted: UInt16 = 0x10
    /// NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH on a request: a dump (pages, NLMSG_DONE, no ACK).
    public static let flagDump: UInt16 = 0x300
    /// NLM_F_CAPPED on NLMSG_ERROR: only the header of the request is echoed.
    public static let flagCapped: UInt16 = 0x100
    /// NLM_F_ACK_TLVS on NLMSG_ERROR: extended-ack attributes follow.
    public static let flagAckTLVs: UInt16 = 0x200

    // nla_type flag bits; receivers mask them off (2015 senders never set NLA_F_NESTED).
    public static let attributeFlagNested: UInt16 = 0x8000
    public static let attributeFlagNetByteOrder: UInt16 = 0x4000
    public static let attributeTypeMask: UInt16 = 0x3fff

    // Extended ack attributes (NLMSGERR_ATTR_*).
    public static let extAckMessage: UInt16 = 1
    public static let extAckOffset: UInt16 = 2
    /// NLMSGERR_ATTR_MISS_TYPE: the type of a missing attribute (u32).
    public static let extAckMissingType: UInt16 = 5
    /// NLMSGERR_ATTR_MISS_NEST: the offset in the request of the nest it is missing from (u32).
    public static let extAckMissingNest: UInt16 = 6

    /// Deepest nesting a decoder follows before it calls the input hostile.
    public static let maxNestingDepth = 16

    @inlinable @inline(__always)
    public static func align(_ n: Int) -> Int { (n + 3) & ~3 }
}

/// `struct nlmsghdr`.
public struct NetlinkHeader: Hashable, Sendable {
    public var length: UInt32
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var port: UInt32

    public init(length: UInt32 = 0, type: UInt16, flags: UInt16, sequence: UInt32, port: UInt32) {
        self.length = length
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.port = port
    }

    public var isRequest: Bool { flags & Netlink.flagRequest != 0 }
    public var isMulti: Bool { flags & Netlink.flagMulti != 0 }
}

extension NetlinkHeader {
    /// The header at `p` (16 readable bytes), as it is: the one read of an nlmsghdr
    /// (NetlinkMessageIterator's and `init(peeking:)`).
    @inlinable @inline(__always)
    init(at p: UnsafeRawPointer) {
        self.init(
            length: p.loadUnaligned(as: UInt32.self),
            type: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self),
            flags: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self),
            sequence: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
            port: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    }

    /// The header at the start of `bytes`, its length not checked against them (a reader that
    /// looks at a record's first message before walking it): nil when fewer than 16 bytes are there.
    @inlinable @inline(__always)
    public init?(peeking bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Netlink.headerLength, let p = bytes.baseAddress else { return nil }
        self.init(at: p)
    }
}

extension GenericHeader {
    /// The genl command of the message `bytes` (headers included), when it has a genl header.
    @inlinable @inline(__always)
    public static func command(ofMessage bytes: UnsafeRawBufferPointer) -> UInt8? {
        bytes.count >= Netlink.headerLength + Netlink.genericHeaderLength ? bytes[Netlink.headerLength] : nil
    }
}

/// `struct genlmsghdr`.
public struct GenericHeader: Hashable, Sendable {
    public var command: UInt8
    public var version: UInt8
    public var reserved: UInt16

    public init(command: UInt8, version: UInt8, reserved: UInt16 = 0) {
        self.command = command
        self.version = version
        self.reserved = reserved
    }
}
