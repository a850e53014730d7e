// `ovs-ofctl dump-flows` output: one flow per line, statistics and match as comma-separated
// key=value items, then `actions=`. The reply header (`NXST_FLOW reply …`, `OFPST_FLOW reply …`)
// and blank lines are skipped. Only the fields and actions the flow-table model can express are
// read into values (OVSFlowMatch, OVSFlowAction); the rest are kept by name, for the importer to
// report and skip. A field we read with a value that is not one (nw_src=300.1.2.3) refuses the
// line.

/// A match field the model can express, with its value and mask (mask all ones = exact).
public enum OVSFlowMatch: Hashable, Sendable {
    case inPort(UInt32)
    case ethSource(UInt64, mask: UInt64)
    case ethDestination(UInt64, mask: UInt64)
    case ethType(UInt16)
    case vlan(UInt16)
    case ipSource(UInt32, mask: UInt32)
    case ipDestination(UInt32, mask: UInt32)
    case ipProto(UInt8)
    case transportSource(UInt16, mask: UInt16)
    case transportDestination(UInt16, mask: UInt16)
}

/// An action the model can express.
public enum OVSFlowAction: Hashable, Sendable {
    case output(UInt32)
    case drop
    case setVlan(UInt16)
    case popVlan
    case setEthSource(UInt64)
    case setEthDestination(UInt64)
    case controller
    case gotoTable(UInt32)
    case writeMetadata(UInt32)
}

public struct OVSFlow: Hashable, Sendable {
    /// OpenFlow's default when the dump shows none.
    public var priority: UInt32 = 32768
    public var matches: [OVSFlowMatch] = []
    public var actions: [OVSFlowAction] = []
    /// Match fields present but not expressible (by name, e.g. `vlan_tci`, `ipv6_src`).
    public var skippedFields: [String] = []
    /// Actions present but not expressible (by name, e.g. `NORMAL`, `resubmit`).
    public var skippedActions: [String] = []
    public var line: Int = 0

    public init() {}
}

public enum OVSFlowReader {
    /// Each field's one name, for every name OVS accepts for it.
    static let sameField: [String: String] = [
        "priority": "priority", "in_port": "in_port",
        "dl_src": "dl_src", "eth_src": "dl_src", "dl_dst": "dl_dst", "eth_dst": "dl_dst",
        "dl_type": "dl_type", "eth_type": "dl_type", "dl_vlan": "dl_vlan", "vlan_vid": "dl_vlan",
        "nw_src": "nw_src", "ip_src": "nw_src", "nw_dst": "nw_dst", "ip_dst": "nw_dst",
        "nw_proto": "nw_proto", "ip_proto": "nw_proto",
        "tp_src": "tp_src", "tcp_src": "tp_src", "udp_src": "tp_src",
        "tp_dst": "tp_dst", "tcp_dst": "tp_dst", "udp_dst": "tp_dst",
    ]

    /// Statistics and properties that describe a flow's life, not what it matches.
    static let ignored: Set<String> = [
        "cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age", "idle_timeout",
        "hard_timeout", "importance", "send_flow_rem", "reset_counts", "check_overlap", "no_packet_counts",
        "no_byte_counts", "out_port", "out_group",
    ]

    public static func flows(_ bytes: [UInt8], file: String) throws(ImportError) -> [OVSFlow] {
        try TextLines.parse(bytes) { line, number throws(ImportError) in try flow(line, file: file, line: number) }
    }

    /// One line; nil for a blank line or a reply header.
    public static func flow(_ line: ArraySlice<UInt8>, file: String, line lineNumber: Int) throws(ImportError)
        -> OVSFlow?
    {
        func bad(_ reason: String) -> ImportError { ImportError(file: file, line: lineNumber, reason: reason) }
        guard let first = line.firstIndex(where: { !TextLines.isSpace($0) }) else { return nil }
        let body = line[first...]
        if body.starts(with: Array("NXST_FLOW".utf8)) || body.starts(with: Array("OFPST_FLOW".utf8)) { return nil }
        guard let at = actionsStart(body) else {
            throw bad("no 'actions=' (each dump-flows line ends with the flow's actions)")
        }
        var flow = OVSFlow()
        flow.line = lineNumber
        var proto: UInt8?
        var ethType: UInt16?
        var transport: [(isSource: Bool, value: UInt16, mask: UInt16, name: String)] = []
        let matchPart = body[body.startIndex..<at]
        var seen = Set<String>()
        for item in matchPart.split(whereSeparator: { $0 == UInt8(ascii: ",") || TextLines.isSpace($0) }) {
            let key: String
            let value: ArraySlice<UInt8>?
            if let eq = item.firstIndex(of: UInt8(ascii: "=")) {
                key = String(decoding: item[item.startIndex..<eq], as: UTF8.self)
                value = item[(eq + 1)...]
            } else {
                key = String(decoding: item, as: UTF8.self)
                value = nil
            }
            if ignored.contains(key) { continue }
            // A field given twice (under either of its names) would be two matches on it that
            // contradict or repeat each other; ovs-ofctl refuses such a flow too.
            if let field = sameField[key], !seen.insert(field).inserted {
                throw bad("\(key)=\(TextLines.quoted(value ?? [])): \(field) is given twice")
            }
            func need() throws(ImportError) -> ArraySlice<UInt8> {
                guard let value, !value.isEmpty else { throw bad("\(key): no value") }
                return value
            }
            func invalid(_ what: String) -> ImportError {
                bad("\(key)=\(TextLines.quoted(value ?? [])): \(what)")
            }
            switch key {
            case "priority":
                guard let p = number(try need()), p <= UInt64(UInt32.max) else {
                    throw invalid("not a priority (0-4294967295)")
                }
                flow.priority = UInt32(p)
            // Shorthands: what OVS prints for a dl_type (and nw_proto) prerequisite.
            case "ip": ethType = 0x0800
            case "ipv6": ethType = 0x86DD
            case "arp": ethType = 0x0806
            case "rarp": ethType = 0x8035
            case "tcp": ethType = 0x0800; proto = 6
            case "udp": ethType = 0x0800; proto = 17
            case "sctp": ethType = 0x0800; proto = 132
            case "icmp": ethType = 0x0800; proto = 1
            case "tcp6": ethType = 0x86DD; proto = 6
            case "udp6": ethType = 0x86DD; proto = 17
            case "icmp6": ethType = 0x86DD; proto = 58
            case "in_port":
                let v = try need()
                if let p = number(v), p <= UInt64(UInt32.max) {
                    flow.matches.append(.inPort(UInt32(p)))
                } else {
                    // A port name (LOCAL, "eth0"): the model numbers ports.
                    flow.skippedFields.append("in_port (named port)")
                }
            case "dl_src", "eth_src", "dl_dst", "eth_dst":
                guard let (v, m) = maskedMAC(try need()) else { throw invalid("not a MAC address[/mask]") }
                flow.matches.append(key.hasSuffix("src") ? .ethSource(v, mask: m) : .ethDestination(v, mask: m))
            case "dl_type", "eth_type":
                guard let v = number(try need()), v <= 0xFFFF else { throw invalid("not an ethertype (0-0xffff)") }
                ethType = UInt16(v)
            case "dl_vlan", "vlan_vid":
                guard let v = number(try need()), v <= 0xFFFF else { throw invalid("not a VLAN id") }
                // 0xffff: "no VLAN tag", which the model cannot say; vlan_vid carries OFPVID_PRESENT.
                let vid = key == "vlan_vid" ? v & ~0x1000 : v
                if vid > 0xFFF {
                    flow.skippedFields.append("\(key) (no VLAN)")
                } else {
                    flow.matches.append(.vlan(UInt16(vid)))
                }
            case "nw_src", "ip_src", "nw_dst", "ip_dst":
                guard let (v, m) = maskedIPv4(try need()) else { throw invalid("not an IPv4 address[/len|/mask]") }
                flow.matches.append(key.hasSuffix("src") ? .ipSource(v, mask: m) : .ipDestination(v, mask: m))
            case "nw_proto", "ip_proto":
                guard let v = number(try need()), v <= 0xFF else { throw invalid("not a protocol number (0-255)") }
                proto = UInt8(v)
            case "tp_src", "tp_dst", "tcp_src", "tcp_dst", "udp_src", "udp_dst":
                guard let (v, m) = maskedNumber(try need(), max: 0xFFFF) else {
                    throw invalid("not a port[/mask] (0-65535)")
                }
                transport.append((key.hasSuffix("src"), UInt16(v), UInt16(m), key))
                if key.hasPrefix("tcp") { proto = proto ?? 6 } else if key.hasPrefix("udp") { proto = proto ?? 17 }
            default:
                flow.skippedFields.append(key)
            }
        }
        if let ethType {
            flow.matches.append(.ethType(ethType))
            if let proto {
                if ethType == 0x0800 {
                    flow.matches.append(.ipProto(proto))
                } else {
                    flow.skippedFields.append("nw_proto (not IPv4)")
                }
            }
        } else if let proto {
            flow.matches.append(.ipProto(proto))
        }
        for t in transport {
            if proto == 6 || proto == 17 {
                flow.matches.append(
                    t.isSource ? .transportSource(t.value, mask: t.mask) : .transportDestination(t.value, mask: t.mask))
            } else {
                flow.skippedFields.append("\(t.name) (not TCP or UDP)")
            }
        }
        try actions(body[(at + "actions=".utf8.count)...], into: &flow, bad)
        return flow
    }

    /// Where `actions=` starts: at the start of the text or after a separator.
    static func actionsStart(_ body: ArraySlice<UInt8>) -> Int? {
        let key = Array("actions=".utf8)
        var i = body.startIndex
        while i + key.count <= body.endIndex {
            if body[i] == key[0] && body[i..<(i + key.count)].elementsEqual(key)
                && (i == body.startIndex || body[i - 1] == UInt8(ascii: ",") || TextLines.isSpace(body[i - 1]))
            {
                return i
            }
            i += 1
        }
        return nil
    }

    static func actions(_ text: ArraySlice<UInt8>, into flow: inout OVSFlow, _ bad: (String) -> ImportError)
        throws(ImportError)
    {
        // Split on commas outside parentheses and brackets: learn(...), ct(commit,zone=1).
        var items: [ArraySlice<UInt8>] = []
        var depth = 0
        var start = text.startIndex
        for i in text.indices {
            switch text[i] {
            case UInt8(ascii: "("), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: ")"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ",") where depth == 0:
                items.append(text[start..<i])
                start = i + 1
            default: break
            }
            guard depth >= 0 else { throw bad("actions: unbalanced ')'") }
        }
        guard depth == 0 else { throw bad("actions: unbalanced '('") }
        items.append(text[start...])
        for raw in items {
            let item = raw.drop(while: TextLines.isSpace).reversed().drop(while: TextLines.isSpace).reversed()
            let a = ArraySlice(item)
            if a.isEmpty { continue }
            let nameEnd = a.firstIndex { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "(") } ?? a.endIndex
            let name = String(decoding: a[a.startIndex..<nameEnd], as: UTF8.self)
            let arg: ArraySlice<UInt8> =
                nameEnd < a.endIndex && a[nameEnd] == UInt8(ascii: ":") ? a[(nameEnd + 1)...] : []
            func invalid(_ what: String) -> ImportError { bad("action \(TextLines.quoted(a)): \(what)") }
            switch name.lowercased() {
            case "output":
                if let p = number(arg), p <= UInt64(UInt32.max) {
                    flow.actions.append(.output(UInt32(p)))
                } else {
                    flow.skippedActions.append("output (not a port number)")
                }
            case "drop":
                flow.actions.append(.drop)
            case "mod_vlan_vid", "set_vlan_vid":
                guard let v = number(arg), v <= 0xFFF else { throw invalid("not a VLAN id (0-4095)") }
                flow.actions.append(.setVlan(UInt16(v)))
            case "strip_vlan", "pop_vlan":
                flow.actions.append(.popVlan)
            case "mod_dl_src", "mod_dl_dst":
                guard let v = mac(arg) else { throw invalid("not a MAC address") }
                flow.actions.append(name.lowercased() == "mod_dl_src" ? .setEthSource(v) : .setEthDestination(v))
            case "controller":
                flow.actions.append(.controller)
            case "goto_table":
                guard let v = number(arg), v <= UInt64(UInt32.max) else { throw invalid("not a table number") }
                flow.actions.append(.gotoTable(UInt32(v)))
            case "write_metadata":
                guard let (v, _) = maskedNumber(arg, max: UInt64.max) else { throw invalid("not a value[/mask]") }
                if v <= UInt64(UInt32.max) {
                    flow.actions.append(.writeMetadata(UInt32(v)))
                } else {
                    flow.skippedActions.append("write_metadata (wider than 32 bits)")
                }
            default:
                // OpenFlow 1.0 writes a bare port number for output.
                if let p = number(a), p <= UInt64(UInt32.max) {
                    flow.actions.append(.output(UInt32(p)))
                } else {
                    flow.skippedActions.append(name)
                }
            }
        }
    }

    // MARK: values

    /// Decimal or 0x hex.
    static func number(_ t: ArraySlice<UInt8>) -> UInt64? {
        if t.count > 2 && t.first == UInt8(ascii: "0") && (t[t.startIndex + 1] | 0x20) == UInt8(ascii: "x") {
            return TextLines.hexDigits(t.dropFirst(2))
        }
        return ClassBenchReader.decimal(t)
    }

    static func maskedNumber(_ t: ArraySlice<UInt8>, max: UInt64) -> (UInt64, UInt64)? {
        if let slash = t.firstIndex(of: UInt8(ascii: "/")) {
            guard let v = number(t[t.startIndex..<slash]), let m = number(t[(slash + 1)...]), v <= max, m <= max else {
                return nil
            }
            return (v & m, m)
        }
        guard let v = number(t), v <= max else { return nil }
        return (v, max)
    }

    static func mac(_ t: ArraySlice<UInt8>) -> UInt64? {
        let parts = t.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var v: UInt64 = 0
        for p in parts {
            guard p.count >= 1, p.count <= 2, let b = TextLines.hexDigits(p) else { return nil }
            v = v << 8 | b
        }
        return v
    }

    static func maskedMAC(_ t: ArraySlice<UInt8>) -> (UInt64, UInt64)? {
        let full: UInt64 = 0xFFFF_FFFF_FFFF
        if let slash = t.firstIndex(of: UInt8(ascii: "/")) {
            guard let v = mac(t[t.startIndex..<slash]), let m = mac(t[(slash + 1)...]) else { return nil }
            return (v & m, m)
        }
        guard let v = mac(t) else { return nil }
        return (v, full)
    }

    /// A.B.C.D, A.B.C.D/LEN or A.B.C.D/A.B.C.D.
    static func maskedIPv4(_ t: ArraySlice<UInt8>) -> (UInt32, UInt32)? {
        if let slash = t.firstIndex(of: UInt8(ascii: "/")) {
            guard let v = ClassBenchReader.ipv4(t[t.startIndex..<slash]) else { return nil }
            let m: UInt32
            if let len = ClassBenchReader.decimal(t[(slash + 1)...]) {
                guard len <= 32 else { return nil }
                m = len == 0 ? 0 : ~UInt32(0) << (32 - UInt32(len))
            } else if let dotted = ClassBenchReader.ipv4(t[(slash + 1)...]) {
                m = dotted
            } else {
                return nil
            }
            return (v & m, m)
        }
        guard let v = ClassBenchReader.ipv4(t) else { return nil }
        return (v, ~0)
    }
}
