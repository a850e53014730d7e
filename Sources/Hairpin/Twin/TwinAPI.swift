// The API leg (client ↔ unft) and the nlctrl answers both sockets give: checks done before a
// call is forwarded, in the order the kernel does them (spec/two-leg-contract.md, "One NDO
// call", step 1), and the forwarding itself.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Posix

extension UnftTwin {
    enum Step { case next, suspend }

    /// A message that starts a call suspends the rest of the packet until the call ends.
    func processAPIPacket(_ c: TwinConnection, _ packet: UnsafeRawBufferPointer) {
        processPacket(c, packet) { handleAPIMessage(c, $0) }
    }

    /// Every message of a packet in turn, as netlink_rcv_skb does, on either socket. When
    /// `handle` suspends, the rest of the packet waits in `c.deferred`.
    @inline(__always)
    func processPacket(
        _ c: TwinConnection, _ packet: UnsafeRawBufferPointer, _ handle: (NetlinkMessageView) -> Step
    ) {
        var it = NetlinkMessageIterator(packet)
        while !c.broken {
            let view: NetlinkMessageView?
            do { view = try it.next() } catch {
                brokenFraming(c, packet, error)
                return
            }
            guard let view else { return }
            if handle(view) == .suspend {
                let next = min(view.offset + Netlink.align(view.bytes.count), packet.count)
                if next < packet.count { c.deferred = [UInt8](UnsafeRawBufferPointer(rebasing: packet[next...])) }
                return
            }
        }
    }

    /// nlmsg_len that does not fit: the kernel drops the rest of the packet silently; the twin
    /// says why (echoing the header when there are 16 bytes of it) so a client does not wait
    /// for its timeout.
    func brokenFraming(_ c: TwinConnection, _ packet: UnsafeRawBufferPointer, _ error: DecodeError) {
        let at = min(max(error.offset, 0), packet.count)
        let rest = UnsafeRawBufferPointer(rebasing: packet[at...])
        note(c, rest, .toKernel, call: nil)
        sendError(
            c, request: Self.header(at: 0, in: rest), errno: Int32(Errno.EINVAL), text: error.description, call: nil)
    }

    func handleAPIMessage(_ c: TwinConnection, _ view: NetlinkMessageView) -> Step {
        let h = view.header
        let familyID = configuration.flowTableFamilyID
        guard served(c, view, familyID: familyID, socket: "API", name: NFL.familyName) else { return .next }
        counterState.withLock { $0.requests += 1 }
        // The command first: the kernel finds the operation before it parses attributes.
        if view.payload.count >= Netlink.genericHeaderLength {
            let cmd = view.payload[0]
            let known = NFL.Command(rawValue: cmd)
            guard let known, known.rawValue <= NFL.Command.delFlows.rawValue else {
                note(c, view.bytes, .toKernel, call: nil)
                let name = known.map { $0.name } ?? "command \(cmd)"
                sendError(
                    c, request: h, errno: Int32(Errno.EOPNOTSUPP), text: "\(name) is not supported by unft", call: nil)
                return .next
            }
            // GET_FLOWS is the one dump (pages, NLMSG_DONE, no ACK); the kernel has no dumpit
            // for the others.
            if h.flags & Netlink.flagDump == Netlink.flagDump, known != .getFlows {
                note(c, view.bytes, .toKernel, call: nil)
                sendError(
                    c, request: h, errno: Int32(Errno.EOPNOTSUPP),
                    text: "\(known.name) is not a dump: only GET_FLOWS is",
                    call: nil)
                return .next
            }
        }
        let request: FlowTableMessageSummary
        switch checkAPIRequest(view) {
        case let .success(s): request = s
        case let .failure(why):
            note(c, view.bytes, .toKernel, call: nil)
            sendError(
                c, request: h, errno: why.errno, text: why.text, call: nil, missingType: why.missingType,
                missingNest: why.missingNest)
            return .next
        }
        guard let l = listener, !l.broken else {
            note(c, view.bytes, .toKernel, call: nil)
            sendError(
                c, request: h, errno: Int32(Errno.ENOTCONN),
                text: "no hairpin listener is registered: start flow-table-hairpind", call: nil)
            return .next
        }
        if let faults = configuration.faults {
            // Faults encode a held call from the model: decode it (it passed the same checks).
            let message: FlowTableMessage
            do { message = try FlowTableMessage.decode(view, familyID: familyID, requireShape: true) } catch {
                note(c, view.bytes, .toKernel, call: nil)
                sendError(c, request: h, errno: Int32(Errno.EINVAL), text: error.description, call: nil)
                return .next
            }
            if let step = injectFault(faults, message, bytes: view.bytes, from: c, to: l) { return step }
        }
        return forward(request, bytes: view.bytes, from: c, to: l)
    }

    struct Refusal: Error, Hashable {
        var errno: Int32
        var text: String
        /// A required attribute that is missing (the extended ack's MISS_TYPE) and the offset
        /// of the nest it is missing from (MISS_NEST; nil: the top level).
        var missingType: UInt32?
        var missingNest: UInt32?
    }

    /// Whether a message on a socket is a request of the family it serves. Otherwise it is
    /// handled here as the kernel does: nlctrl answered, a control message or a non-request
    /// acked if asked, a request of another family refused with ENOENT.
    func served(_ c: TwinConnection, _ view: NetlinkMessageView, familyID: UInt16, socket: String, name: String)
        -> Bool
    {
        let h = view.header
        if h.type == Controller.familyID {
            note(c, view.bytes, .toKernel, call: nil)
            handleController(c, view)
            return false
        }
        // Only requests are handled; control messages and non-requests are at most ACKed.
        guard h.isRequest, h.type >= Netlink.minFamilyType else {
            note(c, view.bytes, .toKernel, call: nil)
            ackIfAsked(c, request: h, call: nil)
            return false
        }
        guard h.type == familyID else {
            note(c, view.bytes, .toKernel, call: nil)
            sendError(
                c, request: h, errno: Int32(Errno.ENOENT),
                text: wrongFamilyText(h.type, socket: socket, served: familyID, name: name), call: nil)
            return false
        }
        return true
    }

    /// A request the strict rules refuse: EINVAL with the decoder's text and, for a missing
    /// attribute, the ack's MISS_TYPE and MISS_NEST.
    static func refusal(_ error: DecodeError, in view: NetlinkMessageView) -> Refusal {
        let miss = missingAttribute(error, in: view)
        return Refusal(
            errno: Int32(Errno.EINVAL), text: error.description, missingType: miss?.type, missingNest: miss?.nest)
    }

    /// The missing-attribute extended ack for a decode error that says a required attribute is
    /// missing, as the module sets it (NL_SET_ERR_ATTR_MISS in unft_walk_set): the attribute's
    /// type in its set and, inside a nest, the nest's offset. The error names the attribute
    /// and the nest's offset, so the nest's set is found by walking down to that offset.
    static func missingAttribute(_ error: DecodeError, in view: NetlinkMessageView) -> (type: UInt32, nest: UInt32?)? {
        guard case let .missingAttribute(name) = error.reason else { return nil }
        let top = AttributeSetID.nflAttrs
        guard !error.path.isEmpty else {
            return type(named: name, in: top).map { (UInt32($0), nil) }
        }
        let m = view.bytes
        guard m.count >= 20, error.offset >= 20 else { return nil }
        var set = top
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[20...]), baseOffset: 20)
        while let a = try? it.next() {
            let end = a.payloadOffset + a.payload.count
            guard a.offset <= error.offset, error.offset < end else { continue }
            guard let inner = nestedSet(of: a, in: set, command: view.payload[0]) else { return nil }
            if a.offset == error.offset {
                return type(named: name, in: inner).map { (UInt32($0), UInt32(error.offset)) }
            }
            set = inner
            it = AttributeIterator(
                UnsafeRawBufferPointer(rebasing: m[a.payloadOffset..<end]), baseOffset: a.payloadOffset)
        }
        return nil
    }

    /// The set the nest `a` of `parent` holds: FLOWS by the command (the selector in a GET_FLOWS
    /// request, DEL_FLOWS' own flow list), a list's elements their set, else the descriptor's.
    static func nestedSet(of a: Attribute, in parent: AttributeSetID, command: UInt8) -> AttributeSetID? {
        if parent == .nflAttrs && a.type == NFL.Attr.flows {
            switch command {
            case NFL.Command.getFlows.rawValue: return .nflTableFlows
            case NFL.Command.delFlows.rawValue: return .nflFlowListInDelFlows
            default: return .nflFlowList
            }
        }
        if parent.outlinedDescriptor.element != 0 { return StrictWalk.elementSet(of: parent) }
        return parent.attribute(a.type)?.nested
    }

    static func type(named name: String, in set: AttributeSetID) -> UInt16? {
        (0..<UInt16(set.outlinedDescriptor.count)).first { set.attribute($0) != nil && set.name(of: $0) == name }
    }

    /// Whether a request of the twin's family may be forwarded: the strict decoder's rules as a
    /// check-only walk over its bytes (EINVAL with the decoder's text; the request's bytes are
    /// forwarded as they are, TwinVerbatim.swift), then the preamble, device and strategy.
    func checkAPIRequest(_ view: NetlinkMessageView) -> Result<FlowTableMessageSummary, Refusal> {
        let request: FlowTableMessageSummary
        do {
            request = try FlowTableMessage.check(view, familyID: configuration.flowTableFamilyID, requireShape: true)
        } catch {
            return .failure(Self.refusal(error, in: view))
        }
        if let why = refusal(
            identifierType: request.identifierType, identifier: request.identifier,
            errorStrategy: request.errorStrategy)
        {
            return .failure(Refusal(errno: why.errno, text: why.text))
        }
        return .success(request)
    }

    /// `checkAPIRequest` as it was done before the walk: the typed decode of the whole request.
    /// Kept for the differential test (TwinCheckTests), which holds the two to the same verdicts.
    func legacyCheckAPIRequest(_ view: NetlinkMessageView) -> Result<FlowTableMessage, Refusal> {
        let message: FlowTableMessage
        do {
            message = try FlowTableMessage.decode(view, familyID: configuration.flowTableFamilyID, requireShape: true)
        } catch {
            return .failure(Self.refusal(error, in: view))
        }
        let a = message.attributes
        if let why = refusal(identifierType: a.identifierType, identifier: a.identifier, errorStrategy: a.errorStrategy)
        {
            return .failure(Refusal(errno: why.errno, text: why.text))
        }
        return .success(message)
    }

    /// Preamble, device and strategy checks of a well-formed request.
    func refusal(
        identifierType: UInt32?, identifier: UInt32?,
        errorStrategy: ErrorStrategy?
    ) -> (errno: Int32, text: String)? {
        guard identifierType == NFL.IdentifierType.ifindex else {
            return (
                Int32(Errno.EINVAL),
                "unknown identifier type \(identifierType ?? 0): only IFINDEX (\(NFL.IdentifierType.ifindex)) is known"
            )
        }
        guard let ifindex = identifier, deviceIndexes.contains(ifindex) else {
            return (Int32(Errno.EINVAL), "no unft device with ifindex \(identifier ?? 0)")
        }
        if let s = errorStrategy, s.rawValue > ErrorStrategy.continueLog.rawValue {
            return (Int32(Errno.EINVAL), "FLOWS_ERROR \(s.rawValue) is not a known error strategy")
        }
        return nil
    }

    static func isBatch(_ command: UInt8) -> Bool {
        command == NFL.Command.setFlows.rawValue || command == NFL.Command.delFlows.rawValue
    }

    /// One ENCAP request (or its parts) to the listener; the call waits in `pending`.
    func forward(
        _ request: FlowTableMessageSummary, bytes: UnsafeRawBufferPointer, from c: TwinConnection,
        to l: TwinConnection
    ) -> Step {
        let seq = nextSequence
        nextSequence &+= 1
        note(c, bytes, .toKernel, call: seq)
        let batch = Self.isBatch(request.command)
        // FLOWS_ERROR is always explicit on the hairpin leg, so the listener never guesses.
        let strategy = request.errorStrategy ?? (batch ? .abort : nil)
        if !encodeEncapVerbatim(
            command: request.command, sequence: seq, identifierType: request.identifierType,
            identifier: request.identifier, errorStrategy: strategy, request: bytes)
        {
            // Parts, or nests the verbatim copy cannot take: encode from the model, decoded now.
            if let why = encodeEncapFromModel(bytes, command: request.command, sequence: seq) {
                writer.reset()
                sendError(c, request: request.header, errno: why.errno, text: why.text, call: seq)
                return .next
            }
        }
        // The request's bytes stay with the connection (one call at a time, the buffer reused):
        // a failed flow's report and texts decode them when needed (`requestFlows`).
        c.callRequest.removeAll(keepingCapacity: true)
        if batch { c.callRequest.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self)) }  // one memcpy
        pending[seq] = PendingCall(
            sequence: seq, client: c.id, request: request.header, command: request.command,
            ifindex: request.identifier ?? 0, strategy: strategy ?? .abort,
            flowCount: batch ? request.flowCount : 0,
            deadline: MonotonicClock.now() &+ timeoutNanoseconds)
        c.busyCall = seq
        counterState.withLock {
            $0.forwarded += 1
            $0.pending = pending.count
        }
        sendMessages(l, call: seq)
        return .suspend
    }

    /// The ENCAP request (or its parts) encoded from the decoded request; an errno and text
    /// when it cannot be.
    func encodeEncapFromModel(
        _ bytes: UnsafeRawBufferPointer, command: UInt8,
        sequence: UInt64
    ) -> (errno: Int32, text: String)? {
        let message: FlowTableMessage
        do { message = try FlowTableMessage.decode(bytes, familyID: configuration.flowTableFamilyID) } catch {
            return (Int32(Errno.EINVAL), error.description)
        }
        var a = message.attributes
        if Self.isBatch(command) && a.errorStrategy == nil { a.errorStrategy = .abort }
        do { try encodeEncap(HairpinEncap(command: UInt32(command), sequence: sequence, attributes: a)) } catch {
            return (Int32(Errno.EMSGSIZE), "the call cannot be forwarded: \(error)")
        }
        return nil
    }

    /// The flows of `client`'s batch request in flight, decoded from its kept bytes (the
    /// request passed the same checks when it came in, so this does not fail).
    func requestFlows(_ client: TwinConnection) -> [Flow] {
        let decoded = try? FlowTableMessage.decode(
            client.callRequest, familyID: configuration.flowTableFamilyID,
            requireShape: false)
        return decoded?.attributes.flows ?? []
    }

    /// Encodes the ENCAP request into the writer: one message, or its parts one after another
    /// when it is too big (spec "Parts": cut at 60 KiB of payload). Nothing is sent yet, so a
    /// call that cannot be encoded leaves no half-sent parts behind.
    func encodeEncap(_ encap: HairpinEncap) throws(EncodeError) {
        writer.reset()
        // Kernel-originated: no NLM_F_REQUEST, nlmsg_seq 0, nlmsg_pid 0.
        var m = HairpinMessage(
            header: NetlinkHeader(type: configuration.hairpinFamilyID, flags: 0, sequence: 0, port: 0),
            command: NFLH.Command.encap.rawValue, encap: encap)
        // The common case costs one encoding: a message within the budget is exactly what
        // parts() would return whole (its flows alone are smaller than the message).
        do {
            try m.encode(into: &writer)
            if writer.count <= Parts.defaultBudget { return }
        } catch {}
        writer.reset()
        for p in encap.parts() {
            m.encap = p
            try m.encode(into: &writer)
        }
    }

    /// Sends each message in the writer as its own packet, as the kernel unicasts each skb.
    func sendMessages(_ c: TwinConnection, call: UInt64?) {
        defer { writer.reset() }
        writer.withUnsafeBytes { all in
            var it = NetlinkMessageIterator(all)
            while let m = try? it.next() {
                guard !c.broken else { return }
                note(c, m.bytes, .toUser, call: call)
                transmit(c, m.bytes)
            }
        }
    }

    func wrongFamilyText(_ type: UInt16, socket: String, served: UInt16, name: String) -> String {
        "nlmsg_type \(type) is not a family of the twin's \(socket) socket (\(name) is \(served))"
    }

    // MARK: nlctrl

    /// CTRL_CMD_GETFAMILY by name or id, on either socket, for both families.
    func handleController(_ c: TwinConnection, _ view: NetlinkMessageView) {
        let h = view.header
        guard h.isRequest else {
            ackIfAsked(c, request: h, call: nil)
            return
        }
        let families = [
            Controller.Family.flowTable(id: configuration.flowTableFamilyID),
            Controller.Family.hairpin(id: configuration.hairpinFamilyID),
        ]
        var name: String?
        var id: UInt16?
        let command: UInt8
        do {
            let (g, attrs) = try view.generic()
            command = g.command
            if command == Controller.Command.getFamily {
                var it = attrs
                while let a = try it.next() {
                    if a.type == Controller.Attr.familyName { name = try a.string() }
                    if a.type == Controller.Attr.familyID { id = try a.u16() }
                }
            }
        } catch {
            sendError(c, request: h, errno: Int32(Errno.EINVAL), text: error.description, call: nil)
            return
        }
        guard command == Controller.Command.getFamily else {
            sendError(
                c, request: h, errno: Int32(Errno.EOPNOTSUPP),
                text: "nlctrl command \(command) is not implemented by the twin",
                call: nil)
            return
        }
        if h.flags & Netlink.flagDump == Netlink.flagDump {
            // A dump lists every family (NLM_F_MULTI, then NLMSG_DONE); dumps are not ACKed.
            for f in families {
                writer.reset()
                Controller.newFamily(f, sequence: h.sequence, port: c.port, into: &writer)
                writer.patch(Netlink.flagMulti, at: 6)
                emit(c, call: nil)
            }
            sendDone(c, sequence: h.sequence, call: nil)
            return
        }
        guard name != nil || id != nil else {
            sendError(
                c, request: h, errno: Int32(Errno.EINVAL),
                text: "GETFAMILY needs CTRL_ATTR_FAMILY_NAME or CTRL_ATTR_FAMILY_ID",
                call: nil)
            return
        }
        guard
            let family = families.first(where: { f in
                (name == nil || f.name == name) && (id == nil || f.id == id)
            })
        else {
            // The kernel's nlctrl answers an unknown family with a bare -ENOENT.
            sendError(c, request: h, errno: Int32(Errno.ENOENT), text: nil, call: nil)
            return
        }
        writer.reset()
        Controller.newFamily(family, sequence: h.sequence, port: c.port, into: &writer)
        emit(c, call: nil)
        ackIfAsked(c, request: h, call: nil)
    }

    /// NLMSG_DONE as a dump ends it: NLM_F_MULTI and a 4-byte error 0.
    func sendDone(_ c: TwinConnection, sequence: UInt32, call: UInt64?) {
        writer.reset()
        let start = writer.beginMessage(
            type: Netlink.typeDone, flags: Netlink.flagMulti, sequence: sequence, port: c.port)
        writer.appendRaw(Int32(0))
        writer.endMessage(start)
        emit(c, call: call)
    }
}
