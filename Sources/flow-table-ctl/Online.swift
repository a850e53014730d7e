// The original's eight commands against a device: through the kernel when the unft module is
// loaded (a generic netlink socket, DEV a kernel device), else through the unft twin's socket.
// Replies print on stdout as text for people (FlowText: names and value formats from the
// device's model) or, with -j / -p, as libflow-table JSON; everything else goes to stderr; a
// failed call exits non-zero.

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import Posix
import LiveCapture

#if canImport(Glibc)
import Glibc
#endif

/// Options every online command shares.
struct Connection: ParsableArguments {
    @Option(
        help:
            "The unft twin's API socket (default: the kernel when the unft module is loaded, else /run/flowtrace/unft.sock as root, else $XDG_RUNTIME_DIR/flowtrace/unft.sock)."
    )
    var socket: String?

    @Option(help: "Seconds to wait for an answer.")
    var timeout: Double = 10

    /// The kernel module when it is loaded and no twin socket was named.
    var usesKernel: Bool { socket == nil && GenlSocketTransport.moduleLoaded }

    func paths() -> TwinSocketPaths {
        guard let socket else { return .default }
        return TwinSocketPaths(api: socket, hairpin: socket)
    }

    /// A client on the kernel's or the twin's socket, its family not resolved yet.
    func open() throws -> FlowTableClient {
        if usesKernel {
            let transport: GenlSocketTransport
            do { transport = try GenlSocketTransport() } catch {
                throw CtlError("cannot open a generic netlink socket for the unft module: \(error)")
            }
            return FlowTableClient(transport: transport, timeout: timeout)
        }
        do { return try FlowTableClient(path: paths().api, timeout: timeout) } catch { throw CtlError("\(error)") }
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
        throw CtlError(
            "no unft device named \(device)"
                + (known.isEmpty
                    ? " (is a twin running? start one with `flow-table-hairpind --twin`)"
                    : "; the twin has \(known.joined(separator: ", "))"))
    }
}

/// How answers are printed; options every online command shares, as iproute2 spells them.
struct Output: ParsableArguments {
    @Flag(
        name: [.customShort("j"), .long],
        help:
            "JSON output: the answer as libflow-table JSON on one line (a set/del report: the failed flows with their errno)."
    )
    var json = false

    @Flag(name: [.customShort("p"), .long], help: "Pretty JSON, indented (implies -j).")
    var pretty = false

    @Flag(name: [.customShort("q"), .long], help: "No success line after set-flows / del-flows.")
    var quiet = false

    @Flag(
        name: [.customShort("v"), .long],
        help: "Log every call once on stderr: command, device, flows, answer, latency.")
    var verbose = false

    var isJSON: Bool { json || pretty }

    func print(_ value: JSONValue) {
        Swift.print(value.serialized(style: pretty ? .pretty : .compact))
    }

    /// A -v line, "COMMAND DEV (ifindex N) … → ANSWER, T ms".
    func log(_ text: String, since start: UInt64) {
        guard verbose else { return }
        let us = (MonotonicClock.now() - start) / 1000
        let ms = "\(us / 1000)." + String(String(us % 1000 + 1000).dropFirst())
        warn("\(text), \(ms) ms")
    }
}

/// "1 flow", "6 flows".
func flowCount(_ n: Int) -> String { n == 1 ? "1 flow" : "\(n) flows" }

/// A line on stderr, prefixed with the tool's name.
func warn(_ text: String) {
    fputs("flow-table-ctl: \(text)\n", stderr)
}

/// Fails the command with the call's errno and text.
func check(_ r: FlowTableReply, _ what: String) throws {
    guard r.succeeded else {
        throw CtlError(
            "\(what) failed: \(Errno.display(r.errno)) (errno \(r.errno))\(r.errorMessage.map { ": \($0)" } ?? "")"
                + (r.missingText.map { " [\($0)]" } ?? ""))
    }
}

/// One device: its client and ifindex; every call made through `call`, logged with -v.
struct Session {
    let client: FlowTableClient
    let device: String
    let ifindex: UInt32
    let output: Output

    init(_ connection: Connection, _ output: Output, device: String) throws {
        let client = try connection.open()
        let start = MonotonicClock.now()
        do {
            let id = try client.resolveFamily()
            output.log("CTRL_GETFAMILY \(NFL.familyName) → id \(id)", since: start)
        } catch {
            output.log("CTRL_GETFAMILY \(NFL.familyName) → \(error)", since: start)
            client.close()
            throw CtlError("\(error)")
        }
        do {
            ifindex = try connection.ifindex(of: device)
        } catch {
            client.close()
            throw error
        }
        self.client = client
        self.device = device
        self.output = output
    }

    func close() { client.close() }

    /// "unft0" or, for a device given by number, "ifindex 7".
    var deviceName: String { UInt32(device) == nil ? device : "ifindex \(device)" }

    /// One call; `detail` says what it asks ("table 2", "6 flows").
    func call(
        _ command: NFL.Command, _ detail: String? = nil,
        _ body: (FlowTableClient) throws(FlowTableClientError) -> FlowTableReply
    ) throws -> FlowTableReply {
        let what = "\(command.name) \(device) (ifindex \(ifindex))" + (detail.map { " \($0)" } ?? "")
        let start = MonotonicClock.now()
        let r: FlowTableReply
        do { r = try body(client) } catch {
            output.log("\(what) → no answer: \(error)", since: start)
            throw CtlError("\(error)")
        }
        var answer = r.succeeded ? "OK" : "\(Errno.display(r.errno)) (errno \(r.errno))"
        if command == .getFlows && r.succeeded { answer += ", " + flowCount(r.flows.count) }
        if !r.report.isEmpty {
            answer += ", \(r.report.count) failed " + (r.report.count == 1 ? "flow" : "flows") + " reported"
        }
        output.log("\(what) → \(answer)", since: start)
        return r
    }

    /// A getter's payload, checked to be for this device.
    func get(_ command: NFL.Command) throws -> FlowTableAttributes {
        let r = try call(command) { c throws(FlowTableClientError) in try c.get(command, ifindex: ifindex) }
        try check(r, command.name)
        guard let a = r.attributes else { throw CtlError("\(command.name): the reply carried nothing") }
        guard a.ifindex == ifindex else {
            throw CtlError(
                "\(command.name): the reply is for ifindex \(a.ifindex.map(String.init) ?? "none"), not \(ifindex)")
        }
        return a
    }

    /// The model parts `commands` fetch, joined; a part the device does not give is left out
    /// (numbers are printed instead of its names) with a warning.
    func model(_ commands: [NFL.Command]) -> FlowTableAttributes {
        var m = FlowTableAttributes()
        for c in commands {
            do {
                let a = try get(c)
                m.tables = a.tables ?? m.tables
                m.headers = a.headers ?? m.headers
                m.actions = a.actions ?? m.actions
                m.headerGraph = a.headerGraph ?? m.headerGraph
            } catch {
                warn("\(error); printing numbers for its names")
            }
        }
        return m
    }

    /// Text with names for `refs` and actions: headers and actions, the header graph when an
    /// instance is not its header.
    func text(for refs: [FieldRef], actions: Bool, tables: Bool = false) -> FlowText {
        var commands: [NFL.Command] = tables ? [.getTables, .getHeaders] : [.getHeaders]
        if actions { commands.append(.getActions) }
        if FlowText.needsHeaderGraph(refs) { commands.append(.getHeaderGraph) }
        let m = model(commands)
        return FlowText(
            headers: m.headers ?? [], actions: m.actions ?? [], headerGraph: m.headerGraph ?? [], tables: m.tables ?? []
        )
    }
}

struct Getter {
    static func run(_ command: NFL.Command, device: String, connection: Connection, output: Output) throws {
        let s = try Session(connection, output, device: device)
        defer { s.close() }
        let a = try s.get(command)
        if output.isJSON {
            output.print(a.json())
            return
        }
        var lines: [String] = []
        switch command {
        case .getTables:
            let tables = a.tables ?? []
            let t = s.text(for: tables.flatMap(\.matches), actions: true)
            lines = tables.map { t.line($0) }
        case .getHeaders:
            lines = (a.headers ?? []).map(FlowText.line)
        case .getActions:
            lines = (a.actions ?? []).map(FlowText.line)
        case .getHeaderGraph:
            let m = s.model([.getHeaders])
            let t = FlowText(headers: m.headers ?? [], headerGraph: a.headerGraph ?? [])
            lines = (a.headerGraph ?? []).map { t.line($0) }
        case .getTableGraph:
            let nodes = a.tableGraph ?? []
            let t = s.text(for: nodes.flatMap { $0.jumps.map(\.ref) }, actions: false, tables: true)
            lines = nodes.map { t.line($0) }
        default:
            lines = [a.json().serialized(style: .pretty)]
        }
        for l in lines { print(l) }
    }
}

/// One of the model getters (get-tables … get-table-graph): what it asks and its help.
protocol Getting {
    static var command: NFL.Command { get }
    static var configuration: CommandConfiguration { get }
}

/// A model getter on the command line: the device, the connection and the output, then Getter.run.
struct Get<What: Getting>: ParsableCommand {
    static var configuration: CommandConfiguration { What.configuration }
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @OptionGroup(title: "Device connection") var connection: Connection
    @OptionGroup(title: "Output") var output: Output
    func run() throws { try Getter.run(What.command, device: device, connection: connection, output: output) }
}

enum GetTables: Getting {
    static let command = NFL.Command.getTables
    static let configuration = CommandConfiguration(
        commandName: "get-tables", abstract: "Print the device's tables.",
        discussion: """
            One table per line: uid, name, source, apply, size, the fields a flow may match \
            (with their mask type), the actions it may use. Example (wrapped here):
              $ flow-table-ctl get-tables unft0
              table 3 ipv4_route source 1 apply 3 size 65536
                  match metadata.inter_table(exact),ipv4.dst_ip(lpm) actions set_eth_src,…
            """)
}

enum GetHeaders: Getting {
    static let command = NFL.Command.getHeaders
    static let configuration = CommandConfiguration(
        commandName: "get-headers", abstract: "Print the device's headers and fields.",
        discussion: """
            One header per line, each field as name:bits. Example:
              $ flow-table-ctl get-headers unft0
              header 1 ethernet src_mac:48 dst_mac:48 ethertype:16
            """)
}

enum GetActions: Getting {
    static let command = NFL.Command.getActions
    static let configuration = CommandConfiguration(
        commandName: "get-actions", abstract: "Print the device's actions.",
        discussion: """
            One action per line, each argument as name:type. Example:
              $ flow-table-ctl get-actions unft0
              action 5 set_out_port port:u32
            """)
}

enum GetHeaderGraph: Getting {
    static let command = NFL.Command.getHeaderGraph
    static let configuration = CommandConfiguration(
        commandName: "get-header-graph", abstract: "Print the device's header (parse) graph.",
        discussion: """
            One node per line: its headers and its jumps as match:next-node. Example:
              $ flow-table-ctl get-header-graph unft0
              node 1 ethernet headers ethernet jump ethernet.ethertype=0x8100:vlan,…
            """)
}

enum GetTableGraph: Getting {
    static let command = NFL.Command.getTableGraph
    static let configuration = CommandConfiguration(
        commandName: "get-table-graph", abstract: "Print the device's table graph.",
        discussion: """
            One table per line: its roles and its jumps as match:next-table ("always" for an \
            unconditional jump). Example:
              $ flow-table-ctl get-table-graph unft0
              table 1 ingress_acl ingress-root jump ethernet.ethertype=0x0800:ipv4_5tuple,…
            """)
}

struct GetFlows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-flows", abstract: "Print the flows of a table, in (priority, uid) order.",
        discussion: """
            One flow per line, as `tc filter show` prints filters: table, uid, priority, each \
            match as header.field=value[/mask], each action with its arguments as name=value. \
            Names are the device's model's (GET_HEADERS, GET_ACTIONS; GET_HDR_GRAPH when an \
            instance is not its header). Values follow the field's width and name: 48 bits a MAC \
            address, 32 bits named like an address (src_ip, saddr…) dotted quad, the X_hi/X_lo \
            halves of an IPv6 address one IPv6 address, type/flags/checksum fields hex, the rest \
            decimal. /mask is left out when the mask covers the whole field; an address mask is a \
            prefix length when it is one. An empty table prints nothing.

            Example (each flow is one line, wrapped here):
              $ flow-table-ctl get-flows unft0 --table 3
              table 3 uid 1 prio 8 metadata.inter_table=0 ipv4.dst_ip=10.0.0.0/8
                  action set_out_port port=4
              table 3 uid 3 prio 16 metadata.inter_table=0 ipv4.dst_ip=192.0.2.0/24
                  action set_eth_dst eth_dst=02:00:00:00:00:09 action set_out_port port=9

            With -j (or -p) the flows as libflow-table JSON, the form set-flows reads:
              flow-table-ctl get-flows unft0 --table 2 --min-prio 10 --max-prio 100 -j
            """)
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @Option(help: "The table (uid).") var table: UInt32
    @Option(help: "Lowest priority, inclusive.") var minPrio: UInt32?
    @Option(help: "Highest priority, inclusive.") var maxPrio: UInt32?
    @OptionGroup(title: "Device connection") var connection: Connection
    @OptionGroup(title: "Output") var output: Output

    func run() throws {
        let s = try Session(connection, output, device: device)
        defer { s.close() }
        let selector = FlowSelector(table: table, minPriority: minPrio, maxPriority: maxPrio)
        var detail = "table \(table)"
        if let minPrio { detail += " min-prio \(minPrio)" }
        if let maxPrio { detail += " max-prio \(maxPrio)" }
        let r = try s.call(.getFlows, detail) { c throws(FlowTableClientError) in
            try c.getFlows(ifindex: s.ifindex, selector)
        }
        try check(r, "GET_FLOWS")
        let flows = r.flows
        if output.isJSON {
            var a = FlowTableAttributes()
            a.flows = flows
            output.print(a.json())
            return
        }
        guard !flows.isEmpty else { return }
        let text = s.text(for: flows.flatMap { $0.matches ?? [] }, actions: true)
        for f in flows { print(text.line(f)) }
    }
}

/// SET_FLOWS and DEL_FLOWS: the file's flows in as few requests as fit netlink's 64 KiB nests.
struct Batch {
    /// A flow the device reported failed, and why when that is known.
    struct Failure {
        var flow: Flow
        var errno: Int32
        var reason: String?
    }

    static func run(
        _ command: NFL.Command, device: String, file: String, strategy: ErrorStrategy?,
        connection: Connection, output: Output
    ) throws {
        let attrs: FlowTableAttributes
        do {
            attrs =
                file == "-"
                ? try FlowTableJSON.decode(bytes: readStandardInput(), file: "<stdin>", expectedKey: "flows")
                : try FlowTableJSON.loadAttributes(file: file, expectedKey: "flows")
        } catch { throw CtlError("\(error)") }
        let flows = attrs.flows ?? []
        guard !flows.isEmpty else { throw CtlError("\(file): no flows to send") }
        let s = try Session(connection, output, device: device)
        defer { s.close() }
        var failures: [Failure] = []
        var firstError: (Int32, String?)?
        for range in Parts.ranges(of: flows) {
            let slice = Array(flows[range])
            let r = try s.call(command, flowCount(slice.count)) { c throws(FlowTableClientError) in
                command == .setFlows
                    ? try c.setFlows(ifindex: s.ifindex, slice, strategy: strategy)
                    : try c.delFlows(ifindex: s.ifindex, slice, strategy: strategy)
            }
            // ABORT_LOG: the final error's text names the failed flow and says why.
            let named = r.errorMessage.flatMap(FlowFailure.parse)
            for f in r.report {
                let reason = named.flatMap { $0.table == f.table && $0.uid == f.uid ? $0.reason : nil }
                failures.append(Failure(flow: f, errno: Int32(f.error ?? 0), reason: reason))
            }
            if !r.succeeded && firstError == nil { firstError = (r.errno, r.errorMessage) }
            // ABORT stops the whole file at the first failed request, as it stops a request.
            if !r.succeeded && (strategy ?? .abort) == .abort || !r.succeeded && strategy == .abortLog { break }
        }
        if !failures.isEmpty {
            if output.isJSON {
                // The failed flows with their errno (NFL_ATTR_ERROR), which the originals dropped.
                var a = FlowTableAttributes()
                a.flows = failures.map(\.flow)
                output.print(a.json())
            } else {
                explain(&failures, command == .setFlows ? .set : .del, s)
            }
            for f in failures {
                warn(
                    "flow table \(f.flow.table) uid \(f.flow.uid): \(Errno.display(f.errno)) (errno \(f.errno))"
                        + (f.reason.map { ": \($0)" } ?? ""))
            }
        }
        if let (errno, text) = firstError {
            throw CtlError(
                "\(command.name) failed: \(Errno.display(errno)) (errno \(errno))\(text.map { ": \($0)" } ?? "")")
        }
        if !failures.isEmpty && strategy == .continueLog {
            throw CtlError("\(command.name): \(failures.count) of \(flows.count) flows failed")
        }
        guard !output.isJSON && !output.quiet else { return }
        let tables = Set(flows.map(\.table)).sorted().map(String.init)
        let scope = (tables.count == 1 ? "table " : "tables ") + tables.joined(separator: ", ")
        let count = flowCount(flows.count)
        if strategy == .continue {
            print("sent \(count) to \(s.deviceName) (\(scope)); with continue, failed flows are not reported")
        } else {
            print(
                command == .setFlows
                    ? "set \(count) on \(s.deviceName) (\(scope))" : "deleted \(count) from \(s.deviceName) (\(scope))")
        }
    }

    /// Reasons for the failures the answer gave none: a CONT_LOG report carries only each
    /// flow's errno, so the device is asked afterwards (its flows of each table concerned, its
    /// model for a flow it may have found invalid) and FlowFailure says what that shows.
    static func explain(_ failures: inout [Failure], _ op: FlowOperation, _ s: Session) {
        let open = failures.indices.filter { failures[$0].reason == nil }
        guard !open.isEmpty else { return }
        let EEXIST = Int32(Errno.EEXIST), ENOENT = Int32(Errno.ENOENT)
        var states: [UInt32: FlowFailure.TableState] = [:]
        let lookups = Set(
            open.filter { failures[$0].errno == EEXIST || failures[$0].errno == ENOENT }.map { failures[$0].flow.table }
        )
        for table in lookups.sorted() {
            let r = try? s.call(.getFlows, "table \(table)") { c throws(FlowTableClientError) in
                try c.getFlows(ifindex: s.ifindex, FlowSelector(table: table))
            }
            if let r { states[table] = r.succeeded ? .flows(r.flows) : r.errno == ENOENT ? .missing : .unknown }
        }
        var validation: ValidationIndex?
        var sizes: [UInt32: UInt32] = [:]
        if open.contains(where: {
            ![EEXIST, ENOENT].contains(failures[$0].errno) || (op == .set && failures[$0].errno == ENOENT)
        }) {
            let m = s.model([.getTables, .getHeaders, .getActions])
            if let tables = m.tables, let headers = m.headers, let actions = m.actions {
                validation = ValidationIndex(PipelineModel(headers: headers, actions: actions, tables: tables))
                for t in tables { sizes[t.uid] = t.size }
            }
        }
        for i in open {
            let f = failures[i]
            failures[i].reason = FlowFailure.explain(
                op, f.flow, errno: f.errno, table: states[f.flow.table] ?? .unknown,
                validation: validation, tableSize: sizes[f.flow.table])
        }
    }
}

struct SetFlows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-flows", abstract: "Install the flows of a libflow-table JSON file.",
        discussion: """
            Prints one line when done ("set 6 flows on unft0 (tables 1, 2, 3, 4)"; none with -q \
            or -j). With abort-log or cont-log the device reports each failed flow with its \
            errno; each is printed on stderr with its reason, for example:
              flow-table-ctl: flow table 2 uid 1: EEXIST (errno 17): duplicate uid
              flow-table-ctl: flow table 2 uid 9: EEXIST (errno 17): same matches and
                  priority as flow uid 1

            The reason is the device's text when its answer carries one (abort, abort-log: the \
            final error names the failed flow). A cont-log answer carries errnos only, so \
            flow-table-ctl then asks the device why: GET_FLOWS of the flow's table, and the \
            model (GET_TABLES, GET_HEADERS, GET_ACTIONS) for a flow it may have found invalid; \
            a failure that state does not explain is printed with its errno alone. With -j \
            those look-ups are not made and the report is printed as libflow-table JSON on \
            stdout.

            Examples:
              flow-table-ctl set-flows unft0 flows.json
              flow-table-ctl set-flows unft0 flows.json --error-strategy cont-log
            """)
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @Argument(help: "JSON file with a \"flows\" key ('-' for stdin).") var file: String
    @Option(help: "abort (default: stop and undo the request), continue, abort-log or cont-log.") var errorStrategy:
        ErrorStrategy?
    @OptionGroup(title: "Device connection") var connection: Connection
    @OptionGroup(title: "Output") var output: Output
    func run() throws {
        try Batch.run(
            .setFlows, device: device, file: file, strategy: errorStrategy, connection: connection, output: output)
    }
}

struct DelFlows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "del-flows", abstract: "Delete the flows of a libflow-table JSON file (by table and uid).",
        discussion: """
            Prints one line when done ("deleted 2 flows from unft0 (table 2)"; none with -q or \
            -j); failed flows as set-flows prints them. Example:
              flow-table-ctl del-flows unft0 del-flows.json
            """)
    @Argument(help: "The device: a name or an ifindex.") var device: String
    @Argument(help: "JSON file with a \"flows\" key ('-' for stdin).") var file: String
    @Option(help: "abort (default), continue, abort-log or cont-log.") var errorStrategy: ErrorStrategy?
    @OptionGroup(title: "Device connection") var connection: Connection
    @OptionGroup(title: "Output") var output: Output
    func run() throws {
        try Batch.run(
            .delFlows, device: device, file: file, strategy: errorStrategy, connection: connection, output: output)
    }
}
