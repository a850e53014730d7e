// fuzz-corpus: cuts the seed corpora of the fuzz targets out of recorded traces (traces/*.pcapng),
// so the fuzzers start from real messages of every kind rather than from nothing.
//
//   fuzz-corpus OUTDIR TRACE...     (Fuzz/make-corpus.sh runs it on traces/ and adds models/)
//
// Writes OUTDIR/fuzz-netlink (records: one packet of netlink messages each, a few per kind of
// message), OUTDIR/fuzz-encap (the ENCAP requests unft sent the listener, a few per command and
// part layout, nlmsg_type set to the twin's hairpin id), OUTDIR/fuzz-pcapng (small traces: the
// head of each trace and windows of its records, and one cut inside a block) and
// OUTDIR/fuzz-json (the attributes of API messages in FlowTrace's extended JSON) and
// OUTDIR/fuzz-ynl (single messages of our two families, a few per kind, and whole records of
// several; plus hand-built messages of the kernel families the YNL fuzzer loads). Files are
// named by a hash of their content; every file is at most `maxSeed` bytes (the fuzzers' -max_len).
import FlowTrace
import FuzzSupport
import LibFlowTable
import Posix
#if canImport(Glibc)
import Glibc
#endif

@main
enum MakeCorpus {
    static let maxSeed = 16 * 1024
    /// Seeds kept per kind of message.
    static let perKind = 2
    static let hairpinID = UInt16(0x1d)

    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard args.count >= 2 else {
            print("usage: fuzz-corpus OUTDIR TRACE...\nexample: fuzz-corpus Fuzz/corpus traces/*.pcapng")
            exit(2)
        }
        let out = args[0]
        var seeds = Seeds(root: out)
        for m in KernelSeeds.messages { seeds.add("fuzz-ynl", m) }
        for trace in args.dropFirst() {
            do {
                try cut(trace, into: &seeds)
            } catch {
                Fuzz.standardError("fuzz-corpus: \(trace): \(error)")
                exit(1)
            }
        }
        for (target, n) in seeds.counts.sorted(by: { $0.key < $1.key }) {
            print("\(target): \(n) seeds, \(seeds.bytes[target, default: 0]) bytes")
        }
    }

    static func cut(_ path: String, into seeds: inout Seeds) throws {
        let reader = try TraceReader(path: path)
        var records: [StoredTraceRecord] = []
        while let r = try reader.next() { records.append(StoredTraceRecord(r)) }
        let families = reader.families
        var kinds: [String: Int] = [:]
        var encapKinds: [String: Int] = [:]
        var jsonKinds: [String: Int] = [:]
        var ynlKinds: [String: Int] = [:]
        for r in records where r.netlink.count <= maxSeed {
            let s = r.netlink.withUnsafeBytes { SummaryDecoder.summarize($0, families: families) }
            let messages = r.netlink.withUnsafeBytes { raw in
                var it = NetlinkMessageIterator(raw)
                var n = 0
                while (try? it.next()).flatMap({ $0 }) != nil { n += 1 }
                return n
            }
            let kind =
                "\(s.kind) \(s.familyID) \(s.command) \(s.apiCommand ?? 255) \(s.isRequest) \(s.status ?? 0) "
                + "\(min(messages, 3)) \(s.hasFlows) \(s.more) \(s.part != nil) \(r.netlink.count.bitWidth - r.netlink.count.leadingZeroBitCount)"
            kinds[kind, default: 0] += 1
            if kinds[kind]! <= perKind { seeds.add("fuzz-netlink", r.netlink) }

            // The YNL interpreter's seeds: each message of our families alone (kind: family,
            // command, direction, top-level attributes, size class), and records of several.
            r.netlink.withUnsafeBytes { raw in
                var it = NetlinkMessageIterator(raw)
                while let m = (try? it.next()).flatMap({ $0 }) {
                    let family = families.kind(ofType: m.header.type)
                    switch family {
                    case .flowTable, .hairpin: break;
                    default: continue
                    }
                    var types: [UInt16] = []
                    if let (_, attrs) = try? m.generic() {
                        var a = attrs
                        while let x = (try? a.next()).flatMap({ $0 }) { types.append(x.type) }
                    }
                    let command = m.payload.first ?? 0
                    let k =
                        "\(family) \(command) \(m.header.isRequest) \(types) \(m.bytes.count.bitWidth - m.bytes.count.leadingZeroBitCount)"
                    ynlKinds[k, default: 0] += 1
                    if ynlKinds[k]! <= perKind { seeds.add("fuzz-ynl", Array(m.bytes)) }
                }
            }
            if messages > 1, kinds[kind]! == 1 { seeds.add("fuzz-ynl", r.netlink) }

            // unft's ENCAP requests to the listener.
            if s.kind == .hairpin || families.kind(ofType: s.familyID) == .hairpin, s.encapSeq != nil, !s.isAnswer {
                var bytes = r.netlink
                retype(&bytes, to: hairpinID)
                let k = "\(s.apiCommand ?? 255) \(s.part != nil) \(s.more) \(s.hasFlows)"
                encapKinds[k, default: 0] += 1
                if encapKinds[k]! <= perKind + 1 { seeds.add("fuzz-encap", bytes) }
            }

            // API messages' attributes as extended JSON.
            if let m = r.netlink.withUnsafeBytes({ try? FlowTableMessage.decode($0, requireShape: false) }) {
                let k = "\(m.command) \(m.isRequest)"
                jsonKinds[k, default: 0] += 1
                if jsonKinds[k]! <= 1 {
                    let style: JSONStyle = jsonKinds.count % 2 == 0 ? .pretty : .compact
                    let text = m.attributes.extendedJSON().serializedBytes(style: style)
                    if text.count <= maxSeed { seeds.add("fuzz-json", text) }
                }
            }
        }

        // Small traces: the head (NEWFAMILY and snapshot records first), windows further in,
        // and the head cut inside its last block (a truncated file).
        let head = Array(records.prefix(24))
        let preamble = Array(records.prefix { $0.synthetic }.prefix(6))
        var windows: [[StoredTraceRecord]] = [head]
        for start in stride(from: records.count / 4, to: records.count, by: max(records.count / 4, 1)) {
            windows.append(preamble + records[start..<min(start + 12, records.count)])
        }
        for (i, w) in windows.enumerated() {
            // Too big: halve the records until the file fits.
            var take = w.count
            var file = try write(w)
            while file.count > maxSeed && take > 1 {
                take /= 2
                file = try write(Array(w.prefix(take)))
            }
            guard file.count <= maxSeed else { continue }
            seeds.add("fuzz-pcapng", file)
            if i == 0 { seeds.add("fuzz-pcapng", Array(file.dropLast(10))) }
        }
    }

    /// Sets nlmsg_type of every message in the packet.
    static func retype(_ bytes: inout [UInt8], to type: UInt16) {
        var offset = 0
        while offset + Netlink.headerLength <= bytes.count {
            let length = bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
            withUnsafeBytes(of: type.littleEndian) { t in
                bytes[offset + 4] = t[0]
                bytes[offset + 5] = t[1]
            }
            guard length >= Netlink.headerLength else { return }
            offset += Netlink.align(length)
        }
    }

    static func write(_ records: [StoredTraceRecord]) throws -> [UInt8] {
        let path = "/tmp/fuzz-corpus-\(getpid()).pcapng"
        defer { unlink(path) }
        let interfaces = Int(records.map(\.interface).max() ?? 0) + 1
        let writer = try PcapngWriter(
            path: path, section: PcapngSectionInfo(userApplication: "fuzz-corpus"),
            interfaces: (0..<interfaces).map {
                PcapngInterfaceInfo(name: $0 == 0 ? "hairpin" : "api")
            })
        for r in records { try r.withRecord { try writer.append($0) } }
        try writer.close()
        return Sys.readFile(path).bytes ?? []
    }
}

struct Seeds {
    let root: String
    var counts: [String: Int] = [:]
    var bytes: [String: Int] = [:]
    var seen: Set<String> = []

    mutating func add(_ target: String, _ content: [UInt8]) {
        // FNV-1a 64: a stable name from the content (duplicates collapse).
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in content { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let name = String(h, radix: 16)
        guard seen.insert(target + "/" + name).inserted else { return }
        let dir = root + "/" + target
        mkdir(root, 0o755)
        mkdir(dir, 0o755)
        guard content.withUnsafeBytes({ Sys.writeFile(dir + "/" + name, contents: $0) }) == nil else {
            Fuzz.standardError("fuzz-corpus: cannot write \(dir)/\(name)")
            exit(1)
        }
        counts[target, default: 0] += 1
        bytes[target, default: 0] += content.count
    }
}
