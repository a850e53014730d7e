// encode / decode: Flow Table API messages as one line of hex, and back to JSON.

import ArgumentParser
import LibFlowTable
import Posix

/// The commands by their command-line names.
enum CommandName: String, CaseIterable, ExpressibleByArgument {
    case getTables = "get-tables", getHeaders = "get-headers", getActions = "get-actions"
    case getHeaderGraph = "get-header-graph", getTableGraph = "get-table-graph", getFlows = "get-flows"
    case setFlows = "set-flows", delFlows = "del-flows", updateFlows = "update-flows"
    case createTable = "create-table", destroyTable = "destroy-table"

    var command: NFL.Command {
        switch self {
        case .getTables: return .getTables
        case .getHeaders: return .getHeaders
        case .getActions: return .getActions
        case .getHeaderGraph: return .getHeaderGraph
        case .getTableGraph: return .getTableGraph
        case .getFlows: return .getFlows
        case .setFlows: return .setFlows
        case .delFlows: return .delFlows
        case .updateFlows: return .updateFlows
        case .createTable: return .createTable
        case .destroyTable: return .destroyTable
        }
    }

    /// The single top-level key a FILE for this command must have (flow_table_json_check_type).
    func fileKey(reply: Bool) -> String? {
        switch (command, reply) {
        case (.setFlows, _), (.delFlows, _), (.updateFlows, _), (.getFlows, true): return "flows"
        case (.createTable, false), (.destroyTable, false), (.getTables, true): return "tables"
        case (.getHeaders, true): return "headers"
        case (.getActions, true): return "actions"
        case (.getHeaderGraph, true): return "header_graph"
        case (.getTableGraph, true): return "table_graph"
        default: return nil
        }
    }
}

extension ErrorStrategy: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a Flow Table API message as one line of hex.",
        discussion: """
            FILE is libflow-table JSON with the one key the command carries ("flows" for set-flows and
            del-flows; with --reply, "tables", "headers", … for the discovery replies).
            Examples:
              flow-table-ctl encode get-tables --ifindex 7
              flow-table-ctl encode get-flows --ifindex 7 --table 2 --min-prio 10
              flow-table-ctl encode set-flows --ifindex 7 --error-strategy cont-log flows.json
            """)

    @Argument(help: "The command: \(CommandName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var command: CommandName

    @Argument(help: "JSON file with the command's payload (stdin when '-').")
    var file: String?

    @Option(help: "Device ifindex for the identifier preamble.")
    var ifindex: UInt32 = 1

    @Option(help: "nlmsg_seq of the message.")
    var seq: UInt32 = 1

    @Option(help: "nlmsg_type: the family id to write.")
    var familyID: UInt16 = 0x1c

    @Option(help: "get-flows: the table.")
    var table: UInt32?

    @Option(help: "get-flows: lowest priority (inclusive).")
    var minPrio: UInt32?

    @Option(help: "get-flows: highest priority (inclusive).")
    var maxPrio: UInt32?

    @Option(help: "set-flows/del-flows: abort, continue, abort-log or cont-log (FLOWS_ERROR).")
    var errorStrategy: ErrorStrategy?

    @Flag(help: "Encode the kernel's reply instead of the request (no NLM_F_REQUEST).")
    var reply = false

    func run() throws {
        var attrs = FlowTableAttributes.device(ifindex)
        if let key = command.fileKey(reply: reply) {
            guard let file else { throw CtlError("\(command.rawValue) needs a JSON FILE with a \"\(key)\" key") }
            let payload: FlowTableAttributes
            do {
                if file == "-" {
                    payload = try FlowTableJSON.decode(bytes: readStandardInput(), file: "<stdin>", expectedKey: key)
                } else {
                    payload = try FlowTableJSON.loadAttributes(file: file, expectedKey: key)
                }
            } catch {
                throw CtlError("\(error)")
            }
            attrs.tables = payload.tables
            attrs.headers = payload.headers
            attrs.actions = payload.actions
            attrs.headerGraph = payload.headerGraph
            attrs.tableGraph = payload.tableGraph
            attrs.flows = payload.flows
        } else if file != nil {
            throw CtlError("\(command.rawValue)\(reply ? " --reply" : "") takes no FILE")
        }
        if command.command == .getFlows && !reply {
            guard let table else { throw CtlError("get-flows needs --table N") }
            attrs.selector = FlowSelector(table: table, minPriority: minPrio, maxPriority: maxPrio)
        }
        attrs.errorStrategy = errorStrategy
        let message = FlowTableMessage(
            familyID: familyID, command: command.command, isRequest: !reply,
            sequence: seq, port: 0, attributes: attrs)
        do {
            try message.validateShape()
            print(Hex.encode(try message.encoded()))
        } catch {
            throw CtlError("cannot encode \(command.rawValue): \(error)")
        }
    }
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print Flow Table API messages given as hex as JSON (libflow-table keys plus cmd and ifindex).",
        discussion: """
            Reads the hex from the argument or, without one, from stdin (one message, or several
            back to back). Example:
              flow-table-ctl encode set-flows --ifindex 7 flows.json | flow-table-ctl decode
            """)

    @Argument(help: "The message bytes as hex (stdin when omitted).")
    var hex: String?

    @Flag(help: "One compact JSON object per line instead of pretty JSON (as -j).")
    var lines = false

    @OptionGroup(title: "Output") var output: Output

    func run() throws {
        let text = try hex ?? String(decoding: readStandardInput(), as: UTF8.self)
        let bytes: [UInt8]
        do { bytes = try Hex.decode(text) } catch { throw CtlError("bad hex input: \(error)") }
        guard !bytes.isEmpty else { throw CtlError("no message bytes given") }
        let outputs: [JSONValue]
        do {
            outputs = try bytes.withUnsafeBytes { raw throws(DecodeError) -> [JSONValue] in
                var it = NetlinkMessageIterator(raw)
                var out: [JSONValue] = []
                while let m = try it.next() {
                    out.append(try describe(m))
                }
                return out
            }
        } catch {
            throw CtlError("cannot decode: \(error)")
        }
        for o in outputs {
            // Pretty unless one line each is asked for (-j without -p, or --lines).
            let compact = lines || (output.json && !output.pretty)
            print(o.serialized(style: compact ? .compact : .pretty))
        }
    }
}

/// One message as JSON: the API command's name, the device, and the libflow-table keys; ACKs
/// and errors as {"error": errno, "message": text}.
func describe(_ m: NetlinkMessageView) throws(DecodeError) -> JSONValue {
    if m.header.type == Netlink.typeError {
        let ack = try NetlinkAck.decode(m)
        var members = [JSONMember("error", .int(Int64(ack.error))), JSONMember("seq", .number(ack.header.sequence))]
        if let text = ack.message { members.append(JSONMember("message", .string(text))) }
        return .object(members)
    }
    if m.header.type == Netlink.typeDone { return .object([JSONMember("done", .bool(true))]) }
    let msg = try FlowTableMessage.decode(m)
    var members: [JSONMember] = [
        JSONMember("cmd", .string(msg.knownCommand?.name ?? "\(msg.command)")),
        JSONMember("request", .bool(msg.isRequest)),
        JSONMember("seq", .number(msg.header.sequence)),
    ]
    if let ifindex = msg.attributes.ifindex { members.append(JSONMember("ifindex", .number(ifindex))) }
    var rest = msg.attributes
    rest.identifierType = nil
    rest.identifier = nil
    members.append(contentsOf: rest.extendedJSON().members ?? [])
    return .object(members)
}

func readStandardInput() throws -> [UInt8] {
    guard let bytes = Sys.readToEnd(0).bytes else { throw CtlError("cannot read stdin") }
    return bytes
}
