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
        abstract: "Write a synthetic trace: seeded ClassBench-like flows through the twin and the daemon.",
        discussion: """
        The same seed and options give the same file, byte for byte (synthetic timestamps).
        Churn interleaves deletions and GET_FLOWS with the additions; errors adds calls that
        fail on purpose (duplicates, unknown tables, deletions of missing flows).

        Examples:
          flowtrace gen --flows 10000 --seed 7 -w t.pcapng
          flowtrace gen --flows 100000 --batch 64 --churn 0.3 --errors 0.02 --devices 2 -w t.pcapng --json flows.json
          flowtrace gen --flows 4000000 --batch 1 --churn 0.5 -w big.pcapng     # > 1 GiB
        """)

    @Option(help: "Flows the trace installs (SET_FLOWS).")
    var flows: Int

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(name: [.customShort("w"), .long], help: "The trace file to write ('-': stdout; this summary then goes to stderr).")
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
        guard flows >= 0 else { fail("--flows takes a count ≥ 0") }
        guard (1...64).contains(devices) else { fail("--devices takes 1 to 64") }
        guard (1...100_000).contains(batch) else { fail("--batch takes 1 to 100000") }
        guard churn >= 0, errors >= 0, churn + errors < 1 else { fail("--churn and --errors are shares: each ≥ 0, together < 1") }
        guard interval >= 1, interval <= 3_600_000_000 else { fail("--interval takes 1 µs to 1 h") }
        var o = GenOptions(flows: flows, seed: seed)
        if let model {
            do { o.model = try ModelLoader.load(directory: model) } catch { fail("\(error)") }
            o.modelDescription = model
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
        let bar = ProgressBar(total: flows, label: "gen")
        Interrupt.install()
        o.progress = { bar.update($0) }
        let summary: GenSummary
        do { summary = try TraceGenerator.write(to: write, options: o) } catch { fail("\(error)") }
        bar.finish()
        if let json {
            let doc = FlowTableAttributes(flows: summary.flows).json()
            do { try FlowTableJSON.write(doc, toFile: json) } catch { fail("\(error)") }
        }
        let line = "\(write == "-" ? "<stdout>" : write): \(summary.records) records, \(summary.bytes) bytes; \(summary.calls) calls: "
              + "\(summary.flowsSet) flows set, \(summary.flowsDeleted) deleted, \(summary.gets) GET_FLOWS, "
              + "\(summary.errorCalls) made to fail, \(summary.failedCalls) failed in all"
              + (Interrupt.requested ? " (\(Interrupt.reason): \(summary.flowsSet) of \(flows) flows)" : "")
        if write == "-" { fputs(line + "\n", stderr) } else { print(line) }
        if Interrupt.requested { exitInterrupted() }
    }
}
