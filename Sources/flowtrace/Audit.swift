// flowtrace audit: every call of a recorded twin session exactly once (see CallAudit).

import ArgumentParser
import FlowTrace
import LibFlowTable

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that a recorded twin session holds each call exactly once (no lost or duplicated records).",
        discussion: """
        Groups records by their pairing id: each call must have one API request and
        one final answer (ACK or error), and when it was forwarded one ENCAP request
        and one answer.
        Exit status: 0 clean; 1 calls with missing or duplicated records (listed); 2
        the trace could not be read.

        Example:
          flow-table-hairpind --twin --record load.pcapng & flowtrace load --calls 100000; kill -INT %1
          flowtrace audit load.pcapng
        """)

    @OptionGroup var input: TraceInputArguments
    var file: String { input.file }

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let bar = showReadProgress(label: "audit")
        let audit: CallAudit
        do { audit = try CallAudit.run(path: file) } catch { fail("audit: \(error)") }
        bar?.finish()
        if json {
            let o: [JSONMember] = [
                JSONMember("records", .int(Int64(audit.records))), JSONMember("calls", .int(Int64(audit.calls))),
                JSONMember("answered", .int(Int64(audit.answered))),
                JSONMember("forwarded", .int(Int64(audit.forwarded))), JSONMember("timed_out", .int(Int64(audit.timedOut))),
                JSONMember("unpaired_records", .int(Int64(audit.unpaired))), JSONMember("anomalies", .int(Int64(audit.anomalies))),
                JSONMember("examples", .array(audit.examples.map { .string($0.description) })),
                JSONMember("truncation", audit.truncation.map { .string($0) } ?? .null),
            ]
            print(JSONValue.object(o).serialized(style: .pretty))
        } else {
            print(audit.text(path: file))
        }
        if !audit.clean { throw ExitCode(1) }
    }
}
