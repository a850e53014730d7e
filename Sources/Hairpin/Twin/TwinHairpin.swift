// The hairpin leg (unft ↔ listener): registration, ENCAP answers and their parts, and turning
// an answer into the API reply (spec/two-leg-contract.md, "Payloads per command", "Batches").
// Also the two ways a call ends without an answer: the timeout and the listener going away.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable

extension UnftTwin {
    func processHairpinPacket(_ c: TwinConnection, _ packet: UnsafeRawBufferPointer) {
        processPacket(c, packet) {
            handleHairpinMessage(c, $0)
            return .next
        }
    }

    func handleHairpinMessage(_ c: TwinConnection, _ view: NetlinkMessageView) {
        let h = view.header
        let familyID = configuration.hairpinFamilyID
        guard served(c, view, familyID: familyID, socket: "hairpin", name: NFLH.familyName) else { return }
        if view.payload.count >= Netlink.genericHeaderLength, NFLH.Command(rawValue: view.payload[0]) == nil {
            note(c, view.bytes, .toKernel, call: nil)
            sendError(
                c, request: h, errno: Int32(Errno.EOPNOTSUPP),
                text: "command \(view.payload[0]) is not a nfl_hairpin command", call: nil)
            return
        }
        let message: HairpinMessage
        // GET_FLOWS answers: flows checked, not decoded; their bytes go into the pages verbatim.
        do { message = try HairpinMessage.decode(view, familyID: familyID, answerFlowsChecked: true) } catch {
            note(c, view.bytes, .toKernel, call: nil)
            sendError(c, request: h, errno: Int32(Errno.EINVAL), text: error.description, call: nil)
            return
        }
        switch message.knownCommand {
        case .setListener:
            note(c, view.bytes, .toKernel, call: nil)
            setListener(c, message)
        case .getListener:
            note(c, view.bytes, .toKernel, call: nil)
            getListener(c, message)
        case .encap:
            handleEncap(c, view, message)
        case nil:
            // Checked above; kept so a new command cannot fall through silently.
            note(c, view.bytes, .toKernel, call: nil)
            sendError(c, request: h, errno: Int32(Errno.EOPNOTSUPP), text: "unknown nfl_hairpin command", call: nil)
        }
    }

    // MARK: registration

    /// Registers the sender's connection: the port is never taken from the message.
    func setListener(_ c: TwinConnection, _ m: HairpinMessage) {
        guard let l = m.listener, l.type == NFLH.ListenerType.encap else {
            sendError(
                c, request: m.header, errno: Int32(Errno.EINVAL),
                text: "SET_LISTENER needs LISTENER{TYPE=ENCAP (\(NFLH.ListenerType.encap))}", call: nil)
            return
        }
        if let current = listener, current !== c {
            guard current.broken else {
                sendError(
                    c, request: m.header, errno: Int32(Errno.EBUSY),
                    text: "another listener is registered (port \(current.port))", call: nil)
                return
            }
            // The old listener is closing in this very iteration: its calls were sent to it
            // and will never be answered by the newcomer, so they fail now.
            listenerGone()
        }
        listener = c
        counterState.withLock { $0.listenerPort = c.port }
        ackIfAsked(c, request: m.header, call: nil)
    }

    func getListener(_ c: TwinConnection, _ m: HairpinMessage) {
        guard let current = listener, !current.broken else {
            sendError(c, request: m.header, errno: Int32(Errno.ENOENT), text: "no listener is registered", call: nil)
            return
        }
        writer.reset()
        let reply = HairpinMessage(
            header: NetlinkHeader(
                type: configuration.hairpinFamilyID, flags: 0,
                sequence: m.header.sequence, port: c.port),
            command: NFLH.Command.getListener.rawValue,
            listener: HairpinListener(type: NFLH.ListenerType.encap, port: current.port))
        // Two u32s in one nest: cannot exceed a nest's limit.
        try? reply.encode(into: &writer)
        emit(c, call: nil)
        ackIfAsked(c, request: m.header, call: nil)
    }

    /// The listener went away: nobody will answer, so every pending call fails now.
    func listenerGone() {
        listener = nil
        counterState.withLock { $0.listenerPort = nil }
        assembler = EncapAssembler()
        for seq in Array(pending.keys).sorted() {
            failCall(seq, errno: Int32(Errno.ENOTCONN), text: "the hairpin listener went away")
        }
    }

    // MARK: answers

    func handleEncap(_ c: TwinConnection, _ view: NetlinkMessageView, _ m: HairpinMessage) {
        let h = m.header
        guard let e = m.encap else {
            note(c, view.bytes, .toKernel, call: nil)
            sendError(c, request: h, errno: Int32(Errno.EINVAL), text: "ENCAP without the ENCAP attribute", call: nil)
            return
        }
        let seq = e.sequence
        let known = pending[seq] != nil
        note(c, view.bytes, .toKernel, call: known ? seq : nil)
        // Permission before lookup: a stranger learns nothing about which calls are pending.
        guard let l = listener, l === c else {
            sendError(
                c, request: h, errno: Int32(Errno.EPERM),
                text: listener.map { "only the registered listener (port \($0.port)) may answer" }
                    ?? "no listener is registered: only the listener may answer", call: known ? seq : nil)
            return
        }
        guard e.isAnswer else {
            sendError(
                c, request: h, errno: Int32(Errno.EINVAL),
                text: "an ENCAP sent to unft must be an answer: STATUS is missing",
                call: known ? seq : nil)
            return
        }
        guard let call = pending[seq] else {
            sendError(
                c, request: h, errno: Int32(Errno.ENOENT),
                text: "no pending call with SEQ \(seq): unknown, already answered, or timed out", call: nil)
            return
        }
        guard e.commandType == NFLH.EncapCmdType.nflCommand, e.command == UInt32(call.command) else {
            let why =
                "the answer to SEQ \(seq) has CMD_TYPE \(e.commandType) CMD \(e.command), the request had "
                + "CMD_TYPE \(NFLH.EncapCmdType.nflCommand) CMD \(call.command)"
            sendError(c, request: h, errno: Int32(Errno.EINVAL), text: why, call: seq)
            failCall(seq, errno: Int32(Errno.EINVAL), text: "the hairpin listener's answer is unusable: \(why)")
            return
        }
        let whole: HairpinEncap?
        do { whole = try assembler.add(e) } catch {
            sendError(c, request: h, errno: Int32(Errno.EINVAL), text: error.description, call: seq)
            failCall(
                seq, errno: Int32(Errno.EINVAL), text: "the hairpin listener's answer is unusable: \(error.description)"
            )
            return
        }
        if call.command == NFL.Command.getFlows.rawValue, let client = connectionsByID[call.client] {
            // The module keeps the answer's FLOW elements as bytes (unft_buf_append_attr).
            if (e.part ?? 0) == 0 { client.answerFlows.removeAll(keepingCapacity: true) }
            if let r = Self.answerFlowsRange(view.bytes) {
                _ = Self.appendFlowElements(view.bytes, r, to: &client.answerFlows)
            }
        }
        guard let whole else {
            ackIfAsked(c, request: h, call: seq)
            return
        }
        if let why = unusable(whole, for: call) {
            sendError(c, request: h, errno: Int32(Errno.EINVAL), text: why, call: seq)
            failCall(seq, errno: Int32(Errno.EINVAL), text: "the hairpin listener's answer is unusable: \(why)")
            return
        }
        ackIfAsked(c, request: h, call: seq)
        pending[seq] = nil
        counterState.withLock {
            $0.answers += 1
            $0.pending = pending.count
        }
        deliver(call, whole)
    }

    /// Why a complete answer cannot be turned into a reply, or nil.
    func unusable(_ e: HairpinEncap, for call: PendingCall) -> String? {
        let status = e.status ?? 0
        guard status <= 4095 else { return "STATUS \(status) is not an errno" }
        if let a = e.attributes, let ifindex = a.identifier, ifindex != call.ifindex {
            return "the answer names ifindex \(ifindex), the request \(call.ifindex)"
        }
        if let results = e.results, let bad = results.first(where: { Int($0.index) >= call.flowCount }) {
            return "RESULT INDEX \(bad.index) is out of range: the request had \(call.flowCount) flows"
        }
        if status != 0 || Self.isBatch(call.command) { return nil }
        guard let a = e.attributes else { return "an OK answer to a getter carries no ATTR" }
        do { try a.validateShape(command: call.command, isRequest: false) } catch {
            return "ATTR: \(error.reasonText)"
        }
        return nil
    }

    /// Fails a pending call: the client gets -errno with `text`, the SEQ is forgotten (so a
    /// later answer is refused with -ENOENT), and the client may send its next request.
    func failCall(_ seq: UInt64, errno: Int32, text: String) {
        guard let call = pending.removeValue(forKey: seq) else { return }
        assembler.drop(sequence: seq)
        counterState.withLock { $0.pending = pending.count }
        guard let client = activeClient(call) else { return }
        sendError(client, request: call.request, errno: errno, text: text, call: seq)
        release(client)
    }

    func expireCalls(now: UInt64) {
        guard !pending.isEmpty else { return }
        expired.removeAll(keepingCapacity: true)
        for (seq, p) in pending where p.deadline <= now { expired.append(seq) }
        guard !expired.isEmpty else { return }
        expired.sort()
        // From the saturated nanoseconds: the configured Double may be anything (NaN, ∞).
        let ms = (timeoutNanoseconds + 500_000) / 1_000_000
        for seq in expired {
            counterState.withLock { $0.timeouts += 1 }
            failCall(seq, errno: Int32(Errno.ETIMEDOUT), text: "the hairpin listener did not answer within \(ms) ms")
        }
    }

    /// The client of a call if it is still connected; counts the reply as dropped otherwise.
    func activeClient(_ call: PendingCall) -> TwinConnection? {
        if let c = connectionsByID[call.client], !c.broken { return c }
        counterState.withLock { $0.droppedReplies += 1 }
        return nil
    }

    /// The call of `c` is over: read its next request (the deferred rest of its packet first).
    func release(_ c: TwinConnection) {
        c.busyCall = nil
        c.resume = true
    }

    // MARK: the API reply

    func deliver(_ call: PendingCall, _ e: HairpinEncap) {
        guard let client = activeClient(call) else { return }
        defer { release(client) }
        let seq = call.sequence
        let status = Int32(e.status ?? 0)
        let header = NetlinkHeader(
            type: configuration.flowTableFamilyID, flags: 0,
            sequence: call.request.sequence, port: client.port)
        if Self.isBatch(call.command) {
            deliverBatch(call, e, to: client, header: header)
            return
        }
        guard status == 0, let a = e.attributes else {
            sendError(
                client, request: call.request, errno: status == 0 ? Int32(Errno.EINVAL) : status, text: e.errorMessage,
                call: seq)
            return
        }
        if call.command == NFL.Command.getFlows.rawValue {
            deliverFlows(call, to: client, header: header)
            return
        }
        writer.reset()
        do {
            try FlowTableMessage(header: header, command: call.command, attributes: a).encode(into: &writer)
        } catch {
            writer.reset()
            sendError(
                client, request: call.request, errno: Int32(Errno.EMSGSIZE),
                text: "the reply does not fit one netlink message: \(error)", call: seq)
            return
        }
        emit(client, call: seq)
        ackIfAsked(client, request: call.request, call: seq)
    }

    /// GET_FLOWS as the module answers it (kmod/unft_parts.c): a dump (NLM_F_DUMP) gets the
    /// pages, then NLMSG_DONE and never an ACK; a do gets one reply message with every flow,
    /// then the ACK if asked, or EMSGSIZE when the flows pass one FLOWS nest.
    func deliverFlows(_ call: PendingCall, to client: TwinConnection, header: NetlinkHeader) {
        let seq = call.sequence
        if call.request.flags & Netlink.flagDump == Netlink.flagDump {
            do {
                try sendVerbatimPages(
                    client.answerFlows, to: client, header: header, command: call.command,
                    ifindex: call.ifindex, call: seq)
            } catch {
                writer.reset()
                sendError(
                    client, request: call.request, errno: Int32(Errno.EMSGSIZE),
                    text: "a flow does not fit a reply: \(error)",
                    call: seq)
                return
            }
            sendDone(client, sequence: call.request.sequence, call: seq)
            return
        }
        let flows = client.answerFlows
        guard flows.count + 4 <= Int(UInt16.max) else {
            sendError(
                client, request: call.request, errno: Int32(Errno.EMSGSIZE),
                text: Self.flowsTooLargeText(bytes: flows.count), call: seq)
            return
        }
        writer.reset()
        do {
            _ = try flows.withUnsafeBytes { (b) throws(EncodeError) in
                try Self.putVerbatimFlowsPage(
                    b, from: 0, into: &writer,
                    header: header, command: call.command, ifindex: call.ifindex,
                    budget: Int.max, flags: 0)
            }
        } catch {
            writer.reset()
            sendError(
                client, request: call.request, errno: Int32(Errno.EMSGSIZE),
                text: Self.flowsTooLargeText(bytes: flows.count),
                call: seq)
            return
        }
        emit(client, call: seq)
        ackIfAsked(client, request: call.request, call: seq)
    }

    /// The module's text for a do whose flows pass one message (unft_reply_flows).
    static func flowsTooLargeText(bytes: Int) -> String {
        "GET_FLOWS: the flows take \(bytes) bytes, more than one reply message holds (65535 bytes of FLOWS): "
            + "ask for a dump (NLM_F_DUMP)"
    }

    /// SET/DEL: one rule for all four strategies. The _LOG strategies first report the failed
    /// flows (as sent, each with ERROR = its errno; ECANCELED ones were not tried or were
    /// rolled back, so they did not fail); then a non-zero STATUS is the error (ABORT*: the
    /// first failure's errno; any strategy: a call-level failure without RESULTS), else ACK.
    func deliverBatch(_ call: PendingCall, _ e: HairpinEncap, to client: TwinConnection, header: NetlinkHeader) {
        let seq = call.sequence
        let status = Int32(e.status ?? 0)
        let logs = call.strategy == .abortLog || call.strategy == .continueLog
        var firstFailure: FlowResult?
        // Decoded from the kept request bytes only when a flow failed.
        var requestFlows: [Flow]?
        func flow(_ i: UInt32) -> Flow? {
            if requestFlows == nil { requestFlows = self.requestFlows(client) }
            guard let flows = requestFlows, Int(i) < flows.count else { return nil }
            return flows[Int(i)]
        }
        if let results = e.results {
            var failed: [Flow] = []
            for r in results where r.errno != 0 && r.errno != Errno.ECANCELED {
                if firstFailure == nil { firstFailure = r }
                // The abort strategies fail one flow; later errors cannot exist there.
                if !logs { break }
                guard var f = flow(r.index) else { continue }
                f.error = r.errno
                failed.append(f)
            }
            if logs && !failed.isEmpty {
                // Contract: one report message; one that outgrows a netlink nest is cut like
                // the hairpin's parts (60 KiB), never dropped.
                do {
                    try sendFlows(
                        failed, to: client, header: header, command: call.command, ifindex: call.ifindex,
                        flags: 0, budget: Parts.defaultBudget, call: seq)
                } catch {
                    writer.reset()
                }
            }
        }
        if status != 0 {
            var text = e.errorMessage
            if text == nil, let r = firstFailure, let f = flow(r.index) {
                // The listener gave no text: name the flow as the contract's example does.
                text = "flow \(r.index) (table \(f.table) uid \(f.uid)): errno \(r.errno)"
            }
            sendError(client, request: call.request, errno: status, text: text, call: seq)
        } else {
            ackIfAsked(client, request: call.request, call: seq)
        }
    }

    /// Flows as reply messages of at most `budget` bytes each (nlmsg_len), every one with the
    /// preamble and a FLOWS nest; at least one message, even for no flows. Each message is its
    /// own packet.
    func sendFlows(
        _ flows: [Flow], to client: TwinConnection, header: NetlinkHeader, command: UInt8, ifindex: UInt32,
        flags: UInt16, budget: Int, call: UInt64
    ) throws(EncodeError) {
        var i = 0
        repeat {
            writer.reset()
            i = try Self.putFlowsPage(
                flows, from: i, into: &writer, scratch: &scratch, header: header, command: command,
                ifindex: ifindex, flags: flags, budget: budget)
            emit(client, call: call)
        } while i < flows.count
    }

    /// One reply message with the flows from `start` on that fit `budget` (at least one);
    /// returns where the next page starts. Static, on the writers passed in: one exclusive
    /// access to each of the twin's writers per page instead of several per flow.
    static func putFlowsPage(
        _ flows: [Flow], from start: Int, into writer: inout NetlinkWriter,
        scratch: inout NetlinkWriter, header: NetlinkHeader, command: UInt8, ifindex: UInt32,
        flags: UInt16, budget: Int
    ) throws(EncodeError) -> Int {
        var i = start
        let begin = writer.beginMessage(type: header.type, flags: flags, sequence: header.sequence, port: header.port)
        writer.genericHeader(command: command, version: NFL.version)
        writer.put(NFL.Attr.identifierType, u32: NFL.IdentifierType.ifindex)
        writer.put(NFL.Attr.identifier, u32: ifindex)
        let nest = writer.beginNest(NFL.Attr.flows)
        var inMessage = 0
        while i < flows.count {
            scratch.reset()
            try FlowTableCodec.encode(flows[i], into: &scratch)
            if inMessage > 0 && writer.count - begin + scratch.count > budget { break }
            scratch.withUnsafeBytes { writer.appendRaw(bytes: $0) }
            i += 1
            inMessage += 1
        }
        try writer.endNest(nest)
        writer.endMessage(begin)
        return i
    }
}
