// HairpinService against the contract's payload table (spec/two-leg-contract.md): discovery,
// GET_FLOWS order and ranges, SET/DEL under every strategy with validation failures and rollback,
// unsupported commands, and what every answer echoes.
import Testing
import LibFlowTable
@testable import Hairpin

private let ENOENT = Errno.ENOENT, EEXIST = Errno.EEXIST, ENODEV = Errno.ENODEV, EINVAL = Errno.EINVAL
private let ENOSPC = Errno.ENOSPC, EOPNOTSUPP = Errno.EOPNOTSUPP, ECANCELED = Errno.ECANCELED

// MARK: fixtures: flows valid in the default model

/// Flows of l2_fdb (table 2): exact (vid, dst mac) → set_out_port.
enum L2 {
    static let table: UInt32 = 2

    static func vid(_ v: UInt64) -> FieldRef {
        FieldRef(instance: 2, header: 2, field: 3, maskType: .exact, type: .u16, value: FieldValue(v, type: .u16))
    }

    static func mac(_ m: UInt64) -> FieldRef {
        FieldRef(instance: 1, header: 1, field: 2, maskType: .exact, type: .u64, value: FieldValue(m, type: .u64))
    }

    static func outPort(_ p: UInt64) -> Action {
        Action(uid: 5, signature: [ActionArg(name: "port", type: .u32, value: FieldValue(p, type: .u32))])
    }

    static func flow(_ uid: UInt32, prio: UInt32 = 1, mac m: UInt64? = nil, vid v: UInt64 = 10) -> Flow {
        Flow(
            table: table, uid: uid, priority: prio, matches: [vid(v), mac(m ?? 0x0200_0000_0000 + UInt64(uid))],
            actions: [outPort(1)])
    }

    /// Fails validation with EINVAL: a 13-bit value in the 12-bit vid.
    static func invalid(_ uid: UInt32) -> Flow { flow(uid, vid: 0x1FFF) }

    /// Fails validation with EOPNOTSUPP: check_ttl_drop (6) is not an action of l2_fdb.
    static func forbiddenAction(_ uid: UInt32) -> Flow {
        var f = flow(uid)
        f.actions = [Action(uid: 6, signature: [])]
        return f
    }
}

func request(
    _ cmd: NFL.Command, ifindex: UInt32 = 7, seq: UInt64 = 1,
    _ build: (inout FlowTableAttributes) -> Void = { _ in }
) -> HairpinEncap {
    var a = FlowTableAttributes.device(ifindex)
    build(&a)
    return HairpinEncap(command: UInt32(cmd.rawValue), sequence: seq, attributes: a)
}

func setFlows(
    _ flows: [Flow], _ strategy: ErrorStrategy? = nil, ifindex: UInt32 = 7, seq: UInt64 = 1,
    cmd: NFL.Command = .setFlows
) -> HairpinEncap {
    request(cmd, ifindex: ifindex, seq: seq) {
        $0.flows = flows
        $0.errorStrategy = strategy
    }
}

func getFlows(table: UInt32 = L2.table, min: UInt32? = nil, max: UInt32? = nil, ifindex: UInt32 = 7) -> HairpinEncap {
    request(.getFlows, ifindex: ifindex) {
        $0.selector = FlowSelector(table: table, minPriority: min, maxPriority: max)
    }
}

/// Checks what every answer repeats from its request.
func expectEcho(_ answer: HairpinEncap, _ request: HairpinEncap, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(answer.command == request.command, sourceLocation: sourceLocation)
    #expect(answer.commandType == request.commandType, sourceLocation: sourceLocation)
    #expect(answer.sequence == request.sequence, sourceLocation: sourceLocation)
    #expect(answer.status != nil, sourceLocation: sourceLocation)
    #expect(answer.part == nil && !answer.more, sourceLocation: sourceLocation)
}

@Suite("HairpinService") struct HairpinServiceTests {
    let model = DefaultModelSource.model

    func service(_ kind: BackendKind = .hash) -> HairpinService {
        HairpinService(model: model, backend: kind)
    }

    func stored(_ s: HairpinService, ifindex: UInt32 = 7, table: UInt32 = L2.table) -> [UInt32] {
        s.devices.existingState(for: ifindex)?.backend.allFlows(table: table).map(\.uid) ?? []
    }

    // MARK: discovery

    @Test func discoveryAnswersTheModelWithThePreamble() {
        let s = service()
        let cases: [(NFL.Command, (FlowTableAttributes) -> Bool)] = [
            (.getTables, { $0.tables == model.tables }),
            (.getHeaders, { $0.headers == model.headers }),
            (.getActions, { $0.actions == model.actions }),
            (.getHeaderGraph, { $0.headerGraph == model.headerGraph }),
            (.getTableGraph, { $0.tableGraph == model.tableGraph }),
        ]
        for (k, (cmd, check)) in cases.enumerated() {
            let r = request(cmd, ifindex: 12, seq: UInt64(100 + k))
            let a = s.handle(r)
            expectEcho(a, r)
            #expect(a.status == 0)
            #expect(a.errorMessage == nil && a.results == nil)
            let attrs = a.attributes ?? FlowTableAttributes()
            #expect(attrs.identifierType == NFL.IdentifierType.ifindex && attrs.identifier == 12)
            #expect(check(attrs), "\(cmd.name)")
            // Only the one payload besides the preamble.
            var rest = attrs
            rest.identifierType = nil
            rest.identifier = nil
            let payloads = [
                rest.tables != nil, rest.headers != nil, rest.actions != nil,
                rest.headerGraph != nil, rest.tableGraph != nil, rest.flows != nil, rest.selector != nil,
            ]
            #expect(payloads.filter { $0 }.count == 1, "\(cmd.name)")
            // The answer encodes as one message.
            let m = HairpinMessage(
                header: NetlinkHeader(type: 0x1d, flags: 5, sequence: 1, port: 0), command: 3, encap: a)
            #expect(throws: Never.self) { try m.encoded() }
        }
        #expect(s.counters.commands[0]?.requests == 1 && s.counters.commands[4]?.requests == 1)
    }

    @Test func preambleProblemsAreEINVAL() {
        let s = service()
        var noAttr = request(.getTables)
        noAttr.attributes = nil
        var noPreamble = request(.getTables)
        noPreamble.attributes?.identifier = nil
        var wrongType = request(.getHeaders)
        wrongType.attributes?.identifierType = 0
        for r in [noAttr, noPreamble, wrongType] {
            let a = s.handle(r)
            expectEcho(a, r)
            #expect(a.status == EINVAL)
            #expect(a.attributes == nil && a.results == nil)
            #expect(a.errorMessage?.isEmpty == false)
        }
    }

    @Test func unknownDeviceIsENODEV() {
        let s = HairpinService(devices: DeviceRegistry(model: model, backend: .dummy, devices: [3]))
        #expect(s.handle(request(.getTables, ifindex: 3)).status == 0)
        let a = s.handle(request(.getTables, ifindex: 4))
        #expect(a.status == ENODEV)
        #expect(a.errorMessage == "no device state for ifindex 4")
        #expect(a.attributes == nil)
        // Lazy registries refuse what cannot be an ifindex.
        #expect(service().handle(request(.getTables, ifindex: 0)).status == ENODEV)
        #expect(service().handle(request(.getTables, ifindex: 0x8000_0000)).status == ENODEV)
        #expect(s.counters.commands[0]?.errors == [ENODEV: 1])
    }

    @Test func lazyStateIsCreatedPerDeviceAndNeverShared() {
        let s = service()
        #expect(s.devices.ifindexes.isEmpty)
        #expect(s.handle(setFlows([L2.flow(1), L2.flow(2)], ifindex: 5)).status == 0)
        #expect(s.handle(setFlows([L2.flow(1)], ifindex: 6)).status == 0)  // same uid, other device
        #expect(s.devices.ifindexes == [5, 6])
        #expect(stored(s, ifindex: 5) == [1, 2])
        #expect(stored(s, ifindex: 6) == [1])
        #expect(s.handle(getFlows(ifindex: 8)).attributes?.flows == [])
        #expect(s.devices.existingState(for: 5) !== s.devices.existingState(for: 6))
    }

    // MARK: unsupported

    @Test(arguments: [8, 9, 10, 11, 255, 256, 0xFFFF_FFFF] as [UInt32])
    func unsupportedCommandsAreEOPNOTSUPP(command: UInt32) {
        let s = service()
        var r = request(.getTables, seq: 0xDEAD_BEEF_0000_0001)
        r.command = command
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == EOPNOTSUPP)
        #expect(a.attributes == nil)
        #expect(a.errorMessage?.isEmpty == false)
    }

    @Test func unknownCommandTypeIsEOPNOTSUPP() {
        let s = service()
        var r = request(.getTables)
        r.commandType = 2
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == EOPNOTSUPP)
        #expect(a.errorMessage == "unknown CMD_TYPE 2")
        #expect(s.counters.unknownCommands.requests == 1)
        #expect(s.counters.unknownCommands.errors == [EOPNOTSUPP: 1])
    }

    @Test func anAnswerSentAsARequestIsEINVAL() {
        var r = request(.getTables)
        r.status = 0
        let a = service().handle(r)
        expectEcho(a, r)
        #expect(a.status == EINVAL)
    }

    // MARK: GET_FLOWS

    @Test(arguments: BackendKind.allCases)
    func getFlowsInPriorityUIDOrderWithRanges(kind: BackendKind) {
        let s = service(kind)
        // Inserted out of order; priorities 1…3.
        let flows = [
            L2.flow(9, prio: 3), L2.flow(4, prio: 1), L2.flow(7, prio: 2), L2.flow(2, prio: 3),
            L2.flow(5, prio: 1), L2.flow(1, prio: 2),
        ]
        #expect(s.handle(setFlows(flows)).status == 0)
        func uids(_ r: HairpinEncap) -> [UInt32]? { s.handle(r).attributes?.flows?.map(\.uid) }
        #expect(uids(getFlows()) == [4, 5, 1, 7, 2, 9])
        #expect(uids(getFlows(min: 2)) == [1, 7, 2, 9])
        #expect(uids(getFlows(max: 2)) == [4, 5, 1, 7])
        #expect(uids(getFlows(min: 2, max: 2)) == [1, 7])
        #expect(uids(getFlows(min: 3, max: 1)) == [])
        #expect(uids(getFlows(min: 4)) == [])
        // An empty table of the model: STATUS 0 and an empty list.
        let empty = s.handle(getFlows(table: 3))
        #expect(empty.status == 0 && empty.attributes?.flows == [])
        // Flows come back exactly as set.
        #expect(s.handle(getFlows()).attributes?.flows?.first == L2.flow(4, prio: 1))
        let a = s.handle(getFlows())
        #expect(a.attributes?.identifier == 7 && a.attributes?.selector == nil)
    }

    @Test func getFlowsUnknownTableIsENOENT() {
        let s = service()
        let r = getFlows(table: 42)
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == ENOENT)
        #expect(a.errorMessage == "GET_FLOWS: table 42 does not exist")
        #expect(a.attributes == nil)
        var noSelector = request(.getFlows)
        noSelector.attributes?.selector = nil
        #expect(s.handle(noSelector).status == EINVAL)
    }

    @Test func bigGetFlowsAnswerSplitsIntoParts() throws {
        let s = service()
        let flows = (1...3000).map { L2.flow(UInt32($0), prio: UInt32($0 % 7)) }
        #expect(s.handle(setFlows(flows)).status == 0)
        let a = s.handle(getFlows())
        #expect(a.attributes?.flows?.count == 3000)
        let parts = a.parts()
        #expect(parts.count > 1)
        var assembler = EncapAssembler()
        var whole: HairpinEncap?
        for p in parts {
            #expect(p.status == 0 && p.attributes?.identifier == 7)
            let bytes = try HairpinMessage(
                header: NetlinkHeader(type: 0x1d, flags: 5, sequence: 1, port: 0),
                command: 3, encap: p
            ).encoded()
            whole = try assembler.add(try #require(try HairpinMessage.decode(bytes).encap))
        }
        #expect(whole == a)
    }

    // MARK: SET / DEL

    @Test(arguments: BackendKind.allCases)
    func setAndDelSucceed(kind: BackendKind) {
        let s = service(kind)
        let r = setFlows([L2.flow(1), L2.flow(2), L2.flow(3)], seq: 11)
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == 0)
        #expect(a.results == [0, 1, 2].map { FlowResult(index: $0, errno: 0) })
        #expect(a.errorMessage == nil)
        #expect(a.attributes == FlowTableAttributes.device(7))
        #expect(stored(s) == [1, 2, 3])

        // DEL identifies by (table, uid) only; the answer says DEL, not SET (the original said SET).
        let del = setFlows([Flow(table: L2.table, uid: 2, priority: 0)], seq: 12, cmd: .delFlows)
        let d = s.handle(del)
        expectEcho(d, del)
        #expect(d.command == UInt32(NFL.Command.delFlows.rawValue))
        #expect(d.status == 0 && d.results == [FlowResult(index: 0, errno: 0)])
        #expect(stored(s) == [1, 3])
    }

    @Test(arguments: [ErrorStrategy?.none, .abort, .abortLog])
    func abortRollsBackOnValidationFailure(strategy: ErrorStrategy?) {
        let s = service()
        #expect(s.handle(setFlows([L2.flow(100)])).status == 0)
        let r = setFlows([L2.flow(1), L2.flow(2), L2.invalid(3), L2.flow(4)], strategy)
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == EINVAL)
        #expect(a.results?.map(\.errno) == [ECANCELED, ECANCELED, EINVAL, ECANCELED])
        #expect(a.results?.map(\.index) == [0, 1, 2, 3])
        #expect(a.attributes == FlowTableAttributes.device(7))
        let message = a.errorMessage ?? ""
        #expect(message.hasPrefix("flow 2 (table 2 uid 3): "), "\(message)")
        #expect(message.contains("does not fit the field's 12 bits"), "\(message)")
        // Flows 0 and 1 were applied, then rolled back; the earlier flow stays.
        #expect(stored(s) == [100])
        #expect(s.counters.commands[6]?.errors == [EINVAL: 1])
        #expect(s.counters.commands[6]?.flowErrors == [EINVAL: 1, ECANCELED: 3])
    }

    @Test(arguments: BackendKind.allCases)
    func abortRollsBackOnBackendFailure(kind: BackendKind) {
        let s = service(kind)
        // The third flow repeats the first's uid: a duplicate of a flow of this very batch,
        // which the rollback removes again.
        let a = s.handle(setFlows([L2.flow(1), L2.flow(2), L2.flow(1, mac: 0x99)]))
        #expect(a.status == EEXIST)
        #expect(a.results?.map(\.errno) == [ECANCELED, ECANCELED, EEXIST])
        #expect(a.errorMessage == "flow 2 (table 2 uid 1): duplicate uid")
        #expect(stored(s) == [])

        // Same matches and priority under another uid.
        #expect(s.handle(setFlows([L2.flow(5, mac: 0x77)])).status == 0)
        let b = s.handle(setFlows([L2.flow(6, mac: 0x77)]))
        #expect(b.status == EEXIST)
        #expect(b.errorMessage == "flow 0 (table 2 uid 6): same matches and priority as flow uid 5")
        // Another priority is another entry.
        #expect(s.handle(setFlows([L2.flow(6, prio: 2, mac: 0x77)])).status == 0)
    }

    @Test(arguments: [ErrorStrategy.continue, .continueLog])
    func continueAppliesWhatItCan(strategy: ErrorStrategy) {
        let s = service()
        let r = setFlows(
            [L2.flow(1), L2.forbiddenAction(2), L2.flow(1, mac: 0x55), L2.flow(4), L2.invalid(5)], strategy)
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == 0)
        #expect(a.results?.map(\.errno) == [0, EOPNOTSUPP, EEXIST, 0, EINVAL])
        #expect(a.attributes == FlowTableAttributes.device(7))
        let message = a.errorMessage ?? ""
        #expect(message.hasPrefix("flow 1 (table 2 uid 2): "), "\(message)")
        #expect(message.contains("does not allow action 6"), "\(message)")
        #expect(message.hasSuffix("; 3 of 5 flows failed"), "\(message)")
        #expect(stored(s) == [1, 4])
        #expect(s.counters.commands[6]?.errors == [:])
        #expect(s.counters.commands[6]?.flowErrors == [EOPNOTSUPP: 1, EEXIST: 1, EINVAL: 1])
    }

    @Test func validationRunsInBatchOrder() {
        // Under ABORT, the first failure wins even when a later flow is invalid too: later
        // flows are never looked at.
        let s = service()
        let a = s.handle(setFlows([L2.flow(1), L2.flow(1), L2.invalid(3)]))
        #expect(a.status == EEXIST)
        #expect(a.results?.map(\.errno) == [ECANCELED, EEXIST, ECANCELED])
        // Unknown table: validation's ENOENT.
        var other = L2.flow(4)
        other.table = 77
        let b = s.handle(setFlows([L2.flow(5), other]))
        #expect(b.status == ENOENT)
        #expect(b.errorMessage == "flow 1 (table 77 uid 4): table 77 does not exist")
        // Reserved zero uid.
        let c = s.handle(setFlows([L2.flow(0)]))
        #expect(c.status == EINVAL)
        #expect(c.errorMessage?.hasPrefix("flow 0 (table 2 uid 0): flow uid is 0") == true)
        #expect(stored(s) == [])
    }

    @Test(arguments: [ErrorStrategy?.none, .abortLog])
    func delAbortReinsertsWhatItDeleted(strategy: ErrorStrategy?) {
        let s = service(.tcam)
        let originals = [L2.flow(1, prio: 3), L2.flow(2, prio: 1), L2.flow(3, prio: 2)]
        #expect(s.handle(setFlows(originals)).status == 0)
        let r = setFlows([L2.flow(1), L2.flow(3), L2.flow(99)], strategy, seq: 5, cmd: .delFlows)
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == ENOENT)
        #expect(a.results?.map(\.errno) == [ECANCELED, ECANCELED, ENOENT])
        #expect(a.errorMessage == "flow 2 (table 2 uid 99): no flow with uid 99 in table 2")
        // Back exactly as they were.
        #expect(s.handle(getFlows()).attributes?.flows == [originals[1], originals[2], originals[0]])
    }

    @Test func delContinueDeletesWhatExists() {
        let s = service()
        #expect(s.handle(setFlows([L2.flow(1), L2.flow(2)])).status == 0)
        let a = s.handle(
            setFlows(
                [L2.flow(2), L2.flow(2), Flow(table: 9, uid: 1, priority: 0), L2.flow(1)],
                .continueLog, cmd: .delFlows))
        #expect(a.status == 0)
        #expect(a.results?.map(\.errno) == [0, ENOENT, ENOENT, 0])
        #expect(a.errorMessage == "flow 1 (table 2 uid 2): no flow with uid 2 in table 2; 2 of 4 flows failed")
        #expect(stored(s) == [])
    }

    @Test func fullTableIsENOSPC() {
        var small = model
        small.tables[1].size = 2
        let s = HairpinService(model: small, backend: .hash)
        let a = s.handle(setFlows([L2.flow(1), L2.flow(2), L2.flow(3)], .continue))
        #expect(a.results?.map(\.errno) == [0, 0, ENOSPC])
        #expect(a.errorMessage == "flow 2 (table 2 uid 3): table 2 is full (2 flows)")
    }

    @Test func unknownStrategyAndMissingFlowsAreEINVAL() {
        let s = service()
        let r = setFlows([L2.flow(1)], ErrorStrategy(rawValue: 9))
        let a = s.handle(r)
        expectEcho(a, r)
        #expect(a.status == EINVAL)
        #expect(a.results == nil && a.attributes == nil)
        #expect(a.errorMessage == "unknown FLOWS_ERROR strategy 9")
        #expect(stored(s) == [])
        var noFlows = setFlows([])
        noFlows.attributes?.flows = nil
        #expect(s.handle(noFlows).status == EINVAL)
        // An empty batch is nothing to do.
        let empty = s.handle(setFlows([]))
        #expect(empty.status == 0 && empty.results == [])
    }

    @Test func countersPerCommand() {
        let s = service()
        _ = s.handle(request(.getTables))
        _ = s.handle(request(.getTables))
        _ = s.handle(setFlows([L2.flow(1), L2.flow(1)]))
        _ = s.handle(getFlows(table: 50))
        _ = s.malformed(sequence: 3, command: 6, message: "bad")
        let c = s.counters
        #expect(c.commands[0]?.requests == 2 && c.commands[0]?.failedRequests == 0)
        #expect(c.commands[6]?.requests == 1 && c.commands[6]?.errors == [EEXIST: 1] && c.commands[6]?.flows == 2)
        #expect(c.commands[5]?.errors == [ENOENT: 1])
        #expect(c.malformed == 1)
        #expect(c.requests == 5)
    }

    // MARK: FlowBatch with a precheck

    @Test(arguments: ErrorStrategy.all)
    func precheckThatPassesEqualsPlainApply(strategy: ErrorStrategy) {
        let batches: [[Flow]] = [
            [L2.flow(1), L2.flow(2), L2.flow(1)],
            [L2.flow(3), L2.flow(4, mac: 0x0200_0000_0003), L2.flow(5)],
            [],
        ]
        for op in FlowOp.allCases {
            let plain = BackendKind.hash.make(model: model.tables)
            let checked = BackendKind.hash.make(model: model.tables)
            for batch in batches {
                let a = FlowBatch.apply(op: op, flows: batch, strategy: strategy, backend: plain)
                var failures = 0
                let b = FlowBatch.apply(
                    op: op, flows: batch, strategy: strategy, backend: checked,
                    precheck: { _, _ in 0 },
                    onFailure: { _, _, _, source in
                        #expect(source == .backend)
                        failures += 1
                    })
                #expect(a == b)
                #expect(failures == b.filter { $0.errno != 0 && $0.errno != ECANCELED }.count)
                #expect(plain.allFlows(table: L2.table) == checked.allFlows(table: L2.table))
            }
        }
    }

    @Test func precheckFailureSeesTheBackendBeforeRollback() {
        let backend = BackendKind.dummy.make(model: model.tables)
        var seen: [UInt32] = []
        let results = FlowBatch.apply(
            op: .set, flows: [L2.flow(1), L2.flow(2), L2.flow(3)], strategy: .abort,
            backend: backend, precheck: { i, _ in i == 2 ? 22 : 0 },
            onFailure: { i, _, errno, source in
                #expect(i == 2 && errno == 22 && source == .precheck)
                seen = backend.allFlows(table: L2.table).map(\.uid)
            })
        #expect(results.map(\.errno) == [ECANCELED, ECANCELED, 22])
        #expect(seen == [1, 2])
        #expect(backend.allFlows(table: L2.table).isEmpty)
    }
}
