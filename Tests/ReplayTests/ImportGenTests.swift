// flowtrace gen with rule sets from the field (--from classbench|ovs) and the adversarial
// profiles (tse, update-storm): the traces are written through the twin as generated ones are,
// every imported flow is installed on every device, nothing fails that was not made to, and the
// traces replay with zero divergences.

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay

@Suite("gen import") struct ImportGenTests {
    static let fixtures =
        String(#filePath).split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
        .joined(separator: "/") + "/Tests/Fixtures/import/"

    func imported(_ format: ImportFormat, _ name: String) throws -> FlowImport {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixtures + name)))
        return try FlowImporter.load(format, bytes: bytes, file: name, model: DefaultModel.model)
    }

    @Test(arguments: [(ImportFormat.classbench, "classbench-small.txt"), (.ovs, "ovs-small.txt")])
    func importedSetGoesToEveryDeviceAndReplays(_ format: ImportFormat, _ name: String) throws {
        let dir = try TempDir("gen-import")
        let i = try imported(format, name)
        var o = GenOptions(flows: 0, seed: 5)
        o.imported = i.flows
        o.importDescription = name
        o.devices = 2
        o.batch = 3
        o.churn = 0.2
        o.collectFlows = true
        let summary = try TraceGenerator.write(to: dir.file("t.pcapng"), options: o)
        #expect(summary.failedCalls == 0 && summary.errorCalls == 0)
        #expect(summary.flowsSet == 2 * i.flows.count)
        // Every device got every flow, in the file's order.
        #expect(summary.flows.count == 2 * i.flows.count)
        #expect(Set(summary.flows) == Set(i.flows))
        #expect(summary.flowsDeleted > 0)
        for target in [ReplayTarget.backend(.tcam), .backend(.tss), .twin(backend: .hash)] {
            let report = try replay(dir.file("t.pcapng"), target)
            #expect(report.divergent == 0, "\(report.text())")
        }
    }

    @Test func aSetLargerThanItsTableIsInstalledWholeOrRolledThrough() throws {
        let dir = try TempDir("gen-import")
        var text = ""
        for k in 0..<1500 {
            text += "@10.\(k / 256).\(k % 256).0/24\t0.0.0.0/0\t0 : 65535\t1024 : 65535\t0x06/0xFF\t0x0000/0x0000\n"
        }
        let i = try FlowImporter.load(.classbench, bytes: Array(text.utf8), file: "big", model: DefaultModel.model)
        #expect(i.flows.count == 9000 && i.expansionFactor == 6)
        var o = GenOptions(flows: 0, seed: 5)
        o.imported = i.flows
        o.batch = 64
        // Grown to fit: all installed, none deleted.
        o.model = i.fitted(DefaultModel.model).model
        let fitted = try TraceGenerator.write(to: dir.file("fit.pcapng"), options: o)
        #expect(fitted.flowsSet == 9000 && fitted.flowsDeleted == 0 && fitted.failedCalls == 0)
        // The model's 1024 slots kept: the workload makes room as gen does, nothing fails.
        o.model = DefaultModel.model
        let kept = try TraceGenerator.write(to: dir.file("keep.pcapng"), options: o)
        #expect(kept.flowsSet == 9000 && kept.flowsDeleted >= 9000 - 1024 && kept.failedCalls == 0)
        #expect(try replay(dir.file("keep.pcapng"), .backend(.tcam)).divergent == 0)
    }

    @Test func tseTraceInstallsEveryFlow() throws {
        let dir = try TempDir("gen-tse")
        var o = GenOptions(flows: 600, seed: 9)
        o.profile = .tse
        o.batch = 16
        o.collectFlows = true
        let summary = try TraceGenerator.write(to: dir.file("t.pcapng"), options: o)
        #expect(summary.flowsSet == 600 && summary.failedCalls == 0)
        // Below each table's tuple space, every flow of a table is a tuple of its own.
        let tss = TSSBackend(
            tables: Dictionary(
                DefaultModel.model.tables.map { ($0.uid, Table.unbounded) }, uniquingKeysWith: { a, _ in a }))
        for f in summary.flows { _ = tss.insert(f) }
        let gen = FlowGenerator(model: DefaultModel.model, seed: 1)
        for t in DefaultModel.model.tables {
            let n = tss.count(table: t.uid) ?? 0
            #expect(tss.tupleCount(table: t.uid) == min(n, Int(min(gen.tupleSpace(t), UInt64(Int.max)))), "\(t.name)")
        }
        #expect(try replay(dir.file("t.pcapng"), .backend(.tss)).divergent == 0)
    }

    @Test func updateStormInsertsAboveEveryFlowAndDeletesTheTop() throws {
        let dir = try TempDir("gen-storm")
        var o = GenOptions(flows: 800, seed: 4)
        o.profile = .updateStorm
        o.prefill = 200
        o.collectFlows = true
        let summary = try TraceGenerator.write(to: dir.file("t.pcapng"), options: o)
        #expect(summary.flowsSet == 800 && summary.failedCalls == 0)
        // After the ramp (half the flows) deletions alternate with insertions.
        #expect(summary.flowsDeleted >= 390 && summary.flowsDeleted <= 400)
        // Each table's flows come in strictly rising priority: each is its table's new top.
        var top: [UInt32: UInt32] = [:]
        for f in summary.flows {
            #expect(f.priority > top[f.table, default: 999], "\(f)")
            top[f.table] = f.priority
        }
        #expect(try replay(dir.file("t.pcapng"), .backend(.tcam)).divergent == 0)
    }
}
