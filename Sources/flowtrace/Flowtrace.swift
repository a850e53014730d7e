// flowtrace: record, show, count, replay and benchmark Flow Table API offload traces.

import ArgumentParser
import FlowTrace

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
        """,
        subcommands: [Demo.self, Show.self, Stats.self, Wireshark.self, Twin.self, Capture.self,
                      ReplayCommand.self, Gen.self, Diff.self, BenchCommand.self, Repair.self, Load.self, Audit.self, Export.self])
}

/// An error printed on stderr with a non-zero exit status.
struct ToolError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// The trace a subcommand reads: the file named, or stdin for "-"; an error that cannot open
/// it is a ToolError.
func openTrace(_ file: String) throws -> TraceReader {
    do {
        return file == "-" ? try TraceReader(fileDescriptor: 0, name: "<stdin>") : try TraceReader(path: file)
    } catch {
        throw ToolError("\(error)")
    }
}

import Hairpin
extension BackendKind: ExpressibleByArgument {}
