// The record model the rest of FlowTrace (recorder, replayer, decoders) works with: one
// captured packet of netlink traffic with its place in the two-leg picture. The netlink
// bytes are a view: the reader lends its buffer, the recorder lends its receive buffer, and
// nothing is copied until someone keeps a record (`StoredTraceRecord`).

/// Which netlink leg a record travelled on (spec/two-leg-contract.md).
public enum TraceLeg: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Not recorded (nlmon captures, other tools' files); `FamilyTable.leg(of:)` can often tell.
    case unknown = 0
    /// Client ↔ unft, family net_flow_nl (and nlctrl look-ups made on that socket).
    case api = 1
    /// unft ↔ listener, family nfl_hairpin.
    case hairpin = 2

    public var description: String {
        switch self {
        case .unknown: return "unknown"
        case .api: return "api"
        case .hairpin: return "hairpin"
        }
    }
}

/// Which way a message went. "Kernel" means the kernel side of the socket, the unft module
/// or its user-space twin: a listener's ENCAP answer goes toKernel, unft's ENCAP request
/// toUser.
public enum TraceDirection: UInt8, Hashable, Sendable, CustomStringConvertible {
    /// Neither epb_flags nor the pseudo-header said.
    case unknown = 0
    case toKernel = 1
    case toUser = 2

    public var description: String {
        switch self {
        case .unknown: return "unknown"
        case .toKernel: return "to-kernel"
        case .toUser: return "to-user"
        }
    }
}

/// One record: a packet of one or more netlink messages. As read, the netlink bytes point
/// into the reader's buffer and are valid only until the reader's next call; as written, they
/// only need to live for the `append` call.
public struct TraceRecord {
    /// Nanoseconds since the Unix epoch (CLOCK_REALTIME; the recorder stamps records with
    /// `PcapngWriter.now()`); 0 when the file has none (SPB).
    public var timestamp: UInt64
    public var leg: TraceLeg
    public var direction: TraceDirection
    /// The interface (IDB) index within its section.
    public var interface: UInt32
    /// The netlink message(s), without the 16-byte LINKTYPE_NETLINK pseudo-header.
    public var netlink: UnsafeRawBufferPointer
    /// Links a request with its answer(s) across both legs; chosen by the recorder.
    public var pairing: UInt64?
    /// Written by the recorder rather than captured (NEWFAMILY and state-snapshot preambles).
    public var synthetic: Bool
    /// Free text for people; shown by Wireshark as frame.comment. Several comments on one
    /// packet (other tools add them) are joined with newlines.
    public var comment: String?
    /// The netlink protocol of the pseudo-header; 16 (NETLINK_GENERIC) for our families.
    public var netlinkProtocol: UInt16
    /// The section the record came from (0-based); ignored by the writer.
    public var section: Int
    /// The netlink byte count before a snap length cut it (== netlink.count unless snapped);
    /// ignored by the writer.
    public var originalLength: Int

    public init(
        timestamp: UInt64, leg: TraceLeg = .unknown, direction: TraceDirection, interface: UInt32 = 0,
        netlink: UnsafeRawBufferPointer, pairing: UInt64? = nil, synthetic: Bool = false,
        comment: String? = nil, netlinkProtocol: UInt16 = NetlinkPseudoHeader.protocolGeneric,
        section: Int = 0, originalLength: Int? = nil
    ) {
        self.timestamp = timestamp
        self.leg = leg
        self.direction = direction
        self.interface = interface
        self.netlink = netlink
        self.pairing = pairing
        self.synthetic = synthetic
        self.comment = comment
        self.netlinkProtocol = netlinkProtocol
        self.section = section
        self.originalLength = originalLength ?? netlink.count
    }

    /// True when the capture cut the packet short (snap length).
    public var isSnapped: Bool { originalLength > netlink.count }
}

/// A TraceRecord without its comment: plain data, so handing one out and passing it on is a
/// copy of a few words. TraceRecord's `comment` (a String) made every copy and destroy of a
/// record an out-of-line call, a sixth of `flowtrace stats`' time; the per-record loops
/// (`TraceStats`) use this instead.
struct RecordCore {
    var timestamp: UInt64
    var leg: TraceLeg
    var direction: TraceDirection
    var interface: UInt32
    var netlink: UnsafeRawBufferPointer
    var pairing: UInt64?
    var synthetic: Bool
    var netlinkProtocol: UInt16
    var section: Int
    var originalLength: Int
}

extension RecordCore {
    init(_ r: TraceRecord) {
        self.init(
            timestamp: r.timestamp, leg: r.leg, direction: r.direction, interface: r.interface,
            netlink: r.netlink, pairing: r.pairing, synthetic: r.synthetic, netlinkProtocol: r.netlinkProtocol,
            section: r.section, originalLength: r.originalLength)
    }
}

extension TraceRecord {
    init(_ c: RecordCore, comment: String?) {
        self.init(
            timestamp: c.timestamp, leg: c.leg, direction: c.direction, interface: c.interface,
            netlink: c.netlink, pairing: c.pairing, synthetic: c.synthetic, comment: comment,
            netlinkProtocol: c.netlinkProtocol, section: c.section, originalLength: c.originalLength)
    }
}

/// A record that owns its bytes, for callers that keep records past the reader's next call
/// (replay queues, tests).
public struct StoredTraceRecord: Hashable, Sendable {
    public var timestamp: UInt64
    public var leg: TraceLeg
    public var direction: TraceDirection
    public var interface: UInt32
    public var netlink: [UInt8]
    public var pairing: UInt64?
    public var synthetic: Bool
    public var comment: String?
    public var netlinkProtocol: UInt16
    public var section: Int
    public var originalLength: Int

    public init(
        timestamp: UInt64, leg: TraceLeg = .unknown, direction: TraceDirection, interface: UInt32 = 0,
        netlink: [UInt8], pairing: UInt64? = nil, synthetic: Bool = false, comment: String? = nil,
        netlinkProtocol: UInt16 = NetlinkPseudoHeader.protocolGeneric, section: Int = 0,
        originalLength: Int? = nil
    ) {
        self.timestamp = timestamp
        self.leg = leg
        self.direction = direction
        self.interface = interface
        self.netlink = netlink
        self.pairing = pairing
        self.synthetic = synthetic
        self.comment = comment
        self.netlinkProtocol = netlinkProtocol
        self.section = section
        self.originalLength = originalLength ?? netlink.count
    }

    /// Copies the view's bytes.
    public init(_ r: TraceRecord) {
        self.init(
            timestamp: r.timestamp, leg: r.leg, direction: r.direction, interface: r.interface,
            netlink: [UInt8](r.netlink), pairing: r.pairing, synthetic: r.synthetic, comment: r.comment,
            netlinkProtocol: r.netlinkProtocol, section: r.section, originalLength: r.originalLength)
    }

    /// Lends the record as a view, e.g. to `PcapngWriter.append`.
    public func withRecord<R>(_ body: (TraceRecord) throws -> R) rethrows -> R {
        try netlink.withUnsafeBytes { raw in
            try body(
                TraceRecord(
                    timestamp: timestamp, leg: leg, direction: direction, interface: interface,
                    netlink: raw, pairing: pairing, synthetic: synthetic, comment: comment,
                    netlinkProtocol: netlinkProtocol, section: section, originalLength: originalLength))
        }
    }
}
