// flow-table-ctl: drives the Flow Table API against a device, or works offline on message
// bytes (encode / decode) for bug reports and tests.

import ArgumentParser
import LibFlowTable

@main
struct FlowTableCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow-table-ctl",
        abstract: "Drive the Flow Table API (net_flow_nl) of an offload device, or encode/decode its messages.",
        discussion: """
        Against a device (the kernel when the unft module is loaded, else the twin of `flow-table-hairpind --twin`):
          flow-table-ctl get-tables unft0
          flow-table-ctl set-flows unft0 flows.json --error-strategy cont-log
          flow-table-ctl get-flows unft0 --table 2
        Offline, no device needed:
          flow-table-ctl encode set-flows --ifindex 7 flows.json | flow-table-ctl decode
        """,
        version: FlowTableVersion.version,
        subcommands: [GetTables.self, GetHeaders.self, GetActions.self, GetHeaderGraph.self, GetTableGraph.self,
                      GetFlows.self, SetFlows.self, DelFlows.self, Encode.self, Decode.self])
}

/// An error the tool reports on stderr with a non-zero exit status.
struct CtlError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
