// Real packets' headers as a model's fields: Ethernet (LINKTYPE_ETHERNET), 802.1Q/802.1ad VLAN,
// IPv4 (options skipped by IHL), IPv6 (fixed header), TCP and UDP. Each parsed field is given by
// its conventional name (header.field of the default model) and kept when the model has a field
// of that name; a header cut short stops the parse there (its fields and the ones after are
// absent, which no match on them accepts).

import Hairpin
import LibFlowTable

public enum PacketParser {
    public static let linkTypeEthernet: UInt16 = 1

    /// (model name, value) of every header field read from an Ethernet frame.
    public static func ethernetFields(_ frame: UnsafeRawBufferPointer) -> [(String, UInt64)] {
        var out: [(String, UInt64)] = []
        func be(_ at: Int, _ n: Int) -> UInt64? {
            guard at >= 0, at + n <= frame.count else { return nil }
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(frame[at + i]) }
            return v
        }
        guard let dst = be(0, 6), let src = be(6, 6), var type = be(12, 2) else { return out }
        out += [("ethernet.dst_mac", dst), ("ethernet.src_mac", src), ("ethernet.ethertype", type)]
        var at = 14
        if type == 0x8100 || type == 0x88A8 {
            guard let tci = be(at, 2), let inner = be(at + 2, 2) else { return out }
            out += [
                ("vlan.pcp", tci >> 13), ("vlan.cfi", (tci >> 12) & 1), ("vlan.vid", tci & 0xFFF),
                ("vlan.ethertype", inner),
            ]
            type = inner
            at += 4
        }
        var proto: UInt64
        switch type {
        case 0x0800:
            guard let b0 = be(at, 1), let b1 = be(at + 1, 1), let len = be(at + 2, 2), let id = be(at + 4, 2),
                let frag = be(at + 6, 2), let ttl = be(at + 8, 1), let p = be(at + 9, 1), let csum = be(at + 10, 2),
                let s = be(at + 12, 4), let d = be(at + 16, 4)
            else { return out }
            out += [
                ("ipv4.version", b0 >> 4), ("ipv4.ihl", b0 & 0xF), ("ipv4.dscp", b1 >> 2), ("ipv4.ecn", b1 & 3),
                ("ipv4.length", len), ("ipv4.identification", id), ("ipv4.flags", frag >> 13),
                ("ipv4.fragment_offset", frag & 0x1FFF), ("ipv4.ttl", ttl), ("ipv4.protocol", p), ("ipv4.csum", csum),
                ("ipv4.src_ip", s), ("ipv4.dst_ip", d),
            ]
            // Later fragments carry no transport header.
            guard frag & 0x1FFF == 0, b0 & 0xF >= 5 else { return out }
            proto = p
            at += Int(b0 & 0xF) * 4
        case 0x86DD:
            guard let w = be(at, 4), let len = be(at + 4, 2), let next = be(at + 6, 1), let hop = be(at + 7, 1),
                let sh = be(at + 8, 8), let sl = be(at + 16, 8), let dh = be(at + 24, 8), let dl = be(at + 32, 8)
            else { return out }
            out += [
                ("ipv6.version", w >> 28), ("ipv6.traffic_class", (w >> 20) & 0xFF), ("ipv6.flow_label", w & 0xFFFFF),
                ("ipv6.payload_length", len), ("ipv6.next_header", next), ("ipv6.hop_limit", hop),
                ("ipv6.src_ip_hi", sh), ("ipv6.src_ip_lo", sl), ("ipv6.dst_ip_hi", dh), ("ipv6.dst_ip_lo", dl),
            ]
            proto = next
            at += 40
        default:
            return out
        }
        switch proto {
        case 6:
            guard let sp = be(at, 2), let dp = be(at + 2, 2), let seq = be(at + 4, 4), let ack = be(at + 8, 4),
                let off = be(at + 12, 2), let win = be(at + 14, 2), let csum = be(at + 16, 2), let urg = be(at + 18, 2)
            else { return out }
            out += [
                ("tcp.src_port", sp), ("tcp.dst_port", dp), ("tcp.seq", seq), ("tcp.ack", ack),
                ("tcp.data_offset", off >> 12), ("tcp.reserved", (off >> 9) & 7), ("tcp.flags", off & 0x1FF),
                ("tcp.window", win), ("tcp.csum", csum), ("tcp.urgent_ptr", urg),
            ]
        case 17:
            guard let sp = be(at, 2), let dp = be(at + 2, 2), let len = be(at + 4, 2), let csum = be(at + 6, 2) else {
                return out
            }
            out += [("udp.src_port", sp), ("udp.dst_port", dp), ("udp.length", len), ("udp.csum", csum)]
        default:
            break
        }
        return out
    }

    /// The frame's fields the model has.
    public static func packet(ethernet frame: UnsafeRawBufferPointer, names: ModelFieldNames) -> PacketFields {
        var p = PacketFields()
        for (name, value) in ethernetFields(frame) {
            if let t = names.target(name) { p.values[t.key] = value }
        }
        return p
    }
}
