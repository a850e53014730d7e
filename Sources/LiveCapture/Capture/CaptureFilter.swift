// What `flowtrace capture` keeps of an nlmon capture: nlmon0 sees every netlink message of the
// machine (routing, audit, every genl family), and a trace of the Flow Table API wants only the
// two legs of spec/two-leg-contract.md. This filter works on the packets libpcap hands over
// (LINKTYPE_NETLINK: a 16-byte pseudo-header, then one skb's netlink messages) and keeps, one
// record per message:
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
        /// Packets shorter than the pseudo-header, or whose messages stopped parsing.
        public var malformed = 0
        /// Packets the snap length cut (their last message is dropped).
        public var snapped = 0
        public init() {}
    }

    public let flowTableID: UInt16
    public let hairpinID: UInt16
    public private(set) var statistics = Statistics()

    /// (port, sequence) of multi-part net_flow_nl replies whose NLMSG_DONE has not come yet.
    private var openDumps: Set<UInt64> = []
    /// A bound on `openDumps`: a client that never reads its DONE (or forged MULTI flags)
    /// must not grow it without end.
    static let maxOpenDumps = 4096

    public init(flowTableID: UInt16, hairpinID: UInt16) {
        self.flowTableID = flowTableID
        self.hairpinID = hairpinID
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
        guard proto == NetlinkPseudoHeader.protocolGeneric else {
            statistics.otherProtocols += 1
            return []
        }
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
            guard let leg = classify(m) else { continue }
            let direction = Self.direction(packetType: packetType, flags: m.header.flags)
            kept.append(Kept(range: m.offset..<(m.offset + m.bytes.count), leg: leg, direction: direction))
            statistics.kept += 1
            if leg == .api { statistics.keptAPI += 1 } else { statistics.keptHairpin += 1 }
        }
        return kept
    }

    /// The leg of a message to keep, nil to drop it.
    mutating func classify(_ m: NetlinkMessageView) -> TraceLeg? {
        let h = m.header
        switch h.type {
        case flowTableID:
            if h.isMulti && !h.isRequest {
                if openDumps.count >= Self.maxOpenDumps { openDumps.removeAll(keepingCapacity: true) }
                openDumps.insert(Self.key(h))
            }
            return .api
        case hairpinID:
            return .hairpin
        case Netlink.typeError:
            // struct nlmsgerr: int error, then the request's nlmsghdr (type at +4).
            guard m.payload.count >= 4 + Netlink.headerLength else { return nil }
            let requestType = m.payload.loadUnaligned(fromByteOffset: 4 + 4, as: UInt16.self)
            if requestType == flowTableID {
                openDumps.remove(Self.key(h))
                return .api
            }
            return requestType == hairpinID ? .hairpin : nil
        case Netlink.typeDone:
            return openDumps.remove(Self.key(h)) != nil ? .api : nil
        default:
            return nil
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
