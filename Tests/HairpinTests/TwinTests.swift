// The twin against spec/two-leg-contract.md: a real twin on its own thread, real Unix sockets,
// a scripted listener. Every call has a timeout, so a broken twin fails a test instead of
// hanging the run.

#if canImport(Glibc)
import Glibc
#endif
import Testing
import LibFlowTable
@testable import Hairpin
import Posix

private let EEXIST_ = Errno.EEXIST, ENOSPC_ = Errno.ENOSPC, ECANCELED_ = Errno.ECANCELED

private let sampleTables = [
    Table(
        name: "acl", uid: 1, source: 1, apply: 1, size: 100,
        matches: [FieldRef(instance: 1, header: 1, field: 3, maskType: .exact, type: .unspec)], actions: [5])
]

/// Answers every call at once: getters with `sampleTables`, GET_FLOWS with `flows(selector)`,
/// SET/DEL with all flows applied.
private func immediateRule(flows: @escaping (FlowSelector) -> [Flow] = { _ in [] }) -> FakeListener.Rule {
    return { req, _ in
        let ifx = req.attributes?.identifier ?? 0
        var a = FlowTableAttributes.device(ifx)
        switch req.command {
        case UInt32(NFL.Command.getTables.rawValue):
            a.tables = sampleTables
            return [req.answer(attributes: a)]
        case UInt32(NFL.Command.getFlows.rawValue):
            a.flows = flows(req.attributes?.selector ?? FlowSelector(table: 0))
            return [req.answer(attributes: a)]
        case UInt32(NFL.Command.setFlows.rawValue), UInt32(NFL.Command.delFlows.rawValue):
            let n = req.attributes?.flows?.count ?? 0
            return [req.answer(attributes: a, results: (0..<n).map { FlowResult(index: UInt32($0), errno: 0) })]
        default:
            return [req.answer(status: UInt32(EOPNOTSUPP), errorMessage: "not implemented")]
        }
    }
}

private func elapsed(since t: UInt64) -> Double { Double(MonotonicClock.now() - t) / 1e9 }

@Suite("unft twin") struct TwinTests {
    // MARK: nlctrl

    @Test func getFamilyOnBothSockets() throws {
        let h = try TwinHarness()
        var buffer: [UInt8] = []
        for path in [h.paths.api, h.paths.hairpin] {
            let c = try UnixSeqpacketConnection.connect(path: path)
            defer { c.close() }
            let nfl = try FlowTableClient.lookupFamily(
                NFL.familyName, over: c, sequence: 7, timeout: 2, buffer: &buffer)
            #expect(nfl == .flowTable(id: 0x1c))
            let nflh = try FlowTableClient.lookupFamily(
                NFLH.familyName, over: c, sequence: 8, timeout: 2, buffer: &buffer)
            #expect(nflh == .hairpin(id: 0x1d))
            #expect(throws: FlowTableClientError.self) {
                try FlowTableClient.lookupFamily("nl80211", over: c, sequence: 9, timeout: 2, buffer: &buffer)
            }
        }
        // Raw: NEWFAMILY echoes seq, carries our port, then the ACK; an unknown name is -ENOENT.
        let raw = try h.rawAPI()
        var w = NetlinkWriter()
        Controller.getFamily(NFL.familyName, sequence: 42, port: 0, into: &w)
        let got = try raw.exchange(w.bytes, sequence: 42)
        #expect(got.count == 2)
        #expect(got[0].header.type == Controller.familyID && got[0].header.sequence == 42 && got[0].header.port != 0)
        #expect(got[1].ack?.error == 0 && got[1].header.port == got[0].header.port)
        w.reset()
        Controller.getFamily("nope", sequence: 43, port: 0, into: &w)
        let missing = try raw.exchange(w.bytes, sequence: 43)
        #expect(missing.count == 1 && missing[0].ack?.error == -ENOENT)
    }

    // MARK: discovery

    @Test func discoveryRoundTrip() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        let c = try h.client()
        let r = try c.get(.getTables, ifindex: ifindex)
        #expect(r.errno == 0 && r.acknowledged && r.errorMessage == nil)
        try #require(r.messages.count == 1)
        let m = r.messages[0]
        #expect(m.command == NFL.Command.getTables.rawValue)
        #expect(m.header.flags == 0 && m.header.port != 0)
        #expect(
            m.attributes
                == {
                    var a = FlowTableAttributes.device(ifindex); a.tables = sampleTables; return a
                }())

        // The listener got one ENCAP: kernel-originated header, SEQ 1, the request's attributes.
        let msgs = l.requestMessages
        try #require(msgs.count == 1)
        #expect(msgs[0].header.flags == 0 && msgs[0].header.sequence == 0 && msgs[0].header.port == 0)
        #expect(msgs[0].header.type == 0x1d && msgs[0].command == NFLH.Command.encap.rawValue)
        let e = try #require(msgs[0].encap)
        #expect(e.sequence == 1 && e.status == nil && e.command == 0 && e.part == nil && !e.more)
        #expect(e.commandType == NFLH.EncapCmdType.nflCommand)
        #expect(e.attributes == .device(ifindex))

        // The next call gets SEQ 2; the answers were ACKed.
        _ = try c.get(.getTables, ifindex: ifindex)
        #expect(l.requests.map(\.sequence) == [1, 2])
        let counters = try h.waitFor("two answers") { $0.answers == 2 }
        #expect(counters.requests == 2 && counters.forwarded == 2 && counters.pending == 0 && counters.errors.isEmpty)
        #expect(l.failure == nil)
    }

    /// GET_FLOWS as the kernel's clients send it (YNL: NLM_F_REQUEST|NLM_F_ACK|NLM_F_DUMP).
    func getFlowsRequest(_ selector: FlowSelector, sequence: UInt32, flags: UInt16) throws -> [UInt8] {
        var a = FlowTableAttributes.device(ifindex)
        a.selector = selector
        return try FlowTableMessage(
            header: NetlinkHeader(type: 0x1c, flags: flags, sequence: sequence, port: 0),
            command: NFL.Command.getFlows.rawValue, attributes: a
        ).encoded()
    }

    /// GET_TABLES (of the test device unless `attributes` says otherwise), as raw bytes.
    func getTablesRequest(
        sequence: UInt32, flags: UInt16 = Netlink.flagRequest | Netlink.flagAck, attributes: FlowTableAttributes? = nil
    ) throws -> [UInt8] {
        try FlowTableMessage(
            header: NetlinkHeader(type: 0x1c, flags: flags, sequence: sequence, port: 0),
            command: NFL.Command.getTables.rawValue, attributes: attributes ?? .device(ifindex)
        ).encoded()
    }

    @Test func getFlowsDumpArrivesAsPagesThenDoneWithoutAck() throws {
        let h = try TwinHarness()
        let all = (1...2000).map { testFlow(uid: UInt32($0), table: 4, priority: UInt32($0 % 7)) }
        let l = try FakeListener(
            path: h.paths.hairpin,
            rule: immediateRule(flows: { s in
                s.table == 4 ? all : []
            }))
        defer { l.stop() }
        // Raw first, to check the framing exactly.
        let raw = try h.rawAPI()
        let selector = FlowSelector(table: 4, minPriority: 0, maxPriority: 9)
        let req = try getFlowsRequest(
            selector, sequence: 77,
            flags: Netlink.flagRequest | Netlink.flagAck | Netlink.flagDump)
        let got = try raw.exchange(req, sequence: 77, timeout: 5, dump: true)
        try #require(got.count >= 3)
        let pages = got.dropLast()
        #expect(pages.count > 1)
        var flows: [Flow] = []
        for p in pages {
            #expect(p.header.type == 0x1c && p.header.flags == Netlink.flagMulti && p.header.sequence == 77)
            // The module's page: at most 4096 bytes of FLOW elements (UNFT_PAGE_FLOWS) after
            // nlmsghdr 16 + genl 4 + IDENTIFIER_TYPE 8 + IDENTIFIER 8 + the FLOWS nest header 4.
            #expect(p.bytes.count <= UnftTwin.pageFlowBytes + 40)
            let m = try p.flowTable()
            #expect(m.command == NFL.Command.getFlows.rawValue && m.attributes.ifindex == ifindex)
            flows += m.attributes.flows ?? []
        }
        #expect(flows == all)
        let done = try #require(got.last)
        #expect(done.header.type == Netlink.typeDone && done.header.flags == Netlink.flagMulti)
        #expect(done.header.sequence == 77 && done.bytes.count == 20)
        // Each message was its own packet, as the kernel's dump sends each skb.
        #expect(raw.packets.count == got.count)
        // The listener's answer was > 64 KiB, so it went as parts; the selector arrived intact.
        #expect(l.requests.first?.attributes?.selector == selector)
        #expect((l.answerParts(1) ?? 0) > 1)

        // No ACK follows the DONE, NLM_F_ACK or not: the next request on the socket gets its
        // own answer first (an ACK left queued was what broke YNL's next call).
        let next = try getTablesRequest(sequence: 78)
        let second = try raw.exchange(next, sequence: 78)
        #expect(second.map(\.header.sequence) == [78, 78])
        #expect(second.first?.header.type == 0x1c && second.last?.ack?.error == 0)

        // The client sends a dump and joins the pages.
        let r = try h.client().getFlows(ifindex: ifindex, FlowSelector(table: 4))
        #expect(r.errno == 0 && r.done && !r.acknowledged && r.flows == all)
        // An empty table: one page with an empty FLOWS, then DONE.
        let empty = try h.client().getFlows(ifindex: ifindex, FlowSelector(table: 5))
        #expect(empty.errno == 0 && empty.done && empty.messages.count == 1 && empty.flows.isEmpty)
        #expect(l.failure == nil)
    }

    @Test func getFlowsDoAnswersOneMessageThenAck() throws {
        let h = try TwinHarness()
        let some = (1...300).map { testFlow(uid: UInt32($0), table: 4, priority: UInt32($0 % 7)) }
        let all = (1...2000).map { testFlow(uid: UInt32($0), table: 6) }
        let l = try FakeListener(
            path: h.paths.hairpin,
            rule: immediateRule(flows: { s in
                s.table == 4 ? some : s.table == 6 ? all : []
            }))
        defer { l.stop() }
        let raw = try h.rawAPI()
        // 300 flows: more than one page's 4 KiB, less than one nest's 64 KiB: one reply.
        let got = try raw.exchange(
            try getFlowsRequest(
                FlowSelector(table: 4), sequence: 5,
                flags: Netlink.flagRequest | Netlink.flagAck), sequence: 5)
        try #require(got.count == 2)
        #expect(got[0].header.type == 0x1c && got[0].header.flags == 0 && got[0].header.sequence == 5)
        #expect(got[0].bytes.count > UnftTwin.pageFlowBytes + 40)
        let gotFlows = try got[0].flowTable().attributes.flows
        #expect(gotFlows == some)
        #expect(got[1].ack?.error == 0)
        // Without NLM_F_ACK: the reply alone.
        try raw.send(try getFlowsRequest(FlowSelector(table: 5), sequence: 6, flags: Netlink.flagRequest))
        let alone = try raw.receive(timeout: 2)
        try #require(alone.count == 1)
        #expect(alone[0].header.flags == 0)
        let aloneFlows = try alone[0].flowTable().attributes.flows
        #expect(aloneFlows == [])
        // Flows that pass one FLOWS nest: EMSGSIZE, with a text that asks for a dump.
        let big = try raw.exchange(
            try getFlowsRequest(
                FlowSelector(table: 6), sequence: 7,
                flags: Netlink.flagRequest | Netlink.flagAck), sequence: 7, timeout: 5)
        try #require(big.count == 1)
        #expect(big[0].ack?.error == -EMSGSIZE)
        #expect(big[0].ack?.message?.hasSuffix("ask for a dump (NLM_F_DUMP)") == true)
        #expect(l.failure == nil)
    }

    @Test func getFlowsDumpFailureIsTheErrorWithItsText() throws {
        // As the module answers a failed dump on every kernel (unft_flows_start): the
        // NLMSG_ERROR a do gets, with the extended ack, no page and no NLMSG_DONE.
        let h = try TwinHarness()
        let raw = try h.rawAPI()
        let dump = Netlink.flagRequest | Netlink.flagDump
        let noListener = try raw.exchange(
            try getFlowsRequest(FlowSelector(table: 4), sequence: 30, flags: dump),
            sequence: 30, dump: true)
        try #require(noListener.count == 1)
        #expect(noListener[0].ack?.error == -ENOTCONN)
        #expect(noListener[0].ack?.message == "no hairpin listener is registered: start flow-table-hairpind")
        let l = try FakeListener(path: h.paths.hairpin) { req, _ in
            [req.answer(status: UInt32(ENOENT), errorMessage: "no table 99 on ifindex \(ifindex)")]
        }
        defer { l.stop() }
        let answered = try raw.exchange(
            try getFlowsRequest(
                FlowSelector(table: 99), sequence: 31,
                flags: dump | Netlink.flagAck),
            sequence: 31, dump: true)
        try #require(answered.count == 1)
        #expect(answered[0].ack?.error == -ENOENT && answered[0].ack?.message == "no table 99 on ifindex \(ifindex)")
        // The client reads both.
        let r = try h.client().getFlows(ifindex: ifindex, FlowSelector(table: 99))
        #expect(r.errno == ENOENT && r.messages.isEmpty && r.errorMessage == "no table 99 on ifindex \(ifindex)")
        #expect(l.failure == nil)
    }

    @Test func aMissingAttributeIsNamedInTheExtendedAck() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        let raw = try h.rawAPI()
        var a = FlowTableAttributes.device(ifindex)
        a.identifier = nil
        let req = try getTablesRequest(sequence: 9, attributes: a)
        let got = try raw.exchange(req, sequence: 9)
        let ack = try #require(got.last?.ack)
        #expect(ack.error == -EINVAL)
        // NL_SET_ERR_ATTR_MISS: the type, and no nest (the top level).
        #expect(ack.missingType == UInt32(NFL.Attr.identifier) && ack.missingNest == nil)
        #expect((got.last?.header.flags ?? 0) & Netlink.flagAckTLVs != 0)
        // The client reads it and says it in words.
        let c = try h.client()
        let r = try c.call(command: NFL.Command.getTables.rawValue, a, flags: Netlink.flagRequest | Netlink.flagAck)
        #expect(r.errno == EINVAL && r.missingType == UInt32(NFL.Attr.identifier))
        #expect(r.missingText == "missing attribute IDENTIFIER (2)")
    }

    /// The module's NLMSG_ERROR for an attribute missing from a nest (unft_walk_set): the text,
    /// NLMSGERR_ATTR_OFFS and NLMSGERR_ATTR_MISS_NEST at the nest, NLMSGERR_ATTR_MISS_TYPE its
    /// number in the nest's set, in netlink_ack_tlv_fill's order.
    private func nestedMissAck(_ request: [UInt8], text: String, type: UInt32, nest: UInt32, port: UInt32) -> [UInt8] {
        var w = NetlinkWriter(capacity: 128)
        let start = w.beginMessage(
            type: Netlink.typeError, flags: Netlink.flagCapped | Netlink.flagAckTLVs,
            sequence: request.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) },
            port: port)
        w.appendRaw(-EINVAL)
        w.appendRaw(bytes: request.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<16]) })
        w.put(Netlink.extAckMessage, string: text)
        w.put(Netlink.extAckOffset, u32: nest)
        w.put(Netlink.extAckMissingType, u32: type)
        w.put(Netlink.extAckMissingNest, u32: nest)
        w.endMessage(start)
        return w.bytes
    }

    @Test func aMissingAttributeInANestIsNamedAsTheModuleDoes() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        let raw = try h.rawAPI()
        let flags = Netlink.flagRequest | Netlink.flagAck
        // GET_FLOWS whose selector has no TABLE (its TABLE retyped MINPRIO).
        var a = FlowTableAttributes.device(ifindex)
        a.selector = FlowSelector(table: 4)
        var sel = try FlowTableMessage(
            header: NetlinkHeader(type: 0x1c, flags: flags, sequence: 40, port: 0),
            command: NFL.Command.getFlows.rawValue, attributes: a
        ).encoded()
        let flowsAt = 20 + 8 + 8
        sel[flowsAt + 4 + 2] = UInt8(NFL.TableFlowsAttr.minPriority)
        let got = try raw.exchange(sel, sequence: 40)
        try #require(got.count == 1)
        #expect(
            got[0].bytes
                == nestedMissAck(
                    sel, text: "FLOWS at byte \(flowsAt): required attribute TABLE is missing",
                    type: UInt32(NFL.TableFlowsAttr.table), nest: UInt32(flowsAt),
                    port: got[0].header.port))
        // As a dump: the same answer.
        sel.withUnsafeMutableBytes {
            $0.storeBytes(of: Netlink.flagRequest | Netlink.flagDump, toByteOffset: 6, as: UInt16.self)
        }
        let dumped = try raw.exchange(sel, sequence: 40, dump: true)
        try #require(dumped.count == 1)
        #expect(
            dumped[0].bytes
                == nestedMissAck(
                    sel, text: "FLOWS at byte \(flowsAt): required attribute TABLE is missing",
                    type: UInt32(NFL.TableFlowsAttr.table), nest: UInt32(flowsAt),
                    port: dumped[0].header.port))
        #expect(l.failure == nil)
    }

    @Test func answerPartsInOnePacket() throws {
        let h = try TwinHarness()
        // ~5 parts of 60 KiB in one ~300 KiB packet: more than a client's buffer, within the twin's.
        let all = (1...2300).map { testFlow(uid: UInt32($0), table: 4) }
        let l = try FakeListener(
            path: h.paths.hairpin, partsInOnePacket: true, rule: immediateRule(flows: { _ in all }))
        defer { l.stop() }
        let r = try h.client().getFlows(ifindex: ifindex, FlowSelector(table: 4))
        #expect(r.errno == 0 && r.flows == all)
        #expect((l.answerParts(1) ?? 0) > 2)
        let seqs = (1...(l.answerParts(1) ?? 0)).map { UInt32(1000 + $0) }
        for s in seqs { #expect(try l.waitForAck(s).error == 0) }
    }

    @Test func largeSetFlowsIsForwardedInParts() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        // ~62 KiB of flows: fits one API message, not one ENCAP under the 60 KiB cut.
        var w = NetlinkWriter()
        try FlowTableCodec.encode(testFlow(uid: 1), into: &w)
        let flows = (1...(62 * 1024 / w.count)).map { testFlow(uid: UInt32($0)) }
        let r = try h.client().setFlows(ifindex: ifindex, flows, strategy: .continueLog)
        #expect(r.errno == 0 && r.messages.isEmpty && r.report.isEmpty)
        let parts = l.requestMessages.compactMap(\.encap)
        #expect(parts.count == 2)
        #expect(parts.map(\.part) == [0, 1] && parts.map(\.more) == [true, false])
        #expect(parts.allSatisfy { $0.attributes?.errorStrategy == .continueLog && $0.attributes?.ifindex == ifindex })
        #expect(l.requests.first?.attributes?.flows == flows)
    }

    // MARK: batches

    /// uid 3 fails with EEXIST, uid 5 with ENOSPC; the listener answers as
    /// spec/backend-contract.md says (abort strategies cancel the rest).
    private static func batchRule(_ req: HairpinEncap, _: FakeListener) -> [HairpinEncap] {
        let flows = req.attributes?.flows ?? []
        let strategy = req.attributes?.errorStrategy ?? ErrorStrategy(rawValue: 99)
        let aborts = strategy == .abort || strategy == .abortLog
        var results: [FlowResult] = []
        var status: UInt32 = 0
        var text: String?
        for (i, f) in flows.enumerated() {
            let own: UInt32 = f.uid == 3 ? EEXIST_ : f.uid == 5 ? ENOSPC_ : 0
            if aborts && status != 0 {
                results.append(FlowResult(index: UInt32(i), errno: ECANCELED_))
            } else {
                results.append(FlowResult(index: UInt32(i), errno: own))
                if own != 0 && aborts {
                    status = own
                    text = "flow \(i) (table \(f.table) uid \(f.uid)): duplicate uid"
                }
            }
        }
        if aborts && status != 0 {
            results = results.map { $0.errno == 0 ? FlowResult(index: $0.index, errno: ECANCELED_) : $0 }
        }
        return [
            req.answer(
                status: status, attributes: .device(req.attributes?.identifier ?? 0), results: results,
                errorMessage: text)
        ]
    }

    @Test(arguments: [ErrorStrategy?.none, .abort, .continue, .abortLog, .continueLog])
    func setFlowsUnderEachStrategy(strategy: ErrorStrategy?) throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: Self.batchRule)
        defer { l.stop() }
        let flows = (1...6).map { testFlow(uid: UInt32($0)) }
        let r = try h.client().setFlows(ifindex: ifindex, flows, strategy: strategy)
        // FLOWS_ERROR is always explicit on the hairpin leg.
        #expect(l.requests.first?.attributes?.errorStrategy == strategy ?? .abort)
        func failed(_ f: Flow, _ e: UInt32) -> Flow { var x = f; x.error = e; return x }
        let abortText = "flow 2 (table 1 uid 3): duplicate uid"
        switch strategy ?? .abort {
        case .abort:
            #expect(r.errno == Int32(EEXIST_) && r.errorMessage == abortText && r.messages.isEmpty)
        case .continue:
            #expect(r.errno == 0 && r.errorMessage == nil && r.messages.isEmpty)
        case .abortLog:
            #expect(r.report == [failed(flows[2], EEXIST_)])
            #expect(r.errno == Int32(EEXIST_) && r.errorMessage == abortText)
        default:
            #expect(r.report == [failed(flows[2], EEXIST_), failed(flows[4], ENOSPC_)])
            #expect(r.errno == 0 && r.errorMessage == nil && r.acknowledged)
        }
        // The report is a plain reply with the request's command, preamble and FLOWS.
        for m in r.messages {
            #expect(
                m.command == NFL.Command.setFlows.rawValue && m.header.flags == 0 && m.attributes.ifindex == ifindex)
        }
        // A batch where nothing fails is ACKed under every strategy, with no report.
        let ok = try h.client().delFlows(ifindex: ifindex, [testFlow(uid: 1), testFlow(uid: 2)], strategy: strategy)
        #expect(ok.errno == 0 && ok.messages.isEmpty && ok.acknowledged)
    }

    @Test func callLevelFailureIsTheErrorWithItsText() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin) { req, _ in
            [req.answer(status: UInt32(ENODEV), errorMessage: "no device state for ifindex 1000")]
        }
        defer { l.stop() }
        let c = try h.client()
        let r = try c.setFlows(ifindex: ifindex, [testFlow(uid: 1)], strategy: .continueLog)
        #expect(r.errno == ENODEV && r.errorMessage == "no device state for ifindex 1000" && r.messages.isEmpty)
        let g = try c.get(.getHeaders, ifindex: ifindex)
        #expect(g.errno == ENODEV && g.messages.isEmpty)
    }

    // MARK: refusals before forwarding

    @Test func noListenerIsENOTCONNAtOnce() throws {
        let h = try TwinHarness()
        let t = MonotonicClock.now()
        let r = try h.client().get(.getTables, ifindex: ifindex)
        // Not after the harness's 5 s listener timeout; a margin wide enough for a loaded machine.
        #expect(elapsed(since: t) < 2.5)
        #expect(r.errno == ENOTCONN && r.errorMessage?.contains("no hairpin listener") == true)
        #expect(h.twin.counters.forwarded == 0 && h.twin.counters.errors(ENOTCONN) == 1)
    }

    @Test func unknownIfindexIsEINVAL() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        let r = try h.client().get(.getTables, ifindex: 7)
        #expect(r.errno == EINVAL && r.errorMessage == "no unft device with ifindex 7")
        var a = FlowTableAttributes.device(ifindex)
        a.identifierType = 0
        let t = try h.client().call(.getTables, a)
        #expect(t.errno == EINVAL && t.errorMessage?.contains("identifier type 0") == true)
        #expect(l.requests.isEmpty)
    }

    @Test func malformedRequestsAreEINVALNamingTheByte() throws {
        let h = try TwinHarness()
        let raw = try h.rawAPI()
        var good = try FlowTableMessage(
            familyID: 0x1c, command: .getTables, isRequest: true, sequence: 5,
            attributes: .device(ifindex)
        ).encoded()
        // nla_len of IDENTIFIER_TYPE (at byte 20) runs past the message.
        good[20] = 0xff
        let bad = try raw.exchange(good, sequence: 5)
        let ack = try #require(bad.last?.ack)
        #expect(ack.error == -EINVAL)
        #expect(ack.message?.contains("at byte 20") == true)
        #expect(ack.request.sequence == 5 && ack.header.sequence == 5)

        // Missing preamble.
        let bare = try FlowTableMessage(
            familyID: 0x1c, command: .getTables, isRequest: true, sequence: 6,
            attributes: FlowTableAttributes()
        ).encoded()
        let m = try #require(try raw.exchange(bare, sequence: 6).last?.ack)
        #expect(m.error == -EINVAL && m.message?.contains("IDENTIFIER_TYPE") == true)

        // nlmsg_len beyond the packet.
        var long = try FlowTableMessage(
            familyID: 0x1c, command: .getTables, isRequest: true, sequence: 8,
            attributes: .device(ifindex)
        ).encoded()
        long[0] = 0xf0
        let l = try #require(try raw.exchange(long, sequence: 8).last?.ack)
        #expect(l.error == -EINVAL && l.message?.contains("nlmsg_len") == true)

        // A runt packet: no header to echo, still an answer.
        try raw.send([1, 2, 3])
        let runt = try #require(try raw.receive().first?.ack)
        #expect(runt.error == -EINVAL)

        // The twin survived all of it.
        let r = try h.client().get(.getTables, ifindex: ifindex)
        #expect(r.errno == ENOTCONN)
    }

    @Test func unsupportedCommandsAreEOPNOTSUPP() throws {
        let h = try TwinHarness()
        let c = try h.client()
        for cmd: UInt8 in [8, 9, 10, 42] {
            var a = FlowTableAttributes.device(ifindex)
            if cmd == 8 { a.flows = [testFlow(uid: 1)] }
            let r = try c.call(command: cmd, a, flags: Netlink.flagRequest | Netlink.flagAck)
            #expect(r.errno == EOPNOTSUPP, "command \(cmd)")
        }
        #expect(h.twin.counters.errors(EOPNOTSUPP) == 4)
    }

    @Test func requestWithoutAckGetsOnlyItsReply() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        let raw = try h.rawAPI()
        let req = try getTablesRequest(sequence: 9, flags: Netlink.flagRequest)
        try raw.send(req)
        let got = try raw.receive()
        #expect(got.count == 1 && got[0].header.type == 0x1c && got[0].header.sequence == 9)
        // Nothing else follows: the next thing on the socket is the answer to the next request.
        let next = try getTablesRequest(sequence: 10)
        let after = try raw.exchange(next, sequence: 10)
        #expect(after.allSatisfy { $0.header.sequence == 10 })
    }

    @Test func twoRequestsInOnePacketAreAnsweredInOrder() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        let raw = try h.rawAPI()
        var both: [UInt8] = []
        for seq: UInt32 in [21, 22] {
            both += try FlowTableMessage(
                familyID: 0x1c, command: .getTables, isRequest: true, sequence: seq,
                attributes: .device(ifindex)
            ).encoded()
        }
        try raw.send(both)
        var got = try raw.collect(sequence: 21)
        got += try raw.collect(sequence: 22)
        #expect(got.map(\.header.sequence) == [21, 21, 22, 22])
        #expect(got.map(\.header.type) == [0x1c, Netlink.typeError, 0x1c, Netlink.typeError])
    }

    // MARK: calls that end without an answer

    @Test func listenerClosingMidCallIsENOTCONNAtOnce() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin) { _, _ in [] }
        let closedAt = PosixLocked(UInt64(0))
        let closer = try PosixThread {
            let deadline = MonotonicClock.now() + 3_000_000_000
            while l.requests.isEmpty && MonotonicClock.now() < deadline { usleep(1_000) }
            closedAt.withLock { $0 = MonotonicClock.now() }
            l.stop()
        }
        defer { closer.join(); l.stop() }
        let r = try h.client(timeout: 4).get(.getTables, ifindex: ifindex)
        let latency = Double(MonotonicClock.now() - closedAt.withLock { $0 }) / 1e9
        #expect(r.errno == ENOTCONN && r.errorMessage == "the hairpin listener went away")
        // "At once" means well before the client's 4 s timeout; the bound is loose because CI
        // machines are shared and a loaded scheduler can delay the wake-up by tens of ms.
        #expect(latency < 1.0)
        let c = try h.waitFor("registration cleared") { $0.listenerPort == nil && $0.pending == 0 }
        #expect(c.timeouts == 0)
    }

    @Test func noAnswerTimesOutAndALateAnswerIsRefused() throws {
        let h = try TwinHarness(timeout: 0.2)
        let l = try FakeListener(path: h.paths.hairpin) { _, _ in [] }
        defer { l.stop() }
        let t = MonotonicClock.now()
        let r = try h.client().get(.getTables, ifindex: ifindex)
        let waited = elapsed(since: t)
        #expect(r.errno == ETIMEDOUT && r.errorMessage == "the hairpin listener did not answer within 200 ms")
        #expect(waited >= 0.2 && waited < 3.0)  // the 200 ms timeout, not the client's own
        let req = try #require(l.requests.first)
        let seqs = l.send(
            req.answer(
                attributes: {
                    var a = FlowTableAttributes.device(ifindex); a.tables = []; return a
                }()))
        let ack = try l.waitForAck(try #require(seqs.first))
        #expect(ack.error == -ENOENT && ack.message?.contains("SEQ \(req.sequence)") == true)
        let c = h.twin.counters
        #expect(
            c.timeouts == 1 && c.pending == 0 && c.answers == 0 && c.errors(ETIMEDOUT) == 1 && c.errors(ENOENT) == 1)
    }

    @Test func clientLeavingMidCallDropsTheReply() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin) { _, _ in [] }
        defer { l.stop() }
        let raw = try h.rawAPI()
        try raw.send(
            try FlowTableMessage(
                familyID: 0x1c, command: .getTables, isRequest: true, sequence: 1,
                attributes: .device(ifindex)
            ).encoded())
        let req = try #require(try l.waitForRequests(1).first)
        raw.close()
        try h.waitFor("the client gone") { $0.connections == 1 && $0.pending == 1 }
        let seqs = l.send(
            req.answer(
                attributes: {
                    var a = FlowTableAttributes.device(ifindex); a.tables = []; return a
                }()))
        // The answer is still ACKed (the call was pending); its reply has nobody to go to.
        #expect(try l.waitForAck(try #require(seqs.first)).error == 0)
        try h.waitFor("the dropped reply") { $0.droppedReplies == 1 && $0.pending == 0 }
    }

    // MARK: the hairpin leg

    @Test func registrationRules() throws {
        let h = try TwinHarness()
        let first = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        // The same connection again: ACK (idempotent).
        let seq = first.nextSequence()
        try first.sendBytes(
            try hairpinBytes(.setListener, sequence: seq, listener: HairpinListener(), family: first.family))
        #expect(try first.waitForAck(seq).error == 0)
        let other = try h.rawHairpin()
        let busy = try other.exchange(
            try hairpinBytes(.setListener, sequence: 3, listener: HairpinListener()), sequence: 3)
        #expect(busy.last?.ack?.error == -EBUSY)
        #expect(busy.last?.ack?.message?.contains("port \(first.port ?? 0)") == true)
        // GET_LISTENER: reply with TYPE and PORT, then the ACK.
        let get = try other.exchange(
            try hairpinBytes(.getListener, sequence: 4, listener: HairpinListener()), sequence: 4)
        try #require(get.count == 2)
        let reply = try get[0].hairpin()
        #expect(reply.command == NFLH.Command.getListener.rawValue && reply.header.sequence == 4)
        #expect(reply.listener == HairpinListener(type: NFLH.ListenerType.encap, port: first.port))
        #expect(get[1].ack?.error == 0)
        // A type other than ENCAP is refused.
        let wrong = try other.exchange(
            try hairpinBytes(.setListener, sequence: 5, listener: HairpinListener(type: 9)),
            sequence: 5)
        #expect(wrong.last?.ack?.error == -EINVAL)

        first.stop()
        try h.waitFor("registration cleared") { $0.listenerPort == nil }
        let none = try other.exchange(
            try hairpinBytes(.getListener, sequence: 6, listener: HairpinListener()), sequence: 6)
        #expect(none.last?.ack?.error == -ENOENT)
        // Now the other connection may register, twice (idempotent).
        for seq: UInt32 in [7, 8] {
            let ok = try other.exchange(
                try hairpinBytes(.setListener, sequence: seq, listener: HairpinListener()),
                sequence: seq)
            #expect(ok.last?.ack?.error == 0)
        }
        #expect(h.twin.counters.listenerPort == none.last?.header.port)
    }

    @Test func answerFromAStrangerIsEPERM() throws {
        let h = try TwinHarness()
        let l = try FakeListener(path: h.paths.hairpin) { _, _ in [] }
        defer { l.stop() }
        let result = PosixLocked<FlowTableReply?>(nil)
        let caller = try PosixThread {
            let r = try? h.client().get(.getTables, ifindex: ifindex)
            result.withLock { $0 = r }
        }
        defer { caller.join() }
        let req = try #require(try l.waitForRequests(1).first)
        var tables = FlowTableAttributes.device(ifindex)
        tables.tables = sampleTables
        let stranger = try h.rawHairpin()
        let refused = try stranger.exchange(
            try hairpinBytes(.encap, sequence: 11, encap: req.answer(attributes: tables)),
            sequence: 11)
        #expect(refused.last?.ack?.error == -EPERM)
        // The real listener's answer still completes the call.
        let seqs = l.send(req.answer(attributes: tables))
        #expect(try l.waitForAck(try #require(seqs.first)).error == 0)
        caller.join()
        let r = try #require(result.withLock { $0 })
        #expect(r.errno == 0 && r.attributes?.tables == sampleTables)
    }

    @Test func brokenAnswersFailTheCallWithEINVAL() throws {
        let h = try TwinHarness()
        // Wrong CMD; then a part 1 without part 0; then a getter answer without its payload.
        let script = PosixLocked(0)
        let l = try FakeListener(path: h.paths.hairpin) { req, _ in
            let n = script.withLock { s -> Int in
                s += 1
                return s
            }
            var e = req.answer(attributes: .device(ifindex))
            switch n {
            case 1: e.command = 3
            case 2: e.part = 1
            default: break
            }
            return [e]
        }
        defer { l.stop() }
        let c = try h.client()
        let wrongCmd = try c.get(.getTables, ifindex: ifindex)
        #expect(wrongCmd.errno == EINVAL && wrongCmd.errorMessage?.contains("CMD 3") == true)
        let gap = try c.get(.getTables, ifindex: ifindex)
        #expect(gap.errno == EINVAL && gap.errorMessage?.contains("part 1 arrived, part 0 was expected") == true)
        let empty = try c.get(.getTables, ifindex: ifindex)
        #expect(empty.errno == EINVAL && empty.errorMessage?.contains("TABLES") == true)
        // The listener was told each time.
        try h.waitFor("three refusals") { $0.errors(EINVAL) == 6 }
    }

    // MARK: several clients

    @Test func answersInAnyOrder() throws {
        let h = try TwinHarness()
        // Holds the first call until the second arrives, then answers the second first.
        let held = PosixLocked<HairpinEncap?>(nil)
        let l = try FakeListener(path: h.paths.hairpin) { req, _ in
            let sel = req.attributes?.selector?.table ?? 0
            var a = FlowTableAttributes.device(ifindex)
            a.flows = [testFlow(uid: sel, table: sel)]
            let answer = req.answer(attributes: a)
            guard
                let first = held.withLock({ slot -> HairpinEncap? in
                    defer { if slot == nil { slot = answer } }
                    return slot
                })
            else { return [] }
            return [answer, first]
        }
        defer { l.stop() }
        let results = PosixLocked<[UInt32: FlowTableReply]>([:])
        var threads: [PosixThread] = []
        for table: UInt32 in [10, 20] {
            threads.append(
                try PosixThread {
                    if let r = try? h.client().getFlows(ifindex: ifindex, FlowSelector(table: table)) {
                        results.withLock { $0[table] = r }
                    }
                })
            try h.waitFor("call \(table)") { $0.forwarded == Int(table / 10) }
        }
        for t in threads { t.join() }
        let r = results.withLock { $0 }
        #expect(r[10]?.flows.map(\.table) == [10] && r[20]?.flows.map(\.table) == [20])
        #expect(h.twin.counters.answers == 2)
    }

    @Test func concurrentClients() throws {
        let h = try TwinHarness()
        let l = try FakeListener(
            path: h.paths.hairpin,
            rule: immediateRule(flows: { s in
                [testFlow(uid: s.table, table: s.table)]
            }))
        defer { l.stop() }
        let failures = PosixLocked<[String]>([])
        var threads: [PosixThread] = []
        let clients = 8, calls = 25
        for k in 0..<clients {
            threads.append(
                try PosixThread {
                    do {
                        let c = try h.client()
                        for i in 0..<calls {
                            let table = UInt32(k * 1000 + i + 1)
                            let r = try c.getFlows(ifindex: ifindex, FlowSelector(table: table))
                            if r.errno != 0 || r.flows.map(\.table) != [table] {
                                failures.withLock {
                                    $0.append("client \(k) call \(i): \(r.errno) \(r.flows.map(\.table))")
                                }
                            }
                            let s = try c.setFlows(ifindex: ifindex, [testFlow(uid: table)])
                            if s.errno != 0 { failures.withLock { $0.append("client \(k) set \(i): \(s.errno)") } }
                        }
                    } catch {
                        failures.withLock { $0.append("client \(k): \(error)") }
                    }
                })
        }
        for t in threads { t.join() }
        #expect(failures.withLock { $0 } == [])
        let c = try h.waitFor("all answers") { $0.answers == clients * calls * 2 }
        #expect(c.forwarded == clients * calls * 2 && c.pending == 0 && c.errors.isEmpty)
        // SEQ counts 1, 2, 3, … across all clients.
        #expect(l.requests.map(\.sequence).sorted() == (1...UInt64(clients * calls * 2)).map { $0 })
    }

    // MARK: the hook

    @Test func hookSeesBothLegsPairedByCall() throws {
        typealias Seen = (leg: UnftTwin.Leg, dir: UnftTwin.Direction, call: UInt64?, type: UInt16, port: UInt32)
        let seen = PosixLocked<[Seen]>([])
        let h = try TwinHarness(hook: { info, bytes in
            let type = bytes.count >= 6 ? bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self) : 0
            seen.withLock { $0.append((info.leg, info.direction, info.call, type, info.port)) }
        })
        let l = try FakeListener(path: h.paths.hairpin, rule: immediateRule())
        defer { l.stop() }
        let r = try h.client().get(.getTables, ifindex: ifindex)
        #expect(r.errno == 0)
        try h.waitFor("the answer") { $0.answers == 1 }
        // The listener's ACK is sent before the client's reply, but poll order may let the
        // client's last message race the check: wait until six messages of call 1 are in.
        let deadline = MonotonicClock.now() + 2_000_000_000
        var call: [Seen] = []
        while MonotonicClock.now() < deadline {
            call = seen.withLock { $0.filter { $0.call == 1 } }
            if call.count >= 6 { break }
            usleep(1_000)
        }
        let shape = call.map { "\($0.leg) \($0.dir) \($0.type)" }
        #expect(
            shape == [
                "api toKernel 28", "hairpin toUser 29", "hairpin toKernel 29", "hairpin toUser 2",
                "api toUser 28", "api toUser 2",
            ])
        #expect(call[1].port == l.port && call[0].port == call[4].port)
        // Everything else (nlctrl, registration) has no call.
        let other = seen.withLock { $0.filter { $0.call == nil } }
        #expect(other.contains { $0.leg == .api && $0.type == Controller.familyID })
        #expect(other.contains { $0.leg == .hairpin && $0.type == 0x1d })
    }
}
