// What `flowtrace capture` keeps of an nlmon capture: nlmon0 sees every netlink message of the
// machine (routing, audit, every genl family). By default every message is kept (`.all`); with
// --family only the named families (and whole protocols, such as rtnetlink), with their ACKs,
// errors and the DONEs of their dumps (`.only`); the legacy selection is our two legs of
// spec/two-leg-contract.md. The capture's own nlctrl look-ups (its port) are never kept. This
// filter works on the packets libpcap hands over (LINKTYPE_NETLINK: a 16-byte pseudo-header,
// then one skb's netlink messages) and keeps, one record per message, for our two families:
// * messages of net_flow_nl (the API leg) and nfl_hairpin (the hairpin leg), by their ids;
// * NLMSG_ERROR (ACKs and errors) whose echoed request header names one of the two families;
// * NLMSG_DONE ending a multi-part reply of net_flow_nl seen before (GET_FLOWS pages): it
//   carries no family, so it is matched by the port and sequence of the pages.
// Direction comes from the pseudo-header's packet type, which the kernel's netlink tap sets
// (PACKET_KERNEL for messages to the kernel, PACKET_USER to a socket); when it is neither,
// from NLM_F_REQUEST, which only messages to the kernel carry.
//
// Pure logic on bytes, so it is tested without a kernel; hostile bytes end the packet's walk
// (counted as malformed), never the capture.

import FlowTrace
import LibFlowTable

public struct CaptureFilter {
    /// One message to keep: where it is in the packet's netlink bytes, and its place.
    public struct Kept: Hashable, Sendable {
        /// Byte range within the netlink bytes (after the pseudo-header).
        public var range: Range<Int>
        public var leg: TraceLeg
        public var direction: TraceDirection
        /// The pseudo-header's netlink protocol.
        public var netlinkProtocol: UInt16 = NetlinkPseudoHeader.protocolGeneric
    }

    /// Which messages to keep besides our two families' (which are always kept).
    public enum Keep: Hashable, Sendable {
        /// Only our two families: the two legs.
        case ours
        /// Every message of every protocol.
        case all
        /// The generic families of these ids and every message of these protocols.
        case only(families: Set<UInt16>, protocols: Set<UInt16>)
    }

    /// Counts for the closing summary.
    public struct Statistics: Hashable, Sendable {
        public var packets = 0
        /// Packets that are not generic netlink (routing, audit…).
        public var otherProtocols = 0
        public var messages = 0
        public var kept = 0
        public var keptAPI = 0
        public var keptHairpin = 0
        /// Kept messages of other families and protocols.
        public var keptOther = 0
        /// Packets shorter than the pseudo-header, or whose messages stopped parsing.
        public var malformed = 0
        /// Packets the snap length cut (their last message is dropped).
        public var snapped = 0
        public init() {}
    }

    public let flowTableID: UInt16
    public let hairpinID: UInt16
    public let keep: Keep
    /// The capture's own nlctrl socket: its look-ups are not part of the trace.
    public let ownPort: UInt32?
    public private(set) var statistics = Statistics()

    /// (port, sequence) of multi-part replies of kept families whose NLMSG_DONE has not come
    /// yet, with the leg of their family.
    private var openDumps: [UInt64: TraceLeg] = [:]
    /// A bound on `openDumps`: a client that never reads its DONE (or forged MULTI flags)
    /// must not grow it without end.
    static let maxOpenDumps = 4096

    public init(flowTableID: UInt16, hairpinID: UInt16, keep: Keep = .ours, ownPort: UInt32? = nil) {
        self.flowTableID = flowTableID
        self.hairpinID = hairpinID
        self.keep = keep
        self.ownPort = ownPort
    }

    /// The messages to keep of one captured packet: `packet` is what libpcap returned (pseudo-
    /// header included), `originalLength` its length before the snap length.
    public mutating func filter(packet: UnsafeRawBufferPointer, originalLength: Int? = nil) -> [Kept] {
        statistics.packets += 1
        let header = NetlinkPseudoHeader.length
        guard packet.count >= header else {
            statistics.malformed += 1
            return []
        }
        if let originalLength, originalLength > packet.count { statistics.snapped += 1 }
        let packetType = UInt16(packet[0]) << 8 | UInt16(packet[1])
        let proto = UInt16(packet[14]) << 8 | UInt16(packet[15])
        let wholeProtocol: Bool
        switch keep {
        case .all: wholeProtocol = proto != NetlinkPseudoHeader.protocolGeneric
        case .ours: wholeProtocol = false
        case .only(_, let protocols): wholeProtocol = protocols.contains(proto)
        }
        guard proto == NetlinkPseudoHeader.protocolGeneric || wholeProtocol else {
            statistics.otherProtocols += 1
            return []
        }
        if proto != NetlinkPseudoHeader.protocolGeneric { statistics.otherProtocols += 1 }
        let netlink = UnsafeRawBufferPointer(rebasing: packet[header...])
        var kept: [Kept] = []
        var it = NetlinkMessageIterator(netlink)
        while true {
            let m: NetlinkMessageView
            do throws(DecodeError) {
                guard let next = try it.next() else { break }
                m = next
            } catch {
                statistics.malformed += 1
                break
            }
            statistics.messages += 1
            let leg: TraceLeg
            if wholeProtocol {
                leg = .unknown
            } else {
                guard let l = classify(m) else { continue }
                leg = l
            }
            let direction = Self.direction(packetType: packetType, flags: m.header.flags)
            kept.append(
                Kept(
                    range: m.offset..<(m.offset + m.bytes.count), leg: leg, direction: direction, netlinkProtocol: proto
                ))
            statistics.kept += 1
            switch leg {
            case .api: statistics.keptAPI += 1
            case .hairpin: statistics.keptHairpin += 1
            case .unknown: statistics.keptOther += 1
            }
        }
        return kept
    }

    /// Whether a generic family's messages are kept besides our two.
    @inline(__always)
    func keeps(family id: UInt16) -> Bool {
        switch keep {
        case .ours: return false
        case .all: return true
        case .only(let ids, _): return ids.contains(id)
        }
    }

    /// The leg of a generic netlink message to keep (.unknown: another family's), nil to drop it.
    mutating func classify(_ m: NetlinkMessageView) -> TraceLeg? {
        let h = m.header
        if let ownPort, h.port == ownPort { return nil }
        switch h.type {
        case Netlink.typeError:
            // struct nlmsgerr: int error, then the request's nlmsghdr (type at +4).
            guard m.payload.count >= 4 + Netlink.headerLength else { return keep == .all ? .unknown : nil }
            let requestType = m.payload.loadUnaligned(fromByteOffset: 4 + 4, as: UInt16.self)
            openDumps[Self.key(h)] = nil
            if flowTableID != 0, requestType == flowTableID { return .api }
            if hairpinID != 0, requestType == hairpinID { return .hairpin }
            return keeps(family: requestType) ? .unknown : nil
        case Netlink.typeDone:
            if let leg = openDumps.removeValue(forKey: Self.key(h)) { return leg }
            return keep == .all ? .unknown : nil
        case _ where h.type < Netlink.minFamilyType:
            return keep == .all ? .unknown : nil
        default:
            let leg: TraceLeg
            if h.type == flowTableID && flowTableID != 0 {
                leg = .api
            } else if h.type == hairpinID && hairpinID != 0 {
                leg = .hairpin
            } else if keeps(family: h.type) {
                leg = .unknown
            } else {
                return nil
            }
            // Hairpin messages are never dumps.
            if leg != .hairpin, h.isMulti, !h.isRequest {
                if openDumps.count >= Self.maxOpenDumps { openDumps.removeAll(keepingCapacity: true) }
                openDumps[Self.key(h)] = leg
            }
            return leg
        }
    }

    static func key(_ h: NetlinkHeader) -> UInt64 { UInt64(h.port) << 32 | UInt64(h.sequence) }

    static func direction(packetType: UInt16, flags: UInt16) -> TraceDirection {
        switch packetType {
        case NetlinkPseudoHeader.packetKernel: return .toKernel
        case NetlinkPseudoHeader.packetUser: return .toUser
        default: return flags & Netlink.flagRequest != 0 ? .toKernel : .toUser
        }
    }
}
