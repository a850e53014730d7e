// flowtrace: record, show, count, replay and benchmark Flow Table API offload traces.

import ArgumentParser
import FlowTrace

#if canImport(Glibc)
import Glibc
#endif

@main
struct Flowtrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowtrace",
        abstract: "Record, show and replay Flow Table API offload traces (pcapng that Wireshark reads).",
        discussion: """
            Examples:
              flowtrace show trace.pcapng
              flowtrace stats trace.pcapng --json
              flowtrace capture -i nlmon0 -w kernel.pcapng     # the unft kernel module, both legs
              flowtrace replay trace.pcapng --target backend:hash
              flowtrace gen --flows 10000 --seed 7 -w synthetic.pcapng
              flowtrace diff a.pcapng b.pcapng
              flowtrace bench trace.pcapng --svg bench.svg
              flowtrace repair killed.pcapng -w fixed.pcapng
              flowtrace load --clients 8 --calls 1000000
            Conventions: -r FILE or FILE reads a trace, '-' is stdin, -w - writes to stdout; a
            gzip-compressed trace reads as it is (t.pcapng.gz). A trace cut short or damaged is
            shown up to the damage, then the error, exit status 2. Ctrl-C during replay, bench, gen
            and load prints the report so far, exit status 130. A progress line on stderr when it
            is a terminal.
            """,
        version: FlowTraceInfo.version,
        subcommands: [
            Demo.self, Show.self, Stats.self, Wireshark.self, Twin.self, Capture.self,
            ReplayCommand.self, Gen.self, Diff.self, BenchCommand.self, ExplainCommand.self, Repair.self, Load.self,
            Audit.self, Export.self, Specs.self,
        ])
}

/// An error printed on stderr with a non-zero exit status.
struct ToolError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// The trace a subcommand reads: the file named, or stdin for "-" (gzip-compressed or not).
/// A trace that cannot be opened or is not a trace ends the tool with exit status 2 (tshark's).
func openTrace(_ file: String) throws -> TraceReader {
    do {
        return try TraceReader(path: file)
    } catch {
        fail("\(error)")
    }
}

/// The trace a subcommand reads, as tshark and tcpdump take it: `-r FILE` or the positional
/// FILE ('-' for stdin).
struct TraceInputArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("A pcapng or pcap trace, gzip-compressed or not ('-' for stdin).", valueName: "file"))
    var positional: String?

    @Option(
        name: .customShort("r"),
        help: ArgumentHelp("The trace to read (the same as the FILE argument).", valueName: "file"))
    var read: String?

    func validate() throws {
        switch (positional, read) {
        case (nil, nil): throw ValidationError("give the trace to read: FILE or -r FILE ('-' for stdin)")
        case (.some, .some): throw ValidationError("give the trace once: FILE or -r FILE, not both")
        default: break
        }
    }

    var file: String { read ?? positional ?? "-" }
}

/// Several traces read as one stream (the files of a rotated recording, in order): FILE… and
/// -r FILE (repeatable), '-' for stdin.
struct TraceFilesArguments: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "The trace, or the files of a rotated one in order; gzip-compressed or not ('-' for stdin).",
            valueName: "file"))
    var positional: [String] = []

    @Option(
        name: .customShort("r"),
        help: ArgumentHelp("A trace to read (the same as a FILE argument; repeatable).", valueName: "file"))
    var read: [String] = []

    /// -r files first, then the positional ones, in the order given.
    var files: [String] { read + positional }

    func validate() throws {
        if files.isEmpty { throw ValidationError("give the trace to read: FILE or -r FILE ('-' for stdin)") }
    }
}

/// Ends a job that SIGINT cut short, once its partial report is printed (Interrupt).
func exitInterrupted() -> Never {
    fflush(stdout)
    exit(Interrupt.exitStatus)
}

/// Ends a reading subcommand whose trace was cut or damaged: what could be read is already
/// printed; the error goes to stderr naming the byte and frame, and the exit status is 2, as
/// tshark's. Returns when the trace was read whole.
func finishTrace(_ reader: TraceReader, error: Error? = nil) {
    if let error {
        let text = (error as? TraceFileError).map(reader.failureMessage) ?? "\(error)"
        fail(text)
    }
    if let cut = reader.truncationMessage { fail(cut) }
}

import Hairpin
import Posix
extension BackendKind: ExpressibleByArgument {}
