// The original's eight commands against a device: through the kernel when the unft module is
// loaded (a generic netlink socket, DEV a kernel device), else through the unft twin's socket. Replies print as libflow-table JSON on stdout;
// everything else goes to stderr; a failed call exits non-zero.

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

/// Options every online command shares.
struct Connection: ParsableArguments {
    @Option(help: "The unft twin's API socket (default: the kernel when the unft module is loaded, else /run/flowtrace/unft.sock as root, else $XDG_RUNTIME_DIR/flowtrace/unft.sock).")
    var socket: String?

    @Option(help: "Seconds to wait for an answer.")
    var timeout: Double = 10

    /// The kernel module when it is loaded and no twin socket was named.
    var usesKernel: Bool { socket == nil && GenlSocketTransport.moduleLoaded }

    func paths() -> TwinSocketPaths {
        guard let socket else { return .default }
        return TwinSocketPaths(api: socket, hairpin: socket)
    }

    func client() throws -> FlowTableClient {
        do {
            let c: FlowTableClient
            if usesKernel {
                let transport: GenlSocketTransport
                do { transport = try GenlSocketTransport() } catch {
                    throw CtlError("cannot open a generic netlink socket for the unft module: \(error)")
                }
                c = FlowTableClient(transport: transport, timeout: timeout)
            } else {
                c = try FlowTableClient(path: paths().api, timeout: timeout)
            }
            try c.resolveFamily()
            return c
        } catch let e as CtlError {
            throw e
        } catch {
            throw CtlError("\(error)")
        }
    }

    /// DEV: an ifindex, or a device name: a kernel network device when the module is used,
    /// else a name the twin published.
    func ifindex(of device: String) throws -> UInt32 {
        if let n = UInt32(device) { return n }
        if usesKernel {
            if let i = GenlSocketTransport.ifindex(ofDevice: device) { return i }
            throw CtlError("no network device named \(device) (create one with `ip link add \(device) type unft`)")
        }
        let names = LoopbackSession.readDevices(paths: paths())
        if let i = names[device] { return i }
        let known = names.keys.sorted()
        throw CtlError("no unft device named \(device)" + (known.isEmpty ? " (is a twin running? start one with `flow-table-hairpind --twin`)" : "; the twin has \(known.joined(separator: ", "))"))
    }
}

/// A reply's payload as libflow-table JSON.
func printJSON(_ a: FlowTableAttributes) {
    print(a.json().serialized(style: .pretty))
}

/// Fails the command with the call's errno and text.
func check(_ r: FlowTableReply, _ what: String) throws {
    guard r.succeeded else {
        throw CtlError("\(what) failed: \(Errno.display(r.errno)) (errno \(r.errno))\(r.errorMessage.map { ": \($0)" } ?? "")")
    }
}

struct Getter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", shouldDisplay: false)
    static func run(_ command: NFL.Command, device: String, connection: Connection) throws {
        let c = try connection.client()
        defer { c.close() }
        let ifindex = try connection.ifindex(of: device)
        let r: FlowTableReply
        do { r = try c.get(command, ifindex: ifindex) } catch { throw CtlError("\(error)") }
        try check(r, command.name)
        guard let a = r.attributes else { throw CtlError("\(command.name): the reply carried nothing") }
        guard a.ifindex == ifindex else {
            throw CtlError("\(command.name): the reply is for ifindex \(a.ifindex.map(String.init) ?? "none"), not \(ifindex)")
        }
        printJSON(a)
    }
}

struct GetTables: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-tables", abstract: "Print the device's tables.",
                                                    discussion: "Example: flow-table-ctl get-tables unft0")
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @OptionGroup var connection: Connection
    func run() throws { try Getter.run(.getTables, device: device, connection: connection) }
}

struct GetHeaders: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-headers", abstract: "Print the device's headers and fields.",
                                                    discussion: "Example: flow-table-ctl get-headers unft0")
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @OptionGroup var connection: Connection
    func run() throws { try Getter.run(.getHeaders, device: device, connection: connection) }
}

struct GetActions: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-actions", abstract: "Print the device's actions.",
                                                    discussion: "Example: flow-table-ctl get-actions unft0")
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @OptionGroup var connection: Connection
    func run() throws { try Getter.run(.getActions, device: device, connection: connection) }
}

struct GetHeaderGraph: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-header-graph", abstract: "Print the device's header (parse) graph.",
                                                    discussion: "Example: flow-table-ctl get-header-graph unft0")
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @OptionGroup var connection: Connection
    func run() throws { try Getter.run(.getHeaderGraph, device: device, connection: connection) }
}

struct GetTableGraph: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-table-graph", abstract: "Print the device's table graph.",
                                                    discussion: "Example: flow-table-ctl get-table-graph unft0")
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @OptionGroup var connection: Connection
    func run() throws { try Getter.run(.getTableGraph, device: device, connection: connection) }
}

struct GetFlows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-flows", abstract: "Print the flows of a table, in (priority, uid) order.",
        discussion: "Example: flow-table-ctl get-flows unft0 --table 2 --min-prio 10 --max-prio 100")
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @Option(help: "The table (uid).") var table: UInt32
    @Option(help: "Lowest priority, inclusive.") var minPrio: UInt32?
    @Option(help: "Highest priority, inclusive.") var maxPrio: UInt32?
    @OptionGroup var connection: Connection

    func run() throws {
        let c = try connection.client()
        defer { c.close() }
        let ifindex = try connection.ifindex(of: device)
        let r: FlowTableReply
        do {
            r = try c.getFlows(ifindex: ifindex, FlowSelector(table: table, minPriority: minPrio, maxPriority: maxPrio))
        } catch { throw CtlError("\(error)") }
        try check(r, "GET_FLOWS")
        var a = FlowTableAttributes()
        a.flows = r.flows
        printJSON(a)
    }
}

/// SET_FLOWS and DEL_FLOWS: the file's flows in as few requests as fit netlink's 64 KiB nests.
struct Batch {
    static func run(_ command: NFL.Command, device: String, file: String, strategy: ErrorStrategy?,
                    connection: Connection) throws {
        let attrs: FlowTableAttributes
        do {
            attrs = file == "-" ? try FlowTableJSON.decode(bytes: readStandardInput(), file: "<stdin>", expectedKey: "flows")
                : try FlowTableJSON.loadAttributes(file: file, expectedKey: "flows")
        } catch { throw CtlError("\(error)") }
        let flows = attrs.flows ?? []
        guard !flows.isEmpty else { throw CtlError("\(file): no flows to send") }
        let c = try connection.client()
        defer { c.close() }
        let ifindex = try connection.ifindex(of: device)
        var failed: [Flow] = []
        var firstError: (Int32, String?)?
        for range in Parts.ranges(of: flows) {
            let slice = Array(flows[range])
            let r: FlowTableReply
            do {
                r = command == .setFlows ? try c.setFlows(ifindex: ifindex, slice, strategy: strategy)
                    : try c.delFlows(ifindex: ifindex, slice, strategy: strategy)
            } catch { throw CtlError("\(error)") }
            failed.append(contentsOf: r.report)
            if !r.succeeded && firstError == nil { firstError = (r.errno, r.errorMessage) }
            // ABORT stops the whole file at the first failed request, as it stops a request.
            if !r.succeeded && (strategy ?? .abort) == .abort || !r.succeeded && strategy == .abortLog { break }
        }
        if !failed.isEmpty {
            // The failed flows with their errno (NFL_ATTR_ERROR), which the originals dropped.
            var a = FlowTableAttributes()
            a.flows = failed
            printJSON(a)
            for f in failed {
                let e = Int32(f.error ?? 0)
                fputs("flow-table-ctl: flow table \(f.table) uid \(f.uid): \(Errno.display(e)) (errno \(e))\n", stderr)
            }
        }
        if let (errno, text) = firstError {
            throw CtlError("\(command.name) failed: \(Errno.display(errno)) (errno \(errno))\(text.map { ": \($0)" } ?? "")")
        }
        if !failed.isEmpty && strategy == .continueLog {
            throw CtlError("\(command.name): \(failed.count) of \(flows.count) flows failed")
        }
    }
}

struct SetFlows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-flows", abstract: "Install the flows of a libflow-table JSON file.",
        discussion: """
        Examples:
          flow-table-ctl set-flows unft0 flows.json
          flow-table-ctl set-flows unft0 flows.json --error-strategy cont-log   # report every failed flow
        """)
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @Argument(help: "JSON file with a \"flows\" key ('-' for stdin).") var file: String
    @Option(help: "abort (default: stop and undo the request), continue, abort-log or cont-log.") var errorStrategy: ErrorStrategy?
    @OptionGroup var connection: Connection
    func run() throws { try Batch.run(.setFlows, device: device, file: file, strategy: errorStrategy, connection: connection) }
}

struct DelFlows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "del-flows", abstract: "Delete the flows of a libflow-table JSON file (by table and uid).",
        discussion: "Example: flow-table-ctl del-flows unft0 del-flows.json")
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @Argument(help: "JSON file with a \"flows\" key ('-' for stdin).") var file: String
    @Option(help: "abort (default), continue, abort-log or cont-log.") var errorStrategy: ErrorStrategy?
    @OptionGroup var connection: Connection
    func run() throws { try Batch.run(.delFlows, device: device, file: file, strategy: errorStrategy, connection: connection) }
}
