// What packet lookups run on: the flows a trace leaves installed (the trace replayed into the
// dummy backend, the reference), an acl-like rule set of our own, and packets: derived from the
// flows, read from a ClassBench trace file, or parsed from the frames of a pcap/pcapng capture.

import FlowTrace
import Hairpin
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// A device's model and its flows at the end of a trace.
public struct InstalledDevice {
    public var ifindex: UInt32
    public var model: PipelineModel
    public var flows: [Flow]
}

public enum InstalledFlows {
    /// Replays `path` into the dummy backend (from its snapshot, through the daemon's own core,
    /// as `replay --target backend:dummy` does) and reads back every device's flows at the end.
    public static func read(path: String, defaultModel: PipelineModel) throws(ReplayError) -> [InstalledDevice] {
        let source: PreloadedSource
        do { source = try PreloadedSource(path: path, filter: Replayer.backendRecords) } catch { throw .trace(error) }
        var options = ReplayOptions(timing: .topSpeed)
        options.defaultModel = defaultModel
        options.log = { _ in }
        options.allowIncomplete = true
        var devices: [InstalledDevice] = []
        options.onFinished = { service in
            devices = service.devices.ifindexes.compactMap { i in
                guard let d = service.devices.existingState(for: i) else { return nil }
                let tables = FlowBackendTables.sizes(of: d.model.tables).keys.sorted()
                return InstalledDevice(
                    ifindex: i, model: d.model, flows: tables.flatMap { d.backend.allFlows(table: $0) })
            }
        }
        _ = try BackendReplayer(kind: .dummy, options: options).run(source, target: "backend:dummy")
        return devices
    }
}

// MARK: an acl-like rule set

/// ClassBench-acl-like rules for one table of a model that has the default model's field names
/// (ethernet.ethertype, ipv4.src_ip/dst_ip/protocol, tcp/udp ports). As ClassBench's seeds do,
/// the rules reuse a few dozen shapes (source and destination prefix lengths, protocol TCP, UDP
/// or any, port kinds: any, exact, the ephemeral range [1024, 65535] or the well-known [0, 1023]),
/// drawn with skewed weights; values are random per rule; a range is expanded into prefix/mask
/// pairs as a TCAM stores it. Rule k has a higher priority than rule k+1 (ClassBench's
/// first-match order); a range's pieces share their rule's priority.
public enum ACLRuleSet {
    struct Shape {
        var srcLen: Int, dstLen: Int, proto: Int, sport: Int, dport: Int
    }

    public static func flows(
        count: Int, table: Table, names: ModelFieldNames, seed: UInt64, shapes shapeCount: Int = 32
    ) -> [Flow] {
        var rng = SeededGenerator(seed: seed)
        func descriptor(_ name: String) -> FieldRef? {
            guard let t = names.target(name) else { return nil }
            return table.matches.first {
                $0.instance == t.key.instance && $0.header == t.key.header && $0.field == t.key.field
            }
        }
        func ref(_ name: String, _ value: UInt64, _ mask: UInt64) -> FieldRef? {
            guard let d = descriptor(name) else { return nil }
            let type = d.type == .unspec ? FieldType.u32 : d.type
            return FieldRef(
                instance: d.instance, header: d.header, field: d.field, maskType: d.maskType, type: type,
                value: FieldValue(value & mask, type: type), mask: FieldValue(mask, type: type))
        }
        func prefix(_ len: Int, _ bits: Int) -> UInt64 {
            len == 0 ? 0 : ((1 << UInt64(bits)) - 1) & ~((1 << UInt64(bits - len)) - 1)
        }
        func pick(_ weighted: [(Int, Int)]) -> Int {
            let total = weighted.reduce(0) { $0 + $1.1 }
            var r = Int(rng.next() % UInt64(total))
            for (v, w) in weighted {
                if r < w { return v }
                r -= w
            }
            return weighted[0].0
        }
        let shapes: [Shape] = (0..<max(1, shapeCount)).map { _ in
            Shape(
                srcLen: pick([(0, 25), (8, 5), (16, 15), (24, 25), (32, 30)]),
                dstLen: pick([(0, 5), (16, 10), (24, 30), (28, 5), (32, 50)]),
                proto: pick([(6, 60), (17, 30), (0, 10)]),
                sport: pick([(0, 85), (2, 10), (1, 5)]),
                dport: pick([(1, 50), (0, 25), (2, 15), (3, 10)]))
        }
        // Shape k about 1/(k+1) as likely as shape 0 (Zipf-like, as seeds' shape counts are).
        let weights = shapes.indices.map { 1_000_000 / ($0 + 1) }
        var out: [Flow] = []
        var uid: UInt32 = 1
        var rule = 0
        while out.count < count {
            let priority = UInt32(max(1, 1_000_000 - rule))
            rule += 1
            let s = shapes[pick(weights.enumerated().map { ($0.offset, $0.element) })]
            var base: [FieldRef] = []
            if let e = ref("ethernet.ethertype", 0x0800, 0xFFFF) { base.append(e) }
            if s.srcLen > 0, let m = ref("ipv4.src_ip", rng.next(), prefix(s.srcLen, 32)) { base.append(m) }
            if s.dstLen > 0, let m = ref("ipv4.dst_ip", rng.next(), prefix(s.dstLen, 32)) { base.append(m) }
            if s.proto != 0, let m = ref("ipv4.protocol", UInt64(s.proto), 0xFF) { base.append(m) }
            // Ports only under a protocol (a wildcard protocol has no transport header to name).
            var portSets: [[FieldRef]] = [[]]
            if s.proto != 0 {
                let l4 = s.proto == 6 ? "tcp" : "udp"
                func port(_ name: String, _ kind: Int) -> [[FieldRef]] {
                    switch kind {
                    case 1:
                        return [
                            [
                                ref(
                                    name, [80, 443, 53, 22, 25, 8080, 3306, rng.next() & 0xFFFF][Int(rng.next() % 8)],
                                    0xFFFF)
                            ]
                            .compactMap { $0 }
                        ]
                    case 2: return Self.expand(1024, 65535).map { [ref(name, $0.0, $0.1)].compactMap { $0 } }
                    case 3: return Self.expand(0, 1023).map { [ref(name, $0.0, $0.1)].compactMap { $0 } }
                    default: return [[]]
                    }
                }
                let sp = port("\(l4).src_port", s.sport), dp = port("\(l4).dst_port", s.dport)
                portSets = sp.flatMap { a in dp.map { a + $0 } }
            }
            for ports in portSets where out.count < count {
                out.append(
                    Flow(
                        table: table.uid, uid: uid, priority: priority, matches: base + ports,
                        actions: [Action(uid: table.actions.first ?? 7)]))
                uid += 1
            }
        }
        return out
    }

    /// The prefix/mask pairs covering [lo, hi] of a 16-bit field (the classic range expansion).
    public static func expand(_ lo: UInt64, _ hi: UInt64, bits: UInt64 = 16) -> [(UInt64, UInt64)] {
        var out: [(UInt64, UInt64)] = []
        var x = lo
        let full: UInt64 = (1 << bits) - 1
        while x <= hi {
            var size: UInt64 = 1
            while x & (size * 2 - 1) == 0, x + size * 2 - 1 <= hi, size * 2 <= full { size *= 2 }
            out.append((x, full & ~(size - 1)))
            x += size
            if x == 0 { break }
        }
        return out
    }
}

// MARK: packets

public enum LookupPackets {
    /// One packet per flow that matches it (its matched bits set, every other field of the
    /// headers it names random), then `misses` random packets with the headers of random flows.
    public static func derived(from flows: [Flow], names: ModelFieldNames, seed: UInt64, misses: Int) -> [PacketFields]
    {
        var rng = SeededGenerator(seed: seed)
        let byInstance = Dictionary(grouping: names.layout.keys, by: \.instance)
        func base(_ f: Flow) -> PacketFields {
            var p = PacketFields()
            var instances = Set((f.matches ?? []).map(\.instance))
            instances.insert(names.layout.keys.first?.instance ?? 1)
            for i in instances {
                for k in byInstance[i] ?? [] {
                    let bits = names.bits(of: k)
                    p.values[k] = bits >= 64 ? rng.next() : rng.next() & ((1 << UInt64(bits)) - 1)
                }
            }
            return p
        }
        var out: [PacketFields] = []
        out.reserveCapacity(flows.count + misses)
        for f in flows {
            var p = base(f)
            for m in f.matches ?? [] {
                let key = MatchKey(m)
                let k = PacketFields.Key(key)
                p.values[k] = key.value | (p.values[k] ?? rng.next()) & ~key.mask
            }
            out.append(p)
        }
        if !flows.isEmpty {
            for _ in 0..<misses { out.append(base(flows[Int(rng.next() % UInt64(flows.count))])) }
        }
        return out
    }

    /// A ClassBench trace file (read by ClassBenchReader: `src dst sport dport proto [extra…]
    /// [filter#]`, decimal). The packet is what the model's parser would see: IPv4 over
    /// Ethernet, the ports in TCP (proto 6) or UDP (17) and no transport header otherwise, the
    /// flags column (the first extra one) as TCP flags.
    public static func classBenchTrace(path: String, names: ModelFieldNames) throws(PacketSpecError) -> [PacketFields] {
        let bytes: [UInt8]
        do { bytes = try FlowTableJSON.readFile(path) } catch { throw PacketSpecError("\(path): \(error)") }
        let headers: [ClassBenchPacket]
        do { headers = try ClassBenchReader.packets(bytes, file: path) } catch {
            throw PacketSpecError(error.description)
        }
        var keys: [String: PacketFields.Key] = [:]
        for n in [
            "ethernet.ethertype", "ipv4.version", "ipv4.ihl", "ipv4.src_ip", "ipv4.dst_ip", "ipv4.protocol",
            "tcp.src_port", "tcp.dst_port", "tcp.flags", "udp.src_port", "udp.dst_port",
        ] {
            keys[n] = names.target(n)?.key
        }
        return headers.map { h in
            var p = PacketFields()
            func set(_ name: String, _ value: UInt64) {
                if let k = keys[name] { p.values[k] = value }
            }
            set("ethernet.ethertype", 0x0800)
            set("ipv4.version", 4)
            set("ipv4.ihl", 5)
            set("ipv4.src_ip", UInt64(h.source))
            set("ipv4.dst_ip", UInt64(h.destination))
            set("ipv4.protocol", UInt64(h.proto))
            if h.proto == 6 || h.proto == 17 {
                let l4 = h.proto == 6 ? "tcp" : "udp"
                set("\(l4).src_port", UInt64(h.sourcePort))
                set("\(l4).dst_port", UInt64(h.destinationPort))
                if h.proto == 6, let flags = h.extra.first { set("tcp.flags", flags & 0x1FF) }
            }
            return p
        }
    }

    /// The frames of a pcap or pcapng file, numbered from 1, with their link types.
    public static func frames(path: String) throws(PacketSpecError) -> [(linkType: UInt16, bytes: [UInt8])] {
        var magic = [UInt8](repeating: 0, count: 4)
        guard let f = fopen(path, "rb") else { throw PacketSpecError("cannot open \(path): \(Sys.errorText(errno))") }
        let n = fread(&magic, 1, 4, f)
        fclose(f)
        var out: [(UInt16, [UInt8])] = []
        do {
            if n == 4, magic == [0x0A, 0x0D, 0x0D, 0x0A] {
                let r = try PcapngReader(path: path)
                while let p = try r.next() { out.append((p.linkType, Array(p.data))) }
            } else {
                let r = try ClassicPcapReader(path: path)
                while let p = try r.next() { out.append((r.linkType, Array(p.data))) }
            }
        } catch {
            throw PacketSpecError("\(error)")
        }
        return out
    }

    /// Every frame of a capture parsed (Ethernet only: another link type names its frame).
    public static func capture(path: String, names: ModelFieldNames) throws(PacketSpecError) -> [PacketFields] {
        let all = try frames(path: path)
        var out: [PacketFields] = []
        for (i, f) in all.enumerated() {
            guard f.linkType == PacketParser.linkTypeEthernet else {
                throw PacketSpecError(
                    "\(path): frame \(i + 1): link type \(f.linkType) is not Ethernet (1); only Ethernet frames are parsed"
                )
            }
            out.append(f.bytes.withUnsafeBytes { PacketParser.packet(ethernet: $0, names: names) })
        }
        return out
    }
}
