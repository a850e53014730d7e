// flowtrace repair: a trace cut short (kill -9 of the recorder, a full disk) rewritten so that
// every tool reads it without complaint: every whole block kept, the cut tail dropped.

import ArgumentParser
import FlowTrace
import LibFlowTable

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a cut pcapng trace: keep every whole block, drop the cut tail.",
        discussion: """
            Blocks are copied byte for byte up to the first one that is cut or whose
            framing is broken; that block and everything after it are dropped. The
            report says what was kept and where the dropped tail starts (byte offsets),
            on stdout.
            Exit status: 0 the file was whole (the copy is identical); 1 a tail was
            dropped (the repaired copy is written); 2 nothing could be kept or written
            (message on stderr).

            Example:
              flowtrace repair killed.pcapng -w fixed.pcapng && tshark -r fixed.pcapng
            """)

    @OptionGroup var trace: TraceInputArguments
    var input: String { trace.file }

    @Option(name: .customShort("w"), help: "Where to write the repaired trace (not the input itself).")
    var output: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let bar = showReadProgress(label: "repair")
        let report: RepairReport
        do { report = try PcapngRepair.repair(input: input, output: output) } catch { fail("repair: \(error)") }
        bar?.finish()
        if json {
            let o: [JSONMember] = [
                JSONMember("input", .string(input)), JSONMember("output", .string(output)),
                JSONMember("blocks_kept", .uint(UInt64(report.blocksKept))),
                JSONMember("records_kept", .uint(UInt64(report.packets))),
                JSONMember("bytes_kept", .uint(report.bytesKept)),
                JSONMember("dropped_at", report.droppedAt.map { .uint($0) } ?? .null),
                JSONMember("last_frame_kept", .uint(UInt64(report.packets))),
                JSONMember("bytes_dropped", .uint(report.bytesDropped)),
                JSONMember("reason", report.reason.map { .string($0) } ?? .null),
            ]
            print(JSONValue.object(o).serialized(style: .pretty))
        } else {
            print(report.text())
        }
        if report.repaired { throw ExitCode(1) }
    }
}
