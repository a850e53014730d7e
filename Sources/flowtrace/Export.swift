// flowtrace export: a trace's calls as a timeline (Perfetto, chrome://tracing) or a table (CSV).

import ArgumentParser
import FlowTrace
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a trace's calls: Chrome trace-event JSON for Perfetto, or CSV, one call each.",
        discussion: """
            perfetto: the JSON that ui.perfetto.dev and chrome://tracing open: a track per leg
            (process) and device (thread), a slice per call named by its command, its call id,
            status, errno, flows and frames in the slice's arguments; times in microseconds from
            the first call.
            csv: one row per call: call, command, device, start_ns, api_latency_ns,
            hairpin_latency_ns, status (ok, error, unanswered), errno, flows, first_frame,
            last_frame.
            Several files are read as one stream (a rotated set, in order).
            Examples:
              flowtrace export --format perfetto trace.pcapng -o trace.json
              flowtrace export --format csv trace.pcapng -o - | duckdb -c "select command, avg(api_latency_ns) from read_csv('/dev/stdin') group by 1"
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case perfetto, csv }

    @Option(help: "perfetto or csv.")
    var format: Format

    @OptionGroup var input: TraceFilesArguments
    var files: [String] { input.files }

    @Option(name: .customShort("o"), help: "Where to write ('-' for stdout).")
    var output: String

    func run() throws {
        let got: (calls: [CallInfo], error: TraceFileError?, truncation: String?)
        do { got = try CallExport.read(paths: files) } catch { fail("export: \(error)") }
        let calls = got.calls
        // What could be read is written, then the damage is reported with exit 2 (as tshark).
        defer {
            if let error = got.error { fail("export: \(error)") }
            if let cut = got.truncation { fail("export: \(cut)") }
        }
        let text: String
        switch format {
        case .perfetto:
            text = CallExport.perfetto(calls, name: files.joined(separator: " ")).serialized(style: .compact) + "\n"
        case .csv: text = CallExport.csv(calls)
        }
        if output == "-" {
            var out = OutputBuffer()
            out.bytes.append(contentsOf: text.utf8)
            out.flush()
            return
        }
        if let failed = Array(text.utf8).withUnsafeBytes({ Sys.writeFile(output, contents: $0) }) {
            throw ToolError("export: cannot write \(output): \(Sys.errorText(failed.errno))")
        }
    }
}
