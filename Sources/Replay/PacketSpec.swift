// Packets for lookups and `flowtrace explain`, named the way people name them: a model's own
// field names (`ipv4.dst_ip`, or a field name no other header shares), or the ovs-ofctl names
// that map onto the model (`in_port`, `eth_type`, `ipv4_dst`, `tcp_dst`, …). Values in decimal,
// 0x hex, dotted IPv4, colon MAC or IPv6 text. Every error names the field and says why.

import Hairpin
import LibFlowTable

/// A bad packet spec: what and where.
public struct PacketSpecError: Error, CustomStringConvertible {
    public var description: String
    public init(_ text: String) { description = text }
}

/// A model's fields by name.
public struct ModelFieldNames {
    public struct Target: Hashable {
        public var key: PacketFields.Key
        public var name: String  // header.field
        public var bits: UInt32
    }

    public let model: PipelineModel
    public let layout: PacketLayout
    private var byName: [String: [Target]] = [:]
    private var byKey: [PacketFields.Key: Target] = [:]

    /// ovs-ofctl names → model names; an alias whose target the model lacks is not offered.
    /// Two targets: the value is 128 bits, split into the model's two 64-bit halves.
    static let aliases: [(String, [String])] = [
        ("in_port", ["metadata.ingress_port"]), ("metadata", ["metadata.inter_table"]),
        ("eth_src", ["ethernet.src_mac"]), ("dl_src", ["ethernet.src_mac"]),
        ("eth_dst", ["ethernet.dst_mac"]), ("dl_dst", ["ethernet.dst_mac"]),
        ("eth_type", ["ethernet.ethertype"]), ("dl_type", ["ethernet.ethertype"]),
        ("vlan_vid", ["vlan.vid"]), ("dl_vlan", ["vlan.vid"]), ("vlan_pcp", ["vlan.pcp"]),
        ("dl_vlan_pcp", ["vlan.pcp"]),
        ("ip_src", ["ipv4.src_ip"]), ("nw_src", ["ipv4.src_ip"]), ("ipv4_src", ["ipv4.src_ip"]),
        ("ip_dst", ["ipv4.dst_ip"]), ("nw_dst", ["ipv4.dst_ip"]), ("ipv4_dst", ["ipv4.dst_ip"]),
        ("ip_proto", ["ipv4.protocol"]), ("nw_proto", ["ipv4.protocol"]), ("ip_dscp", ["ipv4.dscp"]),
        ("nw_ttl", ["ipv4.ttl"]),
        ("ipv6_src", ["ipv6.src_ip_hi", "ipv6.src_ip_lo"]), ("ipv6_dst", ["ipv6.dst_ip_hi", "ipv6.dst_ip_lo"]),
        ("tcp_src", ["tcp.src_port"]), ("tcp_dst", ["tcp.dst_port"]), ("tcp_flags", ["tcp.flags"]),
        ("udp_src", ["udp.src_port"]), ("udp_dst", ["udp.dst_port"]),
    ]

    public init(model: PipelineModel) {
        self.model = model
        layout = PacketLayout(model: model)
        var seen = Set<PacketFields.Key>()
        // The first header-graph node that parses a header is the instance its fields are read at.
        for node in model.headerGraph {
            for h in node.headers {
                guard let header = model.headers.first(where: { $0.uid == h }) else { continue }
                for f in header.fields {
                    let key = PacketFields.Key(instance: node.uid, header: h, field: f.uid)
                    guard !seen.contains(key), byName["\(header.name).\(f.name)"] == nil else { continue }
                    seen.insert(key)
                    let t = Target(key: key, name: "\(header.name).\(f.name)", bits: f.bitwidth)
                    byName[t.name] = [t]
                    byName[f.name, default: []].append(t)
                    byKey[key] = t
                }
            }
        }
        var extra: [String: [Target]] = [:]
        for (alias, names) in Self.aliases {
            let targets = names.compactMap { byName[$0]?.first }
            if targets.count == names.count, byName[alias] == nil { extra[alias] = targets }
        }
        byName.merge(extra) { a, _ in a }
    }

    /// The model name of a field (header.field); the numbers when the model has no name for it.
    public func name(of key: PacketFields.Key) -> String {
        byKey[key]?.name ?? "\(key.instance)/\(key.header)/\(key.field)"
    }

    /// The field named `header.field` in the model, if any.
    public func target(_ name: String) -> Target? {
        guard let t = byName[name], t.count == 1 else { return nil }
        return t[0]
    }

    /// Bit width of a field (0 in the model = variable: 64 here).
    public func bits(of key: PacketFields.Key) -> UInt32 {
        let b = byKey[key]?.bits ?? 64
        return b == 0 || b > 64 ? 64 : b
    }

    /// Sets `name=value` in `packet`.
    public func set(_ name: String, _ text: String, in packet: inout PacketFields) throws(PacketSpecError) {
        guard let targets = byName[name] else {
            let known = byName.keys.filter { $0.contains(".") }.sorted()
            let near = known.filter { $0.hasSuffix("." + name) || $0.contains(name) }.prefix(4)
            throw PacketSpecError(
                "packet field '\(name)': the model has no such field"
                    + (near.isEmpty
                        ? " (fields are named header.field, e.g. \(known.first ?? "ipv4.dst_ip"))"
                        : " (did you mean \(near.joined(separator: ", "))?)"))
        }
        if targets.count > 1, !targets.allSatisfy({ t in Self.aliases.contains { $0.0 == name } }) {
            throw PacketSpecError("packet field '\(name)' is ambiguous: \(targets.map(\.name).joined(separator: ", "))")
        }
        if targets.count == 2 {
            guard let v = Self.parseIPv6(text) else {
                throw PacketSpecError("packet field '\(name)': '\(text)' is not an IPv6 address")
            }
            packet.values[targets[0].key] = v.hi
            packet.values[targets[1].key] = v.lo
            return
        }
        let t = targets[0]
        let bits = t.bits == 0 || t.bits > 64 ? 64 : t.bits
        var value: UInt64?
        if t.name.hasSuffix("_hi") || t.name.hasSuffix("_lo"), text.contains(":"), let v = Self.parseIPv6(text) {
            value = t.name.hasSuffix("_hi") ? v.hi : v.lo
        } else {
            value = Self.parseNumber(text)
        }
        guard let v = value else {
            throw PacketSpecError(
                "packet field '\(name)': '\(text)' is not a number (decimal, 0x hex, a.b.c.d or a MAC)")
        }
        guard bits >= 64 || v >> UInt64(bits) == 0 else {
            throw PacketSpecError("packet field '\(name)' (\(t.name)): \(text) does not fit its \(bits) bits")
        }
        packet.values[t.key] = v
    }

    /// A packet from `name=value,name=value` (spaces also separate).
    public func parse(_ spec: String) throws(PacketSpecError) -> PacketFields {
        var p = PacketFields()
        let items = spec.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        guard !items.isEmpty else {
            throw PacketSpecError("the packet spec is empty: give fields as name=value,name=value")
        }
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw PacketSpecError("packet field '\(item)': expected name=value")
            }
            let value = String(item[item.index(after: eq)...])
            guard !value.isEmpty else { throw PacketSpecError("packet field '\(item[..<eq])': the value is missing") }
            try set(String(item[..<eq]), value, in: &p)
        }
        return p
    }

    /// The packet as `header.field=value` text in layout order, each value written as
    /// flow-table-ctl writes matches (FlowText).
    public func describe(_ packet: PacketFields, separator: String = ",") -> String {
        let text = FlowText(
            headers: model.headers, actions: model.actions, headerGraph: model.headerGraph, tables: model.tables)
        let refs = layout.keys.compactMap { k -> FieldRef? in
            guard let v = packet.values[k] else { return nil }
            let bits = bits(of: k)
            let bytes = UInt8((bits + 7) / 8)
            return FieldRef(
                instance: k.instance, header: k.header, field: k.field, maskType: .exact, type: .unspec,
                value: FieldValue(rawBits: v, byteCount: bytes))
        }
        return text.matches(refs).joined(separator: separator)
    }

    static func parseNumber(_ text: String) -> UInt64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
        if let v = UInt64(text) { return v }
        let dots = text.split(separator: ".", omittingEmptySubsequences: false)
        if dots.count == 4 {
            var v: UInt64 = 0
            for d in dots {
                guard let b = UInt64(d), b < 256 else { return nil }
                v = v << 8 | b
            }
            return v
        }
        let colons = text.split(separator: ":", omittingEmptySubsequences: false)
        if colons.count == 6 {
            var v: UInt64 = 0
            for c in colons {
                guard c.count <= 2, let b = UInt64(c, radix: 16) else { return nil }
                v = v << 8 | b
            }
            return v
        }
        return nil
    }

    static func parseIPv6(_ text: String) -> (hi: UInt64, lo: UInt64)? {
        let chars = Array(text)
        var cut: Int?
        var i = 0
        while i + 1 < chars.count {
            if chars[i] == ":" && chars[i + 1] == ":" {
                guard cut == nil else { return nil }
                cut = i
                i += 1
            }
            i += 1
        }
        let halves = cut.map { [String(chars[..<$0]), String(chars[($0 + 2)...])] } ?? [text]
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        let hi = all[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let lo = all[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (hi, lo)
    }
}
