// flowtrace demo: the README's main job. Starts unft's twin and the hairpin daemon in this
// process, runs a scripted session against them over the real sockets, records it, and prints
// what happened. Every step checks its answer, so the demo doubles as a smoke test: it exits
// non-zero when anything is not as expected, and leaves no process or socket behind.

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import Posix
import LiveCapture

#if canImport(Glibc)
import Glibc
#endif

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scripted session on the embedded twin (no kernel module needed) and show what happened.",
        discussion: """
            Examples:
              flowtrace demo
              flowtrace demo --flows 5000 --backend tss --record demo.pcapng && flowtrace show demo.pcapng
            """)

    @Option(help: "How many flows to install across the tables.")
    var flows: Int = 3000

    @Option(help: "Flow storage: dummy, hash, tss or tcam.")
    var backend: BackendKind = .hash

    @Option(
        help:
            "Keep the session's trace in this file ('-': stdout, the commentary then on stderr; default: a temporary file, removed at the end)."
    )
    var record: String?

    @Option(help: "Random seed of the generated flows.")
    var seed: UInt64 = 2015

    @Flag(help: "No colours.")
    var plain = false

    func run() throws {
        // --record -: the trace goes to stdout, so the commentary goes to stderr.
        let toStdout = record == "-"
        var ui = DemoOutput(color: !plain && isatty(toStdout ? 2 : 1) != 0, fd: toStdout ? 2 : 1)
        let dir = try makeTempDirectory()
        // The trace is read back for its summary: written to stdout once the session is over.
        let tracePath = toStdout ? dir + "/demo.pcapng" : record ?? dir + "/demo.pcapng"
        var o = LoopbackSession.Options()
        o.devices = LoopbackSession.devices(named: ["unft0", "unft1"])
        o.backend = backend
        o.paths = TwinSocketPaths(directory: dir)
        o.recordPath = tracePath
        o.timeout = 5
        o.commandLine = CommandLine.arguments.joined(separator: " ")
        let session: LoopbackSession
        do {
            session = try LoopbackSession(o)
            try session.start()
        } catch {
            throw ToolError("cannot start the session: \(error)")
        }
        defer {
            session.stop()
            unlink(o.paths.api)
            unlink(o.paths.hairpin)
            if record == nil || toStdout { unlink(tracePath) }
            rmdir(dir)
        }
        ui.title(
            "FlowTrace demo: unft twin + flow-table-hairpind (\(backend.rawValue) backend), devices unft0 (1000) and unft1 (1001)"
        )
        var script = DemoScript(paths: o.paths, ui: ui, flowCount: flows, seed: seed, session: session)
        let ok = script.run()
        ui = script.ui
        session.stop()
        ui.section("The trace")
        let stats = summarize(tracePath)
        ui.line(stats)
        if toStdout {
            do { try copyToStdout(tracePath) } catch { throw ToolError("cannot write the trace to stdout: \(error)") }
        } else if let record {
            ui.line(
                "kept in \(record): try  flowtrace show \(record)  or  flowtrace wireshark install && tshark -r \(record)"
            )
        }
        ui.section(ok ? "All \(script.checks) checks passed." : "\(script.failures) of \(script.checks) checks FAILED.")
        ui.flush()
        if !ok { throw ExitCode.failure }
    }

    /// The file's bytes to stdout.
    func copyToStdout(_ path: String) throws {
        let fd = Sys.openForReading(path)
        guard fd >= 0 else { throw ToolError(Sys.errorText(errno)) }
        defer { _ = Sys.close(fd) }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Sys.readSome(fd, $0.baseAddress!, $0.count) }
            if n < 0 { throw ToolError(Sys.errorText(Int32(-n))) }
            if n == 0 { return }
            let e = buf.withUnsafeBytes { Sys.writeAll(1, $0.baseAddress!, n).error }
            if e != 0 { throw ToolError(Sys.errorText(e)) }
        }
    }

    func summarize(_ path: String) -> String {
        do {
            let reader = try TraceReader(path: path)
            var stats = TraceStats()
            while let r = try reader.next() { stats.add(r, families: reader.families) }
            var lines = [
                "\(stats.records) records (\(stats.synthetic) snapshot) over \(Double(stats.durationNanoseconds / 1_000_000) / 1000) s"
            ]
            for key in stats.byCommand.keys.sorted() where key.leg == .hairpin {
                guard let c = stats.byCommand[key], c.calls > 0 else { continue }
                let name = NFL.Command(rawValue: key.command)?.name ?? "\(key.command)"
                let p50 = c.latency.totalCount > 0 ? TraceLine.latency(c.latency.valueAtPercentile(50)) : "-"
                let p99 = c.latency.totalCount > 0 ? TraceLine.latency(c.latency.valueAtPercentile(99)) : "-"
                lines.append(
                    "  hairpin \(name): \(c.calls) calls, \(c.errors.values.reduce(0, +)) failed, daemon latency p50 \(p50) p99 \(p99)"
                )
            }
            let added = stats.added.values.reduce(0, +), removed = stats.removed.values.reduce(0, +)
            lines.append("  flows applied: +\(added) −\(removed)")
            return lines.joined(separator: "\n")
        } catch {
            return "cannot read the trace: \(error)"
        }
    }

    func makeTempDirectory() throws -> String {
        var template = Array("/tmp/flowtrace-demo-XXXXXX".utf8CString)
        let made: String? = template.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress, let p = mkdtemp(base) else { return nil }
            return String(cString: p)
        }
        guard let made else {
            throw ToolError("cannot create a temporary directory: \(Sys.errorText(errno))")
        }
        return made
    }
}

/// The session itself: each step calls the twin like any client and checks the answer.
struct DemoScript {
    let paths: TwinSocketPaths
    var ui: DemoOutput
    let flowCount: Int
    let seed: UInt64
    let session: LoopbackSession
    var checks = 0
    var failures = 0
    let unft0: UInt32 = 1000
    let unft1: UInt32 = 1001

    init(paths: TwinSocketPaths, ui: DemoOutput, flowCount: Int, seed: UInt64, session: LoopbackSession) {
        self.paths = paths
        self.ui = ui
        self.flowCount = flowCount
        self.seed = seed
        self.session = session
    }

    mutating func expect(_ ok: Bool, _ text: String, detail: String? = nil) {
        checks += 1
        if !ok { failures += 1 }
        ui.check(ok, text, detail: detail)
    }

    mutating func run() -> Bool {
        let client: FlowTableClient
        do {
            client = try FlowTableClient(path: paths.api, timeout: 10)
            try client.resolveFamily()
        } catch {
            expect(false, "connect to the twin at \(paths.api)", detail: "\(error)")
            return false
        }
        defer { client.close() }
        do {
            try discover(client)
            let installed = try install(client)
            try readBack(client, installed)
            try delete(client, installed)
            try provokeErrors(client, installed)
            try listenerGone(client)
        } catch {
            expect(false, "the session ran to its end", detail: "\(error)")
        }
        return failures == 0
    }

    // MARK: steps

    mutating func discover(_ c: FlowTableClient) throws {
        ui.section("1. Discover the pipeline of unft0")
        let tables = try c.get(.getTables, ifindex: unft0)
        let headers = try c.get(.getHeaders, ifindex: unft0)
        let actions = try c.get(.getActions, ifindex: unft0)
        let hg = try c.get(.getHeaderGraph, ifindex: unft0)
        let tg = try c.get(.getTableGraph, ifindex: unft0)
        let model = session.options.model
        expect(tables.attributes?.tables == model.tables, "GET_TABLES: \(model.tables.count) tables")
        for t in model.tables {
            ui.line(
                "    table \(t.uid) \(t.name.col(12)) size \(String(t.size).col(6)) matches \(t.matches.count) fields, \(t.actions.count) actions"
            )
        }
        expect(
            headers.attributes?.headers == model.headers,
            "GET_HEADERS: \(model.headers.map(\.name).joined(separator: ", "))")
        expect(
            actions.attributes?.actions == model.actions,
            "GET_ACTIONS: \(model.actions.compactMap(\.name).joined(separator: ", "))")
        expect(
            hg.attributes?.headerGraph == model.headerGraph && tg.attributes?.tableGraph == model.tableGraph,
            "GET_HDR_GRAPH / GET_TABLE_GRAPH: \(model.headerGraph.count) parse nodes, \(model.tableGraph.count) table nodes"
        )
    }

    mutating func install(_ c: FlowTableClient) throws -> [Flow] {
        ui.section("2. Install \(flowCount) flows across the tables of unft0 (batched SET_FLOWS)")
        var gen = FlowGenerator(model: session.options.model, seed: seed)
        let flows = gen.flows(count: flowCount)
        let t0 = MonotonicClock.now()
        var requests = 0
        var failed = 0
        for range in Parts.ranges(of: flows) {
            let r = try c.setFlows(ifindex: unft0, Array(flows[range]), strategy: .continueLog)
            requests += 1
            failed += r.report.count
        }
        let dt = Double(MonotonicClock.now() - t0) / 1e9
        var perTable: [UInt32: Int] = [:]
        for f in flows { perTable[f.table, default: 0] += 1 }
        expect(
            failed == 0,
            "\(flows.count) flows in \(requests) requests, \(Int(Double(flows.count) / max(dt, 1e-9))) flows/s end to end",
            detail: failed == 0 ? nil : "\(failed) flows were refused")
        for (t, n) in perTable.sorted(by: { $0.key < $1.key }) {
            ui.line("    table \(t): \(n) flows")
        }
        return flows
    }

    mutating func readBack(_ c: FlowTableClient, _ installed: [Flow]) throws {
        ui.section("3. Read them back (GET_FLOWS per table, in (priority, uid) order)")
        var byTable: [UInt32: [Flow]] = [:]
        for f in installed { byTable[f.table, default: []].append(f) }
        for (t, flows) in byTable.sorted(by: { $0.key < $1.key }) {
            let r = try c.getFlows(ifindex: unft0, FlowSelector(table: t))
            let expected = flows.sorted { ($0.priority, $0.uid) < ($1.priority, $1.uid) }
            expect(
                r.succeeded && r.flows == expected,
                "table \(t): \(r.flows.count) flows, equal to what was installed",
                detail: r.succeeded ? nil : r.errorMessage)
        }
        let lo: UInt32 = 100, hi: UInt32 = 199
        if let t = byTable.keys.sorted().first {
            let r = try c.getFlows(ifindex: unft0, FlowSelector(table: t, minPriority: lo, maxPriority: hi))
            let want = byTable[t, default: []].filter { $0.priority >= lo && $0.priority <= hi }.count
            expect(
                r.flows.count == want && r.flows.allSatisfy { $0.priority >= lo && $0.priority <= hi },
                "table \(t), priorities \(lo)…\(hi): \(r.flows.count) flows")
        }
        let other = try c.getFlows(ifindex: unft1, FlowSelector(table: byTable.keys.sorted().first ?? 1))
        expect(other.succeeded && other.flows.isEmpty, "unft1 has its own state: its tables are empty")
    }

    mutating func delete(_ c: FlowTableClient, _ installed: [Flow]) throws {
        ui.section("4. Delete a third of them (DEL_FLOWS by table and uid)")
        let victims = installed.enumerated().filter { $0.offset % 3 == 0 }.map {
            Flow(table: $0.element.table, uid: $0.element.uid, priority: $0.element.priority)
        }
        var failed = 0
        for range in Parts.ranges(of: victims) {
            failed += try c.delFlows(ifindex: unft0, Array(victims[range]), strategy: .continueLog).report.count
        }
        var remaining = 0
        for t in Set(installed.map(\.table)) {
            remaining += try c.getFlows(ifindex: unft0, FlowSelector(table: t)).flows.count
        }
        expect(
            failed == 0 && remaining == installed.count - victims.count,
            "deleted \(victims.count); \(remaining) remain")
    }

    mutating func provokeErrors(_ c: FlowTableClient, _ installed: [Flow]) throws {
        ui.section("5. Provoke each kind of error")
        guard let existing = installed.enumerated().first(where: { $0.offset % 3 != 0 })?.element else { return }
        var gen = FlowGenerator(model: session.options.model, seed: seed &+ 1)
        var twin = existing
        twin.uid = 60_000
        var r = try c.setFlows(ifindex: unft0, [twin])
        expect(
            r.errno == Int32(Errno.EEXIST), "same match set and priority as flow \(existing.uid) → EEXIST",
            detail: r.errorMessage)
        var sameUID = gen.flow(
            in: session.options.model.tables.first { $0.uid == existing.table } ?? session.options.model.tables[0],
            uid: existing.uid)
        sameUID.table = existing.table
        r = try c.setFlows(ifindex: unft0, [sameUID])
        expect(
            r.errno == Int32(Errno.EEXIST), "duplicate uid \(existing.uid) in table \(existing.table) → EEXIST",
            detail: r.errorMessage)
        let dupUID = sameUID
        var unknownTable = existing
        unknownTable.table = 99
        unknownTable.uid = 1
        r = try c.setFlows(ifindex: unft0, [unknownTable])
        expect(r.errno == Int32(Errno.ENOENT), "unknown table 99 → ENOENT", detail: r.errorMessage)
        var badField = existing
        badField.uid = 60_001
        if var m = badField.matches?.first {
            m.field = 9  // a field the table does not match on
            m.header = 3
            m.instance = 3
            badField.matches = [m]
        }
        r = try c.setFlows(ifindex: unft0, [badField])
        expect(
            r.errno == Int32(Errno.EINVAL), "match on a field the table does not offer → EINVAL", detail: r.errorMessage
        )
        r = try c.delFlows(ifindex: unft0, [Flow(table: existing.table, uid: 59_999, priority: 0)])
        expect(r.errno == Int32(Errno.ENOENT), "delete a flow that does not exist → ENOENT", detail: r.errorMessage)
        r = try c.get(.getTables, ifindex: 4242)
        expect(r.errno == Int32(Errno.EINVAL), "a device that is not unft → EINVAL", detail: r.errorMessage)

        // A batch with a failure in the middle, under each strategy.
        guard let table = session.options.model.tables.first(where: { t in installed.contains { $0.table == t.uid } })
        else { return }
        let good1 = gen.flow(in: table, uid: 61_000), good2 = gen.flow(in: table, uid: 61_001)
        let batch = [good1, dupUID, good2]
        r = try c.setFlows(ifindex: unft0, batch, strategy: .abort)
        var after = try c.getFlows(ifindex: unft0, FlowSelector(table: table.uid)).flows
        expect(
            r.errno == Int32(Errno.EEXIST) && !after.contains { $0.uid == good1.uid },
            "ABORT: 3 flows, the 2nd a duplicate → EEXIST and the 1st rolled back", detail: r.errorMessage)
        r = try c.setFlows(ifindex: unft0, batch, strategy: .continueLog)
        after = try c.getFlows(ifindex: unft0, FlowSelector(table: table.uid)).flows
        expect(
            r.errno == 0 && r.report.count == 1 && r.report.first?.error == Errno.EEXIST
                && r.report.first?.uid == dupUID.uid
                && after.contains { $0.uid == good1.uid } && after.contains { $0.uid == good2.uid },
            "CONT_LOG: the other 2 applied, the failed flow reported with its errno (EEXIST)")
        let batch2 = [gen.flow(in: table, uid: 61_002), dupUID]
        r = try c.setFlows(ifindex: unft0, batch2, strategy: .continue)
        expect(r.errno == 0 && r.report.isEmpty, "CONTINUE: failures ignored, an ACK")

        // Fill the smallest table to its size.
        if let small = session.options.model.tables.min(by: { $0.size < $1.size }), small.size < 100_000 {
            var have = try c.getFlows(ifindex: unft0, FlowSelector(table: small.uid)).flows.count
            var filler: [Flow] = []
            var uid: UInt32 = 100_000
            while have + filler.count < Int(small.size) {
                filler.append(gen.flow(in: small, uid: uid))
                uid += 1
            }
            for range in Parts.ranges(of: filler) {
                _ = try c.setFlows(ifindex: unft0, Array(filler[range]), strategy: .continue)
            }
            have = try c.getFlows(ifindex: unft0, FlowSelector(table: small.uid)).flows.count
            r = try c.setFlows(ifindex: unft0, [gen.flow(in: small, uid: uid + 1)])
            expect(
                r.errno == Int32(Errno.ENOSPC), "table \(small.name) full at \(have)/\(small.size) → ENOSPC",
                detail: r.errorMessage)
        }
        r = try c.call(
            .updateFlows,
            {
                var a = FlowTableAttributes.device(unft0); a.flows = [existing]; return a
            }())
        expect(r.errno == Int32(Errno.EOPNOTSUPP), "UPDATE_FLOWS → EOPNOTSUPP", detail: r.errorMessage)
    }

    mutating func listenerGone(_ c: FlowTableClient) throws {
        ui.section("6. The daemon goes away")
        session.stopListenerForDemo()
        let r = try c.get(.getTables, ifindex: unft0)
        expect(r.errno == Int32(Errno.ENOTCONN), "no listener → ENOTCONN at once", detail: r.errorMessage)
    }
}

/// Coloured, buffered output.
struct DemoOutput {
    let color: Bool
    /// 1, or 2 when the trace goes to stdout.
    var fd: Int32 = 1
    var text = ""

    mutating func title(_ s: String) { text += (color ? "\u{1b}[1m" + s + "\u{1b}[0m" : s) + "\n"; flush() }
    mutating func section(_ s: String) { text += "\n" + (color ? "\u{1b}[1;34m" + s + "\u{1b}[0m" : s) + "\n"; flush() }
    mutating func line(_ s: String) { text += s + "\n" }
    mutating func check(_ ok: Bool, _ s: String, detail: String?) {
        let mark = ok ? (color ? "\u{1b}[32m✓\u{1b}[0m" : "✓") : (color ? "\u{1b}[31m✗\u{1b}[0m" : "✗")
        text += "  \(mark) \(s)\n"
        if let detail { text += "      \(detail)\n" }
        flush()
    }
    mutating func flush() {
        if fd == 1 {
            print(text, terminator: "")
            fflush(stdout)
        } else {
            fputs(text, stderr)
        }
        text = ""
    }
}
