// flowtrace audit: every call of a recorded twin session exactly once (see CallAudit).

import ArgumentParser
import FlowTrace
import LibFlowTable

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that a recorded twin session holds each call exactly once (no lost or duplicated records).",
        discussion: """
            Groups records into calls by the call id (spec/trace-format.md, "Calls"): each
            call must have one API request and one final answer (ACK or error), and when
            it was forwarded the ENCAP request and its answer, each as parts 0..n in order,
            before the API replies. Records missing, repeated or out of order (timestamps
            or ENCAP SEQs going back) are named by frame, 1-based as Wireshark numbers them.
            Several files are read as one stream: the files of a rotated recording, in order.
            Calls and errors are counted per command.
            Exit status: 0 clean; 1 findings (listed), or a file cut short; 2 the trace
            could not be read.

            Example:
              flow-table-hairpind --twin --record load.pcapng & flowtrace load --calls 100000; kill -INT %1
              flowtrace audit load.pcapng
              flowtrace audit trace.pcapng trace1.pcapng trace2.pcapng    # a rotated set (-C)
            """)

    @OptionGroup var input: TraceFilesArguments
    var files: [String] { input.files }

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let bar = showReadProgress(label: "audit")
        let audit: CallAudit
        do { audit = try CallAudit.run(paths: files) } catch { fail("audit: \(error)") }
        bar?.finish()
        if json {
            let o: [JSONMember] = [
                JSONMember("records", .int(Int64(audit.records))), JSONMember("calls", .int(Int64(audit.calls))),
                JSONMember("answered", .int(Int64(audit.answered))),
                JSONMember("forwarded", .int(Int64(audit.forwarded))),
                JSONMember("timed_out", .int(Int64(audit.timedOut))),
                JSONMember("unpaired_records", .int(Int64(audit.unpaired))),
                JSONMember("anomalies", .int(Int64(audit.anomalies))),
                JSONMember("answered_by_unft", .int(Int64(audit.answeredByUnft))),
                JSONMember(
                    "findings",
                    .array(
                        audit.examples.map { f in
                            .object([
                                JSONMember("file", f.file.map { .string($0) } ?? .null),
                                JSONMember("frame", .int(Int64(f.frame))),
                                JSONMember("call", f.call > 0 ? .int(Int64(f.call)) : .null),
                                JSONMember("text", .string(f.text)),
                            ])
                        })),
                JSONMember("examples", .array(audit.examples.map { .string($0.description) })),
                JSONMember(
                    "commands",
                    .object(
                        audit.callsByCommand.sorted { $0.key < $1.key }.map { name, n in
                            JSONMember(
                                name,
                                .object([
                                    JSONMember("calls", .int(Int64(n))),
                                    JSONMember(
                                        "errors",
                                        .object(
                                            (audit.errorsByCommand[name] ?? [:]).sorted { $0.key < $1.key }
                                                .map { JSONMember(Errno.display($0.key), .int(Int64($0.value))) })),
                                ]))
                        })),
                JSONMember("truncation", audit.truncation.map { .string($0) } ?? .null),
            ]
            print(JSONValue.object(o).serialized(style: .pretty))
        } else {
            print(audit.text(path: files.joined(separator: " ")))
        }
        if !audit.clean { throw ExitCode(1) }
    }
}
