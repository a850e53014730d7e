// `flowtrace gen`: a synthetic trace in the recorder's format, made by the real thing. A twin,
// a listener (ListenerLoop + HairpinService, the daemon's core) and a client run in this
// process, on one thread: the listener and the client are connected to the twin in memory
// (InProcessHairpinLink, `attachInProcessClient`), not over its sockets, with the same
// messages in the same order and no thread hand-off per call. A seeded workload of
// ClassBench-like flows (FlowGenerator) drives the client, and the twin's message hook writes
// every message of both legs. The answers in the file are therefore the daemon's and the
// twin's own, not a model of them.
//
// Same seed and options → the same file, byte for byte: timestamps are synthetic (a fixed
// start, then one call every `callInterval`), the client's sequence numbers count from 1, the
// two connections' port ids (the twin takes the peer's pid, which changes from run to run)
// are written as fixed numbers, and the section header names no host.

import FlowTrace
import Hairpin
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

public struct GenOptions {
    /// Flows the trace installs (SET_FLOWS, valid flows); the run ends when they are sent.
    public var flows: Int
    public var seed: UInt64
    public var model: PipelineModel = DefaultModel.model
    public var modelDescription = "built-in default model"
    /// Devices (unft0 = ifindex 1000, unft1 = 1001, …).
    public var devices = 1
    /// Flows per SET_FLOWS / DEL_FLOWS request.
    public var batch = 1
    /// Flows installed on every device before the trace starts: they are in the snapshot, not in
    /// the calls (a trace that starts from a populated state).
    public var prefill = 0
    /// Share of calls (0…1) that delete flows or read them back instead of adding.
    public var churn = 0.0
    /// Share of the churn calls (0…1) that are GET_FLOWS (the rest delete).
    public var reads = 0.125
    /// Share of calls (0…1) made to fail: duplicate uid or match, unknown table, deletion of a
    /// missing flow, GET_FLOWS of a missing table.
    public var errors = 0.0
    /// The listener's backend (the answers are the same for all four, see backend-contract.md).
    public var backend: BackendKind = .hash
    /// Synthetic time: the first call's timestamp and the gap between calls (ns).
    public var startTime: UInt64 = 1_433_116_800_000_000_000
    public var callInterval: UInt64 = 100_000
    /// Flows to install instead of generated ones (`gen --from`, FlowImporter): every device
    /// gets all of them, in order; `flows` is then ignored.
    public var imported: [Flow]?
    /// Where the imported flows came from, for the section comment.
    public var importDescription = ""
    /// The shape of generated rule sets (FlowProfile): update-storm takes the deletions into its
    /// own hands, so it wants churn 0.
    public var profile: FlowProfile = .classbench
    /// Keep the installed flows (for --json).
    public var collectFlows = false
    /// Called every 1024 calls with the flows sent so far.
    public var progress: ((Int) -> Void)?

    public init(flows: Int, seed: UInt64) {
        self.flows = flows
        self.seed = seed
    }

    /// Port ids written for the listener's and the client's connections.
    public static let listenerPort: UInt32 = 4001
    public static let clientPort: UInt32 = 4002
}

public struct GenSummary: Sendable {
    public var calls = 0
    public var flowsSet = 0
    public var flowsDeleted = 0
    public var gets = 0
    public var errorCalls = 0
    /// Calls the daemon or the twin refused (including the deliberate ones).
    public var failedCalls = 0
    public var records: UInt64 = 0
    public var bytes: UInt64 = 0
    /// The valid flows of the SET_FLOWS requests, in order (with collectFlows).
    public var flows: [Flow] = []
}

public enum GenError: Error, CustomStringConvertible {
    case setup(String)
    case call(String)
    case write(String)

    public var description: String {
        switch self {
        case let .setup(t): return "cannot start the generator's twin: \(t)"
        case let .call(t): return "a generated call failed: \(t)"
        case let .write(t): return "cannot write the trace: \(t)"
        }
    }
}

public enum TraceGenerator {
    public static func write(to path: String, options o: GenOptions) throws(GenError) -> GenSummary {
        guard o.flows >= 0, o.devices >= 1, o.devices <= 64, o.batch >= 1, o.batch <= 100_000,
            (0...1).contains(o.churn), (0...1).contains(o.errors), (0...1).contains(o.reads), o.churn + o.errors < 1
        else {
            throw .setup(
                "options out of range: flows ≥ 0, 1 ≤ devices ≤ 64, 1 ≤ batch ≤ 100000, churn and errors in 0…1 with churn + errors < 1"
            )
        }
        let dir: String
        do { dir = try makeTemporaryDirectory(prefix: "flowtrace-gen") } catch { throw .setup("\(error)") }
        let paths = TwinSocketPaths(directory: dir)
        defer {
            unlink(paths.api)
            unlink(paths.hairpin)
            rmdir(dir)
        }
        let devices = (0..<o.devices).map { UnftTwin.Device(name: "unft\($0)", ifindex: 1000 + UInt32($0)) }
        let service = HairpinService(model: o.model, backend: o.backend, devices: devices.map(\.ifindex))
        var workload = Workload(options: o)
        workload.prefill(service)
        var twinConfig = UnftTwin.Configuration(devices: devices, timeout: 300, paths: paths)
        let families = [
            Controller.Family.flowTable(id: twinConfig.flowTableFamilyID),
            Controller.Family.hairpin(id: twinConfig.hairpinFamilyID),
        ]
        let hairpinID = twinConfig.hairpinFamilyID
        let what =
            o.imported.map { "\($0.count) flows imported from \(o.importDescription)" }
            ?? "\(o.flows) flows" + (o.profile == .classbench ? "" : ", profile \(o.profile.rawValue)")
        let comment =
            "flowtrace gen: seed \(o.seed), \(what), \(o.devices) device(s), batch \(o.batch), "
            + "churn \(o.churn), errors \(o.errors), backend \(o.backend.rawValue), model \(o.modelDescription)"
        let start = o.startTime
        let writer: PcapngWriter
        do {
            writer = try PcapngWriter(
                path: path,
                section: PcapngSectionInfo(
                    userApplication: "FlowTrace \(FlowTraceInfo.version) (gen)", comment: comment),
                interfaces: [
                    PcapngInterfaceInfo(name: "hairpin", description: "nfl_hairpin: unft <-> flow-table-hairpind"),
                    PcapngInterfaceInfo(name: "api", description: "net_flow_nl: application <-> unft"),
                ],
                preamble: { w in
                    try Recorder.writePreamble(
                        w, families: families,
                        snapshot: service.snapshot(familyID: hairpinID).map {
                            ($0.toUser ? .toUser : .toKernel, $0.bytes)
                        },
                        timestamp: start)
                })
        } catch {
            throw .write("\(error)")
        }
        let hook = RecordingHook(writer: writer, start: start, interval: o.callInterval)
        twinConfig.onMessage = { info, bytes in hook.record(info, bytes) }
        // The listener (the daemon's loop and service) and the client, both without a socket:
        // the twin runs on this thread inside the client's receive, so a call has no thread
        // hand-off at all. The listener registers first, so the port order (and so the file)
        // is always the same.
        let twin: UnftTwin
        let link: InProcessHairpinLink
        let connection: InProcessHairpinLink
        do {
            twin = try UnftTwin(twinConfig)
            link = twin.attachInProcessListener()
            let loop = ListenerLoop(transport: link, familyID: hairpinID, service: service, log: { _ in })
            try loop.register()
            twin.finishInProcessRegistration(link)
            link.serveListener = { _ = try? loop.serveWaiting() }
            connection = twin.attachInProcessClient()
        } catch {
            throw .setup("\(error)")
        }
        defer {
            // The link holds the loop, which holds the link.
            link.serveListener = nil
            connection.close()
        }
        var buffer: [UInt8] = []
        let family: Controller.Family
        do {
            family = try FlowTableClient.lookupFamily(
                NFL.familyName, over: connection, sequence: 1, timeout: 300,
                buffer: &buffer)
        } catch {
            throw .setup("\(error)")
        }
        workload.client = FlowTableClient(transport: connection, timeout: 300, familyID: family.id)
        workload.familyID = family.id
        workload.hook = hook
        var summary: GenSummary
        do { summary = try workload.run() } catch { throw .call("\(error)") }
        // Every message of the last call is in: its reply came back.
        do { try writer.close() } catch { throw .write("\(error)") }
        if let e = hook.failure { throw .write(e) }
        summary.records = writer.recordsAppended
        summary.bytes = writer.bytesWritten
        return summary
    }
}

/// The twin's message hook: stamps synthetic time, fixes the port ids, appends the record.
/// Runs where the twin runs (in gen, the client's own thread, inside its receive); the client
/// only moves the clock between calls.
final class RecordingHook: @unchecked Sendable {
    let writer: PcapngWriter
    let start: UInt64
    let interval: UInt64
    /// The current call's first instant, its messages so far, and the last time stamped.
    private let clock: PosixLocked<(base: UInt64, message: UInt64, last: UInt64)>
    private var ports: [UInt32: UInt32] = [:]
    private var scratch: [UInt8] = []
    private(set) var failure: String?

    init(writer: PcapngWriter, start: UInt64, interval: UInt64) {
        self.writer = writer
        self.start = start
        self.interval = interval
        clock = PosixLocked((base: start, message: 0, last: start))
    }

    /// The client is about to make call `n` (1-based).
    /// A call answered in more messages than fit in its slot starts the next one later: time
    /// never goes back in the file (audit checks it), and the same seed still gives the same bytes.
    func beginCall(_ n: Int) {
        let slot = start &+ UInt64(n) &* interval
        clock.withLock { $0 = (max(slot, $0.last), 0, $0.last) }
    }

    func record(_ info: UnftTwin.MessageInfo, _ bytes: UnsafeRawBufferPointer) {
        let t = clock.withLock { c -> UInt64 in
            c.message += 1
            c.last = c.base &+ c.message &* 1_000
            return c.last
        }
        // Connections in the order they first show up: the listener (it registers first), then
        // the client. The twin gave them the peer's pid, which differs from run to run.
        if ports[info.port] == nil {
            ports[info.port] = ports.isEmpty ? GenOptions.listenerPort : GenOptions.clientPort + UInt32(ports.count - 1)
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: bytes)
        scratch.withUnsafeMutableBytes { m in
            guard m.count >= Netlink.headerLength else { return }
            let pid = m.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
            if let fixed = ports[pid] { m.storeBytes(of: fixed, toByteOffset: 12, as: UInt32.self) }
            if m.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == Netlink.typeError, m.count >= 36 {
                let echoed = m.loadUnaligned(fromByteOffset: 32, as: UInt32.self)
                if let fixed = ports[echoed] { m.storeBytes(of: fixed, toByteOffset: 32, as: UInt32.self) }
            }
        }
        let leg: TraceLeg = info.leg == .api ? .api : .hairpin
        do {
            try scratch.withUnsafeBytes { raw in
                try writer.append(
                    TraceRecord(
                        timestamp: t, leg: leg, direction: info.direction == .toKernel ? .toKernel : .toUser,
                        interface: leg == .api ? Recorder.apiInterface : Recorder.hairpinInterface,
                        netlink: raw, pairing: info.call))
            }
        } catch {
            if failure == nil { failure = "\(error)" }
        }
    }
}

/// The seeded sequence of calls.
struct Workload {
    let o: GenOptions
    /// Set once the twin runs (prefilling comes before).
    var client: FlowTableClient?
    var familyID: UInt16 = 0
    var hook: RecordingHook?
    var rng: SeededGenerator
    var gen: FlowGenerator
    let tables: [Table]
    let ifindexes: [UInt32]
    /// Per device: the flows installed now (for deletions and duplicates), and per table how many.
    var live: [[Flow]]
    var counts: [[UInt32: Int]]
    var sequence: UInt32 = 1
    var summary = GenSummary()
    var calls = 0
    /// Per device: the next imported flow to send.
    var cursor: [Int]
    /// Per device and table: the tse profile's next flow index, the update storm's next top
    /// priority, and whether the storm deletes next.
    var tseIndex: [[UInt32: Int]]
    var stormTop: [[UInt32: UInt32]]
    var stormDeletes: [Bool]

    init(options: GenOptions) {
        o = options
        // A stream of its own, so the workload's choices do not shift the flows' values.
        rng = SeededGenerator(seed: options.seed ^ 0x6A09_E667_F3BC_C908)
        gen = FlowGenerator(model: options.model, seed: options.seed)
        tables = gen.usableTables
        ifindexes = (0..<options.devices).map { 1000 + UInt32($0) }
        live = Array(repeating: [], count: options.devices)
        counts = Array(repeating: [:], count: options.devices)
        cursor = Array(repeating: 0, count: options.devices)
        tseIndex = Array(repeating: [:], count: options.devices)
        stormTop = Array(repeating: [:], count: options.devices)
        stormDeletes = Array(repeating: false, count: options.devices)
        // Flows made to fail take fresh uids: above every imported one.
        var last: [UInt32: UInt32] = [:]
        for f in options.imported ?? [] { last[f.table] = max(last[f.table] ?? 0, f.uid) }
        for (table, uid) in last { gen.reserveUIDs(table: table, through: uid) }
    }

    /// Whether the run has flows left to send.
    var more: Bool {
        if let imported = o.imported { return cursor.contains { $0 < imported.count } }
        return summary.flowsSet < o.flows
    }

    /// A device with flows left to send.
    mutating func pickDevice() -> Int {
        guard let imported = o.imported else { return pick(o.devices) }
        let open = cursor.indices.filter { cursor[$0] < imported.count }
        return open.isEmpty ? 0 : open[pick(open.count)]
    }

    /// How many flows a table may get: its size; an unbounded one gets a tcam's default slots,
    /// so the trace replays alike into every backend.
    func capacity(_ t: Table) -> Int {
        t.size == Table.unbounded ? TCAMBackend.defaultCapacity : Int(t.size)
    }

    mutating func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }

    mutating func pick(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    // MARK: calls

    /// Preloads `prefill` flows per device into the service, before the trace's snapshot is
    /// taken.
    mutating func prefill(_ service: HairpinService) {
        guard o.prefill > 0 else { return }
        for d in 0..<o.devices {
            var installed: [Flow] = []
            for f in newFlows(d, count: o.prefill) where service.preload(f, ifindex: ifindexes[d]) {
                installed.append(f)
            }
            applied(d, installed)
        }
    }

    mutating func send(_ command: NFL.Command, _ attributes: FlowTableAttributes) throws -> FlowTableReply {
        guard let client, let hook else { throw GenError.setup("the client is not connected") }
        calls += 1
        summary.calls += 1
        hook.beginCall(calls)
        sequence = sequence == UInt32.max ? 2 : sequence + 1
        // GET_FLOWS is a dump, as FlowTableClient.getFlows sends it (pages, NLMSG_DONE, no ACK).
        let dump = command == .getFlows
        let flags = Netlink.flagRequest | (dump ? Netlink.flagDump : Netlink.flagAck)
        let message = FlowTableMessage(
            header: NetlinkHeader(type: familyID, flags: flags, sequence: sequence, port: 0),
            command: command.rawValue, attributes: attributes)
        let reply = try client.call(
            raw: try message.encoded(), sequence: sequence, command: command.rawValue,
            expectAck: !dump)
        if !reply.succeeded || !reply.report.isEmpty { summary.failedCalls += 1 }
        if calls % 1024 == 0 { o.progress?(summary.flowsSet) }
        return reply
    }

    mutating func run() throws -> GenSummary {
        // A client starts by discovering each device's pipeline.
        for ifindex in ifindexes {
            for cmd in [NFL.Command.getTables, .getHeaders, .getActions, .getHeaderGraph, .getTableGraph] {
                _ = try send(cmd, .device(ifindex))
            }
        }
        guard !tables.isEmpty else { return summary }
        let storm = o.profile == .updateStorm
        while more && !Interrupt.requested {
            let d = pickDevice()
            let r = unit()
            if r < o.errors {
                try errorCall(d)
            } else if r < o.errors + o.churn && !live[d].isEmpty {
                if unit() < o.reads { try getFlows(d) } else { try delete(d, count: o.batch) }
            } else if storm && stormDeletes[d] && summary.flowsSet >= o.flows / 2 && !live[d].isEmpty {
                // Past the ramp, the storm alternates: the top flows out, new top flows in.
                try delete(d, count: o.batch)
                stormDeletes[d] = false
            } else if !(try add(d, count: o.imported == nil ? min(o.batch, o.flows - summary.flowsSet) : o.batch)) {
                // Every table of the device is full: make room.
                try delete(d, count: max(o.batch, 1))
            } else {
                stormDeletes[d] = true
            }
        }
        return summary
    }

    /// New flows for tables with room, drawn in proportion to the tables' sizes; imported
    /// flows in their order, while their table has room.
    mutating func newFlows(_ d: Int, count: Int) -> [Flow] {
        var planned = counts[d]
        var out: [Flow] = []
        if let imported = o.imported {
            while out.count < count && cursor[d] < imported.count {
                let f = imported[cursor[d]]
                guard let t = o.model.tables.first(where: { $0.uid == f.table }),
                    planned[f.table, default: 0] < capacity(t)
                else { break }
                planned[f.table, default: 0] += 1
                out.append(f)
                cursor[d] += 1
            }
            return out
        }
        while out.count < count {
            let open = tables.filter { planned[$0.uid, default: 0] < capacity($0) }
            guard !open.isEmpty else { break }
            let total = open.reduce(0.0) { $0 + Double(capacity($1)) }
            var x = unit() * total
            var t = open[open.count - 1]
            for c in open {
                if x < Double(capacity(c)) { t = c; break }
                x -= Double(capacity(c))
            }
            planned[t.uid, default: 0] += 1
            switch o.profile {
            case .classbench:
                out.append(gen.flow(in: t))
            case .tse:
                out.append(gen.tseFlow(in: t, index: tseIndex[d][t.uid, default: 0]))
                tseIndex[d][t.uid, default: 0] += 1
            case .updateStorm:
                // Above every generated priority (< 1000) and every earlier storm flow.
                let top = stormTop[d][t.uid, default: 1000]
                stormTop[d][t.uid] = top &+ 1
                out.append(gen.flow(in: t, priority: top))
            }
        }
        return out
    }

    /// SET_FLOWS of new flows; false when no table has room.
    mutating func add(_ d: Int, count: Int) throws -> Bool {
        let flows = newFlows(d, count: count)
        guard !flows.isEmpty else { return false }
        // A batch larger than one netlink message (64 KiB nests) goes as several requests,
        // as flow-table-ctl sends a big file.
        for range in Parts.ranges(of: flows) {
            let slice = Array(flows[range])
            var a = FlowTableAttributes.device(ifindexes[d])
            a.flows = slice
            let reply = try send(.setFlows, a)
            summary.flowsSet += slice.count
            if o.collectFlows { summary.flows.append(contentsOf: slice) }
            if reply.succeeded { applied(d, slice) }
        }
        return true
    }

    mutating func applied(_ d: Int, _ flows: [Flow]) {
        for f in flows {
            live[d].append(f)
            counts[d][f.table, default: 0] += 1
        }
    }

    /// DEL_FLOWS of random installed flows (by table and uid, as a client deletes). The update
    /// storm takes the newest: each is the highest priority flow of its table.
    mutating func delete(_ d: Int, count: Int) throws {
        var victims: [Flow] = []
        while victims.count < count && !live[d].isEmpty {
            let i = o.profile == .updateStorm ? live[d].count - 1 : pick(live[d].count)
            victims.append(live[d][i])
            live[d].swapAt(i, live[d].count - 1)
            live[d].removeLast()
        }
        guard !victims.isEmpty else { return }
        let keys = victims.map { Flow(table: $0.table, uid: $0.uid, priority: $0.priority) }
        for range in Parts.ranges(of: keys) {
            var a = FlowTableAttributes.device(ifindexes[d])
            a.flows = Array(keys[range])
            let reply = try send(.delFlows, a)
            let slice = victims[range]
            if reply.succeeded {
                summary.flowsDeleted += slice.count
                for f in slice { counts[d][f.table, default: 0] -= 1 }
            } else {
                live[d].append(contentsOf: slice)
            }
        }
    }

    /// GET_FLOWS of a random table: mostly a narrow priority range (a client looking up a few
    /// rules), sometimes the whole table, but only a small one: a whole big table's answer
    /// would make the file grow with the square of the flows.
    mutating func getFlows(_ d: Int) throws {
        let t = tables[pick(tables.count)]
        var selector = FlowSelector(table: t.uid)
        if pick(16) != 0 || counts[d][t.uid, default: 0] > 2048 {
            let lo = UInt32(pick(1000))
            selector.minPriority = lo
            selector.maxPriority = lo + UInt32(pick(8))
        }
        var a = FlowTableAttributes.device(ifindexes[d])
        a.selector = selector
        _ = try send(.getFlows, a)
        summary.gets += 1
    }

    /// One call made to fail, sometimes with good flows around the bad one under an error
    /// strategy whose outcome the reply tells exactly (never plain CONTINUE with good flows:
    /// its ACK does not say which were applied).
    mutating func errorCall(_ d: Int) throws {
        summary.errorCalls += 1
        let ifindex = ifindexes[d]
        var kind = pick(5)
        // Duplicates need an installed flow to copy; without one, an unknown table instead.
        if kind <= 1 && live[d].isEmpty { kind = 2 }
        switch kind {
        case 0, 1:
            let existing = live[d][pick(live[d].count)]
            var bad: Flow
            if kind == 0 {
                // Same uid, new matches: EEXIST (duplicate uid).
                let table = tables.first { $0.uid == existing.table } ?? tables[0]
                bad = gen.flow(in: table, uid: existing.uid)
            } else {
                // Same matches and priority, new uid: EEXIST (duplicate match).
                bad = existing
                bad.uid = gen.takeUID(table: existing.table)
            }
            var goods = newFlows(d, count: max(0, o.batch - 1))
            // The bad flow and the good ones must fit one request: trim the good ones.
            if let first = Parts.ranges(of: goods + [bad]).first, first.count < goods.count + 1 {
                goods = Array(goods.prefix(max(0, first.count - 1)))
            }
            var flows = goods
            flows.insert(bad, at: goods.isEmpty ? 0 : pick(goods.count + 1))
            let strategy: ErrorStrategy? =
                goods.isEmpty
                ? [nil, .abort, .continue, .abortLog, .continueLog][pick(5)]
                : [nil, .abortLog, .continueLog][pick(3)]
            var a = FlowTableAttributes.device(ifindex)
            a.flows = flows
            a.errorStrategy = strategy
            let reply = try send(.setFlows, a)
            if o.collectFlows { summary.flows.append(contentsOf: goods) }
            if strategy == .continueLog {
                let failed = Set(reply.report.map { FlowKey(table: $0.table, uid: $0.uid) })
                applied(d, goods.filter { !failed.contains(FlowKey(table: $0.table, uid: $0.uid)) })
            } else if reply.succeeded {
                applied(d, goods)
            }
        case 2:
            // A table the model does not have.
            var f = gen.flow(in: tables[pick(tables.count)])
            f.table = (tables.map(\.uid).max() ?? 0) + 7
            var a = FlowTableAttributes.device(ifindex)
            a.flows = [f]
            _ = try send(.setFlows, a)
        case 4:
            var a = FlowTableAttributes.device(ifindex)
            a.selector = FlowSelector(table: (tables.map(\.uid).max() ?? 0) + 9)
            _ = try send(.getFlows, a)
        default:
            // A uid never handed out (FlowGenerator counts up from 1).
            let t = tables[pick(tables.count)]
            var a = FlowTableAttributes.device(ifindex)
            a.flows = [Flow(table: t.uid, uid: 0x7FFF_0000 &+ UInt32(pick(1 << 16)), priority: 0)]
            _ = try send(.delFlows, a)
        }
    }

    struct FlowKey: Hashable {
        var table: UInt32
        var uid: UInt32
    }
}
