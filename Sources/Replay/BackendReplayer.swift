// backend:NAME — the hairpin leg replayed into flow-table-hairpind's own core, in process.
//
// The daemon's ListenerLoop runs unchanged on a MessageTransport whose receive() is the trace:
// it hands out the recorded ENCAP requests one record at a time (pacing them), and whose send()
// takes the daemon's ENCAP answers. So parts, malformed requests and the answers' encoding are
// the daemon's, not a re-implementation. A recorded answer comes after its request in the
// trace, so each answer the daemon sends waits (normalised, in a reused slot) until the
// recorded one arrives, is compared byte for byte and forgotten: memory follows the calls in
// flight, not the trace's size. Only a mismatch is decoded, for the report.

import FlowTrace
import Hairpin
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

final class BackendReplayer {
    let kind: BackendKind
    let options: ReplayOptions

    init(kind: BackendKind, options: ReplayOptions) {
        self.kind = kind
        self.options = options
    }

    func run(_ source: RecordSource, target: String) throws(ReplayError) -> ReplayReport {
        var report = ReplayReport(file: source.name, target: target, timing: options.timing)
        report.legs = [.hairpin]
        report.allowIncomplete = options.allowIncomplete
        var pacer = Pacer(options.timing)
        let t0 = MonotonicClock.now()
        for loop in 0..<options.loopCount {
            report.loops = loop + 1
            if loop > 0 {
                do { try source.rewind() } catch { throw .trace(error) }
                pacer.restart()
            }
            let preamble: Preamble
            do { preamble = try Preamble.read(source) } catch { throw .trace(error) }
            var state = preamble.state
            state.completeModels(with: options.defaultModel)
            let (service, refused) = state.makeService(backend: kind, defaultModel: options.defaultModel)
            service.faults = options.faultPlan?.backendInjector()
            service.backendTiming = options.backendTiming?()
            if loop == 0 {
                report.startingState = Self.describe(state, refused: refused, backend: kind)
                for p in state.problems { note(&report, p) }
                if state.isEmpty {
                    note(&report, "the trace has no snapshot: replaying from an empty state with the default model")
                }
                if refused > 0 {
                    note(
                        &report,
                        "\(refused) flows of the starting state did not fit backend \(kind.rawValue): answers may differ"
                    )
                }
            }
            let movesBefore = service.backendStatistics.entryMoves
            let feed = HairpinFeed(source: source, pushback: preamble.firstLive, options: options, pacer: pacer)
            feed.backendTiming = service.backendTiming
            let loopRunner = ListenerLoop(
                transport: feed, familyID: Normalizer.canonicalHairpinID, service: service,
                receiveBufferSize: 256 * 1024, log: { _ in })
            loopRunner.pollInterval = nil
            loopRunner.tracksAcknowledgements = false  // the feed never ACKs an answer
            // usesByteService off (replay-bench --typed) means the typed path alone: the loop
            // would otherwise try its own byte path first.
            if !options.usesByteService { loopRunner.byteService = nil }
            // A whole single-message request is answered through the listener's own service on
            // bytes before the loop would copy it in (not when stepping: the loop shows each).
            if options.step == nil { feed.byteService = loopRunner.byteService }
            do { _ = try loopRunner.run() } catch {
                // Only the transport's own errors end run(); the feed throws none but .closed.
                report.stopped = "the listener stopped: \(error)"
            }
            feed.finish(into: &report)
            options.onFinished?(service)
            if loop == 0, let plan = options.faultPlan, !plan.isEmpty {
                note(&report, plan.note(injected: service.faults?.injectedCount ?? 0, backendOnly: true))
            }
            pacer = feed.pacer
            if kind == .tcam {
                report.entryMoves = (report.entryMoves ?? 0) + service.backendStatistics.entryMoves - movesBefore
            }
            if report.stopped != nil { break }
        }
        report.elapsedNanoseconds = MonotonicClock.now() - t0
        report.pacing = options.timing.isPaced ? pacer.stats : nil
        if report.calls == 0 && report.stopped == nil {
            note(&report, "the trace holds no hairpin ENCAP request to replay (an API-leg capture?): try --target twin")
        }
        if let t = source.truncationNote {
            note(&report, "the trace ends inside a block: \(t)")
            report.truncation = t
        }
        report.peakMemory = peakResidentBytes()
        return report
    }

    func note(_ report: inout ReplayReport, _ text: String) {
        report.notes.append(text)
        options.log(text)
    }

    static func describe(_ s: StartingState, refused: Int, backend: BackendKind) -> String {
        if s.isEmpty { return "empty (no snapshot in the trace), default model" }
        let devs = s.sortedDevices.map { "\($0.ifindex): \($0.flows.count) flows" }.joined(separator: ", ")
        return "from the snapshot: \(s.devices.count) device(s) (\(devs))"
            + (refused > 0 ? ", \(refused) refused by \(backend.rawValue)" : "")
    }
}

/// The trace as the listener's transport (see the file comment).
final class HairpinFeed: MessageTransport {
    let source: RecordSource
    /// `source` when it is one of these: read without the protocol (RecordView).
    private let preloaded: PreloadedSource?
    private let readAhead: ReadAheadSource?
    @exclusivity(unchecked) var pushback: StoredTraceRecord?
    let options: ReplayOptions
    @exclusivity(unchecked) var pacer: Pacer
    @exclusivity(unchecked) var report: ReplayReport

    /// The trace's family ids as last learnt (refreshed after each nlctrl record).
    @exclusivity(unchecked) var traceHairpinID: UInt16?
    @exclusivity(unchecked) var recordedNormalizer = Normalizer(flowTableID: nil, hairpinID: nil)
    /// The listener answers with the canonical id: its answers normalise to themselves.
    let producedNormalizer = Normalizer(flowTableID: nil, hairpinID: Normalizer.canonicalHairpinID)
    @exclusivity(unchecked) var scratch: [UInt8] = []
    /// Answers seen before, for comparing without normalising (AnswerShapes).
    let shapes = AnswerShapes()
    /// The trace's hairpin family id when a recorded message of it normalises as a shape
    /// assumes (type → 0x1d, SEQ zeroed); nil: every recorded answer takes the general path.
    @exclusivity(unchecked) var shapeRecordedType: UInt16?
    /// Read once: `options` is a struct of closures, and these are looked at on every call.
    let step: StepControl?
    let onAnswer: ((UnsafeRawBufferPointer) -> Void)?
    let useShapes: Bool
    /// The listener's service on bytes, for requests answered without the ListenerLoop's copy
    /// (nil: none).
    var byteService: ByteService?
    /// ENCAP SEQs whose earlier parts (MORE) went to the listener: their next part must too.
    @exclusivity(unchecked) var partsInListener: Set<UInt64> = []

    /// A call whose recorded answer has not been compared yet.
    struct Call {
        var sequence: UInt64 = 0
        var command: UInt32?
        var ifindex: UInt32?
        var number = 0
        var record = 0
        var timestamp: UInt64 = 0
        var flows = 0
        /// The listener's answer: normalised messages back to back, and where each ends.
        var produced: [UInt8] = []
        var ends: [Int] = []
        /// ≥ 0: the answer is one message normalising to this shape, not copied into `produced`
        /// (`materialise` does that when the general path needs the bytes).
        var shape = -1
        var answered = false
        var recordedParts = 0
        var diverged = false
        var inUse = false
    }
    // The hot state is marked exclusivity(unchecked): this object is used by one thread, inside
    // one ListenerLoop, and the dynamic access checks cost more than the comparisons.
    @exclusivity(unchecked) var slots: [Call] = []
    @exclusivity(unchecked) var free: [Int] = []
    /// The newest open call, kept out of the dictionary: calls normally end before the next
    /// starts, so this one slot is all a replay touches.
    @exclusivity(unchecked) var current = -1
    /// Older open calls (another arrived before their answer), by ENCAP SEQ.
    @exclusivity(unchecked) var bySequence: [UInt64: Int] = [:]
    /// Calls in flight are few; a trace whose answers never come must not grow this forever.
    static let maxOpenCalls = 65_536
    /// Per command number: calls, flows, latency.
    @exclusivity(unchecked) var timings = [CommandTiming?](repeating: nil, count: 256)
    /// The call whose request went out last, and when (for its latency): the clock is read
    /// once before the request is handed to the service, whichever path serves it (consume),
    /// and once when the answer's last message is ready (send).
    @exclusivity(unchecked) var lastFed: Int?
    @exclusivity(unchecked) var lastFedAt: UInt64 = 0
    /// The service's backend timing (bench), and its totals when the last request was handed over.
    var backendTiming: BackendTiming?
    @exclusivity(unchecked) var backendOpsAtFeed = 0
    @exclusivity(unchecked) var backendNsAtFeed: UInt64 = 0

    init(source: RecordSource, pushback: StoredTraceRecord?, options: ReplayOptions, pacer: Pacer) {
        self.source = source
        preloaded = source as? PreloadedSource
        readAhead = source as? ReadAheadSource
        self.pushback = pushback
        self.options = options
        self.pacer = pacer
        step = options.step
        onAnswer = options.onAnswer
        useShapes = options.answerShapes
        report = ReplayReport(file: source.name, target: "", timing: options.timing)
    }

    var fileDescriptor: Int32 { -1 }
    func close() {}

    // MARK: requests in

    func receive(into buffer: inout [UInt8], timeout: Double?) throws(TransportError) -> Int {
        while true {
            if Interrupt.requested {
                report.stopped = Interrupt.reason
                report.stoppedByUser = true
                throw .closed
            }
            if let stored = pushback {
                pushback = nil
                let n = stored.withRecord { r in consume(RecordView(r), into: &buffer) }
                if let n { return n }
                if report.stopped != nil { throw .closed }
                continue
            }
            let next: RecordView?
            do { next = try nextRecord() } catch {
                report.stopped = "the trace is damaged after frame \(recordNumber): \(error)"
                throw .closed
            }
            guard let r = next else { throw .closed }
            if let n = consume(r, into: &buffer) { return n }
            if report.stopped != nil { throw .closed }
        }
    }

    @inline(__always)
    private func nextRecord() throws(TraceFileError) -> RecordView? {
        if let p = preloaded { return p.nextView() }
        if let r = readAhead { return try r.nextView() }
        return try source.next().map(RecordView.init)
    }

    /// The last record's number, 1-based.
    private var recordNumber: Int { preloaded?.recordNumber ?? readAhead?.recordNumber ?? source.recordNumber }

    /// A request: copied into `buffer`, returns its length. Anything else is handled here
    /// (answers compared) and gives nil.
    private func consume(_ r: RecordView, into buffer: inout [UInt8]) -> Int? {
        // Snapshots later in a stream (a rotated file appended) are state, not calls.
        if r.synthetic { return nil }
        guard let head = NetlinkHeader(peeking: r.netlink) else { return nil }
        if head.type == Controller.familyID || traceHairpinID == nil { refreshFamilies() }
        guard let hairpinID = traceHairpinID, head.type == hairpinID else { return nil }
        let isRequest: Bool
        switch r.direction {
        case .toUser: isRequest = true
        case .toKernel: isRequest = false
        case .unknown: isRequest = EncapPeek(r.netlink)?.status == nil
        }
        guard isRequest else {
            for m in Messages(r.netlink) { compareRecorded(m, record: recordNumber) }
            return nil
        }
        // Paced once, before either path applies the call.
        pacer.wait(recordedAt: r.timestamp)
        if let step {
            let line = Messages(r.netlink).map { describeMessage(recordedNormalizer.normalized($0)) }.joined(
                separator: "; ")
            if !step.before(request: "→ " + line) {
                report.stopped = "stopped at the user's request (--step)"
                report.stoppedByUser = true
                return nil
            }
        }
        // The call's clock starts here, for either path.
        handOver()
        if let fast = byteService, answeredFast(fast, r, hairpinID) { return nil }
        let n = r.netlink.count
        if buffer.count < n { buffer = [UInt8](repeating: 0, count: n) }
        buffer.withUnsafeMutableBytes { dst in
            guard let d = dst.baseAddress, let s = r.netlink.baseAddress else { return }
            d.copyMemory(from: s, byteCount: n)
            // The listener serves the canonical id; the trace's may be any. Every message the
            // listener will see (a malformed rest included, as Messages hands it out).
            for m in Messages(r.netlink) where NetlinkHeader(peeking: m)?.type == hairpinID {
                dst.storeBytes(
                    of: Normalizer.canonicalHairpinID, toByteOffset: (m.baseAddress! - s) + 4, as: UInt16.self)
            }
        }
        for m in Messages(r.netlink) { openCall(m, record: recordNumber, timestamp: r.timestamp) }
        return n
    }

    /// A SET/DEL or GET_FLOWS the fast path could answer, answered: true. Anything it declines
    /// (it then changed nothing) goes on to the listener.
    private func answeredFast(_ fast: ByteService, _ r: RecordView, _ hairpinID: UInt16) -> Bool {
        let m = r.netlink
        guard m.count >= Netlink.headerLength, Int(m.loadUnaligned(as: UInt32.self)) == m.count,
            let head = EncapHeader.peek(m), head.status == nil, head.part == nil,
            !head.more, slot(for: head.sequence) == nil,
            partsInListener.isEmpty || !partsInListener.contains(head.sequence)
        else { return false }
        let seq = head.sequence
        let record = recordNumber
        // The header read above is handed over, not read again. A GET_FLOWS answer may be
        // several messages (parts): the call is opened before the first.
        var opened = false
        return fast.answer(m, header: head, requestFamilyID: hairpinID) { answer in
            if !opened {
                opened = true
                // ATTR was read by the fast path: its flows, to this ifindex.
                report.messages += 1
                openCall(
                    sequence: seq, command: head.command, ifindex: fast.lastIfindex, flows: fast.lastFlows, more: false,
                    part: nil, record: record, timestamp: r.timestamp)
            }
            try? send(answer)
        }
    }

    @inline(__always)
    private func handOver() {
        if let t = backendTiming {
            backendOpsAtFeed = t.operations
            backendNsAtFeed = t.nanoseconds
        }
        lastFedAt = MonotonicClock.now()
    }

    private func refreshFamilies() {
        let f = source.families
        traceHairpinID = f.hairpinID
        recordedNormalizer = Normalizer(flowTableID: f.flowTableID, hairpinID: f.hairpinID)
        // A shape is normalised as the canonical hairpin family: the recorded type must map to it.
        if let h = f.hairpinID, h != f.flowTableID, h != Netlink.typeError {
            shapeRecordedType = h
        } else {
            shapeRecordedType = nil
        }
    }

    private func openCall(_ m: UnsafeRawBufferPointer, record: Int, timestamp: UInt64) {
        report.messages += 1
        if let peek = EncapPeek(m, countFlows: true) {
            openCall(
                sequence: peek.sequence, command: peek.command, ifindex: peek.ifindex, flows: peek.flows,
                more: peek.more, part: peek.part, record: record, timestamp: timestamp)
        } else if let s = EncapHeader.salvage(message: m) {
            // Malformed: the listener answers it EINVAL under the SEQ it salvages the same way.
            openCall(
                sequence: s.sequence, command: s.command, ifindex: nil, flows: 0, more: false, part: nil,
                record: record, timestamp: timestamp)
        } else {
            // Unreadable: nothing to pair.
            report.calls += 1
            lastFed = nil
        }
    }

    /// A readable request (its message already counted).
    private func openCall(
        sequence seq: UInt64, command: UInt32?, ifindex: UInt32?, flows: Int, more: Bool, part: UInt32?,
        record: Int, timestamp: UInt64
    ) {
        if more {
            partsInListener.insert(seq)
        } else if !partsInListener.isEmpty {
            partsInListener.remove(seq)
        }
        if let existing = slot(for: seq) {
            if (part ?? 0) > 0 {
                lastFed = existing
                return
            }
            // The same SEQ again before its answer (unft reloaded, or the answer never came).
            closeUnanswered(existing)
        }
        report.calls += 1
        if bySequence.count >= Self.maxOpenCalls {
            for (_, i) in bySequence { closeUnanswered(i) }
        }
        if current >= 0 { bySequence[slots[current].sequence] = current }
        let i: Int
        if let f = free.popLast() {
            i = f
        } else {
            slots.append(Call())
            i = slots.count - 1
        }
        slots[i].sequence = seq
        slots[i].command = command
        slots[i].ifindex = ifindex
        slots[i].number = report.calls
        slots[i].record = record
        slots[i].timestamp = timestamp
        slots[i].flows = flows
        if !slots[i].ends.isEmpty {
            slots[i].produced.removeAll(keepingCapacity: true)
            slots[i].ends.removeAll(keepingCapacity: true)
        }
        slots[i].shape = -1
        slots[i].answered = false
        slots[i].recordedParts = 0
        slots[i].diverged = false
        slots[i].inUse = true
        current = i
        lastFed = i
    }

    @inline(__always)
    private func slot(for seq: UInt64) -> Int? {
        if current >= 0 && slots[current].sequence == seq { return current }
        return bySequence.isEmpty ? nil : bySequence[seq]
    }

    private func release(_ i: Int) {
        if i == current { current = -1 } else { bySequence[slots[i].sequence] = nil }
        slots[i].inUse = false
        free.append(i)
    }

    private func closeUnanswered(_ i: Int) {
        if slots[i].recordedParts == 0 { report.unverifiedCall(frame: slots[i].record) } else { report.compared += 1 }
        release(i)
    }

    // MARK: answers out

    func send(_ packet: UnsafeRawBufferPointer) throws(TransportError) {
        // The answer (this message of it) is ready: the call's clock stops here when it is the last.
        let readyAt = MonotonicClock.now()
        onAnswer?(packet)
        var s = -1
        if useShapes {
            s = shapes.match(produced: packet)
            if s < 0 { s = shapes.learn(produced: packet, evicting: materialiseAll) }
        }
        let seq: UInt64, more: Bool
        if s >= 0 {
            seq = shapes.sequence(of: packet, shape: s)
            more = shapes[s].more
        } else {
            guard let head = EncapHeader.peek(packet) else { return }
            seq = head.sequence
            more = head.more
        }
        guard let i = slot(for: seq) else { return }
        if s >= 0 && slots[i].shape < 0 && slots[i].ends.isEmpty {
            slots[i].shape = s
        } else {
            materialise(i)
            if s >= 0 {
                slots[i].produced.append(contentsOf: shapes.bytes(s))
            } else {
                producedNormalizer.append(packet, to: &slots[i].produced)
            }
            slots[i].ends.append(slots[i].produced.count)
        }
        guard !more else { return }
        slots[i].answered = true
        if lastFed == i {
            let latency = readyAt &- lastFedAt
            let cmd = Int(slots[i].command.flatMap { UInt8(exactly: $0) } ?? 0xff)
            // Mutated in place: a histogram is a quarter MiB of counters, and a copy per call
            // (take it out of a dictionary, change it, put it back) was most of the replay's time.
            if timings[cmd] == nil { timings[cmd] = CommandTiming() }
            var operations = 0
            var nanoseconds: UInt64 = 0
            if let t = backendTiming {
                operations = t.operations - backendOpsAtFeed
                nanoseconds = t.nanoseconds &- backendNsAtFeed
            }
            // One access to the entry, not one per field.
            Self.count(
                &timings[cmd]!, flows: slots[i].flows, latency: latency, backendOperations: operations,
                backendNanoseconds: nanoseconds)
        }
        if let step {
            materialise(i)
            step.after(answer: messages(of: slots[i]).map { "← " + describeMessage($0) }, matched: nil)
        }
    }

    @inline(__always)
    private static func count(
        _ timing: inout CommandTiming, flows: Int, latency: UInt64, backendOperations: Int, backendNanoseconds: UInt64
    ) {
        timing.calls += 1
        timing.flows += flows
        timing.serviceNanoseconds &+= latency
        timing.backendOperations += backendOperations
        timing.backendNanoseconds &+= backendNanoseconds
        _ = timing.latency.record(latency)
    }

    // MARK: comparison

    /// Copies a call's shaped answer into its `produced` bytes, for the general path.
    private func materialise(_ i: Int) {
        let s = slots[i].shape
        guard s >= 0 else { return }
        slots[i].shape = -1
        slots[i].produced.append(contentsOf: shapes.bytes(s))
        slots[i].ends.append(slots[i].produced.count)
    }

    /// Before shape `s` is replaced: the open calls holding it copy it out.
    private func materialiseAll(_ s: Int) {
        for i in slots.indices where slots[i].inUse && slots[i].shape == s { materialise(i) }
    }

    func messages(of c: Call) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = 0
        for end in c.ends {
            out.append(Array(c.produced[start..<end]))
            start = end
        }
        return out
    }

    private func compareRecorded(_ m: UnsafeRawBufferPointer, record: Int) {
        // The usual case: the answer of the call just fed, one message, shaped (AnswerShapes),
        // and the recorded one normalises to the same shape. What the general path below would
        // conclude too (a match, the call compared and closed), without copying or walking.
        if current >= 0, let type = shapeRecordedType {
            let s = slots[current].shape
            if s >= 0, slots[current].recordedParts == 0, !shapes[s].more, m.count >= Netlink.headerLength,
                m.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == type,
                shapes.matches(recorded: m, shape: s), shapes.sequence(of: m, shape: s) == slots[current].sequence
            {
                step?.after(answer: [], matched: true)
                report.compared += 1
                release(current)
                return
            }
        }
        guard let peek = EncapHeader.peek(m), peek.status != nil else { return }
        let seq = peek.sequence
        guard let i = slot(for: seq) else {
            if (peek.part ?? 0) == 0 { report.strayAnswer(frame: record) }
            return
        }
        materialise(i)
        scratch.removeAll(keepingCapacity: true)
        recordedNormalizer.append(m, to: &scratch)
        let k = slots[i].recordedParts
        slots[i].recordedParts += 1
        let c = slots[i]
        if !c.diverged {
            if k < c.ends.count {
                let start = k == 0 ? 0 : c.ends[k - 1]
                let same =
                    c.ends[k] - start == scratch.count
                    && c.produced.withUnsafeBytes { p in
                        scratch.withUnsafeBytes { s in
                            guard let pb = p.baseAddress, let sb = s.baseAddress else { return s.isEmpty }
                            return memcmp(pb + start, sb, s.count) == 0
                        }
                    }
                if !same {
                    diverge(i, message: k, reason: reasonForDifference(c, recordedPart: k))
                }
            } else {
                diverge(
                    i, message: k,
                    reason: c.ends.isEmpty
                        ? "the target did not answer"
                        : "the target's answer has \(c.ends.count) message(s), the recorded one more")
            }
        }
        guard !peek.more else { return }
        if !slots[i].diverged && slots[i].ends.count > slots[i].recordedParts {
            diverge(
                i, message: slots[i].recordedParts,
                reason:
                    "the target's answer has \(slots[i].ends.count) messages, the recorded one \(slots[i].recordedParts)"
            )
        }
        if let step { step.after(answer: [], matched: !slots[i].diverged) }
        report.compared += 1
        release(i)
    }

    private func reasonForDifference(_ c: Call, recordedPart k: Int) -> String {
        // A quick word on what differs; the report shows the rest.
        let start = k == 0 ? 0 : c.ends[k - 1]
        let mine = c.produced.withUnsafeBytes {
            EncapPeek(UnsafeRawBufferPointer(rebasing: $0[start..<c.ends[k]]), countFlows: true)
        }
        let theirs = scratch.withUnsafeBytes { EncapPeek($0, countFlows: true) }
        if let a = theirs?.status, let b = mine?.status, a != b {
            return "status differs: recorded \(Errno.display(Int32(truncatingIfNeeded: a))), "
                + "replayed \(Errno.display(Int32(truncatingIfNeeded: b)))"
        }
        if let a = theirs?.flows, let b = mine?.flows, a != b { return "recorded \(a) flows, replayed \(b)" }
        return "answers differ"
    }

    private func diverge(_ i: Int, message k: Int, reason: String) {
        slots[i].diverged = true
        let c = slots[i]
        if report.first == nil {
            let produced = messages(of: c)
            // The recorded parts before k matched the produced ones: the recorded answer so far
            // is those plus the part in hand.
            var recorded = Array(produced.prefix(min(k, produced.count)))
            if k < c.recordedParts { recorded.append(scratch) }
            let d = Divergence(
                call: c.number, frame: c.record, timestamp: c.timestamp, leg: .hairpin,
                command: commandName(c.command), ifindex: c.ifindex, sequence: c.sequence, message: k,
                reason: reason, recorded: recorded, replayed: produced)
            report.add(d, keep: options.listed)
        } else {
            report.divergent += 1
            if report.later.count < options.listed {
                var s = DivergenceSummary(
                    Divergence(
                        call: c.number, frame: c.record, timestamp: c.timestamp, leg: .hairpin,
                        command: commandName(c.command), ifindex: c.ifindex,
                        sequence: c.sequence, message: k, reason: reason,
                        recorded: [], replayed: []))
                s.reason = reason
                report.later.append(s)
            }
        }
    }

    /// End of the trace: calls still open have no recorded answer.
    func finish(into total: inout ReplayReport) {
        if current >= 0 { bySequence[slots[current].sequence] = current }
        current = -1
        for (_, i) in bySequence {
            if slots[i].recordedParts == 0 {
                report.unverifiedCall(frame: slots[i].record)
            } else {
                report.compared += 1
            }
        }
        bySequence.removeAll()
        total.calls += report.calls
        total.messages += report.messages
        total.compared += report.compared
        total.unverified += report.unverified
        total.strayAnswers += report.strayAnswers
        if let f = report.firstUnverifiedFrame { total.firstUnverifiedFrame = min(total.firstUnverifiedFrame ?? f, f) }
        if let f = report.firstStrayFrame { total.firstStrayFrame = min(total.firstStrayFrame ?? f, f) }
        if total.stopped == nil {
            total.stopped = report.stopped
            total.stoppedByUser = report.stoppedByUser
        }
        for c in timings.indices {
            guard let t = timings[c] else { continue }
            timings[c] = nil
            let key = UInt8(c)
            // The first loop's timings move in whole: a histogram is a quarter MiB of counters,
            // and making and adding one per command cost as much as a thousand calls.
            guard total.commands[key] != nil else {
                total.commands[key] = t
                continue
            }
            total.commands[key]?.add(t)
        }
        if let d = report.first {
            if total.first == nil {
                total.divergent += 1
                total.first = d
            } else {
                total.divergent += 1
                if total.later.count < options.listed { total.later.append(DivergenceSummary(d)) }
            }
        }
        total.divergent += report.divergent - (report.first == nil ? 0 : 1)
        for s in report.later where total.later.count < options.listed { total.later.append(s) }
    }
}
