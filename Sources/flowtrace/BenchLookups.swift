// flowtrace bench --lookups and --update-cost (Sources/Replay/LookupBench.swift, UpdateCost.swift).

import FlowTrace
import Hairpin
import LibFlowTable
import Replay
import Posix

#if canImport(Glibc)
import Glibc
#endif

extension BenchCommand {
    func loadModel() -> PipelineModel {
        guard let model else { return DefaultModel.model }
        do { return try ModelLoader.load(directory: model) } catch { fail("\(error)") }
    }

    /// The workload: (what, model, flows) per trace, or one acl-like rule set.
    func lookupWorkloads() -> [(name: String, model: PipelineModel, flows: [Flow])] {
        let base = loadModel()
        if let n = aclRules {
            guard (1...10_000_000).contains(n), files.isEmpty else {
                fail("--acl-rules takes 1 to 10000000 and no trace")
            }
            guard var acl = base.tables.first(where: { $0.name == "ingress_acl" }) ?? base.tables.first else {
                fail("the model has no table")
            }
            acl.size = UInt32(n)
            var m = base
            m.tables = m.tables.map { $0.uid == acl.uid ? acl : $0 }
            let flows = ACLRuleSet.flows(count: n, table: acl, names: ModelFieldNames(model: m), seed: seed)
            return [("acl-like rules (\(n) flows in table \(acl.uid) \(acl.name), seed \(seed))", m, flows)]
        }
        guard !files.isEmpty else { fail("--lookups needs a trace (or --acl-rules N)") }
        var out: [(String, PipelineModel, [Flow])] = []
        for f in files {
            let devices: [InstalledDevice]
            do { devices = try InstalledFlows.read(path: f, defaultModel: base) } catch { fail("\(f): \(error)") }
            let chosen: [InstalledDevice]
            if let device {
                chosen = devices.filter { $0.ifindex == device }
                guard !chosen.isEmpty else { fail("\(f): no device \(device)") }
            } else {
                chosen = devices
            }
            for d in chosen { out.append(("\(TraceInput.displayName(f)) device \(d.ifindex)", d.model, d.flows)) }
        }
        return out
    }

    func lookupPackets(_ spec: String, model: PipelineModel, flows: [Flow]) -> [PacketFields] {
        let names = ModelFieldNames(model: model)
        if spec == "derived" {
            return LookupPackets.derived(from: flows, names: names, seed: seed, misses: misses ?? flows.count / 4)
        }
        var magic = [UInt8](repeating: 0, count: 4)
        guard let f = fopen(spec, "rb") else { fail("cannot open \(spec): \(Sys.errorText(errno))") }
        let n = fread(&magic, 1, 4, f)
        fclose(f)
        let pcapMagics: [[UInt8]] = [
            [0x0A, 0x0D, 0x0D, 0x0A], [0xD4, 0xC3, 0xB2, 0xA1], [0xA1, 0xB2, 0xC3, 0xD4],
            [0x4D, 0x3C, 0xB2, 0xA1], [0xA1, 0xB2, 0x3C, 0x4D],
        ]
        do {
            if n == 4, pcapMagics.contains(magic) { return try LookupPackets.capture(path: spec, names: names) }
            return try LookupPackets.classBenchTrace(path: spec, names: names)
        } catch { fail("\(error)") }
    }

    func runLookups(_ spec: String, _ kinds: [BackendKind]) {
        guard (1...10_000).contains(runs) else { fail("--runs takes 1 to 10000") }
        Interrupt.install()
        var failed = false
        var json: [JSONValue] = []
        for w in lookupWorkloads() {
            let packets = lookupPackets(spec, model: w.model, flows: w.flows)
            let tables = Set(w.flows.map(\.table)).count
            let (results, disagreements, count) = LookupBench.run(
                model: w.model, flows: w.flows, packets: packets, kinds: kinds,
                runs: runs)
            print(
                "\(w.name): \(w.flows.count) flows in \(tables) table(s); \(packets.count) packets (\(spec)) × \(tables) table(s) "
                    + "= \(packets.count * tables) lookups per run; \(runs) timed run(s) after one untimed pass")
            let cols = [8, 9, 8, 12, 11, 14, 9, 16]
            print(
                BenchReport.row(
                    ["backend", "flows", "refused", "lookups/s", "ns/lookup", "lookups/cpu-s", "hits", "tss tuples"],
                    cols))
            for r in results {
                let ns = r.lookupsPerSecond > 0 ? 1e9 / r.lookupsPerSecond : 0
                let tuples =
                    r.tuples.isEmpty
                    ? "-" : r.tuples.sorted { $0.key < $1.key }.map { "t\($0.key): \($0.value)" }.joined(separator: " ")
                print(
                    BenchReport.row(
                        [
                            r.backend, "\(w.flows.count - r.refused)", "\(r.refused)",
                            BenchReport.num(r.lookupsPerSecond),
                            String(Int(ns.rounded())), BenchReport.num(r.lookupsPerCPUSecond), "\(r.hits)", tuples,
                        ], cols))
            }
            print(
                "lookups/s: by the monotonic clock; lookups/cpu-s: by this thread's CPU time (one core, waits for the CPU left out)"
            )
            let names = ModelFieldNames(model: w.model)
            let text = FlowText(
                headers: w.model.headers, actions: w.model.actions, headerGraph: w.model.headerGraph,
                tables: w.model.tables)
            if count == 0 {
                print("every backend chose the same flow for every packet")
            } else {
                failed = true
                print(
                    "DISAGREEMENTS: \(count) (packet, table) answers differ from \(disagreements.first?.reference ?? "the reference")'s; the first:"
                )
                for d in disagreements {
                    func show(_ h: FlowHit?) -> String {
                        guard let h else { return "no flow" }
                        return LookupBench.flow(h, in: w.flows).map(text.line) ?? h.description
                    }
                    print("  packet #\(d.packet + 1) \(names.describe(packets[d.packet])) table \(d.table)")
                    print("    \(d.reference): \(show(d.referenceHit))")
                    print("    \(d.backend): \(show(d.hit))")
                }
            }
            if results.contains(where: { $0.refused > 0 }) {
                print(
                    "refused: flows a backend did not store (the tcam's capacity, or the table's size): its answers can differ"
                )
            }
            print("")
            json.append(
                .object([
                    JSONMember("workload", .string(w.name)), JSONMember("flows", .number(UInt64(w.flows.count))),
                    JSONMember("packets", .number(UInt64(packets.count))),
                    JSONMember("disagreements", .number(UInt64(count))),
                    JSONMember(
                        "results",
                        .array(
                            results.map { r in
                                .object([
                                    JSONMember("backend", .string(r.backend)),
                                    JSONMember("refused", .number(UInt64(r.refused))),
                                    JSONMember("lookups", .number(UInt64(r.lookups))),
                                    JSONMember("runs", .number(UInt64(r.runs))),
                                    JSONMember("lookups_per_second", .double(r.lookupsPerSecond)),
                                    JSONMember("lookups_per_cpu_second", .double(r.lookupsPerCPUSecond)),
                                    JSONMember("hits", .number(UInt64(r.hits))),
                                    JSONMember(
                                        "tuples",
                                        .object(
                                            r.tuples.sorted { $0.key < $1.key }.map {
                                                JSONMember("\($0.key)", .number(UInt64($0.value)))
                                            })),
                                ])
                            })),
                ]))
        }
        if let path = self.json {
            do { try FlowTableJSON.write(.object([JSONMember("lookups", .array(json))]), toFile: path) } catch {
                fail("\(error)")
            }
        }
        if Interrupt.requested { exitInterrupted() }
        if failed { Glibc.exit(1) }
    }

    func runUpdateCost(_ kinds: [BackendKind]) {
        let list = sizes.split(separator: ",").compactMap { Int($0) }
        guard !list.isEmpty, list.allSatisfy({ (1...10_000_000).contains($0) }) else {
            fail("--sizes takes counts 1 to 10000000, comma-separated")
        }
        guard (1...1_000_000).contains(updates) else { fail("--updates takes 1 to 1000000") }
        let results = UpdateCost.run(model: loadModel(), sizes: list, kinds: kinds, updates: updates, seed: seed)
        print(
            "update cost: acl-like rules in ingress_acl, filled in priority order; then at each size \(updates) random flows "
                + "deleted and \(updates) new rules inserted at random priorities, each batch timed by this thread's CPU clock"
        )
        let cols = [8, 9, 12, 12, 13, 13, 8, 11]
        print(
            BenchReport.row(
                ["backend", "flows", "inserts/s", "deletes/s", "moves/insert", "moves/delete", "tuples", "bytes/flow"],
                cols))
        func two(_ x: Double) -> String { x >= 100 ? String(Int(x.rounded())) : String(Double(Int(x * 100)) / 100) }
        for r in results {
            if let s = r.skipped {
                print(BenchReport.row([r.backend, "\(r.flows)", s], [8, 9, 60]))
                continue
            }
            print(
                BenchReport.row(
                    [
                        r.backend, "\(r.flows)", BenchReport.num(r.insertsPerSecond),
                        BenchReport.num(r.deletesPerSecond),
                        two(r.movesPerInsert), two(r.movesPerDelete), r.tuples.map(String.init) ?? "-",
                        String(Int(r.bytesPerFlow.rounded())),
                    ], cols))
        }
        print(
            "moves: TCAM entries shifted per update (packed layout, spec/backend-contract.md §6); bytes/flow: the heap the "
                + "backend's structures took per flow installed (the allocator's count: glibc mallinfo2, or a sanitizer's; the flows' match and action arrays are "
                + "shared with the generator and not counted).")
        if let path = self.json {
            let v: JSONValue = .object([
                JSONMember(
                    "update_cost",
                    .array(
                        results.map { r in
                            var o: [JSONMember] = [
                                JSONMember("backend", .string(r.backend)),
                                JSONMember("flows", .number(UInt64(r.flows))),
                            ]
                            if let s = r.skipped {
                                o.append(JSONMember("skipped", .string(s)))
                            } else {
                                o += [
                                    JSONMember("updates", .number(UInt64(r.updates))),
                                    JSONMember("inserts_per_second", .double(r.insertsPerSecond)),
                                    JSONMember("deletes_per_second", .double(r.deletesPerSecond)),
                                    JSONMember("moves_per_insert", .double(r.movesPerInsert)),
                                    JSONMember("moves_per_delete", .double(r.movesPerDelete)),
                                    JSONMember("bytes_per_flow", .double(r.bytesPerFlow)),
                                ]
                                if let t = r.tuples { o.append(JSONMember("tuples", .number(UInt64(t)))) }
                            }
                            return .object(o)
                        }))
            ])
            do { try FlowTableJSON.write(v, toFile: path) } catch { fail("\(error)") }
        }
    }
}
