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
              flow-table-ctl -j --socket /tmp/unft.sock get-flows unft0 --table 2
            Offline, no device needed:
              flow-table-ctl encode set-flows --ifindex 7 flows.json | flow-table-ctl decode

            Output as iproute2 prints it: text for people by default (one flow, table, header… \
            per line, names and value formats from the device's model; see each command's help), \
            -j JSON (libflow-table JSON on one line), -p pretty JSON. The global options (--socket, \
            --timeout, -j, -p, -q, -v) go before or after the subcommand.
            """,
        version: FlowTableVersion.version,
        subcommands: [
            Get<GetTables>.self, Get<GetHeaders>.self, Get<GetActions>.self, Get<GetHeaderGraph>.self,
            Get<GetTableGraph>.self, GetFlows.self, SetFlows.self, DelFlows.self, Encode.self, Decode.self,
        ])

    // Declared here and in each online subcommand: ArgumentParser hands the values parsed
    // here (before or after the subcommand's name) to the subcommand's groups of the same type.
    @OptionGroup(title: "Device connection") var connection: Connection
    @OptionGroup(title: "Output") var output: Output
}

/// An error the tool reports on stderr with a non-zero exit status.
struct CtlError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
