// flowtrace diff: two traces compared message by message after the replay's normalisation.

import ArgumentParser
import FlowTrace
import Replay

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two traces message by message, after normalising what may legitimately differ.",
        discussion: """
            Each leg (hairpin, api) is compared on its own; family ids, port ids, netlink sequence
            numbers, ENCAP SEQs and timestamps do not count (spec/replay.md). Exit status: 0 the
            same, 1 different (report on stdout), 2 a trace could not be read.

            Examples:
              flowtrace diff before.pcapng after.pcapng
              flowtrace diff kernel.pcapng twin.pcapng --leg hairpin --no-snapshot   # kernel mode records that leg only
              flowtrace replay bug.pcapng --target twin --record again.pcapng; flowtrace diff bug.pcapng again.pcapng
            """)

    @Argument(help: "The two traces, gzip-compressed or not ('-' for stdin, one of them); with -r, the second.")
    var traces: [String] = []

    @Option(name: .customShort("r"), help: ArgumentHelp("The first trace.", valueName: "file"))
    var read: String?

    func validate() throws {
        let n = traces.count + (read == nil ? 0 : 1)
        guard n == 2 else { throw ValidationError("diff compares two traces: A B or -r A B (\(n) given)") }
        guard (read.map { [$0] } ?? []).filter({ $0 == "-" }).count + traces.filter({ $0 == "-" }).count <= 1 else {
            throw ValidationError("only one of the two traces can be stdin ('-')")
        }
    }

    var a: String { read ?? traces[0] }
    var b: String { read == nil ? traces[1] : traces[0] }

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Compare only this leg: hairpin or api (default: both).")
    var leg: String?

    @Flag(
        help: ArgumentHelp(
            "Leave out the records the recorder wrote (NEWFAMILY, state snapshots).",
            discussion:
                "A kernel-mode recording of flow-table-hairpind has no device snapshot (the daemon learns the devices from the calls); a twin's has one."
        ))
    var noSnapshot = false

    func run() throws {
        var legs: [TraceLeg] = [.hairpin, .api, .unknown]
        if let leg {
            switch leg {
            case "hairpin": legs = [.hairpin]
            case "api": legs = [.api]
            default: fail("--leg \(leg): expected hairpin or api")
            }
        }
        var report: DiffReport
        // Each leg is a pass over both files: stdin is read once, into a file.
        do {
            report = try TraceDiff.compare(
                try TraceInput.rereadable(a), try TraceInput.rereadable(b), legs: legs, wireOnly: noSnapshot)
        } catch { fail("\(error)") }
        (report.a, report.b) = (TraceInput.displayName(report.a), TraceInput.displayName(report.b))
        print(json ? report.json().serialized(style: .pretty) : report.text())
        // A cut trace: the comparison of what could be read, then the cut, exit 2 (tshark).
        if let t = report.truncations.first { fail(t) }
        if !report.identical { throw ExitCode(1) }
    }
}
