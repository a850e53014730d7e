// Importers of rule sets from the field (ClassBench filter sets, ovs-ofctl dump-flows): golden
// files of the flows they make on the default model (Tests/Fixtures/import/*.flows, checked by
// hand; FLOWTRACE_WRITE_GOLDEN=1 rewrites them), malformed lines refused with file:line, and the
// range-to-prefix expansion against a brute force.
import Foundation
import Testing
import LibFlowTable
import PropertyBased
@testable import Hairpin

struct ImportTests {
    static let fixtures = URLPath.repoRoot + "/Tests/Fixtures/import/"

    func read(_ name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixtures + name)))
    }

    /// The flows as text, one per line, then the report: what the golden file holds.
    func rendered(_ i: FlowImport) -> String {
        let m = DefaultModel.model
        let text = FlowText(headers: m.headers, actions: m.actions, headerGraph: m.headerGraph, tables: m.tables)
        return (i.flows.map(text.line) + i.report(model: m)).joined(separator: "\n") + "\n"
    }

    func golden(_ name: String, _ actual: String) throws {
        let path = Self.fixtures + name
        if ProcessInfo.processInfo.environment["FLOWTRACE_WRITE_GOLDEN"] == "1" {
            try actual.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        #expect(actual == expected, "\(name) differs; actual:\n\(actual)")
    }

    func validate(_ flows: [Flow], _ model: PipelineModel) {
        let index = ValidationIndex(model)
        for f in flows {
            let errors = index.validate(f, for: .set)
            #expect(errors.isEmpty, "\(f): \(errors)")
        }
        #expect(Set(flows.map { FlowIdentity($0) }).count == flows.count, "uids are unique per table")
    }

    // MARK: ClassBench

    @Test func classBenchGolden() throws {
        let i = try FlowImporter.load(
            .classbench, bytes: try read("classbench-small.txt"), file: "classbench-small.txt",
            model: DefaultModel.model)
        validate(i.flows, DefaultModel.model)
        #expect(i.rulesRead == 9 && i.rulesImported == 9)
        // 1 + 1 + 6 (1024:65535) + 2 × 4 (wildcard protocol: TCP and UDP; 5:10) + 1 + 1 + 1 + 1 + 1
        #expect(i.flows.count == 21)
        #expect(i.skippedFields == ["flags": 1, "ports (protocol 1 is neither TCP nor UDP)": 1])
        try golden("classbench-small.flows", rendered(i))
    }

    @Test func classBenchRuleFields() throws {
        let line = Array("@66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t0x06/0xFF\t0x0000/0x0000\t".utf8)
        let r = try #require(try ClassBenchReader.rule(line[...], file: "f", line: 3))
        #expect(
            r.source == 0x424D_5100 && r.sourceLength == 24 && r.destination == 0x632C_2800 && r.destinationLength == 23
        )
        #expect(r.sourcePorts == 0...65535 && r.destinationPorts == 1521...1521)
        #expect(r.proto == 6 && r.protoMask == 0xFF && r.flags?.value == 0 && r.flags?.mask == 0 && r.line == 3)
        // Older sets: no flags column; spaces and "lo:hi" as people write them.
        let old = try #require(
            try ClassBenchReader.rule(Array("@1.2.3.4/32 5.6.7.8/32 1:2 3 : 4 0x11/0xFF".utf8)[...], file: "f", line: 1)
        )
        #expect(old.flags == nil && old.sourcePorts == 1...2 && old.destinationPorts == 3...4 && old.proto == 17)
    }

    @Test(arguments: [
        ("66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t0x06/0xFF", "a filter starts with '@'"),
        ("@66.77.81.0/24\t99.44.40.0/23\t0 : 65535", "a filter has 5 fields"),
        ("@66.77.81.0/33\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t0x06/0xFF", "source prefix"),
        ("@66.77.81/24\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t0x06/0xFF", "source prefix"),
        ("@66.77.81.0/24\t99.44.400.0/23\t0 : 65535\t1521 : 1521\t0x06/0xFF", "destination prefix"),
        ("@66.77.81.0/24\t99.44.40.0/23\t10 : 5\t1521 : 1521\t0x06/0xFF", "source ports: low 10 is above high 5"),
        (
            "@66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 : 70000\t0x06/0xFF",
            "destination ports: 1521 : 70000 is out of 0 : 65535"
        ),
        ("@66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 - 1521\t0x06/0xFF", "destination ports: expected LOW : HIGH"),
        ("@66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t0x106/0xFF", "protocol"),
        ("@66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t6/255", "protocol"),
        ("@66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t0x06/0xFF\t0x0000", "flags"),
        ("@66.77.81.0/24\t99.44.40.0/23\t0 : 65535\t1521 : 1521\t0x06/0xFF\t0x0000/0x0000\tx", "extra field"),
    ])
    func classBenchMalformedLines(_ bad: String, _ reason: String) throws {
        let text = "@1.2.3.4/32\t5.6.7.8/32\t0 : 65535\t0 : 65535\t0x06/0xFF\n\n" + bad + "\n"
        expectLine3Refused(file: "set.txt", reason) {
            _ = try ClassBenchReader.rules(Array(text.utf8), file: "set.txt")
        }
    }

    /// The import is refused at line 3 of `file`, for `reason`, and the message says where.
    func expectLine3Refused(
        file: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        #expect(sourceLocation: sourceLocation) {
            try body()
        } throws: { error in
            guard let e = error as? ImportError else { return false }
            return e.file == file && e.line == 3 && e.reason.hasPrefix(reason)
                && e.description.hasPrefix("\(file):3: ")
        }
    }

    @Test func classBenchTraceLines() throws {
        let text = "1112363264\t1663838208\t0\t1521\t6\t0\t12\n\n16909060 84281096 1 5 17 3\n1 2 3 4 5\n"
        let p = try ClassBenchReader.packets(Array(text.utf8), file: "t")
        #expect(p.count == 3)
        #expect(
            p[0]
                == ClassBenchPacket(
                    source: 1112363264, destination: 1663838208, sourcePort: 0, destinationPort: 1521,
                    proto: 6, extra: [0], filter: 12, line: 1))
        #expect(p[1].filter == 3 && p[1].extra.isEmpty && p[1].line == 3)
        #expect(p[2].filter == nil)
        #expect(throws: ImportError(file: "t", line: 2, reason: "source port 70000 is out of range (at most 65535)")) {
            _ = try ClassBenchReader.packets(Array("1 2 3 4 5\n1 2 70000 4 5\n".utf8), file: "t")
        }
        #expect(throws: ImportError(file: "t", line: 1, reason: "field 3: expected a decimal number, found '0x10'")) {
            _ = try ClassBenchReader.packets(Array("1 2 0x10 4 5\n".utf8), file: "t")
        }
    }

    // MARK: range expansion

    /// The fewest prefixes that exactly cover lo...hi, found by trying every prefix that starts
    /// where the cover has got to (dynamic programming over the range's points).
    func bruteForceCount(_ lo: Int, _ hi: Int, bits: Int) -> Int {
        var best = [Int](repeating: Int.max, count: hi + 2)
        best[hi + 1] = 0
        for x in stride(from: hi, through: lo, by: -1) {
            for len in 0...bits {
                let size = 1 << (bits - len)
                guard x % size == 0, x + size - 1 <= hi, best[x + size] != Int.max else { continue }
                best[x] = min(best[x], 1 + best[x + size])
            }
        }
        return best[lo]
    }

    func covered(_ p: [(value: UInt64, mask: UInt64)], bits: Int) -> [Int] {
        (0..<(1 << bits)).filter { x in p.contains { UInt64(x) & $0.mask == $0.value } }
    }

    @Test func rangeExpansionIsTheMinimalExactCoverForEverySmallRange() {
        for bits in 1...6 {
            let n = 1 << bits
            for lo in 0..<n {
                for hi in lo..<n {
                    let p = PrefixExpansion.prefixes(UInt64(lo), UInt64(hi), bits: bits)
                    #expect(covered(p, bits: bits) == Array(lo...hi), "bits \(bits) \(lo)...\(hi): \(p)")
                    #expect(
                        p.count == bruteForceCount(lo, hi, bits: bits),
                        "bits \(bits) \(lo)...\(hi): \(p.count) prefixes")
                    #expect(p.count <= max(1, 2 * bits - 2))
                }
            }
        }
    }

    @Test func rangeExpansionOnSixteenBitPorts() async {
        #expect(PrefixExpansion.prefixes(0, 65535, bits: 16).map(\.mask) == [0])
        #expect(PrefixExpansion.prefixes(1, 1, bits: 16).map { [$0.value, $0.mask] } == [[1, 0xFFFF]])
        #expect(
            PrefixExpansion.prefixes(5, 10, bits: 16).map { [$0.value, $0.mask] }
                == [[5, 0xFFFF], [6, 0xFFFE], [8, 0xFFFE], [10, 0xFFFF]])
        #expect(
            PrefixExpansion.prefixes(1024, 65535, bits: 16).map { [$0.value, $0.mask] }
                == [
                    [0x400, 0xFC00], [0x800, 0xF800], [0x1000, 0xF000], [0x2000, 0xE000], [0x4000, 0xC000],
                    [0x8000, 0x8000],
                ])
        #expect(PrefixExpansion.prefixes(1, 65534, bits: 16).count == 30)
        // Property: any 16-bit range, its prefixes are disjoint, ascending, inside it and add up to it.
        await propertyCheck(count: 300, input: Gen.uint16(), Gen.uint16()) { a, b in
            let (lo, hi) = (UInt64(min(a, b)), UInt64(max(a, b)))
            let p = PrefixExpansion.prefixes(lo, hi, bits: 16)
            var next = lo
            for (value, mask) in p {
                #expect(value == next && value & ~mask & 0xFFFF == 0)
                next = value + (~mask & 0xFFFF) + 1
            }
            #expect(next == hi + 1 && p.count <= 30)
        }
    }

    // MARK: OVS

    @Test func ovsGolden() throws {
        let i = try FlowImporter.load(
            .ovs, bytes: try read("ovs-small.txt"), file: "ovs-small.txt", model: DefaultModel.model)
        validate(i.flows, DefaultModel.model)
        #expect(i.rulesRead == 11)
        #expect(i.skippedRules == ["no action the model can express": 1])
        #expect(i.skippedActions["NORMAL"] == 2 && i.skippedActions["ct"] == 1 && i.skippedActions["resubmit"] == 1)
        #expect(i.skippedFields["nw_tos"] == 1 && i.skippedFields["ct_state"] == 1 && i.skippedFields["ipv6_src"] == 1)
        #expect(i.skippedFields["in_port (named port)"] == 1)
        try golden("ovs-small.flows", rendered(i))
    }

    @Test func ovsFlowFields() throws {
        let line = Array(
            " cookie=0x0, duration=1.5s, table=0, n_packets=0, n_bytes=0, priority=150,udp,tp_src=0x1000/0xf000,nw_dst=10.1.0.0/16,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=drop"
                .utf8)
        let f = try #require(try OVSFlowReader.flow(line[...], file: "f", line: 2))
        #expect(f.priority == 150)
        #expect(
            Set(f.matches) == [
                .ethType(0x0800), .ipProto(17), .transportSource(0x1000, mask: 0xF000),
                .ipDestination(0x0A01_0000, mask: 0xFFFF_0000),
                .ethDestination(0x0100_0000_0000, mask: 0x0100_0000_0000),
            ])
        #expect(f.actions == [.drop] && f.skippedFields.isEmpty)
        let g = try #require(
            try OVSFlowReader.flow(
                Array("in_port=3 actions=learn(table=1,NXM_OF_VLAN_TCI[0..11]),2".utf8)[...],
                file: "f", line: 1))
        #expect(
            g.priority == 32768 && g.matches == [.inPort(3)] && g.actions == [.output(2)]
                && g.skippedActions == ["learn"])
    }

    @Test(arguments: [
        (" priority=10,ip,nw_src=10.0.0.0/8", "no 'actions='"),
        (" priority=ten,ip actions=drop", "priority=ten: not a priority"),
        (" priority=10,ip,nw_src=300.0.0.0/8 actions=drop", "nw_src=300.0.0.0/8: not an IPv4 address"),
        (" priority=10,ip,nw_src=10.0.0.0/33 actions=drop", "nw_src=10.0.0.0/33: not an IPv4 address"),
        (" priority=10,dl_src=00:11:22:33:44 actions=drop", "dl_src=00:11:22:33:44: not a MAC address"),
        (" priority=10,tcp,tp_dst=70000 actions=drop", "tp_dst=70000: not a port"),
        (" priority=10,nw_proto=256 actions=drop", "nw_proto=256: not a protocol number"),
        (" priority=10,nw_proto= actions=drop", "nw_proto: no value"),
        (" priority=10,ip actions=mod_vlan_vid:5000", "action mod_vlan_vid:5000: not a VLAN id"),
        (" priority=10,ip actions=ct(commit,output:2", "actions: unbalanced '('"),
        // One field twice (ovs-ofctl refuses it too): two matches that contradict each other.
        (" priority=10,tcp,tp_dst=444,tp_dst=443 actions=drop", "tp_dst=443: tp_dst is given twice"),
        (" priority=10,tcp,tcp_dst=444,tp_dst=443 actions=drop", "tp_dst=443: tp_dst is given twice"),
        (" priority=10,ip,nw_src=10.0.0.0/8,ip_src=10.0.0.1 actions=drop", "ip_src=10.0.0.1: nw_src is given twice"),
        (" priority=10,priority=11,ip actions=drop", "priority=11: priority is given twice"),
    ])
    func ovsMalformedLines(_ bad: String, _ reason: String) throws {
        let text = "OFPST_FLOW reply (OF1.3) (xid=0x2):\n priority=1 actions=drop\n" + bad + "\n"
        expectLine3Refused(file: "dump.txt", reason) { _ = try OVSFlowReader.flows(Array(text.utf8), file: "dump.txt") }
    }

    // MARK: model fit

    @Test func aSetLargerThanItsTableGrowsTheTable() throws {
        var text = ""
        for k in 0..<1500 {
            text += "@10.\(k / 256).\(k % 256).0/24\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n"
        }
        let i = try FlowImporter.load(.classbench, bytes: Array(text.utf8), file: "big", model: DefaultModel.model)
        #expect(i.flows.count == 1500 && Set(i.flows.map(\.table)) == [1])
        let (fitted, notes) = i.fitted(DefaultModel.model)
        #expect(fitted.tables.first { $0.uid == 1 }?.size == 2048)
        #expect(notes == ["ingress_acl: size 1024 → 2048 to hold 1500 imported flows"])
        #expect(FlowImport(format: .classbench, file: "").fitted(DefaultModel.model).model == DefaultModel.model)
    }

    @Test func aForcedTableTakesEveryRuleAndUnknownOnesAreRefused() throws {
        let text = "@0.0.0.0/0\t10.0.0.0/8\t0 : 65535\t0 : 65535\t0x00/0x00\n"
        let i = try FlowImporter.load(
            .classbench, bytes: Array(text.utf8), file: "f", model: DefaultModel.model, table: "ipv4_route")
        #expect(i.flows.count == 1 && i.flows[0].table == 3 && i.skippedFields == ["source prefix": 1])
        #expect(throws: ImportError.self) {
            _ = try FlowImporter.load(
                .classbench, bytes: Array(text.utf8), file: "f", model: DefaultModel.model, table: "nope")
        }
    }

    // MARK: profiles

    @Test func tseGivesEveryFlowATupleOfItsOwn() throws {
        let model = DefaultModel.model
        var gen = FlowGenerator(model: model, seed: 3)
        let index = ValidationIndex(model)
        for table in gen.usableTables {
            let n = Int(min(gen.tupleSpace(table), 300))
            let flows = (0..<n).map { gen.tseFlow(in: table, index: $0) }
            let tss = TSSBackend(tables: [table.uid: Table.unbounded])
            for f in flows {
                #expect(index.validate(f, for: .set).isEmpty, "\(f)")
                _ = tss.insert(f)
            }
            #expect(tss.count(table: table.uid) == n)
            #expect(
                tss.tupleCount(table: table.uid) == n,
                "\(table.name): \(tss.tupleCount(table: table.uid) ?? 0) tuples for \(n) flows")
        }
        // The default generator, for contrast, reuses a few shapes.
        var plain = FlowGenerator(model: model, seed: 3)
        let acl = model.tables[0]
        let tss = TSSBackend(tables: [acl.uid: Table.unbounded])
        for _ in 0..<300 { _ = tss.insert(plain.flow(in: acl)) }
        #expect((tss.tupleCount(table: acl.uid) ?? 0) <= 24)
    }
}
