// The numbers of the file formats: pcapng blocks and options (draft-ietf-opsawg-pcapng),
// classic pcap, the LINKTYPE_NETLINK pseudo-header, and FlowTrace's own per-record metadata.
// spec/trace-format.md says which of them Wireshark 4.0 and libpcap honour and describes the
// files FlowTrace writes.

/// pcapng block types and option codes that FlowTrace reads or writes.
public enum Pcapng {
    public static let sectionHeaderBlock: UInt32 = 0x0A0D_0D0A
    public static let interfaceDescriptionBlock: UInt32 = 1
    /// The obsolete Packet Block (pcapng before 2012); still read.
    public static let packetBlock: UInt32 = 2
    public static let simplePacketBlock: UInt32 = 3
    public static let interfaceStatisticsBlock: UInt32 = 5
    public static let enhancedPacketBlock: UInt32 = 6
    /// Written in the section's byte order; reads as 0x4D3C2B1A when the bytes are swapped.
    public static let byteOrderMagic: UInt32 = 0x1A2B_3C4D

    // Options valid in every block.
    public static let optEndOfOptions: UInt16 = 0
    public static let optComment: UInt16 = 1
    /// Custom options (value = u32 Private Enterprise Number + data). 2988/2989 are "copyable":
    /// editcap and `tshark -w` keep them; 19372/19373 are dropped when a file is rewritten.
    public static let optCustomStringCopyable: UInt16 = 2988
    public static let optCustomBinaryCopyable: UInt16 = 2989
    public static let optCustomStringNoCopy: UInt16 = 19372
    public static let optCustomBinaryNoCopy: UInt16 = 19373

    // SHB options.
    public static let shbHardware: UInt16 = 2
    public static let shbOS: UInt16 = 3
    public static let shbUserApplication: UInt16 = 4

    // IDB options.
    public static let ifName: UInt16 = 2
    public static let ifDescription: UInt16 = 3
    public static let ifTimestampResolution: UInt16 = 9
    public static let ifOS: UInt16 = 12
    public static let ifTimestampOffset: UInt16 = 14

    // EPB (and PB) options.
    public static let epbFlags: UInt16 = 2
    /// epb_flags bits 0-1: 01 inbound, 10 outbound.
    public static let flagsInbound: UInt32 = 1
    public static let flagsOutbound: UInt32 = 2
    public static let flagsDirectionMask: UInt32 = 3

    /// Wireshark's and libpcap's LINKTYPE_NETLINK (DLT_NETLINK).
    public static let linkTypeNetlink: UInt16 = 253
}

/// Classic pcap (tcpdump -w) magic numbers as read in the file's own byte order.
enum ClassicPcap {
    static let magicMicroseconds: UInt32 = 0xA1B2_C3D4
    static let magicNanoseconds: UInt32 = 0xA1B2_3C4D
    static let headerLength = 24
    static let recordHeaderLength = 16
}

/// The 16-byte header LINKTYPE_NETLINK puts before the netlink messages (sll-like, big endian).
public enum NetlinkPseudoHeader {
    public static let length = 16
    /// sll_pkttype: PACKET_KERNEL (7) for messages to the kernel, PACKET_USER (6) to user space,
    /// as the kernel's nlmon tap sets them. Wireshark ignores the field; it survives
    /// conversion to classic pcap, which drops epb_flags, so it is our in-band direction.
    public static let packetKernel: UInt16 = 7
    public static let packetUser: UInt16 = 6
    /// ARPHRD_NETLINK: Wireshark dissects nothing without it.
    public static let hardwareTypeNetlink: UInt16 = 0x0338
    public static let protocolGeneric: UInt16 = 16
    /// NETLINK_ROUTE (rtnetlink: links, addresses, routes, tc).
    public static let protocolRoute: UInt16 = 0
}

/// FlowTrace's per-record metadata: one copyable custom binary option (2989) on each EPB.
///
/// Layout of the option value (integers in the section's byte order, like every pcapng field):
/// ```
/// u32 PEN = 32473   IANA's "Example Enterprise Number for Documentation Use" (RFC 5612).
///                   FlowTrace has no PEN of its own; the kind/magic byte below tells our
///                   option apart from other users of the documentation number.
/// u8  kind = 0xF1   FlowTrace record metadata, version 1
/// u8  leg           0 unknown, 1 api, 2 hairpin
/// u8  flags         bit 0: synthetic (written by the recorder, not captured);
///                   bit 1: a pairing id is present
/// u8  reserved = 0
/// u64 pairing id    links a request with its answers across both legs (0 when absent)
/// ```
/// Wireshark 4.0 shows custom options only in its file-structure view, but editcap and
/// `tshark -w` keep 2988/2989 (and drop 19372/19373), so metadata survives a rewrite.
public enum FlowTraceOption {
    public static let privateEnterpriseNumber: UInt32 = 32473
    public static let kindRecordV1: UInt8 = 0xF1
    /// Value length: PEN + kind/leg/flags/reserved + pairing id.
    public static let valueLength = 16
    static let flagSynthetic: UInt8 = 1
    static let flagHasPairing: UInt8 = 2
}

/// Unaligned loads in a given byte order (the reader's only way of touching file bytes).
@inline(__always)
func load16(_ p: UnsafeRawPointer, _ offset: Int, swapped: Bool) -> UInt16 {
    let v = p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    return swapped ? v.byteSwapped : v
}

@inline(__always)
func load32(_ p: UnsafeRawPointer, _ offset: Int, swapped: Bool) -> UInt32 {
    let v = p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    return swapped ? v.byteSwapped : v
}

@inline(__always)
func load64(_ p: UnsafeRawPointer, _ offset: Int, swapped: Bool) -> UInt64 {
    let v = p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    return swapped ? v.byteSwapped : v
}

@inline(__always)
func align4(_ n: Int) -> Int { (n + 3) & ~3 }

/// Hex for error messages (block types).
func hex32(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

/// Converts a timestamp in an interface's units to nanoseconds without ever trapping: a
/// hostile if_tsresol or if_tsoffset saturates instead of overflowing.
struct TimestampScale: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case multiply(UInt64)
        case divide(UInt64)
        /// Units of 2^-shift seconds.
        case binary(Int)
        /// Units too fine to represent in nanoseconds at all (10^-v with v > 28).
        case zero
    }

    var kind: Kind
    /// if_tsoffset, seconds added to every timestamp.
    var offsetSeconds: Int64 = 0

    /// Microseconds, the pcapng default without if_tsresol.
    static let microseconds = TimestampScale(kind: .multiply(1000))
    static let nanoseconds = TimestampScale(kind: .multiply(1))

    /// From the if_tsresol byte: bit 7 clear = 10^-v seconds, set = 2^-v seconds.
    init(tsresol byte: UInt8) {
        let v = Int(byte & 0x7f)
        if byte & 0x80 != 0 {
            kind = .binary(v)
        } else if v <= 9 {
            kind = .multiply(Self.pow10(9 - v))
        } else if v - 9 <= 19 {
            kind = .divide(Self.pow10(v - 9))
        } else {
            kind = .zero
        }
    }

    init(kind: Kind, offsetSeconds: Int64 = 0) {
        self.kind = kind
        self.offsetSeconds = offsetSeconds
    }

    static func pow10(_ n: Int) -> UInt64 {
        var r: UInt64 = 1
        for _ in 0..<n { r &*= 10 }
        return r
    }

    /// Whether timestamps are exact nanoseconds (if_tsresol 9), what FlowTrace writes.
    var isNanosecond: Bool { if case .multiply(1) = kind { return true } else { return false } }

    @inline(__always)
    func nanoseconds(_ ts: UInt64) -> UInt64 {
        var ns: UInt64
        switch kind {
        case .multiply(let m):
            let (r, o) = ts.multipliedReportingOverflow(by: m)
            ns = o ? UInt64.max : r
        case .divide(let d):
            ns = ts / d
        case .binary(let shift):
            // ns = ts * 1e9 / 2^shift, in 128 bits.
            let (hi, lo) = ts.multipliedFullWidth(by: 1_000_000_000)
            if shift == 0 {
                ns = hi != 0 ? UInt64.max : lo
            } else if shift < 64 {
                if hi >> shift != 0 { ns = UInt64.max } else { ns = (hi << (64 - shift)) | (lo >> shift) }
            } else {
                ns = shift - 64 < 64 ? hi >> (shift - 64) : 0
            }
        case .zero:
            ns = 0
        }
        if offsetSeconds != 0 {
            let (delta, o) = offsetSeconds.magnitude.multipliedReportingOverflow(by: 1_000_000_000)
            if offsetSeconds > 0 {
                let (r, o2) = ns.addingReportingOverflow(delta)
                ns = (o || o2) ? UInt64.max : r
            } else {
                ns = (o || delta > ns) ? 0 : ns - delta
            }
        }
        return ns
    }
}
