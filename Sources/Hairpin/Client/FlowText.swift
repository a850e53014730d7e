// Flows and the pipeline model as text for people (flow-table-ctl's default output), in the
// manner of `tc filter show`: one flow per line, each match as header.field=value/mask with the
// value written as the field's width and name suggest (IPv4/IPv6/MAC addresses, integers), each
// action with its arguments; names come from the device's model.

import LibFlowTable

/// How a value is written.
public enum ValueStyle: Hashable, Sendable {
    case decimal
    case hex
    case mac
    case ipv4
    case ipv6
}

/// Text for flows and models, with names and widths from a device's model.
public struct FlowText: Sendable {
    public var headers: [UInt32: Header]
    public var actions: [UInt32: Action]
    /// Header-graph node uid (an instance) → node name; only needed when an instance is not
    /// its header's uid.
    public var instances: [UInt32: String]
    public var tables: [UInt32: Table]

    public init(
        headers: [Header] = [], actions: [Action] = [], headerGraph: [HeaderGraphNode] = [], tables: [Table] = []
    ) {
        self.headers = Dictionary(headers.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        self.actions = Dictionary(actions.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        self.instances = Dictionary(headerGraph.map { ($0.uid, $0.name) }, uniquingKeysWith: { a, _ in a })
        self.tables = Dictionary(tables.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Whether naming these matches needs the header graph (an instance that is not simply
    /// its header, whose name the graph holds).
    public static func needsHeaderGraph(_ refs: [FieldRef]) -> Bool {
        refs.contains { $0.instance != $0.header }
    }

    // MARK: flows

    /// `table 2 uid 1 prio 10 vlan.vid=100 ethernet.dst_mac=00:00:02:00:00:01 action set_out_port port=2`
    public func line(_ flow: Flow) -> String {
        var parts = ["table \(flow.table)", "uid \(flow.uid)", "prio \(flow.priority)"]
        parts.append(contentsOf: matches(flow.matches ?? []))
        for a in flow.actions ?? [] { parts.append(action(a)) }
        return parts.joined(separator: " ")
    }

    /// Each match as `header.field=value[/mask]`; the two 64-bit halves of an IPv6 address
    /// (fields `X_hi` and `X_lo` of one header) are written as one 128-bit `header.X`.
    public func matches(_ refs: [FieldRef]) -> [String] {
        var out: [String] = []
        var consumed = Set<Int>()
        for (i, ref) in refs.enumerated() where !consumed.contains(i) {
            if let half = ipv6Half(ref) {
                let partnerIndex = refs.indices.first { j in
                    j != i && !consumed.contains(j)
                        && refs[j].instance == ref.instance && refs[j].header == ref.header
                        && ipv6Half(refs[j]).map { $0.base == half.base && $0.high != half.high } == true
                }
                var hi: FieldRef? = half.high ? ref : nil
                var lo: FieldRef? = half.high ? nil : ref
                if let j = partnerIndex {
                    consumed.insert(j)
                    if half.high { lo = refs[j] } else { hi = refs[j] }
                }
                out.append(ipv6Match(ref, base: half.base, hi: hi, lo: lo))
                continue
            }
            out.append(match(ref))
        }
        return out
    }

    /// One match, `header.field=value[/mask]`; `header.field` alone when it carries no value.
    public func match(_ ref: FieldRef) -> String {
        let name = fieldName(ref)
        guard let value = ref.value else { return name }
        let width = bitWidth(ref)
        let style = Self.style(forField: fieldNameOnly(ref), bits: width)
        let full = Self.ones(width)
        var text = "\(name)=\(Self.format(value.rawBits, bits: width, style: style))"
        if let mask = ref.mask, mask.rawBits & full != full {
            text += "/" + Self.formatMask(mask.rawBits & full, bits: width, style: style)
        }
        return text
    }

    /// `action set_out_port port=2`; arguments named from the model's signature.
    public func action(_ a: Action) -> String {
        let known = actions[a.uid]
        let name = known?.name ?? a.name ?? "action\(a.uid)"
        var text = "action \(name)"
        for (i, arg) in (a.signature ?? []).enumerated() {
            let argName = arg.name ?? known?.signature.flatMap { i < $0.count ? $0[i].name : nil } ?? "arg\(i)"
            let bits = (arg.type.byteWidth ?? Int(arg.value.byteCount)) * 8
            let style = Self.style(forArgument: argName, bits: bits)
            text += " \(argName)=\(Self.format(arg.value.rawBits, bits: style == .mac ? 48 : bits, style: style))"
        }
        return text
    }

    // MARK: the model

    /// `table 3 ipv4_route source 1 apply 1 size 4096 match metadata.inter_table,ipv4.dst_ip actions set_out_port,drop`
    public func line(_ table: Table) -> String {
        var text = "table \(table.uid) \(table.name) source \(table.source)"
        if let apply = table.apply { text += " apply \(apply)" }
        text += " size " + (table.size == Table.unbounded ? "unbounded" : "\(table.size)")
        if !table.matches.isEmpty {
            text += " match " + table.matches.map { "\(fieldName($0))(\($0.maskType))" }.joined(separator: ",")
        }
        if !table.actions.isEmpty {
            text += " actions " + table.actions.map { actions[$0]?.name ?? "action\($0)" }.joined(separator: ",")
        }
        return text
    }

    /// `header 1 ethernet src_mac:48 dst_mac:48 ethertype:16`
    public static func line(_ header: Header) -> String {
        (["header \(header.uid) \(header.name)"] + header.fields.map { "\($0.name):\($0.bitwidth)" }).joined(
            separator: " ")
    }

    /// `action 5 set_out_port port:u32`
    public static func line(_ action: Action) -> String {
        let args = (action.signature ?? []).enumerated().map { i, a in "\(a.name ?? "arg\(i)"):\(a.type)" }
        return (["action \(action.uid) \(action.name ?? "action\(action.uid)")"] + args).joined(separator: " ")
    }

    /// `node 1 ethernet headers ethernet jump ethernet.ethertype=0x8100:vlan,…`
    public func line(_ node: HeaderGraphNode) -> String {
        var text = "node \(node.uid) \(node.name)"
        if !node.headers.isEmpty {
            text += " headers " + node.headers.map { headers[$0]?.name ?? "header\($0)" }.joined(separator: ",")
        }
        if !node.jumps.isEmpty {
            text +=
                " jump "
                + node.jumps.map { jump($0, to: instances[$0.nextNode] ?? "node\($0.nextNode)") }.joined(separator: ",")
        }
        return text
    }

    /// `table 1 ingress_acl ingress-root jump ethernet.ethertype=0x0800:ipv4_5tuple,always:l2_fdb`
    public func line(_ node: TableGraphNode) -> String {
        var text = "table \(node.uid)"
        if let name = tables[node.uid]?.name { text += " \(name)" }
        var roles: [String] = []
        if node.flags & NFL.TableGraphNodeFlag.ingressRoot != 0 { roles.append("ingress-root") }
        if node.flags & NFL.TableGraphNodeFlag.egressRoot != 0 { roles.append("egress-root") }
        let other = node.flags & ~(NFL.TableGraphNodeFlag.ingressRoot | NFL.TableGraphNodeFlag.egressRoot)
        if other != 0 { roles.append("flags 0x" + String(other, radix: 16)) }
        if !roles.isEmpty { text += " " + roles.joined(separator: " ") }
        if !node.jumps.isEmpty {
            text +=
                " jump "
                + node.jumps.map { jump($0, to: tables[$0.nextNode]?.name ?? "table\($0.nextNode)") }.joined(
                    separator: ",")
        }
        return text
    }

    /// `match:target`, `always:target` for an unconditional jump (a zero field ref); the
    /// target `done` for the end of the graph (next node 0).
    func jump(_ j: JumpEntry, to target: String) -> String {
        (j.ref.header == 0 && j.ref.field == 0 ? "always" : match(j.ref)) + ":"
            + (j.nextNode == NFL.jumpTableDone ? "done" : target)
    }

    // MARK: names and widths

    /// `header.field`, named by the instance when it is not its header, by the header otherwise.
    public func fieldName(_ ref: FieldRef) -> String {
        "\(headerName(ref)).\(fieldNameOnly(ref))"
    }

    func headerName(_ ref: FieldRef) -> String {
        if ref.instance != ref.header, let name = instances[ref.instance] { return name }
        return headers[ref.header]?.name ?? "header\(ref.header)"
    }

    func fieldNameOnly(_ ref: FieldRef) -> String {
        field(ref)?.name ?? "field\(ref.field)"
    }

    func field(_ ref: FieldRef) -> Field? {
        headers[ref.header]?.fields.first { $0.uid == ref.field }
    }

    /// The field's width from the model, else the value's.
    func bitWidth(_ ref: FieldRef) -> Int {
        if let f = field(ref), f.bitwidth > 0 { return Int(f.bitwidth) }
        if let w = ref.type.byteWidth { return w * 8 }
        return Int(ref.value?.byteCount ?? 8) * 8
    }

    /// A 64-bit field named `X_hi`/`X_lo` (or `_high`/`_low`) whose X names an address: one
    /// half of an IPv6 address.
    func ipv6Half(_ ref: FieldRef) -> (base: String, high: Bool)? {
        guard let f = field(ref), f.bitwidth == 64 else { return nil }
        for (suffix, high) in [("_hi", true), ("_high", true), ("_lo", false), ("_low", false)]
        where f.name.hasSuffix(suffix) {
            let base = String(f.name.dropLast(suffix.count))
            if Self.namesAddress(base) { return (base, high) }
        }
        return nil
    }

    func ipv6Match(_ first: FieldRef, base: String, hi: FieldRef?, lo: FieldRef?) -> String {
        let name = "\(headerName(first)).\(base)"
        func half(_ r: FieldRef?) -> (value: UInt64, mask: UInt64) {
            guard let r, let v = r.value else { return (0, 0) }
            return (v.rawBits, r.mask?.rawBits ?? ~0)
        }
        let h = half(hi), l = half(lo)
        var text = "\(name)=\(Self.ipv6(high: h.value, low: l.value))"
        if h.mask != ~0 || l.mask != ~0 {
            if let prefix = Self.prefixLength(high: h.mask, low: l.mask) {
                text += "/\(prefix)"
            } else {
                text += "/" + Self.ipv6(high: h.mask, low: l.mask)
            }
        }
        return text
    }

    // MARK: values

    /// The style a field's value is written in: 48 bits a MAC address, 32 bits named like an
    /// address dotted quad, 128 bits IPv6, type/flags/checksum fields hex, the rest decimal.
    public static func style(forField name: String, bits: Int) -> ValueStyle {
        if bits == 48 { return .mac }
        if bits == 128 { return .ipv6 }
        if bits == 32 && namesAddress(name) { return .ipv4 }
        return namesHex(name) ? .hex : .decimal
    }

    /// An action argument has no bit width of its own: its name says what it holds.
    public static func style(forArgument name: String, bits: Int) -> ValueStyle {
        let t = tokens(name)
        if bits >= 48
            && (t.contains("mac")
                || (t.contains("eth") && (t.contains("src") || t.contains("dst") || t.contains("addr"))))
        {
            return .mac
        }
        if bits == 32 && namesAddress(name) { return .ipv4 }
        return namesHex(name) ? .hex : .decimal
    }

    static func tokens(_ name: String) -> [String] {
        name.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
    }

    /// `src_ip`, `dst_ipv4`, `saddr`, `nexthop_addr`…
    static func namesAddress(_ name: String) -> Bool {
        tokens(name).contains {
            ["ip", "ipv4", "ipv6", "ip4", "ip6"].contains($0) || $0.hasSuffix("addr") || $0 == "address"
        }
    }

    static func namesHex(_ name: String) -> Bool {
        tokens(name).contains { $0.hasSuffix("type") || $0 == "flags" || $0 == "csum" || $0 == "checksum" }
    }

    static func ones(_ bits: Int) -> UInt64 { bits >= 64 ? ~0 : (1 << UInt64(bits)) - 1 }

    /// A value of `bits` bits in `style`.
    public static func format(_ value: UInt64, bits: Int, style: ValueStyle) -> String {
        switch style {
        case .decimal: return String(value)
        case .hex: return hex(value, bits: bits)
        case .mac:
            return (0..<6).reversed().map { i in
                let b = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
                return (b < 16 ? "0" : "") + String(b, radix: 16)
            }.joined(separator: ":")
        case .ipv4:
            return (0..<4).reversed().map { String(UInt8(truncatingIfNeeded: value >> (8 * UInt64($0)))) }.joined(
                separator: ".")
        case .ipv6: return ipv6(high: 0, low: value)
        }
    }

    /// A mask that is not all ones: a prefix length for addresses when its ones are leading,
    /// else in the value's style (hex for integers).
    public static func formatMask(_ mask: UInt64, bits: Int, style: ValueStyle) -> String {
        switch style {
        case .ipv4:
            return prefixLength(mask, bits: bits).map(String.init) ?? format(mask, bits: bits, style: .ipv4)
        case .ipv6:
            // A single field carries at most 64 bits of the address (its low half).
            return ipv6(high: 0, low: mask)
        case .mac: return format(mask, bits: bits, style: .mac)
        case .decimal, .hex: return hex(mask, bits: bits)
        }
    }

    /// `0x0800`: as many digits as the width holds.
    static func hex(_ value: UInt64, bits: Int) -> String {
        let digits = String(value, radix: 16)
        let width = max(1, (min(bits, 64) + 3) / 4)
        return "0x" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The number of leading ones of a `bits`-wide mask, when the rest are zeros.
    static func prefixLength(_ mask: UInt64, bits: Int) -> Int? {
        let full = ones(bits)
        let inverted = ~mask & full
        // Leading ones then zeros: the inverted mask is all ones below some bit.
        guard inverted & (inverted &+ 1) == 0 else { return nil }
        return bits - inverted.nonzeroBitCount
    }

    static func prefixLength(high: UInt64, low: UInt64) -> Int? {
        if high == ~0 { return prefixLength(low, bits: 64).map { 64 + $0 } }
        guard low == 0 else { return nil }
        return prefixLength(high, bits: 64)
    }

    /// RFC 5952 text: lower-case hex groups, the longest run of two or more zero groups as `::`.
    public static func ipv6(high: UInt64, low: UInt64) -> String {
        let groups = (0..<8).map { i -> UInt16 in
            let word = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: word >> (16 * UInt64(3 - i % 4)))
        }
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > best.length { best = (i, j - i) }
            i = j
        }
        let text = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return text.joined(separator: ":") }
        let head = text[..<best.start].joined(separator: ":")
        let tail = text[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }
}
