// flowtrace gen: a synthetic, seeded trace made by the twin and the daemon in this process.

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import Replay
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct Gen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write a trace through the twin and the daemon: seeded ClassBench-like flows, or a rule set from the field.",
        discussion: """
            The same seed and options give the same file, byte for byte (synthetic timestamps).
            Churn interleaves deletions and GET_FLOWS with the additions; errors adds calls that
            fail on purpose (duplicates, unknown tables, deletions of missing flows).

            --from classbench FILE reads a ClassBench filter set (@src/len dst/len sport : sport
            dport : dport proto/mask [flags/mask]); --from ovs FILE reads `ovs-ofctl dump-flows`
            output. Each rule goes to the first table of the model that can match all its fields
            (--table to choose one); port ranges become prefix/mask pairs as a TCAM stores them. Every
            device gets every flow, in file order (ClassBench: the first rule has the highest
            priority), with batching, churn and reads as for generated flows. stderr reports the
            rules read, the flows written, the expansion factor and what was skipped (fields,
            actions, rules) with counts. A table the set overflows is grown to hold it (reported;
            --keep-sizes keeps the model's size, and the workload then deletes to make room). A
            malformed line stops the import with FILE:LINE and the reason.

            Profiles (--profile) shape generated rule sets:
              classbench    a few dozen rule shapes per table, as real sets have (the default)
              tse           tuple space explosion: each flow of a table a mask tuple of its own,
                            walking every combination of prefix lengths across the table's fields
                            (the worst case for tuple space search: tss probes one hash per tuple)
              update-storm  every insert above all flows of its table; after the first half of the
                            flows, deletes of the highest priority flows alternate with inserts (the
                            worst case for TCAM entry moves); takes no --churn

            Examples:
              flowtrace gen --flows 10000 --seed 7 -w t.pcapng
              flowtrace gen --flows 100000 --batch 64 --churn 0.3 --errors 0.02 --devices 2 -w t.pcapng --json flows.json
              flowtrace gen --flows 4000000 --batch 1 --churn 0.5 -w big.pcapng     # > 1 GiB
              flowtrace gen --from classbench acl1_10k -w acl.pcapng --batch 64
              ovs-ofctl dump-flows br0 > br0.flows; flowtrace gen --from ovs br0.flows -w br0.pcapng
              flowtrace gen --profile tse --flows 5000 --backend tss -w tse.pcapng
              flowtrace gen --profile update-storm --flows 4000 --prefill 2000 -w storm.pcapng
            """)

    @Option(help: "Flows the trace installs (SET_FLOWS); not with --from.")
    var flows: Int?

    @Option(help: "Import a rule set instead of generating flows: classbench or ovs (the file follows).")
    var from: ImportFormat?

    @Argument(help: "The rule set to import (with --from).")
    var file: String?

    @Option(help: "With --from: the table (name or uid) that takes every rule.")
    var table: String?

    @Flag(help: "With --from: keep the model's table sizes even when the rule set overflows them.")
    var keepSizes = false

    @Option(help: "Rule-set shape for generated flows: classbench, tse or update-storm.")
    var profile: FlowProfile = .classbench

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(
        name: [.customShort("w"), .long],
        help: "The trace file to write ('-': stdout; this summary then goes to stderr).")
    var write: String

    @Option(help: "A model directory (default: the built-in model).")
    var model: String?

    @Option(help: "Devices (unft0 = ifindex 1000, …).")
    var devices: Int = 1

    @Option(help: "Flows per SET_FLOWS / DEL_FLOWS request.")
    var batch: Int = 1

    @Option(help: "Flows per device installed before the trace starts (they are in its snapshot).")
    var prefill: Int = 0

    @Option(help: "Share of calls (0…1) that delete or read flows instead of adding.")
    var churn: Double = 0

    @Option(help: "Share of the churn calls (0…1) that read flows back (GET_FLOWS) rather than delete.")
    var reads: Double = 0.125

    @Option(help: "Share of calls (0…1) that fail on purpose.")
    var errors: Double = 0

    @Option(help: "The daemon's backend (answers are the same for all).")
    var backend: BackendKind = .hash

    @Option(help: "Synthetic time between calls, in microseconds.")
    var interval: UInt64 = 100

    @Option(help: "Also write the installed flows as libflow-table JSON (for flow-table-ctl set-flows).")
    var json: String?

    func run() throws {
        if from == nil {
            guard file == nil else { fail("a rule set to import needs --from classbench|ovs: \(file ?? "")") }
            guard let flows else { fail("--flows (a count) or --from classbench|ovs FILE is required") }
            guard flows >= 0 else { fail("--flows takes a count ≥ 0") }
        } else {
            guard file != nil else { fail("--from \(from?.rawValue ?? "") needs a FILE to import") }
            guard flows == nil else { fail("--flows does not apply to --from: every imported flow is written") }
            guard profile == .classbench else { fail("--profile shapes generated flows, not imported ones") }
        }
        guard from != nil || (table == nil && !keepSizes) else { fail("--table and --keep-sizes go with --from") }
        guard profile != .updateStorm || churn == 0 else {
            fail("--profile update-storm makes its own deletions: it takes no --churn")
        }
        guard (1...64).contains(devices) else { fail("--devices takes 1 to 64") }
        guard (1...100_000).contains(batch) else { fail("--batch takes 1 to 100000") }
        guard churn >= 0, errors >= 0, churn + errors < 1 else {
            fail("--churn and --errors are shares: each ≥ 0, together < 1")
        }
        guard interval >= 1, interval <= 3_600_000_000 else { fail("--interval takes 1 µs to 1 h") }
        var o = GenOptions(flows: flows ?? 0, seed: seed)
        if let model {
            do { o.model = try ModelLoader.load(directory: model) } catch { fail("\(error)") }
            o.modelDescription = model
        }
        o.profile = profile
        if let from, let file {
            let imported: FlowImport
            do {
                let read = Sys.readFile(file)
                guard let bytes = read.bytes else { fail("cannot read \(file): \(Sys.errorText(read.errno))") }
                imported = try FlowImporter.load(from, bytes: bytes, file: file, model: o.model, table: table)
            } catch {
                fail("\(error)")
            }
            for line in imported.report(model: o.model) { fputs(line + "\n", stderr) }
            if !keepSizes {
                let (fitted, notes) = imported.fitted(o.model)
                o.model = fitted
                for n in notes { fputs("  \(n) (--keep-sizes keeps the model's)\n", stderr) }
            }
            o.imported = imported.flows
            o.importDescription = "\(from.rawValue) \(file)"
            o.flows = imported.flows.count * devices
        }
        o.devices = devices
        o.batch = batch
        guard prefill >= 0 else { fail("--prefill takes a count ≥ 0") }
        o.prefill = prefill
        o.churn = churn
        o.errors = errors
        guard (0...1).contains(reads) else { fail("--reads is a share: 0 to 1") }
        o.reads = reads
        o.backend = backend
        o.callInterval = interval * 1000
        o.collectFlows = json != nil
        let bar = ProgressBar(total: o.flows, label: "gen")
        Interrupt.install()
        o.progress = { bar.update($0) }
        let summary: GenSummary
        do { summary = try TraceGenerator.write(to: write, options: o) } catch { fail("\(error)") }
        bar.finish()
        if let json {
            let doc = FlowTableAttributes(flows: summary.flows).json()
            do { try FlowTableJSON.write(doc, toFile: json) } catch { fail("\(error)") }
        }
        let line =
            "\(write == "-" ? "<stdout>" : write): \(summary.records) records, \(summary.bytes) bytes; \(summary.calls) calls: "
            + "\(summary.flowsSet) flows set, \(summary.flowsDeleted) deleted, \(summary.gets) GET_FLOWS, "
            + "\(summary.errorCalls) made to fail, \(summary.failedCalls) failed in all"
            + (Interrupt.requested ? " (\(Interrupt.reason): \(summary.flowsSet) of \(o.flows) flows)" : "")
        if write == "-" { fputs(line + "\n", stderr) } else { print(line) }
        if Interrupt.requested { exitInterrupted() }
    }
}

extension ImportFormat: ExpressibleByArgument {}
extension FlowProfile: ExpressibleByArgument {}
