// flowtrace explain on the default model (golden output, checked by hand against
// models/default/examples/flows.json), packet specs and their errors, packet parsing, and the
// lookup bench's agreement check.

import Foundation
import Testing
import Hairpin
import LibFlowTable
@testable import Replay

@Suite("explain") struct ExplainTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func exampleFlows() throws -> [Flow] {
        try FlowTableJSON.loadAttributes(
            file: root.appendingPathComponent("models/default/examples/flows.json").path,
            expectedKey: "flows"
        ).flows ?? []
    }

    static func explain(_ spec: String, flows: [Flow]) throws -> (Explanation, ModelFieldNames) {
        let model = DefaultModel.model
        let names = ModelFieldNames(model: model)
        let backend = DummyBackend(model: model.tables)
        for f in flows { _ = backend.insert(f) }
        return (Explain.walk(model: model, backend: backend, packet: try names.parse(spec), names: names), names)
    }

    /// The route (/24 beats /8 by priority) and the L2 entry both hit; the last port set wins.
    @Test func aRoutedPacketThroughFourTables() throws {
        let (e, names) = try Self.explain(
            "in_port=1,eth_type=0x800,ipv4_src=10.0.0.1,ipv4_dst=10.1.2.3,ip_proto=6,tcp_dst=80,"
                + "metadata=0,vlan_vid=100,eth_dst=02:00:00:00:00:01", flows: try Self.exampleFlows())
        let text = Explain.text(e, model: DefaultModel.model, names: names)
        #expect(
            text == """
                Packet: ethernet.dst_mac=02:00:00:00:00:01,ethernet.ethertype=0x0800,vlan.vid=100,ipv4.protocol=6,ipv4.src_ip=10.0.0.1,ipv4.dst_ip=10.1.2.3,tcp.dst_port=80,metadata.ingress_port=1,metadata.inter_table=0

                1. table 1 ingress_acl
                    no match
                    -> table 4 ipv4_5tuple (table graph: ethernet.ethertype=0x0800)

                2. table 4 ipv4_5tuple
                    no match
                    -> table 3 ipv4_route (table graph: always)

                3. table 3 ipv4_route
                    match: uid 2 prio 24 metadata.inter_table=0 ipv4.dst_ip=10.1.2.0/24
                    actions: set_out_port port=5
                    -> table 2 l2_fdb (table graph: always)

                4. table 2 l2_fdb
                    match: uid 1 prio 10 vlan.vid=100 ethernet.dst_mac=02:00:00:00:00:01
                    actions: set_out_port port=2
                    -> done (table graph: always)

                Final: output to port 2 (set_out_port 5, then 2)
                """)
    }

    /// The connection table's exact 5-tuple drops; an ACL copy to the CPU does not stop the walk;
    /// set_metadata changes what the route table sees; goto_table jumps.
    @Test func dropCopyMetadataAndGoto() throws {
        var flows = try Self.exampleFlows()
        let drop = try Self.explain(
            "eth_type=0x800,ipv4_src=10.0.0.1,ipv4_dst=10.0.0.2,ip_proto=6,tcp_dst=80", flows: flows
        ).0
        #expect(
            drop.steps.map(\.table) == [1, 4] && drop.dropped && drop.steps[1].flow?.uid == 1
                && drop.steps[1].reason == "dropped")
        let json = Explain.json(drop, model: DefaultModel.model, names: ModelFieldNames(model: DefaultModel.model))
        #expect(json["dropped"]?.boolValue == true && json["steps"]?.elements?.count == 2)

        // ACL: in_port 3 → set_metadata 7, goto_table 3 (past the connection table).
        let meta = FieldRef(
            instance: 7, header: 7, field: 1, maskType: .exact, type: .u32, value: FieldValue(3, type: .u32))
        flows.append(
            Flow(
                table: 1, uid: 9, priority: 900, matches: [meta],
                actions: [
                    Action(uid: 9, signature: [ActionArg(type: .u32, value: FieldValue(7, type: .u32))]),
                    Action(uid: 10, signature: [ActionArg(type: .u32, value: FieldValue(3, type: .u32))]),
                ]))
        flows.append(
            Flow(
                table: 3, uid: 3, priority: 1,
                matches: [
                    FieldRef(
                        instance: 7, header: 7, field: 2, maskType: .exact, type: .u32, value: FieldValue(7, type: .u32)
                    )
                ], actions: [Action(uid: 7)]))
        let (e, names) = try Self.explain(
            "in_port=3,eth_type=0x800,ipv4_src=192.168.1.1,ipv4_dst=10.1.2.3", flows: flows)
        #expect(e.steps.map(\.table) == [1, 3])
        #expect(e.steps[0].reason == "goto_table" && e.steps[0].changes == ["metadata.inter_table=7"])
        #expect(e.steps[1].flow?.uid == 3 && e.dropped)
        #expect(
            Explain.text(e, model: DefaultModel.model, names: names).contains(
                "    packet: metadata.inter_table=7\n    -> table 3 ipv4_route (goto_table)"))
        let copy = try Self.explain("eth_type=0x86dd,ipv4_src=192.168.1.1", flows: flows).0
        #expect(copy.copyToCPU && copy.steps.map(\.table) == [1, 5, 2])
    }

    @Test func badPacketSpecsNameTheField() throws {
        let names = ModelFieldNames(model: DefaultModel.model)
        func error(_ spec: String) -> String {
            do {
                _ = try names.parse(spec)
                return "no error"
            } catch { return error.description }
        }
        #expect(error("in_port=1,tcp_dsst=80").contains("'tcp_dsst': the model has no such field"))
        #expect(error("tcp_dst=70000") == "packet field 'tcp_dst' (tcp.dst_port): 70000 does not fit its 16 bits")
        #expect(error("ipv4_dst=10.0.0.256").contains("'ipv4_dst': '10.0.0.256' is not a number"))
        #expect(error("eth_type") == "packet field 'eth_type': expected name=value")
        #expect(error("eth_type=").contains("'eth_type': the value is missing"))
        #expect(error("ipv6_dst=1::2::3").contains("'ipv6_dst': '1::2::3' is not an IPv6 address"))
        #expect(error("ethertype=1").contains("'ethertype' is ambiguous: ethernet.ethertype, vlan.ethertype"))
        #expect(error("").contains("empty"))
        // The good forms: model names, unique field names, aliases, IPv6 halves.
        #expect(error("dst_port=7") == "packet field 'dst_port' is ambiguous: tcp.dst_port, udp.dst_port")
        let p = try names.parse("dst_ip=0x0a000001,ipv6_dst=2001:db8::1,eth_src=aa:bb:cc:dd:ee:ff")
        #expect(p[3, 3, 13] == 0x0A00_0001)
        #expect(p[4, 4, 9] == 0x2001_0DB8_0000_0000 && p[4, 4, 10] == 1)
        #expect(p[1, 1, 1] == 0xAABB_CCDD_EEFF)
        #expect(try names.parse("tcp.dst_port=7")[5, 5, 2] == 7)
    }

    @Test func anEthernetFrameParsesIntoTheModelsFields() throws {
        // 802.1Q vid 100, IPv4 with 4 bytes of options (IHL 6), TCP 1234 → 80, flags SYN.
        var f: [UInt8] = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00]
        f += [
            0x46, 0x00, 0x00, 0x30, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 1, 2, 3, 1, 1, 1,
            1,
        ]
        f += [0x04, 0xD2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xFF, 0xFF, 0, 0, 0, 0]
        let names = ModelFieldNames(model: DefaultModel.model)
        let p = f.withUnsafeBytes { PacketParser.packet(ethernet: $0, names: names) }
        #expect(
            names.describe(p).hasPrefix(
                "ethernet.src_mac=02:00:00:00:00:02,ethernet.dst_mac=02:00:00:00:00:01,ethernet.ethertype=0x8100,vlan.pcp=0,vlan.cfi=0,vlan.vid=100"
            ))
        #expect(p[2, 2, 3] == 100 && p[1, 1, 3] == 0x8100 && p[2, 2, 4] == 0x0800)
        #expect(p[3, 3, 12] == 0x0A00_0001 && p[3, 3, 13] == 0x0A01_0203 && p[3, 3, 10] == 6 && p[3, 3, 9] == 64)
        #expect(p[5, 5, 1] == 1234 && p[5, 5, 2] == 80 && p[5, 5, 7] == 2)
        #expect(p[6, 6, 1] == nil)
        // Cut inside TCP: the transport fields are absent, the rest is there.
        let cut = Array(f.prefix(f.count - 10)).withUnsafeBytes { PacketParser.packet(ethernet: $0, names: names) }
        #expect(cut[5, 5, 2] == nil && cut[3, 3, 13] == 0x0A01_0203)
    }
}

@Suite("lookup bench") struct LookupBenchTests {
    @Test func allBackendsAgreeOnAnACLSetAndDerivedPackets() throws {
        var model = DefaultModel.model
        let i = try #require(model.tables.firstIndex { $0.name == "ingress_acl" })
        model.tables[i].size = 2000
        let names = ModelFieldNames(model: model)
        let flows = ACLRuleSet.flows(count: 2000, table: model.tables[i], names: names, seed: 3)
        #expect(flows.count == 2000 && Set(flows.map(\.uid)).count == 2000)
        let packets = LookupPackets.derived(from: flows, names: names, seed: 4, misses: 500)
        let (results, disagreements, count) = LookupBench.run(
            model: model, flows: flows, packets: packets,
            kinds: BackendKind.allCases, runs: 1)
        #expect(count == 0 && disagreements.isEmpty)
        #expect(results.allSatisfy { $0.refused == 0 && $0.hits >= 2000 && $0.lookups == 2500 })
        let tss = try #require(results.first { $0.backend == "tss" })
        #expect((tss.tuples[1] ?? 0) > 10)
    }

    /// A backend that never finds flow 5 must be reported, packet by packet, against the dummy.
    @Test func aBackendThatAnswersWronglyIsCaught() throws {
        let names = ModelFieldNames(model: DefaultModel.model)
        var t = DefaultModel.model.tables[0]
        t.size = 100
        let flows = ACLRuleSet.flows(count: 100, table: t, names: names, seed: 9)
        let packets = LookupPackets.derived(from: flows, names: names, seed: 9, misses: 10)
        let sizes = FlowBackendTables.sizes(of: DefaultModel.model.tables)
        let r = LookupBench.run(
            model: DefaultModel.model, flows: flows, packets: packets,
            backends: [("dummy", { DummyBackend(tables: sizes) }), ("blind", { BlindBackend(tables: sizes) })],
            runs: 1, listed: 3)
        #expect(r.disagreementCount >= 1 && r.disagreements.count == min(3, r.disagreementCount))
        let d = try #require(r.disagreements.first)
        #expect(d.reference == "dummy" && d.backend == "blind" && d.referenceHit?.uid == 5 && d.hit?.uid != 5)
    }

    @Test func classBenchTraceLinesAndTheirErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cbtrace-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("t").path
        try "167772161\t167838211\t1234\t80\t6\t2\t17\n167772161 167838211 53 53 17 5\n3232235777 1 0 0 1\n".write(
            toFile: good, atomically: true, encoding: .utf8)
        let names = ModelFieldNames(model: DefaultModel.model)
        let p = try LookupPackets.classBenchTrace(path: good, names: names)
        #expect(p.count == 3)
        #expect(p[0][3, 3, 12] == 0x0A00_0001 && p[0][5, 5, 2] == 80 && p[0][5, 5, 7] == 2 && p[0][6, 6, 2] == nil)
        #expect(p[1][6, 6, 2] == 53 && p[1][5, 5, 2] == nil)
        #expect(p[2][5, 5, 1] == nil && p[2][6, 6, 1] == nil && p[2][3, 3, 10] == 1)
        let bad = dir.appendingPathComponent("b").path
        try "1 2 3 4 6\n1 2 3 99999 6\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: PacketSpecError.self) { try LookupPackets.classBenchTrace(path: bad, names: names) }
        do { _ = try LookupPackets.classBenchTrace(path: bad, names: names) } catch {
            #expect(error.description.hasPrefix("\(bad):2: ") && error.description.contains("99999"), "\(error)")
        }
    }
}

@Suite("explain and bench --lookups, the tool") struct ExplainToolTests {
    @Test func theToolExplainsBenchmarksAndRefusesBadFields() throws {
        let exe = try flowtraceBinary()
        let flows = ExplainTests.root.appendingPathComponent("models/default/examples/flows.json").path
        let bad = try run(exe, ["explain", "--flows", flows, "in_port=1,tcp_dsst=80"])
        #expect(bad.status == 2 && bad.stderr.contains("packet field 'tcp_dsst'"), "\(bad.stderr)")
        let ok = try run(
            exe,
            [
                "explain", "--flows", flows, "eth_type=0x800,ipv4_src=10.0.0.1,ipv4_dst=10.0.0.2,ip_proto=6,tcp_dst=80",
                "--json",
            ])
        #expect(ok.status == 0 && ok.stdout.contains("\"dropped\":true"), "\(ok.stderr)")
        let bench = try run(exe, ["bench", "--acl-rules", "300", "--lookups", "derived", "--runs", "1"])
        #expect(
            bench.status == 0 && bench.stdout.contains("every backend chose the same flow for every packet"),
            "\(bench.stdout)\(bench.stderr)")
        let cost = try run(
            exe, ["bench", "--update-cost", "--sizes", "500", "--updates", "50", "--backends", "hash,tcam"])
        #expect(cost.status == 0 && cost.stdout.contains("moves/insert"), "\(cost.stdout)\(cost.stderr)")
    }

    /// bytes/flow is the heap a backend's structures took: for every backend it is positive and
    /// the whole (bytes/flow x flows) grows with the flows installed. Run as its own process, so
    /// no other test's allocations fall into the measurement.
    @Test func updateCostMemoryGrowsWithTheFlows() throws {
        let exe = try flowtraceBinary()
        let dir = try TempDir("update-cost")
        let out = dir.file("cost.json")
        let r = try run(
            exe, ["bench", "--update-cost", "--sizes", "400,4000", "--updates", "20", "--json", out])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out)))
        let rows = try #require((json as? [String: Any])?["update_cost"] as? [[String: Any]])
        var total: [String: [Int: Double]] = [:]
        for row in rows {
            let backend = try #require(row["backend"] as? String)
            let flows = try #require(row["flows"] as? Int)
            let perFlow = try #require(row["bytes_per_flow"] as? Double)
            #expect(perFlow > 0, "\(backend) at \(flows) flows: \(perFlow) bytes/flow")
            total[backend, default: [:]][flows] = perFlow * Double(flows)
        }
        #expect(Set(total.keys) == Set(BackendKind.allCases.map(\.rawValue)))
        for (backend, bytes) in total {
            let small = try #require(bytes[400]), large = try #require(bytes[4000])
            #expect(large > 2 * small, "\(backend): \(small) bytes for 400 flows, \(large) for 4000")
        }
    }
}

/// The dummy, except that its lookups never see flow 5.
final class BlindBackend: FlowBackend {
    let inner: DummyBackend
    var name: String { "blind" }
    var tableSizes: [UInt32: UInt32] { inner.tableSizes }
    init(tables: [UInt32: UInt32]) { inner = DummyBackend(tables: tables) }
    func insert(_ flow: Flow) -> Result<Void, BackendError> { flow.uid == 5 ? .success(()) : inner.insert(flow) }
    func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> { inner.delete(table: table, uid: uid) }
    func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        inner.flows(selector, into: body)
    }
    func count(table: UInt32) -> Int? { inner.count(table: table) }
    func removeAll() { inner.removeAll() }
    func insert(_ view: FlowView) -> Bool { inner.insert(view) }
    func remove(table: UInt32, uid: UInt32) -> RemovedFlow? { inner.remove(table: table, uid: uid) }
    func restore(_ removed: RemovedFlow) { inner.restore(removed) }
}
