// The daemon's service on bytes: what the listener (and a replay, through the listener) hands
// every hairpin request first. It answers from the request's bytes, without the
// HairpinMessage / HairpinEncap values, the typed model, the batch machinery or the answer
// encoder, for every backend alike:
//
//   * the ENCAP nest and ATTR are read in place (CMD_TYPE, CMD, SEQ, ATTR; the preamble, the
//     strategy and FLOWS, nothing else, each once);
//   * each FLOW element is read in place by EncodedFlowReader (a strict subset of what the
//     decoder accepts, read the decoder's way) into reusable buffers; no Flow is built;
//   * validation is ValidationIndex.isValid over those buffers (the typed checks' conditions;
//     only "valid" is answered here);
//   * the backend gets the same FlowView whatever it is (FlowBackend.insert(_: FlowView),
//     remove, restore): the element's bytes and the fields read from them; it keeps the bytes
//     and decodes them with the real decoder only when a Flow is asked for (get-flows, a
//     lookup, a typed delete), so get-flows answers are the same bytes as if the typed path
//     had stored the flow; the view says whether the element is in the encoder's form (read
//     along by the reader), and such an element is answered as it is, never checked again;
//   * a GET_FLOWS answer is the stored elements copied once, into the answer after its frame
//     (cut into the listener's parts when over the budget);
//   * the answer of a successful call is the same bytes for every call to a device with the same
//     command and number of flows but for the two sequence numbers, so it is encoded once by the
//     real encoder (a template per command, ifindex and flow count) and only SEQ and nlmsg_seq
//     are patched in. A successful answer does not depend on the error strategy (STATUS 0, one
//     RESULT 0 per flow, the preamble: HairpinService.applyBatch), so all four are answered here;
//   * the five discovery getters are answered from per-device encodings (DiscoveryTemplates).
//
// Anything else — no flow, PART/MORE, STATUS, an unknown attribute, an element outside the
// reader's subset, a validation error, a backend refusal (or a fingerprint shared with a stored
// flow: a duplicate or a collision), an answer too big for one message, injected faults —
// returns false having changed nothing: the flows of the request applied before the failing one
// are undone newest first (removed again, or restored exactly as they were stored), and the
// caller hands the request to the typed path (ListenerLoop → HairpinService.handle), which then
// applies the request under its strategy and gives the answer with its errno and text. The
// typed path is the reference: Tests/HairpinTests/ByteServiceTests.swift runs both over
// generated workloads with every kind of error, for every backend, and compares every answer
// byte for byte, the counters and the stored flows.
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

public final class ByteService {
    public let service: HairpinService
    /// The family id the answers carry (the listener's).
    public let answerFamilyID: UInt16
    /// Calls answered here (the rest went to the typed path).
    @exclusivity(unchecked) public private(set) var answered = 0
    /// The ifindex of the call answered last.
    @exclusivity(unchecked) public private(set) var lastIfindex: UInt32 = 0
    /// The number of flows of the SET/DEL answered last (0 after a getter).
    @exclusivity(unchecked) public private(set) var lastFlows = 0
    /// The service's backend timing during a call (bench), read once per call.
    @exclusivity(unchecked) private var timing: BackendTiming?
    /// The ENCAP SEQ of the call answered last.
    @exclusivity(unchecked) public private(set) var lastSequence: UInt64 = 0

    /// A single-flow answer and the device it was made for.
    private struct Template {
        var ifindex: UInt32 = 0
        var answer = AnswerTemplate()
    }
    private struct TemplateKey: Hashable {
        var command: UInt32
        var ifindex: UInt32
        var flows: Int
    }
    // exclusivity(unchecked): one thread (the listener's or the replay's), as ListenerLoop.
    /// Single-flow answers: SET, DEL (two properties, not an array of structs holding arrays,
    /// so patching one is one uniqueness check, not a copy-on-write dance).
    @exclusivity(unchecked) private var setTemplate = Template()
    @exclusivity(unchecked) private var delTemplate = Template()
    /// Batch answers, by command, ifindex and flow count (bounded: cleared when it grows).
    @exclusivity(unchecked) private var batchTemplates: [TemplateKey: AnswerTemplate] = [:]
    @exclusivity(unchecked) private var nlmsgSequence: UInt32 = 0
    @exclusivity(unchecked) private var reader = EncodedFlowReader()
    /// What a failing batch has to undo.
    @exclusivity(unchecked) private var inserted: [(table: UInt32, uid: UInt32)] = []
    @exclusivity(unchecked) private var removed: [RemovedFlow] = []
    /// The getters' answers.
    @exclusivity(unchecked) private var discovery = DiscoveryTemplates()
    /// GET_FLOWS: the answer's frame for the device of the last call (whole, a part with MORE,
    /// the last part), and the messages built.
    @exclusivity(unchecked) private var flowsFrames: FlowsFrames?
    /// The whole answer (its frame, then the elements), built once per call.
    @exclusivity(unchecked) private var message = Arena()
    /// An answer in parts: where each part's elements start in `message`, then the end.
    @exclusivity(unchecked) private var elementEnds: [Int] = []
    /// One part of it.
    @exclusivity(unchecked) private var partMessage = Arena()

    public init(service: HairpinService, answerFamilyID: UInt16) {
        self.service = service
        self.answerFamilyID = answerFamilyID
    }

    deinit {
        reader.deallocate()
        message.free()
        partMessage.free()
    }

    private static let setCommand = UInt32(NFL.Command.setFlows.rawValue)
    private static let delCommand = UInt32(NFL.Command.delFlows.rawValue)
    private static let getFlowsCommand = UInt32(NFL.Command.getFlows.rawValue)
    static let maxTemplates = 256
    /// The ENCAP attributes of a call this path answers: these, each once, nothing else.
    private static var callAttributes: UInt16 {
        EncapHeader.bit(NFLH.EncapAttr.cmdType) | EncapHeader.bit(NFLH.EncapAttr.cmd)
            | EncapHeader.bit(NFLH.EncapAttr.seq) | EncapHeader.bit(NFLH.EncapAttr.attr)
    }

    /// Answers `request` (exactly one netlink message of family `requestFamilyID`) if it is a
    /// SET_FLOWS / DEL_FLOWS that succeeds: applies it, calls `body` with
    /// the answer (valid only during the call; nlmsg_seq numbered by this object) and returns
    /// true. Otherwise changes nothing and returns false.
    public func answer(
        _ request: UnsafeRawBufferPointer, requestFamilyID: UInt16,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        let next = nlmsgSequence == UInt32.max ? 1 : nlmsgSequence + 1
        guard answer(request, requestFamilyID: requestFamilyID, nlmsgSequence: next, body) else { return false }
        nlmsgSequence = next
        return true
    }

    /// `answer(_:requestFamilyID:_:)` with the answer's nlmsg_seq given (the listener's own
    /// numbering). SET/DEL only (a replay's feed counts what it answers as one flow's call).
    public func answer(
        _ request: UnsafeRawBufferPointer, requestFamilyID: UInt16, nlmsgSequence nlseq: UInt32,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        guard service.faults == nil, let call = Self.readCall(request, requestFamilyID: requestFamilyID),
            call.command == Self.setCommand || call.command == Self.delCommand
        else { return false }
        return answerFlows(cmd: call.command, seq: call.sequence, inner: call.attributes, nlseq, body)
    }

    /// What a replay calls, with the ENCAP header it read already (`header`:
    /// EncapHeader(message: request), read to pair the call), so the header is not read twice:
    /// SET/DEL as `answer`, and GET_FLOWS, whose answer may be several messages (parts, as the
    /// listener cuts them): `body` is called for each, numbered on from this object's nlmsg_seq.
    public func answer(
        _ request: UnsafeRawBufferPointer, header: EncapHeader, requestFamilyID: UInt16,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        let next = nlmsgSequence == UInt32.max ? 1 : nlmsgSequence + 1
        guard service.faults == nil, Self.soleEncap(request, requestFamilyID: requestFamilyID) != nil,
            let call = Self.call(header)
        else { return false }
        if call.command == Self.getFlowsCommand {
            let sent = answerGetFlows(
                seq: call.sequence, inner: call.attributes, nlmsgSequence: next,
                maxMessages: Int.max, body)
            guard sent > 0 else { return false }
            for _ in 0..<sent { nlmsgSequence = nlmsgSequence == UInt32.max ? 1 : nlmsgSequence + 1 }
            return true
        }
        guard call.command == Self.setCommand || call.command == Self.delCommand,
            answerFlows(cmd: call.command, seq: call.sequence, inner: call.attributes, next, body)
        else { return false }
        nlmsgSequence = next
        return true
    }

    /// What the listener calls: SET/DEL as `answer`, the five discovery getters
    /// (GET_TABLES … GET_TABLE_GRAPH) for every backend, answered from DiscoveryTemplates, and
    /// GET_FLOWS, whose answer may be several messages (parts, as the listener cuts them):
    /// `body` is called for each, numbered `nlseq`, `nlseq + 1` … (never 0).
    public func answerCall(
        _ request: UnsafeRawBufferPointer, requestFamilyID: UInt16, nlmsgSequence nlseq: UInt32,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        guard service.faults == nil, let call = Self.readCall(request, requestFamilyID: requestFamilyID) else {
            return false
        }
        if call.command <= DiscoveryTemplates.lastCommand {
            guard
                let ifindex = discovery.answer(
                    command: call.command, sequence: call.sequence, attributes: call.attributes,
                    service: service, familyID: answerFamilyID, nlmsgSequence: nlseq, body)
            else { return false }
            answered += 1
            lastIfindex = ifindex
            lastSequence = call.sequence
            lastFlows = 0
            return true
        }
        if call.command == Self.getFlowsCommand {
            return answerGetFlows(
                seq: call.sequence, inner: call.attributes, nlmsgSequence: nlseq,
                maxMessages: Int.max, body) > 0
        }
        guard call.command == Self.setCommand || call.command == Self.delCommand else { return false }
        return answerFlows(cmd: call.command, seq: call.sequence, inner: call.attributes, nlseq, body)
    }

    /// CMD, SEQ and ATTR of `request` if it is exactly one netlink message of family
    /// `requestFamilyID`: an ENCAP request whose only top-level attribute is ENCAP, holding
    /// CMD_TYPE (NFL command), CMD, SEQ and ATTR once each and nothing else (no STATUS, PART,
    /// MORE, PAD, nothing unknown), as the decoder reads them (EncapHeader). Anything else: nil.
    @inline(__always)
    static func readCall(_ request: UnsafeRawBufferPointer, requestFamilyID: UInt16)
        -> (command: UInt32, sequence: UInt64, attributes: UnsafeRawBufferPointer)?
    {
        // The one ENCAP reader (the decoder's rules).
        guard let encap = soleEncap(request, requestFamilyID: requestFamilyID),
            let h = try? EncapHeader(encap)
        else { return nil }
        return call(h)
    }

    /// The ENCAP nest of `request` if it is exactly one netlink message of family
    /// `requestFamilyID`, an ENCAP request whose only top-level attribute is ENCAP.
    @inline(__always)
    static func soleEncap(_ request: UnsafeRawBufferPointer, requestFamilyID: UInt16) -> Attribute? {
        var messages = NetlinkMessageIterator(request)
        guard let m = try? messages.next(), m.bytes.count == request.count, m.header.type == requestFamilyID,
            let (g, top) = try? m.generic(), g.command == NFLH.Command.encap.rawValue
        else { return nil }
        var attrs = top
        guard let encap = attrs.nextIfWellFormed(), encap.type == NFLH.Attr.encap,
            attrs.nextIfWellFormed() == nil, attrs.isAtEnd
        else { return nil }
        return encap
    }

    /// CMD, SEQ and ATTR's payload of a header that holds CMD_TYPE (NFL command), CMD, SEQ and
    /// ATTR once each and nothing else.
    @inline(__always)
    static func call(_ h: EncapHeader) -> (command: UInt32, sequence: UInt64, attributes: UnsafeRawBufferPointer)? {
        guard h.commandType == NFLH.EncapCmdType.nflCommand, h.present == Self.callAttributes,
            let inner = h.attributes
        else { return nil }
        return (h.command, h.sequence, inner.payload)
    }

    private func answerFlows(
        cmd: UInt32, seq: UInt64, inner: UnsafeRawBufferPointer, _ nlseq: UInt32,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        // ATTR: the preamble, the strategy, FLOWS; each at most once, nothing else.
        var idType: UInt32?, ifindexRead: UInt32?, strategy: UInt32?, flowList: UnsafeRawBufferPointer?
        let read = RawAttributes.walk(inner) { type, payload in
            switch type {
            case NFL.Attr.identifierType where idType == nil: idType = RawAttributes.u32(payload); return idType != nil
            case NFL.Attr.identifier where ifindexRead == nil:
                ifindexRead = RawAttributes.u32(payload); return ifindexRead != nil
            case NFL.Attr.flowsError where strategy == nil:
                strategy = RawAttributes.u32(payload); return strategy != nil
            case NFL.Attr.flows where flowList == nil: flowList = payload; return true
            default: return false
            }
        }
        // The four strategies are 0...3 (ErrorStrategy.all).
        guard read, idType == NFL.IdentifierType.ifindex, let ifindex = ifindexRead, let flowList,
            (strategy ?? 0) <= ErrorStrategy.continueLog.rawValue
        else { return false }
        // The flow count (by length fields; the walk below checks them) for the template.
        let flowCount = AttributeIterator(flowList, baseOffset: 0).countHint()
        guard flowCount > 0 else { return false }
        let isSet = cmd == Self.setCommand

        // The answer first: when it cannot be had, nothing is applied.
        let single = flowCount == 1
        let key = TemplateKey(command: cmd, ifindex: ifindex, flows: flowCount)
        if single {
            let current = isSet ? setTemplate.ifindex : delTemplate.ifindex
            let empty = isSet ? setTemplate.answer.bytes.isEmpty : delTemplate.answer.bytes.isEmpty
            if current != ifindex || empty {
                guard let a = Self.template(command: cmd, ifindex: ifindex, flows: 1, familyID: answerFamilyID) else {
                    return false
                }
                let t = Template(ifindex: ifindex, answer: a)
                if isSet { setTemplate = t } else { delTemplate = t }
            }
        } else if batchTemplates[key] == nil {
            guard let t = Self.template(command: cmd, ifindex: ifindex, flows: flowCount, familyID: answerFamilyID)
            else { return false }
            if batchTemplates.count >= Self.maxTemplates { batchTemplates.removeAll(keepingCapacity: true) }
            batchTemplates[key] = t
        }

        service.lock.lock()
        guard let device = service.devices.state(for: ifindex) else {
            service.lock.unlock()
            return false
        }
        // Stored only when it changed: a store is a retain and a release per call.
        if timing !== service.backendTiming { timing = service.backendTiming }
        guard apply(isSet: isSet, flowList, count: flowCount, device) else {
            service.lock.unlock()
            return false
        }
        service.countFastSuccess(command: cmd, flows: flowCount)
        service.lock.unlock()
        answered += 1
        lastIfindex = ifindex
        lastSequence = seq
        lastFlows = flowCount

        if single {
            if isSet {
                setTemplate.answer.send(nlmsgSequence: nlseq, sequence: seq, body)
            } else {
                delTemplate.answer.send(nlmsgSequence: nlseq, sequence: seq, body)
            }
        } else {
            // Taken out and put back: patched in place, not copied on write.
            guard var t = batchTemplates.removeValue(forKey: key) else { return true }  // cannot happen: filled above
            t.send(nlmsgSequence: nlseq, sequence: seq, body)
            batchTemplates[key] = t
        }
        return true
    }

    /// Reads, validates and applies every FLOW element of `list`; on the first problem undoes
    /// what it applied and returns false. The caller holds the service's lock.
    // The device, not its ValidationIndex: a struct of five references copied into the call
    // cost ten reference-count operations per call.
    private func apply(isSet: Bool, _ list: UnsafeRawBufferPointer, count: Int, _ device: DeviceState) -> Bool {
        let backend = device.backend
        // Emptied only when used (a single flow never is): removeAll on an empty array still
        // costs a generic replaceSubrange.
        if !inserted.isEmpty { inserted.removeAll(keepingCapacity: true) }
        if !removed.isEmpty { removed.removeAll(keepingCapacity: true) }
        var elements = RawAttributes(list)
        var n = 0
        let operation: FlowOperation = isSet ? .set : .del
        var type: UInt16 = 0
        var e = UnsafeRawBufferPointer(start: nil, count: 0)
        while true {
            switch elements.next(&type, &e) {
            case 0:
                if n == count { return true }
                undo(backend)
                return false
            case 1: break
            default:
                undo(backend)
                return false
            }
            n += 1
            guard type == NFL.listElement, reader.read(payload: e, requirePriority: isSet),
                device.index.isValid(
                    table: reader.table, uid: reader.uid, for: operation, matches: reader.matchBuffer,
                    actions: reader.actionBuffer, args: reader.argBuffer)
            else {
                undo(backend)
                return false
            }
            if isSet {
                // The whole element, header included (what a FLOWS list holds).
                guard let header = e.baseAddress.map({ $0 - Netlink.attributeHeaderLength }) else {
                    undo(backend)
                    return false
                }
                let element = UnsafeRawBufferPointer(start: header, count: e.count + Netlink.attributeHeaderLength)
                let view = FlowView(
                    table: reader.table, uid: reader.uid, priority: reader.priority,
                    matches: reader.matchBuffer, element: element, encoderForm: reader.isEncoderForm(element: element))
                let started = timing?.start()
                let stored = backend.insert(view)
                if let started { timing?.end(started) }
                guard stored else {
                    undo(backend)
                    return false
                }
                if count > 1 { inserted.append((reader.table, reader.uid)) }
            } else {
                let started = timing?.start()
                var deleted = backend.remove(table: reader.table, uid: reader.uid)
                let found = deleted != nil
                if count > 1, let r = deleted { removed.append(r) }
                // Freeing what the backend kept of the flow is its cost, timed with it.
                deleted = nil
                if let started { timing?.end(started) }
                guard found else {
                    undo(backend)
                    return false
                }
            }
        }
    }

    /// Undoes the flows of the current request applied so far, newest first.
    private func undo(_ backend: any FlowBackend) {
        let started = timing?.start()
        defer { if let started { timing?.end(started) } }
        for (table, uid) in inserted.reversed() { _ = backend.remove(table: table, uid: uid) }
        for r in removed.reversed() { backend.restore(r) }
        if !inserted.isEmpty { inserted.removeAll(keepingCapacity: true) }
        if !removed.isEmpty { removed.removeAll(keepingCapacity: true) }
    }

    // MARK: GET_FLOWS

    /// A GET_FLOWS answer for one device without its flows, as the listener encodes it (the
    /// typed HairpinService answer: STATUS 0, ATTR{preamble, FLOWS}): FLOWS is the last 4 bytes,
    /// ATTR and ENCAP the nests around it, so the answer is the frame, the FLOW elements, and
    /// four lengths, nlmsg_seq, SEQ and PART patched.
    struct FlowsFrame {
        var bytes: [UInt8] = []
        var sequenceOffset = 0
        /// ATTR's header.
        var attributesAt = 0
        /// PART's u32 payload; 0: none (the whole answer).
        var partAt = 0

        init?(ifindex: UInt32, part: UInt32?, more: Bool, familyID: UInt16) {
            var answer = HairpinEncap(
                commandType: NFLH.EncapCmdType.nflCommand, command: ByteService.getFlowsCommand,
                status: 0, sequence: 0)
            answer.part = part
            answer.more = more
            var attributes = FlowTableAttributes(identifierType: NFL.IdentifierType.ifindex, identifier: ifindex)
            attributes.flows = []
            answer.attributes = attributes
            let message = HairpinMessage(
                header: NetlinkHeader(type: familyID, flags: ListenerLoop.answerFlags, sequence: 0, port: 0),
                command: NFLH.Command.encap.rawValue, encap: answer)
            guard let bytes = try? message.encoded(), bytes.count >= 40 else { return nil }
            let found: (Int, Int, Int)? = bytes.withUnsafeBytes { raw in
                guard let h = EncapHeader.peek(raw), let inner = h.attributes else { return nil }
                // FLOWS: empty, last; PART right after SEQ (the encoder's order).
                let flows = raw.count - Netlink.attributeHeaderLength
                guard raw.loadUnaligned(fromByteOffset: flows, as: UInt16.self) == 4,
                    raw.loadUnaligned(fromByteOffset: flows + 2, as: UInt16.self) & Netlink.attributeTypeMask
                        == NFL.Attr.flows
                else { return nil }
                var partAt = 0
                if part != nil {
                    partAt = h.sequenceOffset + 8 + Netlink.attributeHeaderLength
                    guard
                        raw.loadUnaligned(fromByteOffset: partAt - 2, as: UInt16.self) & Netlink.attributeTypeMask
                            == NFLH.EncapAttr.part
                    else { return nil }
                }
                return (h.sequenceOffset, inner.offset, partAt)
            }
            guard let found, found.0 > 0 else { return nil }
            self.bytes = bytes
            (sequenceOffset, attributesAt, partAt) = found
        }
    }

    struct FlowsFrames {
        var ifindex: UInt32
        var whole: FlowsFrame
        var part: FlowsFrame
        var last: FlowsFrame
    }

    /// Answers a GET_FLOWS (ATTR's payload `inner`) that succeeds from the backend's stored FLOW
    /// elements, in the typed path's order and cut into the typed path's parts (ListenerLoop's
    /// answer: one message when it fits the budget, else Parts' ranges); returns the number of
    /// messages given to `body`, 0 (declined, nothing changed) for anything else or when more
    /// than `maxMessages` would be needed.
    private func answerGetFlows(
        seq: UInt64, inner: UnsafeRawBufferPointer, nlmsgSequence first: UInt32,
        maxMessages: Int, _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Int {
        // ATTR: the preamble and the selector, each once, nothing else.
        var idType: UInt32?, ifindexRead: UInt32?, selectorBytes: UnsafeRawBufferPointer?
        let read = RawAttributes.walk(inner) { type, payload in
            switch type {
            case NFL.Attr.identifierType where idType == nil: idType = RawAttributes.u32(payload); return idType != nil
            case NFL.Attr.identifier where ifindexRead == nil:
                ifindexRead = RawAttributes.u32(payload); return ifindexRead != nil
            case NFL.Attr.flows where selectorBytes == nil: selectorBytes = payload; return true
            default: return false
            }
        }
        guard read, idType == NFL.IdentifierType.ifindex, let ifindex = ifindexRead, let selectorBytes else { return 0 }
        var table: UInt32?, lo: UInt32?, hi: UInt32?
        let readSelector = RawAttributes.walk(selectorBytes) { type, payload in
            switch type {
            case NFL.TableFlowsAttr.table where table == nil: table = RawAttributes.u32(payload); return table != nil
            case NFL.TableFlowsAttr.minPriority where lo == nil: lo = RawAttributes.u32(payload); return lo != nil
            case NFL.TableFlowsAttr.maxPriority where hi == nil: hi = RawAttributes.u32(payload); return hi != nil
            default: return false
            }
        }
        guard readSelector, let table else { return 0 }
        if flowsFrames?.ifindex != ifindex {
            guard let whole = FlowsFrame(ifindex: ifindex, part: nil, more: false, familyID: answerFamilyID),
                let part = FlowsFrame(ifindex: ifindex, part: 0, more: true, familyID: answerFamilyID),
                let last = FlowsFrame(ifindex: ifindex, part: 0, more: false, familyID: answerFamilyID)
            else { return 0 }
            flowsFrames = FlowsFrames(ifindex: ifindex, whole: whole, part: part, last: last)
        }

        // The elements, copied out under the lock (the backend's bytes are not kept past it),
        // straight into the answer after the whole answer's frame: one copy of each.
        guard let frames = flowsFrames else { return 0 }
        let frameSize = frames.whole.bytes.count
        message.count = 0
        frames.whole.bytes.withUnsafeBytes { message.append($0) }
        service.lock.lock()
        guard let device = service.devices.state(for: ifindex) else {
            service.lock.unlock()
            return 0
        }
        let timing = service.backendTiming
        let started = timing?.start()
        let found = device.backend.flowElements(FlowSelector(table: table, minPriority: lo, maxPriority: hi)) { e in
            message.append(e)
        }
        if let started { timing?.end(started) }
        let elementBytes = message.count - frameSize
        // One message when it fits the budget, else parts (one part: the whole answer after all).
        let parts =
            !found || message.count <= Parts.defaultBudget
            ? 1 : cutParts(frames, from: frameSize, maxMessages: maxMessages)
        guard found, parts > 1 || (parts == 1 && fits(frames.whole, elementBytes)) else {
            service.lock.unlock()
            return 0
        }
        service.countFastGetter(command: Self.getFlowsCommand)
        service.lock.unlock()
        answered += 1
        lastIfindex = ifindex
        lastSequence = seq
        lastFlows = 0

        if parts == 1 {
            guard let base = message.base else { return 0 }
            Self.patch(
                base, count: message.count, frame: frames.whole, elements: elementBytes, part: 0, seq: seq, first)
            body(UnsafeRawBufferPointer(start: base, count: message.count))
            return 1
        }
        var nlseq = first
        for k in 0..<parts {
            let frame = k == parts - 1 ? frames.last : frames.part
            let from = elementEnds[k], to = elementEnds[k + 1]
            partMessage.count = 0
            frame.bytes.withUnsafeBytes { partMessage.append($0) }
            partMessage.append(message.bytes(from, to - from))
            guard let base = partMessage.base else { return k }
            Self.patch(
                base, count: partMessage.count, frame: frame, elements: to - from, part: UInt32(k), seq: seq, nlseq)
            body(UnsafeRawBufferPointer(start: base, count: partMessage.count))
            nlseq = nlseq == UInt32.max ? 1 : nlseq + 1
        }
        return parts
    }

    /// An answer over the budget: where ListenerLoop.answer cuts it (Parts.ranges over the
    /// elements' sizes), as offsets in `message` of the elements from `start` on, into
    /// `elementEnds` (the first element of each part, then the end); returns the number of
    /// parts. 0 when a part would not encode (a nest over 65535 bytes: the listener answers
    /// EMSGSIZE) or more than `maxMessages` are needed.
    private func cutParts(_ frames: FlowsFrames, from start: Int, maxMessages: Int) -> Int {
        if !elementEnds.isEmpty { elementEnds.removeAll(keepingCapacity: true) }
        guard let base = message.base else { return 0 }
        let budget = Parts.defaultBudget
        let end = message.count
        elementEnds.append(start)
        var size = 0
        var p = start
        while p < end {
            // The stored elements are whole attributes, back to back (each a multiple of 4).
            let bytes = Int(base.loadUnaligned(fromByteOffset: p, as: UInt16.self))
            guard bytes >= Netlink.attributeHeaderLength, p + bytes <= end else { return 0 }
            if size + bytes > budget && p > elementEnds[elementEnds.count - 1] {
                elementEnds.append(p)
                size = 0
            }
            size += bytes
            p += bytes
        }
        elementEnds.append(end)
        let parts = elementEnds.count - 1
        if parts == 1 { return 1 }
        guard parts <= maxMessages else { return 0 }
        for k in 0..<parts where !fits(k == parts - 1 ? frames.last : frames.part, elementEnds[k + 1] - elementEnds[k])
        {
            return 0
        }
        return parts
    }

    /// Whether ENCAP (the outermost nest) holds `frame` with `elements` bytes of elements.
    private func fits(_ frame: FlowsFrame, _ elements: Int) -> Bool {
        frame.bytes.count - Netlink.headerLength - Netlink.genericHeaderLength + elements <= Int(UInt16.max)
    }

    /// Patches one answer message at `base` (`frame`, then `elements` bytes of elements):
    /// its length, nlmsg_seq, SEQ, PART and the lengths of ENCAP, ATTR and FLOWS.
    @inline(__always)
    private static func patch(
        _ base: UnsafeMutableRawPointer, count: Int, frame: FlowsFrame, elements: Int, part: UInt32, seq: UInt64,
        _ nlseq: UInt32
    ) {
        base.storeBytes(of: UInt32(count), as: UInt32.self)
        base.storeBytes(of: nlseq, toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: seq, toByteOffset: frame.sequenceOffset, as: UInt64.self)
        if frame.partAt > 0 { base.storeBytes(of: part, toByteOffset: frame.partAt, as: UInt32.self) }
        // ENCAP, ATTR and FLOWS hold the elements.
        grow(base, at: Netlink.headerLength + Netlink.genericHeaderLength, by: elements)
        grow(base, at: frame.attributesAt, by: elements)
        grow(base, at: frame.bytes.count - Netlink.attributeHeaderLength, by: elements)
    }

    @inline(__always)
    private static func grow(_ base: UnsafeMutableRawPointer, at offset: Int, by n: Int) {
        let old = Int(base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        base.storeBytes(of: UInt16(truncatingIfNeeded: old + n), toByteOffset: offset, as: UInt16.self)
    }

    /// The typed path's answer to a successful call of `flows` flows, encoded by the real
    /// encoder (as ListenerLoop.encode does). nil when it would not fit one message (the
    /// listener would send it in parts).
    private static func template(command: UInt32, ifindex: UInt32, flows: Int, familyID: UInt16) -> AnswerTemplate? {
        var answer = HairpinEncap(commandType: NFLH.EncapCmdType.nflCommand, command: command, status: 0, sequence: 0)
        answer.results = (0..<flows).map { FlowResult(index: UInt32(truncatingIfNeeded: $0), errno: 0) }
        answer.attributes = FlowTableAttributes(identifierType: NFL.IdentifierType.ifindex, identifier: ifindex)
        return AnswerTemplate(answer, familyID: familyID)
    }
}
