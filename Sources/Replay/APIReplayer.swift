// twin, socket:PATH, kernel:DEV — the API leg replayed to anything that speaks the Flow Table
// API over a MessageTransport: the twin's Unix socket today, a generic netlink socket to the
// unft module when that transport is linked in (Replayer.kernelTransport). Both legs run in
// the target; the client's view (replies, ACKs, errors) is what is compared.
//
// Each recorded request is held until its recorded answer has been read from the trace (the
// records in between are looked through, and those of other clients' calls set aside), because
// whether to send it at all depends on that answer: a call the recording answered ENOTCONN (no
// listener then) did nothing there and must do nothing here. Calls go out one at a time, in the
// order of their requests in the trace.
//
// The twin target also shows the hairpin leg: the ENCAP request the twin forwards and the
// listener's answer are caught by the twin's message hook and compared with the recorded ones of
// the same call (its pairing id), before the API answer: the first difference in causal order is
// the call's divergence.

import FlowTrace
import Hairpin
import LibFlowTable
import Posix
import LiveCapture

#if canImport(Glibc)
import Glibc
#endif

final class APIReplayer {
    let transport: any MessageTransport
    let options: ReplayOptions
    /// True for a target started for this replay (nothing to clear before the first run).
    let freshTarget: Bool

    private var client: FlowTableClient
    private var targetFamilyID: UInt16 = 0
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var writer = NetlinkWriter(capacity: 64 * 1024)
    private var sequence: UInt32 = 0
    /// Recorded ifindex → the target's, and back.
    private var forward: [UInt32: UInt32] = [:]

    // The trace as single messages (copied: API targets are bound by round trips, not copies).
    private var source: RecordSource?
    private var stash: [Message] = []
    private var stashHead = 0
    private var recordedNormalizer = Normalizer(flowTableID: nil, hairpinID: nil)
    private var traceFlowTableID: UInt16?
    /// nlmsg_seq of the recorded clients' nlctrl look-ups: their ACKs are nobody's answer here.
    private var controllerSequences: Set<UInt32> = []

    struct Message {
        var bytes: [UInt8]
        var direction: TraceDirection
        var record: Int
        var timestamp: UInt64
        /// The call the record belongs to (for re-injecting a recorded fault).
        var pairing: UInt64? = nil
    }

    /// The twin target's injector: recorded faults are armed on it call by call.
    var faults: FaultInjector?
    /// The twin target's hairpin leg as it runs (nil: the target does not show it).
    var capture: HairpinCapture?
    /// The recorded hairpin leg's messages by pairing id (the call), kept until their call is
    /// replayed (only with `capture`).
    private var recordedHairpin: [UInt64: [Message]] = [:]
    /// The twin's messages: its family ids.
    var hairpinNormalizer = Normalizer(flowTableID: nil, hairpinID: nil)
    /// Calls whose hairpin leg was compared.
    private var hairpinCompared = 0
    /// The previous stray answer's nlmsg_seq (a reply and its ACK are one stray answer).
    private var lastStray: UInt32?

    /// Records looked through for one call's answer before it counts as unanswered.
    static let maxLookahead = 200_000
    static let maxStashBytes = 256 << 20

    init(transport: any MessageTransport, options: ReplayOptions, freshTarget: Bool) {
        self.transport = transport
        self.options = options
        self.freshTarget = freshTarget
        client = FlowTableClient(transport: transport, timeout: options.timeout)
    }

    // MARK: the twin target

    static func withTwin(
        backend: BackendKind, source: RecordSource, options: ReplayOptions,
        name: String
    ) throws(ReplayError) -> ReplayReport {
        let preamble: Preamble
        do { preamble = try Preamble.read(source) } catch { throw .trace(error) }
        var state = preamble.state
        state.completeModels(with: options.defaultModel)
        var ifindexes = state.sortedDevices.map(\.ifindex)
        var notes: [String] = []
        var rewound = false
        if ifindexes.isEmpty && source.canRewind {
            // No snapshot: the devices are those the trace's calls reached (a file can be read
            // twice; stdin cannot, and gets the twin's default device).
            ifindexes = scanDevices(source)
            do { try source.rewind() } catch { throw .trace(error) }
            rewound = true
        }
        if ifindexes.isEmpty { ifindexes = [UnftTwin.Device.default.ifindex] }
        if state.modelsDiffer {
            notes.append(
                "the trace's devices advertise different models; the twin serves one (device \(ifindexes[0])'s) to all")
        }
        let dir: String
        do { dir = try makeTemporaryDirectory() } catch { throw .target("\(error)") }
        var o = LoopbackSession.Options()
        o.devices = ifindexes.enumerated().map { UnftTwin.Device(name: "unft\($0.offset)", ifindex: $0.element) }
        o.backend = backend
        o.model = state.sortedDevices.first?.model ?? options.defaultModel
        o.modelDescription = state.isEmpty ? "default model" : "model of the replayed trace"
        o.paths = TwinSocketPaths(directory: dir)
        o.recordPath = options.recordPath
        o.commandLine = "flowtrace replay \(source.name) --target \(name)"
        let plan = options.faultPlan.flatMap { $0.isEmpty ? nil : $0 }
        if plan != nil { o.faults = FaultInjector() }
        // A recorded timeout is compared as a timeout: the twin waits as long as the recorded one.
        if let t = options.faultPlan?.twinTimeout { o.timeout = t }
        let capture = HairpinCapture(hairpinID: UnftTwin.Configuration().hairpinFamilyID)
        o.onMessage = capture.hook
        let session: LoopbackSession
        do {
            session = try LoopbackSession(o)
            try session.start()
        } catch {
            rmdir(dir)
            throw .target("cannot start the twin: \(error)")
        }
        defer {
            session.stop()
            unlink(o.paths.api)
            unlink(o.paths.hairpin)
            rmdir(dir)
        }
        let connection: UnixSeqpacketConnection
        do { connection = try UnixSeqpacketConnection.connect(path: o.paths.api) } catch {
            throw .target("cannot connect to the twin: \(error)")
        }
        defer { connection.close() }
        let replayer = APIReplayer(transport: connection, options: options, freshTarget: true)
        replayer.faults = o.faults
        replayer.capture = capture
        let twinConfig = UnftTwin.Configuration()
        replayer.hairpinNormalizer = Normalizer(
            flowTableID: twinConfig.flowTableFamilyID, hairpinID: twinConfig.hairpinFamilyID)
        var report = try replayer.run(source, target: name, preamble: rewound ? nil : preamble)
        if let plan, let f = o.faults { notes.append(plan.note(injected: f.injectedCount)) }
        for n in notes.reversed() {
            report.notes.insert(n, at: 0)
            options.log(n)
        }
        return report
    }

    /// The ifindexes the trace's hairpin ENCAP requests name (the devices unft knew).
    static func scanDevices(_ source: RecordSource) -> [UInt32] {
        var found: Set<UInt32> = []
        while let r = try? source.next() {
            guard !r.synthetic, r.direction != .toKernel, let hairpinID = source.families.hairpinID else { continue }
            for m in Messages(r.netlink) where NetlinkHeader(peeking: m)?.type == hairpinID {
                if let p = EncapPeek(m), p.status == nil, let i = p.ifindex { found.insert(i) }
            }
            if found.count >= 64 { break }
        }
        return found.sorted()
    }

    // MARK: the run

    /// - Parameter preamble: the preamble already read (the twin needed it before starting);
    ///   nil: read it from the source.
    func run(_ source: RecordSource, target: String, preamble first: Preamble? = nil) throws(ReplayError)
        -> ReplayReport
    {
        self.source = source
        var report = ReplayReport(file: source.name, target: target, timing: options.timing)
        report.allowIncomplete = options.allowIncomplete
        do { targetFamilyID = try client.resolveFamily() } catch {
            throw .target("the target does not serve \(NFL.familyName): \(error)")
        }
        var pacer = Pacer(options.timing)
        let t0 = MonotonicClock.now()
        var pending = first
        for loop in 0..<options.loopCount {
            report.loops = loop + 1
            if loop > 0 {
                do { try source.rewind() } catch { throw .trace(error) }
                pacer.restart()
            }
            let preamble: Preamble
            if let p = pending {
                preamble = p
                pending = nil
            } else {
                do { preamble = try Preamble.read(source) } catch { throw .trace(error) }
            }
            var state = preamble.state
            state.completeModels(with: options.defaultModel)
            setUpDeviceMap(state)
            stash.removeAll()
            stashHead = 0
            if let live = preamble.firstLive { push(live) }
            if loop == 0 {
                if state.isEmpty {
                    note(
                        &report,
                        "the trace has no snapshot: replaying from the target's state as it is"
                            + (freshTarget ? " (empty, default model)" : ""))
                }
                for p in state.problems { note(&report, p) }
                // A twin started here serves the snapshot's model by construction.
                if !freshTarget { checkModels(state, &report) }
            }
            if !options.keepState && !state.isEmpty {
                let refused = prepare(state, clear: !freshTarget || loop > 0, &report)
                if loop == 0 {
                    report.startingState = describe(state, refused: refused)
                }
            } else if loop == 0 {
                report.startingState = options.keepState ? "the target's own (--keep-state)" : "empty (no snapshot)"
            }
            if report.stopped != nil { break }
            replay(&report, &pacer)
            if report.stopped != nil { break }
        }
        report.elapsedNanoseconds = MonotonicClock.now() - t0
        report.pacing = options.timing.isPaced ? pacer.stats : nil
        report.legs = hairpinCompared > 0 ? [.api, .hairpin] : [.api]
        if capture != nil && hairpinCompared == 0 && report.calls > 0 {
            note(&report, "the trace's calls carry no pairing ids: the hairpin leg was not compared")
        }
        if report.calls == 0 && report.skipped == 0 && report.stopped == nil {
            note(
                &report,
                "the trace holds no Flow Table API request (a listener-only recording?): replay it into a backend target"
            )
        }
        if let t = source.truncationNote {
            note(&report, "the trace ends inside a block: \(t)")
            report.truncation = t
        }
        report.peakMemory = peakResidentBytes()
        return report
    }

    private func note(_ report: inout ReplayReport, _ text: String) {
        report.notes.append(text)
        options.log(text)
    }

    private func setUpDeviceMap(_ state: StartingState) {
        forward = [:]
        for (recorded, target) in options.ifindexMap { forward[recorded] = target }
        if !options.kernelDevices.isEmpty {
            let traced = state.sortedDevices.map(\.ifindex)
            for (i, t) in options.kernelDevices.enumerated() where i < traced.count { forward[traced[i]] = t }
        }
        var back: [UInt32: UInt32] = [:]
        for (r, t) in forward { back[t] = r }
        producedNormalizer = Normalizer(flowTableID: targetFamilyID, hairpinID: nil, ifindexMap: back)
    }

    private func targetIfindex(_ recorded: UInt32) -> UInt32 { forward[recorded] ?? recorded }

    /// The target's messages: its family id, its ifindexes mapped back (set with the map).
    private var producedNormalizer = Normalizer(flowTableID: nil, hairpinID: nil)

    private func describe(_ s: StartingState, refused: Int) -> String {
        let devs = s.sortedDevices.map { "\($0.ifindex): \($0.flows.count) flows" }.joined(separator: ", ")
        return "from the snapshot, installed through the API: \(s.devices.count) device(s) (\(devs))"
            + (refused > 0 ? ", \(refused) flows refused" : "")
    }

    // MARK: starting state through the API

    /// Warns when the target's discovery answers differ from the snapshot's model.
    private func checkModels(_ state: StartingState, _ report: inout ReplayReport) {
        for d in state.sortedDevices {
            let ifindex = targetIfindex(d.ifindex)
            do {
                let tables = try client.get(.getTables, ifindex: ifindex)
                guard tables.succeeded else {
                    note(
                        &report,
                        "device \(d.ifindex) (target ifindex \(ifindex)): GET_TABLES failed with errno \(tables.errno)"
                            + (tables.errorMessage.map { ": \($0)" } ?? ""))
                    continue
                }
                let headers = try client.get(.getHeaders, ifindex: ifindex)
                let actions = try client.get(.getActions, ifindex: ifindex)
                if tables.attributes?.tables != d.model.tables || headers.attributes?.headers != d.model.headers
                    || actions.attributes?.actions != d.model.actions
                {
                    note(
                        &report,
                        "device \(d.ifindex): the target's model differs from the trace's; answers about it will differ"
                    )
                }
            } catch {
                note(&report, "device \(d.ifindex): the target's model cannot be read: \(error)")
                report.stopped = "the target does not answer: \(error)"
                return
            }
        }
    }

    /// Replaces the target's flows on the trace's devices by the snapshot's: deletes what each
    /// table holds (when `clear`), then installs the snapshot's flows in 60 KiB batches
    /// (CONT_LOG, so one refused flow does not hold back the others). Returns the refused count.
    private func prepare(_ state: StartingState, clear: Bool, _ report: inout ReplayReport) -> Int {
        var refused = 0
        do {
            for d in state.sortedDevices {
                let ifindex = targetIfindex(d.ifindex)
                if clear {
                    let tables = try client.get(.getTables, ifindex: ifindex).attributes?.tables ?? d.model.tables
                    for t in tables {
                        let flows = try client.getFlows(ifindex: ifindex, FlowSelector(table: t.uid)).flows
                            .map { Flow(table: $0.table, uid: $0.uid, priority: $0.priority) }
                        for r in Parts.ranges(of: flows) where !r.isEmpty {
                            _ = try client.delFlows(ifindex: ifindex, Array(flows[r]), strategy: .continue)
                        }
                    }
                }
                for r in Parts.ranges(of: d.flows) where !r.isEmpty {
                    let reply = try client.setFlows(ifindex: ifindex, Array(d.flows[r]), strategy: .continueLog)
                    refused += reply.report.count
                    if !reply.succeeded { refused += r.count - reply.report.count }
                }
            }
        } catch {
            report.stopped = "installing the starting state failed: \(error)"
        }
        if refused > 0 {
            note(&report, "\(refused) flows of the starting state were refused by the target: answers may differ")
        }
        return refused
    }

    // MARK: reading the trace

    private func push(_ record: StoredTraceRecord) {
        _ = record.withRecord { readRecord($0) }
    }

    /// The next API-leg message, from the set-aside ones first. nil at the end of the trace.
    private func nextMessage() throws(TraceFileError) -> Message? {
        while true {
            if stashHead < stash.count {
                let m = stash[stashHead]
                stash[stashHead].bytes = []
                stashHead += 1
                if stashHead == stash.count {
                    stash.removeAll(keepingCapacity: true)
                    stashHead = 0
                }
                return m
            }
            guard let s = source, let r = try s.next() else { return nil }
            if !readRecord(r) { continue }
        }
    }

    /// Sets the record's API-leg messages aside; false when it has none.
    private func readRecord(_ r: TraceRecord) -> Bool {
        guard let s = source, !r.synthetic else { return false }
        let families = s.families
        if traceFlowTableID != families.flowTableID || traceFlowTableID == nil {
            traceFlowTableID = families.flowTableID
            recordedNormalizer = Normalizer(
                flowTableID: families.flowTableID, hairpinID: families.hairpinID,
                ifindexMap: [:])
        }
        guard families.leg(of: r) != .hairpin else {
            if capture != nil, let call = r.pairing, let id = families.hairpinID {
                // A trace whose calls never come (a cut file) must not grow this forever.
                if recordedHairpin.count >= 65_536 { recordedHairpin.removeAll() }
                for m in Messages(r.netlink) where NetlinkHeader(peeking: m)?.type == id {
                    recordedHairpin[call, default: []].append(
                        Message(
                            bytes: [UInt8](m), direction: r.direction, record: s.recordNumber, timestamp: r.timestamp,
                            pairing: call))
                }
            }
            return false
        }
        // An nlmon capture of every family: other protocols (rtnetlink) and other families'
        // messages and ACKs are not the API's.
        guard r.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric else { return false }
        if r.leg == .unknown, let h = NetlinkHeader(peeking: r.netlink), h.type != traceFlowTableID,
            h.type >= Netlink.minFamilyType,
            h.type != Controller.familyID
        {
            return false
        }
        if r.leg == .unknown, let h = NetlinkHeader(peeking: r.netlink), h.type == Netlink.typeError,
            r.netlink.count >= 26
        {
            let echoed = r.netlink.loadUnaligned(fromByteOffset: 24, as: UInt16.self)
            if let api = traceFlowTableID, echoed != api, echoed != Controller.familyID, echoed != families.hairpinID {
                return false
            }
        }
        let before = stash.count
        for m in Messages(r.netlink) {
            stash.append(
                Message(
                    bytes: [UInt8](m), direction: r.direction, record: s.recordNumber, timestamp: r.timestamp,
                    pairing: r.pairing))
        }
        return stash.count > before
    }

    // MARK: replaying calls

    private func replay(_ report: inout ReplayReport, _ pacer: inout Pacer) {
        // What installing the starting state forwarded is nobody's call.
        capture?.reset()
        while report.stopped == nil {
            if Interrupt.requested {
                report.stopped = Interrupt.reason
                report.stoppedByUser = true
                return
            }
            let next: Message?
            do { next = try nextMessage() } catch {
                report.stopped = "the trace is damaged after frame \(source?.recordNumber ?? 0): \(error)"
                return
            }
            guard let m = next else { return }
            guard let h = m.bytes.withUnsafeBytes({ NetlinkHeader(peeking: $0) }) else { continue }
            if h.type == Controller.familyID {
                if h.flags & Netlink.flagRequest != 0 {
                    if controllerSequences.count > 4096 { controllerSequences.removeAll() }
                    controllerSequences.insert(h.sequence)
                }
                continue
            }
            let isRequest =
                h.flags & Netlink.flagRequest != 0 && m.direction != .toUser && h.type >= Netlink.minFamilyType
            if isRequest {
                if h.type == traceFlowTableID {
                    call(m, h, &report, &pacer)
                } else {
                    report.skipped += 1
                }
            } else if !controllerSequences.contains(h.sequence) {
                if lastStray != h.sequence { report.strayAnswer(frame: m.record) }
                lastStray = h.sequence
            }
        }
    }

    /// The recorded answer to the request with nlmsg_seq `seq`: every message for it up to the
    /// final one. Other API messages met on the way are set aside. nil: the trace ends (or the
    /// look-ahead bound is reached) before the final message.
    private func recordedAnswer(seq: UInt32, request: NetlinkHeader) throws(TraceFileError) -> [Message]? {
        var answer: [Message] = []
        // A dump ends at NLMSG_DONE, NLM_F_ACK or not: the kernel never ACKs one.
        let wantsAck = request.flags & Netlink.flagAck != 0 && request.flags & Netlink.flagDump != Netlink.flagDump
        var scanned = 0
        var index = stashHead
        var stashBytes = stash.dropFirst(stashHead).reduce(0) { $0 + $1.bytes.count }
        while true {
            if index == stash.count {
                guard scanned < Self.maxLookahead, stashBytes < Self.maxStashBytes,
                    let s = source, let r = try s.next()
                else { return nil }
                scanned += 1
                let before = stash.count
                if !readRecord(r) { continue }
                for k in before..<stash.count { stashBytes += stash[k].bytes.count }
            }
            let m = stash[index]
            index += 1
            guard m.direction != .toKernel, let h = m.bytes.withUnsafeBytes({ NetlinkHeader(peeking: $0) }),
                h.sequence == seq,
                h.type == Netlink.typeError || h.type == Netlink.typeDone || h.type == traceFlowTableID,
                h.flags & Netlink.flagRequest == 0
            else { continue }
            // Taken out of the set-aside messages: it is this call's.
            stash[index - 1].bytes = []
            stash[index - 1].direction = .unknown
            answer.append(m)
            let final: Bool
            switch h.type {
            case Netlink.typeError: final = true
            case Netlink.typeDone: final = !wantsAck
            default: final = !wantsAck && h.flags & Netlink.flagMulti == 0
            }
            if final {
                compactStash()
                return answer
            }
        }
    }

    /// Drops the set-aside entries already handed out or taken as answers (empty, direction
    /// unknown).
    private func compactStash() {
        stash = stash[stashHead...].filter { !($0.bytes.isEmpty && $0.direction == .unknown) }
        stashHead = 0
    }

    private func call(_ m: Message, _ h: NetlinkHeader, _ report: inout ReplayReport, _ pacer: inout Pacer) {
        var recorded: [Message]?
        do { recorded = try recordedAnswer(seq: h.sequence, request: h) } catch {
            report.stopped = "the trace is damaged after frame \(source?.recordNumber ?? 0): \(error)"
            return
        }
        let recordedFinalErrno: Int32? = recorded?.last.flatMap { last in
            last.bytes.withUnsafeBytes { raw -> Int32? in
                guard let lh = NetlinkHeader(peeking: raw), lh.type == Netlink.typeError, raw.count >= 20 else {
                    return nil
                }
                return raw.loadUnaligned(fromByteOffset: 16, as: Int32.self)
            }
        }
        if recordedFinalErrno == -Int32(Errno.ENOTCONN) {
            report.skipped += 1
            return
        }
        let command = m.bytes.withUnsafeBytes { GenericHeader.command(ofMessage: $0) } ?? 0xff
        let recordedIfindex = m.bytes.withUnsafeBytes { apiIfindex($0) }
        // A GET_FLOWS do recorded with pages, NLMSG_DONE and then the ACK (older unft versions)
        // is replayed as the dump it was in effect: its answer up to the DONE.
        var dump = h.flags & Netlink.flagDump == Netlink.flagDump
        if !dump, command == NFL.Command.getFlows.rawValue,
            let done = recorded?.firstIndex(where: { r in
                r.bytes.withUnsafeBytes { NetlinkHeader(peeking: $0)?.type } == Netlink.typeDone
            })
        {
            dump = true
            recorded = Array(recorded![...done])
        }
        pacer.wait(recordedAt: m.timestamp)
        if let step = options.step {
            let line = "→ " + describeMessage(m.bytes.withUnsafeBytes { recordedNormalizer.normalized($0) })
            if !step.before(request: line) {
                report.stopped = "stopped at the user's request (--step)"
                report.stoppedByUser = true
                return
            }
        }
        report.calls += 1
        report.messages += 1
        let number = report.calls
        // The request as the target must see it: its family id, a fresh nlmsg_seq, its ifindex.
        sequence = sequence == UInt32.max ? 1 : sequence + 1
        let seq = sequence
        var bytes = m.bytes
        bytes.withUnsafeMutableBytes { b in
            b.storeBytes(of: targetFamilyID, toByteOffset: 4, as: UInt16.self)
            b.storeBytes(of: seq, toByteOffset: 8, as: UInt32.self)
            if dump { b.storeBytes(of: h.flags | Netlink.flagDump, toByteOffset: 6, as: UInt16.self) }
            rewriteIfindex(b)
        }
        if let faults, let p = m.pairing, let f = options.faultPlan?.faults[p] { faults.arm(f) }
        capture?.reset()
        let started = MonotonicClock.now()
        let produced: [[UInt8]]
        do { produced = try exchange(bytes, seq: seq, wantsAck: h.flags & Netlink.flagAck != 0 && !dump) } catch {
            report.stopped = "call \(number) (\(commandName(command)), frame \(m.record)): \(error)"
            return
        }
        // In place: copying a histogram out and back costs a quarter MiB per call.
        let latency = MonotonicClock.now() - started
        let flows = m.bytes.withUnsafeBytes { flowCount($0) }
        if report.commands[command] == nil { report.commands[command] = CommandTiming() }
        report.commands[command]?.calls += 1
        report.commands[command]?.flows += flows
        report.commands[command]?.serviceNanoseconds += latency
        _ = report.commands[command]?.latency.record(latency)
        let mine = produced.map { p in p.withUnsafeBytes { producedNormalizer.normalized($0) } }
        let recordedLeg: [Message]? =
            capture == nil ? nil : m.pairing.map { recordedHairpin.removeValue(forKey: $0) ?? [] }
        guard let recorded else {
            report.unverifiedCall(frame: m.record)
            options.step?.after(answer: mine.map { "← " + describeMessage($0) }, matched: nil)
            return
        }
        let timedOut = recordedFinalErrno == -Int32(Errno.ETIMEDOUT)
        // The hairpin leg first: what the twin forwarded and what the listener answered cause
        // the API answer.
        if let recordedLeg, let capture {
            switch compareHairpin(recordedLeg, capture.take(), timedOut: timedOut) {
            case .same: break
            case .incomplete:
                report.unverifiedCall(frame: m.record)
                options.step?.after(answer: mine.map { "← " + describeMessage($0) }, matched: nil)
                return
            case let .differs(k, reason, theirs, ours):
                report.compared += 1
                options.step?.after(answer: mine.map { "← " + describeMessage($0) }, matched: false)
                var d = Divergence(
                    call: number, frame: m.record, timestamp: m.timestamp, leg: .hairpin,
                    command: commandName(command), ifindex: recordedIfindex,
                    sequence: UInt64(h.sequence), message: k, reason: reason,
                    recorded: report.first == nil ? theirs : [], replayed: report.first == nil ? ours : [])
                if report.first == nil {
                    d.request = m.bytes.withUnsafeBytes { describeMessage(recordedNormalizer.normalized($0)) }
                }
                report.add(d, keep: options.listed)
                return
            }
        }
        let theirs = recorded.map { r in r.bytes.withUnsafeBytes { recordedNormalizer.normalized($0) } }
        report.compared += 1
        var firstDifference =
            (0..<min(theirs.count, mine.count)).first { theirs[$0] != mine[$0] }
            ?? (theirs.count == mine.count ? nil : min(theirs.count, mine.count))
        // A recorded timeout is compared as a timeout: its text names the twin's timeout, and
        // what came before it depends on when the listener's answer arrived.
        if timedOut { firstDifference = Self.finalErrno(mine) == -Int32(Errno.ETIMEDOUT) ? nil : 0 }
        options.step?.after(answer: mine.map { "← " + describeMessage($0) }, matched: firstDifference == nil)
        guard let k = firstDifference else { return }
        let reason: String
        if timedOut {
            reason =
                "recorded a timeout (ETIMEDOUT), replayed "
                + (Self.finalErrno(mine).map { Errno.display(0 &- $0) } ?? "no error")
        } else if k >= theirs.count || k >= mine.count {
            reason =
                mine.isEmpty
                ? "the target did not answer"
                : "the target's answer has \(mine.count) message(s), the recorded one \(theirs.count)"
        } else {
            reason = Self.reason(theirs[k], mine[k])
        }
        var d = Divergence(
            call: number, frame: m.record, timestamp: m.timestamp, leg: .api, command: commandName(command),
            ifindex: recordedIfindex, sequence: UInt64(h.sequence), message: k, reason: reason,
            recorded: report.first == nil ? theirs : [], replayed: report.first == nil ? mine : [])
        if report.first == nil {
            d.request = m.bytes.withUnsafeBytes { describeMessage(recordedNormalizer.normalized($0)) }
        }
        report.add(d, keep: options.listed)
    }

    /// The errno of an answer's final NLMSG_ERROR (negative, as on the wire; 0 an ACK).
    static func finalErrno(_ answer: [[UInt8]]) -> Int32? {
        answer.last.flatMap { last in
            last.withUnsafeBytes { raw -> Int32? in
                guard let h = NetlinkHeader(peeking: raw), h.type == Netlink.typeError, raw.count >= 20 else {
                    return nil
                }
                return raw.loadUnaligned(fromByteOffset: 16, as: Int32.self)
            }
        }
    }

    enum LegComparison {
        case same
        /// The recording lacks this leg's request or answer (records removed or cut off).
        case incomplete
        /// Message k of the leg (requests first, then answers) differs.
        case differs(Int, String, [[UInt8]], [[UInt8]])
    }

    /// One call's hairpin leg, recorded and replayed: the ENCAP request(s) the twin forwarded,
    /// then the listener's answer parts, each normalised (spec/replay.md). With a recorded
    /// timeout only the requests count: the answer came after the call had ended.
    private func compareHairpin(_ recorded: [Message], _ produced: [HairpinCapture.Seen], timedOut: Bool)
        -> LegComparison
    {
        let theirRequests = recorded.filter { $0.direction == .toUser }.map { r in
            r.bytes.withUnsafeBytes { recordedNormalizer.normalized($0) }
        }
        let theirAnswers = recorded.filter { $0.direction != .toUser }.map { r in
            r.bytes.withUnsafeBytes { recordedNormalizer.normalized($0) }
        }
        let ourRequests = produced.filter { !$0.toKernel }.map { p in
            p.bytes.withUnsafeBytes { hairpinNormalizer.normalized($0) }
        }
        let ourAnswers =
            timedOut
            ? [] : produced.filter(\.toKernel).map { p in p.bytes.withUnsafeBytes { hairpinNormalizer.normalized($0) } }
        // A call that timed out may have been dropped unforwarded when its hold ended (a twin-side
        // delay): whether it was forwarded at all is timing, not code.
        if timedOut && (theirRequests.isEmpty || ourRequests.isEmpty) { return .same }
        let theirs = theirRequests + (timedOut ? [] : theirAnswers)
        let ours = ourRequests + ourAnswers
        // Nothing forwarded on either side (a call the twin answered itself): nothing to compare.
        if theirs.isEmpty && ours.isEmpty { return .same }
        hairpinCompared += 1
        if theirRequests.isEmpty && !ourRequests.isEmpty { return .incomplete }
        if !timedOut && theirAnswers.isEmpty && !ourAnswers.isEmpty { return .incomplete }
        for k in 0..<max(theirs.count, ours.count) {
            let isRequest = k < max(theirRequests.count, ourRequests.count)
            if k < theirs.count && k < ours.count && theirs[k] == ours[k] { continue }
            let what = isRequest ? "the ENCAP request the twin forwarded" : "the listener's ENCAP answer"
            if k >= theirs.count || k >= ours.count || theirRequests.count != ourRequests.count {
                let reason =
                    "hairpin leg: \(ourRequests.count) ENCAP request(s) and \(ourAnswers.count) answer part(s) replayed, "
                    + "\(theirRequests.count) and \(timedOut ? 0 : theirAnswers.count) recorded"
                return .differs(min(k, max(0, min(theirs.count, ours.count) - 1)), reason, theirs, ours)
            }
            return .differs(k, "hairpin leg: \(what) differs: " + Self.encapReason(theirs[k], ours[k]), theirs, ours)
        }
        return .same
    }

    static func encapReason(_ a: [UInt8], _ b: [UInt8]) -> String {
        let pa = a.withUnsafeBytes { EncapPeek($0, countFlows: true) },
            pb = b.withUnsafeBytes { EncapPeek($0, countFlows: true) }
        if let sa = pa?.status, let sb = pb?.status, sa != sb {
            return
                "status recorded \(Errno.display(Int32(truncatingIfNeeded: sa))), replayed \(Errno.display(Int32(truncatingIfNeeded: sb)))"
        }
        if let fa = pa?.flows, let fb = pb?.flows, fa != fb { return "recorded \(fa) flows, replayed \(fb)" }
        return "the bytes differ"
    }

    static func reason(_ a: [UInt8], _ b: [UInt8]) -> String {
        let (ta, tb) = (
            a.withUnsafeBytes { NetlinkHeader(peeking: $0)?.type },
            b.withUnsafeBytes { NetlinkHeader(peeking: $0)?.type }
        )
        if ta == Netlink.typeError && tb == Netlink.typeError {
            let ea = a.withUnsafeBytes { $0.count >= 20 ? $0.loadUnaligned(fromByteOffset: 16, as: Int32.self) : 0 }
            let eb = b.withUnsafeBytes { $0.count >= 20 ? $0.loadUnaligned(fromByteOffset: 16, as: Int32.self) : 0 }
            if ea != eb {
                return "error differs: recorded \(Errno.display(0 &- ea)), replayed \(Errno.display(0 &- eb))"
            }
            return "the error text differs"
        }
        if ta != tb { return "recorded \(MessageJSON.typeName(ta ?? 0)), replayed \(MessageJSON.typeName(tb ?? 0))" }
        if ta == Normalizer.canonicalFlowTableID {
            let fa = a.withUnsafeBytes { listCount($0) }, fb = b.withUnsafeBytes { listCount($0) }
            if let fa, let fb, fa != fb { return "recorded \(fa) flows in this message, replayed \(fb)" }
        }
        return "answers differ"
    }

    /// Elements of a reply's FLOWS list, nil without one.
    static func listCount(_ m: UnsafeRawBufferPointer) -> Int? {
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard let h = NetlinkHeader(peeking: m), Int(h.length) <= m.count, Int(h.length) > start else { return nil }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[start..<Int(h.length)]), baseOffset: start)
        while let a = try? it.next() {
            if a.type == NFL.Attr.flows { return a.nested().countHint() }
        }
        return nil
    }

    /// Flows in a Flow Table API request (its FLOWS list; 0 for a GET_FLOWS selector).
    private func flowCount(_ m: UnsafeRawBufferPointer) -> Int {
        guard GenericHeader.command(ofMessage: m) != NFL.Command.getFlows.rawValue else { return 0 }
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard let h = NetlinkHeader(peeking: m), Int(h.length) <= m.count, Int(h.length) > start else { return 0 }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[start..<Int(h.length)]), baseOffset: start)
        while let a = try? it.next() {
            if a.type == NFL.Attr.flows { return a.nested().countHint() }
        }
        return 0
    }

    private func rewriteIfindex(_ b: UnsafeMutableRawBufferPointer) {
        guard !forward.isEmpty else { return }
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard let h = NetlinkHeader(peeking: UnsafeRawBufferPointer(b)), Int(h.length) <= b.count, Int(h.length) > start
        else { return }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: b[start..<Int(h.length)]), baseOffset: start)
        while let a = try? it.next() {
            guard a.type == NFL.Attr.identifier, a.payload.count == 4 else { continue }
            let v = a.payload.loadUnaligned(as: UInt32.self)
            if let t = forward[v] { b.storeBytes(of: t, toByteOffset: a.payloadOffset, as: UInt32.self) }
        }
    }

    enum ExchangeError: Error, CustomStringConvertible {
        case transport(TransportError)
        case timedOut(Double)

        var description: String {
            switch self {
            case let .transport(e): return "the target's connection failed: \(e)"
            case let .timedOut(s): return "the target did not answer within \(s) s (--timeout)"
            }
        }
    }

    /// Sends one request and collects the target's messages for it up to the final one.
    private func exchange(_ request: [UInt8], seq: UInt32, wantsAck: Bool) throws(ExchangeError) -> [[UInt8]] {
        let sent: TransportError? = request.withUnsafeBytes { raw in
            do throws(TransportError) { try transport.send(raw) } catch { return error }
            return nil
        }
        if let sent { throw .transport(sent) }
        var out: [[UInt8]] = []
        let deadline = MonotonicClock.now() &+ MonotonicClock.nanoseconds(options.timeout)
        while true {
            let now = MonotonicClock.now()
            guard now < deadline else { throw .timedOut(options.timeout) }
            let n: Int
            do { n = try transport.receive(into: &buffer, timeout: Double(deadline - now) / 1e9) } catch {
                if error == .timedOut { throw .timedOut(options.timeout) }
                throw .transport(error)
            }
            guard n > 0, n <= buffer.count else { continue }
            var done = false
            buffer.withUnsafeBytes { raw in
                for m in Messages(UnsafeRawBufferPointer(rebasing: raw[0..<n])) {
                    guard let h = NetlinkHeader(peeking: m), h.sequence == seq, h.type != Controller.familyID else {
                        continue
                    }
                    out.append([UInt8](m))
                    switch h.type {
                    case Netlink.typeError: done = true
                    case Netlink.typeDone: done = done || !wantsAck
                    default: if !wantsAck && h.flags & Netlink.flagMulti == 0 { done = true }
                    }
                    if done { return }
                }
            }
            if done { return out }
        }
    }
}

/// A fresh directory under /tmp for the twin's sockets.
func makeTemporaryDirectory(prefix: String = "flowtrace-replay") throws(ReplayError) -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let made: String? = template.withUnsafeMutableBufferPointer { buf in
        guard let base = buf.baseAddress, let p = mkdtemp(base) else { return nil }
        return String(cString: p)
    }
    guard let made else { throw .target("cannot create a temporary directory: \(Sys.errorText(errno))") }
    return made
}

/// The twin target's hairpin leg, caught by the twin's message hook (on the twin's thread):
/// every nfl_hairpin message since `reset`, and the call id of the API request that came in.
final class HairpinCapture: @unchecked Sendable {
    struct Seen {
        var call: UInt64?
        var isAPIRequest: Bool
        var toKernel: Bool
        var bytes: [UInt8]
    }
    private let seen = PosixLocked<[Seen]>([])
    let hairpinID: UInt16

    init(hairpinID: UInt16) { self.hairpinID = hairpinID }

    var hook: UnftTwin.Hook {
        { [self] info, bytes in
            switch info.leg {
            case .api:
                guard info.direction == .toKernel, let call = info.call else { return }
                seen.withLock { $0.append(Seen(call: call, isAPIRequest: true, toKernel: true, bytes: [])) }
            case .hairpin:
                guard let call = info.call, let h = NetlinkHeader(peeking: bytes), h.type == hairpinID else { return }
                let m = Seen(
                    call: call, isAPIRequest: false, toKernel: info.direction == .toKernel, bytes: [UInt8](bytes))
                seen.withLock { $0.append(m) }
            }
        }
    }

    func reset() { seen.withLock { $0.removeAll(keepingCapacity: true) } }

    /// The hairpin messages of the call the API request since `reset` started, in order.
    func take() -> [Seen] {
        seen.withLock { s in
            guard let call = s.last(where: \.isAPIRequest)?.call else { return [] }
            return s.filter { !$0.isAPIRequest && $0.call == call }
        }
    }
}
