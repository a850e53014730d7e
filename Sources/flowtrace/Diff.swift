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

    @Argument(help: "The first trace.")
    var a: String

    @Argument(help: "The second trace.")
    var b: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Compare only this leg: hairpin or api (default: both).")
    var leg: String?

    @Flag(help: ArgumentHelp("Leave out the records the recorder wrote (NEWFAMILY, state snapshots).",
                             discussion: "A kernel-mode recording of flow-table-hairpind has no device snapshot (the daemon learns the devices from the calls); a twin's has one."))
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
        let report: DiffReport
        do { report = try TraceDiff.compare(a, b, legs: legs, wireOnly: noSnapshot) } catch { fail("\(error)") }
        print(json ? report.json().serialized(style: .pretty) : report.text())
        if !report.identical { throw ExitCode(1) }
    }
}
