// The listener's answers to hairpinned driver calls, without any I/O: one whole ENCAP request in
// (parts already put together), its answer out. spec/two-leg-contract.md, "Payloads per
// command", is the table this implements; where the 2015 originals lost a flow or an errno,
// the contract says what is answered instead.
//
//  request                                   answer
//  GET_TABLES … GET_TABLE_GRAPH              STATUS 0, ATTR{preamble, the model's part}
//  GET_FLOWS{TABLE, MINPRIO?, MAXPRIO?}       STATUS 0, ATTR{preamble, FLOWS in (priority, uid) order}
//                                            unknown table: STATUS ENOENT
//  SET_FLOWS / DEL_FLOWS                     STATUS (ABORT*: first errno; CONT*: 0), RESULTS one per
//                                            flow, ATTR{preamble}, ERROR_MSG naming the first failure
//  UPDATE/CREATE/DESTROY, unknown, CMD_TYPE  STATUS EOPNOTSUPP
//  no device state for the ifindex           STATUS ENODEV
//  anything else wrong with the request      STATUS EINVAL
//
// Every answer echoes CMD_TYPE, CMD and SEQ (the original answered DEL_FLOWS with CMD SET_FLOWS);
// failures carry ERROR_MSG and no ATTR, except batch answers, which always carry RESULTS and the
// preamble so unft can report each failed flow with its errno (the originals lost both).
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// Counts for one command.
public struct CommandCounters: Hashable, Sendable {
    /// Calls answered (a multi-part call counts once).
    public var requests = 0
    /// Answers with STATUS ≠ 0, by errno.
    public var errors: [UInt32: Int] = [:]
    /// SET/DEL: flows in the batches, and failed flows by errno (ECANCELED = not applied
    /// because the batch was aborted).
    public var flows = 0
    public var flowErrors: [UInt32: Int] = [:]

    public init() {}

    /// Answers with STATUS ≠ 0.
    public var failedRequests: Int { errors.values.reduce(0, +) }
}

/// Counters of the service, for statistics.
public struct HairpinCounters: Hashable, Sendable {
    /// By NFL command number (0…10).
    public var commands: [UInt32: CommandCounters] = [:]
    /// Requests with an unknown CMD_TYPE or command number, together.
    public var unknownCommands = CommandCounters()
    /// Requests that could not be decoded but had a readable SEQ (answered EINVAL).
    public var malformed = 0

    public init() {}

    /// All answered calls.
    public var requests: Int { commands.values.reduce(unknownCommands.requests) { $0 + $1.requests } + malformed }
}

/// What the backends of a service did (HairpinService.backendStatistics).
public struct BackendStatistics: Hashable, Sendable {
    /// Backend operations timed and the nanoseconds they took (0 unless backendTiming is set).
    public var operations = 0
    public var nanoseconds: UInt64 = 0
    /// Hardware entry writes caused by shifting (tcam; 0 for the other backends).
    public var entryMoves = 0

    public init() {}
}

/// Answers ENCAP requests for the devices of a registry. Calls are serialised by a lock: one
/// at a time keeps each device's backend consistent, and lets the recorder take a snapshot of
/// the state from another thread between two calls.
public final class HairpinService {
    public let devices: DeviceRegistry
    // exclusivity(unchecked): mutated only under `lock`.
    @exclusivity(unchecked) private var recorded = HairpinCounters()
    /// Successful SET (0) and DEL (1) calls answered by ByteService and their flows: plain
    /// integers, because a dictionary update per call was a visible share of a fast call.
    /// Folded into `counters` when they are read.
    @exclusivity(unchecked) private var fastCalls: (set: Int, del: Int, setFlows: Int, delFlows: Int) = (0, 0, 0, 0)
    /// Discovery getters (commands 0…4, DiscoveryTemplates) and GET_FLOWS (5) answered by
    /// ByteService, by command; folded into `counters` as well.
    @exclusivity(unchecked) private var fastGetters: [Int] = Array(
        repeating: 0, count: Int(NFL.Command.getFlows.rawValue) + 1)

    /// The counters of every call answered so far (read under `withStateLocked` from another
    /// thread than the one answering).
    public var counters: HairpinCounters {
        var c = recorded
        if fastCalls.set > 0 {
            c.commands[UInt32(NFL.Command.setFlows.rawValue), default: CommandCounters()].requests += fastCalls.set
            c.commands[UInt32(NFL.Command.setFlows.rawValue), default: CommandCounters()].flows += fastCalls.setFlows
        }
        if fastCalls.del > 0 {
            c.commands[UInt32(NFL.Command.delFlows.rawValue), default: CommandCounters()].requests += fastCalls.del
            c.commands[UInt32(NFL.Command.delFlows.rawValue), default: CommandCounters()].flows += fastCalls.delFlows
        }
        for (command, n) in fastGetters.enumerated() where n > 0 {
            c.commands[UInt32(command), default: CommandCounters()].requests += n
        }
        return c
    }
    /// Held for each call and for snapshots; SingleFlowPath and DiscoveryTemplates take it too.
    let lock = PosixMutex()
    /// Faults to inject into calls (`--inject`, or a replay's recorded ones); Faults/.
    // exclusivity(unchecked): set before calls are served (a dynamic check per call otherwise).
    @exclusivity(unchecked) public var faults: FaultInjector?
    /// Times every backend operation when set (bench); set before calls are served.
    @exclusivity(unchecked) public var backendTiming: BackendTiming?

    public init(devices: DeviceRegistry) {
        self.devices = devices
    }

    /// Runs `body` with no call in progress (for snapshots and statistics).
    public func withStateLocked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// A service whose devices get `model` (or their own of `models`) and a `backend`: state
    /// created lazily per ifindex, or (`devices`) for those ifindexes only.
    public convenience init(
        model: PipelineModel, backend: BackendKind = .hash, devices: [UInt32]? = nil,
        models: [UInt32: PipelineModel] = [:]
    ) {
        self.init(devices: DeviceRegistry(model: model, backend: backend, devices: devices, models: models))
    }

    /// Stores `flow` in device `ifindex` before any call (a replay's starting state, a
    /// generator's prefill), as a successful SET would. False: no such device, or its backend
    /// refused the flow (e.g. a tcam's slots are full).
    public func preload(_ flow: Flow, ifindex: UInt32) -> Bool {
        withStateLocked {
            guard let state = devices.state(for: ifindex), case .success = state.backend.insert(flow) else {
                return false
            }
            return true
        }
    }

    /// What the backends did so far, for bench and replay reports: entry moves (tcam), and the
    /// time inside backend operations while `backendTiming` is set. Read between calls (by the
    /// thread making them, or under `withStateLocked`).
    public var backendStatistics: BackendStatistics {
        var s = BackendStatistics()
        s.operations = backendTiming?.operations ?? 0
        s.nanoseconds = backendTiming?.nanoseconds ?? 0
        for ifindex in devices.ifindexes {
            s.entryMoves += devices.existingState(for: ifindex)?.backend.entryMoves ?? 0
        }
        return s
    }

    /// The answer to one whole request (all parts assembled). Never fails: every problem is an
    /// answer with a STATUS.
    public func handle(_ request: HairpinEncap) -> HairpinEncap {
        // Before the lock: an injected delay stalls the listener, not snapshots and statistics.
        if let faults, let injected = injectedAnswer(faults, to: request) { return injected }
        lock.lock()
        defer { lock.unlock() }
        let answer = respond(to: request)
        record(request, answer)
        return answer
    }

    /// The answer to a request that could not be decoded: STATUS EINVAL and the decoder's
    /// message. `command` and `commandType` are whatever could be read of them.
    public func malformed(
        sequence: UInt64, command: UInt32, commandType: UInt32 = NFLH.EncapCmdType.nflCommand,
        message: String
    ) -> HairpinEncap {
        lock.lock()
        recorded.malformed += 1
        lock.unlock()
        return HairpinEncap(
            commandType: commandType, command: command, status: Errno.EINVAL,
            sequence: sequence, errorMessage: message)
    }

    // MARK: dispatch

    private func respond(to r: HairpinEncap) -> HairpinEncap {
        let base = HairpinEncap(commandType: r.commandType, command: r.command, status: 0, sequence: r.sequence)
        func fail(_ errno: UInt32, _ text: String) -> HairpinEncap {
            var a = base
            a.status = errno
            a.errorMessage = text
            return a
        }

        guard !r.isAnswer else {
            return fail(Errno.EINVAL, "ENCAP seq \(r.sequence) carries STATUS: an answer, not a request")
        }
        guard r.commandType == NFLH.EncapCmdType.nflCommand else {
            return fail(Errno.EOPNOTSUPP, "unknown CMD_TYPE \(r.commandType)")
        }
        guard let byte = UInt8(exactly: r.command), let cmd = NFL.Command(rawValue: byte) else {
            return fail(Errno.EOPNOTSUPP, "unknown command \(r.command)")
        }
        switch cmd {
        case .updateFlows, .createTable, .destroyTable:
            return fail(Errno.EOPNOTSUPP, "\(cmd.name) is not supported")
        default:
            break
        }
        guard let attrs = r.attributes else {
            return fail(Errno.EINVAL, "\(cmd.name) request without ATTR")
        }
        guard let idType = attrs.identifierType, let ifindex = attrs.identifier else {
            return fail(Errno.EINVAL, "\(cmd.name) request without the identifier preamble")
        }
        guard idType == NFL.IdentifierType.ifindex else {
            return fail(Errno.EINVAL, "identifier type \(idType) is not IFINDEX (\(NFL.IdentifierType.ifindex))")
        }
        guard let device = devices.state(for: ifindex) else {
            return fail(Errno.ENODEV, "no device state for ifindex \(ifindex)")
        }

        var answer = base
        var out = FlowTableAttributes(identifierType: idType, identifier: ifindex)
        switch cmd {
        case .getTables, .getHeaders, .getActions, .getHeaderGraph, .getTableGraph:
            device.addModelPart(for: cmd, to: &out)
        case .getFlows:
            guard let selector = attrs.selector else {
                return fail(Errno.EINVAL, "GET_FLOWS request without a selector (FLOWS{TABLE, MINPRIO?, MAXPRIO?})")
            }
            var flows: [Flow] = []
            if let count = device.backend.count(table: selector.table) { flows.reserveCapacity(count) }
            let started = backendTiming?.start()
            let got = device.backend.flows(selector, into: { flows.append($0) })
            if let started { backendTiming?.end(started) }
            if case .failure(let e) = got {
                return fail(UInt32(e.errno), "GET_FLOWS: table \(selector.table) does not exist")
            }
            out.flows = flows
        case .setFlows, .delFlows:
            guard let flows = attrs.flows else {
                return fail(Errno.EINVAL, "\(cmd.name) request without FLOWS")
            }
            let strategy = attrs.errorStrategy ?? .abort
            guard ErrorStrategy.all.contains(strategy) else {
                return fail(Errno.EINVAL, "unknown FLOWS_ERROR strategy \(strategy.rawValue)")
            }
            let batch = applyBatch(cmd == .setFlows ? .set : .del, flows, strategy, device)
            answer.status = batch.status
            answer.results = batch.results
            answer.errorMessage = batch.message
        case .updateFlows, .createTable, .destroyTable:
            return fail(Errno.EOPNOTSUPP, "\(cmd.name) is not supported")
        }
        answer.attributes = out
        return answer
    }

    // MARK: batches

    private func applyBatch(
        _ op: FlowOp, _ flows: [Flow], _ strategy: ErrorStrategy,
        _ device: DeviceState
    ) -> (status: UInt32, results: [FlowResult], message: String?) {
        let index = device.index
        let operation: FlowOperation = op == .set ? .set : .del
        // The validation error of the flow just checked, to describe it should it be the first.
        var lastValidation: FlowValidationError?
        var first: (index: Int, flow: Flow, errno: Int32, reason: String)?
        var failures = 0
        let results = FlowBatch.apply(
            op: op, flows: flows, strategy: strategy, backend: device.backend, timing: backendTiming,
            precheck: { _, flow in
                guard let e = index.firstError(in: flow, for: operation) else { return 0 }
                lastValidation = e
                return e.errno
            },
            onFailure: { i, flow, errno, source in
                failures += 1
                guard first == nil else { return }
                let reason: String
                if source == .precheck, let e = lastValidation {
                    reason = Self.reason(e)
                } else {
                    reason = Self.reason(op, flow, errno, device.backend)
                }
                first = (i, flow, errno, reason)
            })
        guard let first else { return (0, results, nil) }
        var message = "flow \(first.index) (table \(first.flow.table) uid \(first.flow.uid)): \(first.reason)"
        if failures > 1 { message += "; \(failures) of \(flows.count) flows failed" }
        let status = FlowBatch.aborts(strategy) ? first.errno.magnitude : 0
        return (status, results, message)
    }

    /// A validation error without the "flow table T uid U: " its description starts with (the
    /// message names the flow its own way).
    static func reason(_ e: FlowValidationError) -> String {
        let text = e.description
        let prefix = "\(e.flow): "
        return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
    }

    /// Why the backend refused `flow`, looked up while the backend still holds the cause. Runs
    /// once per batch at most (for the first failure), so a scan of the table is affordable.
    static func reason(_ op: FlowOp, _ flow: Flow, _ errno: Int32, _ backend: any FlowBackend) -> String {
        let table = flow.table
        guard let size = backend.tableSizes[table] else { return "table \(table) does not exist" }
        switch (op, errno.magnitude) {
        case (.set, Errno.EEXIST):
            var sameUID = false
            var sameMatch: UInt32?
            let identity = MatchPriority(flow)
            _ = backend.flows(FlowSelector(table: table)) {
                if $0.uid == flow.uid { sameUID = true }
                if sameMatch == nil, $0.priority == flow.priority, MatchPriority($0) == identity { sameMatch = $0.uid }
            }
            if sameUID { return "duplicate uid" }
            if let other = sameMatch { return "same matches and priority as flow uid \(other)" }
            return "duplicate flow"
        case (.set, Errno.ENOSPC):
            return "table \(table) is full (\(size) flows)"
        case (.del, Errno.ENOENT):
            return "no flow with uid \(flow.uid) in table \(table)"
        default:
            return Errno.display(unsigned: errno.magnitude)
        }
    }

    // MARK: counters

    private static func count(_ c: inout CommandCounters, _ answer: HairpinEncap) {
        c.requests += 1
        if let status = answer.status, status != 0 { c.errors[status, default: 0] += 1 }
        if let results = answer.results {
            c.flows += results.count
            for r in results where r.errno != 0 { c.flowErrors[r.errno, default: 0] += 1 }
        }
    }

    /// A successful SET/DEL of `flows` flows answered by ByteService: counted as `record`
    /// counts it (one request, its flows, no error). The caller holds `lock`.
    func countFastSuccess(command: UInt32, flows: Int) {
        if command == UInt32(NFL.Command.setFlows.rawValue) {
            fastCalls.set += 1
            fastCalls.setFlows += flows
        } else {
            fastCalls.del += 1
            fastCalls.delFlows += flows
        }
    }

    /// A discovery getter answered by DiscoveryTemplates, or a GET_FLOWS answered by ByteService
    /// (always STATUS 0): counted as `record` counts it. The caller holds `lock`.
    func countFastGetter(command: UInt32) {
        fastGetters[Int(command)] += 1
    }

    private func record(_ request: HairpinEncap, _ answer: HairpinEncap) {
        let known =
            request.commandType == NFLH.EncapCmdType.nflCommand
            && UInt8(exactly: request.command).flatMap(NFL.Command.init(rawValue:)) != nil
        // Unknown numbers share one bucket: a sender cannot grow the table without bound.
        // Counted through inout so the dictionaries are mutated in place, not copied.
        if known {
            Self.count(&recorded.commands[request.command, default: CommandCounters()], answer)
        } else {
            Self.count(&recorded.unknownCommands, answer)
        }
    }
}
