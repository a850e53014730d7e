// ByteService against the typed path, for every backend: the same generated workload
// (single-flow SET/DEL, most succeeding, with duplicates, missing uids, invalid flows, bad
// strategies and preambles, unknown devices, multi-flow batches and GET_FLOWS reads in between)
// goes to two services of the same backend; one answers everything typed, the other tries the
// byte path first and falls back to the typed one. Every answer must be the same bytes
// (nlmsg_seq aside: the listener numbers its own messages), and the counters and stored flows
// must end equal.
import Testing
import LibFlowTable
@testable import Hairpin

@Suite("ByteService") struct ByteServiceTests {
    static let family: UInt16 = 0x1d

    /// A tiny deterministic generator (the choice of step only).
    struct Draw {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
    }

    static func request(_ cmd: NFL.Command, seq: UInt64, ifindex: UInt32, idType: UInt32 = NFL.IdentifierType.ifindex,
                        flows: [Flow]? = nil, strategy: ErrorStrategy? = nil, selector: FlowSelector? = nil) throws -> [UInt8] {
        var attributes = FlowTableAttributes(identifierType: idType, identifier: ifindex)
        attributes.flows = flows
        attributes.errorStrategy = strategy
        attributes.selector = selector
        let encap = HairpinEncap(command: UInt32(cmd.rawValue), sequence: seq, attributes: attributes)
        let m = HairpinMessage(header: NetlinkHeader(type: family, flags: Netlink.flagRequest, sequence: UInt32(truncatingIfNeeded: seq), port: 0),
                               command: NFLH.Command.encap.rawValue, encap: encap)
        return try m.encoded()
    }

    /// The typed path's answer bytes, as ListenerLoop encodes them (nlmsg_seq 0; a long
    /// GET_FLOWS answer in parts, back to back).
    static func typed(_ service: HairpinService, _ request: [UInt8]) throws -> [UInt8] {
        let decoded = try HairpinMessage.decode(request, familyID: family)
        let call = try #require(decoded.encap)
        let answer = service.handle(call)
        var out: [UInt8] = []
        for part in answer.parts() {
            out += try HairpinMessage(header: NetlinkHeader(type: family, flags: ListenerLoop.answerFlags, sequence: 0, port: 0),
                                      command: NFLH.Command.encap.rawValue, encap: part).encoded()
        }
        return out
    }

    @Test(arguments: BackendKind.allCases, [UInt64(1), 2])
    func answersAreByteIdenticalToTheTypedPath(kind: BackendKind, seed: UInt64) throws {
        let model = DefaultModelSource.model
        let reference = HairpinService(model: model, backend: kind)
        let tested = HairpinService(model: model, backend: kind)
        let fast = ByteService(service: tested, answerFamilyID: Self.family)
        var gen = FlowGenerator(model: model, seed: seed)
        var draw = Draw(state: seed)
        var live: [UInt32: [Flow]] = [7: [], 8: []]
        var fallbacks = 0
        let tables = gen.usableTables.map(\.uid)

        for n in 0..<3000 {
            let seq = UInt64(n) &* 0x1_0000_0001 &+ 5
            let ifindex: UInt32 = draw.next(2) == 0 ? 7 : 8
            var fresh = gen.flows(count: 1)[0]
            let request: [UInt8]
            var expectFast = false
            switch draw.next(20) {
            case 0..<8:
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [fresh])
                live[ifindex, default: []].append(fresh)
                expectFast = true
            case 8..<11 where !(live[ifindex] ?? []).isEmpty:
                let i = draw.next(live[ifindex]!.count)
                let victim = live[ifindex]!.remove(at: i)
                // DEL carries the flow as it was set (as unft sends it) or only its keys.
                let sent = draw.next(2) == 0 ? victim : Flow(table: victim.table, uid: victim.uid, priority: victim.priority)
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: [sent], strategy: .abortLog)
                expectFast = true
            case 11 where !(live[ifindex] ?? []).isEmpty:   // the same uid again: EEXIST
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [live[ifindex]!.last!])
            case 12 where !(live[ifindex] ?? []).isEmpty:   // same matches and priority, new uid: EEXIST
                var twin = live[ifindex]!.last!
                twin.uid = fresh.uid
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [twin])
            case 13:                                         // no such uid: ENOENT
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: [fresh])
            case 14:                                         // invalid for the model
                fresh.table = 999
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [fresh])
            case 15:                                         // two flows: typed only
                let second = gen.flows(count: 1)[0]
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [fresh, second], strategy: .continue)
                live[ifindex, default: []] += [fresh, second]
            case 16:                                         // bad strategy, bad preamble, no device
                switch draw.next(3) {
                case 0: request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [fresh], strategy: ErrorStrategy(rawValue: 9))
                case 1: request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, idType: 3, flows: [fresh])
                default: request = try Self.request(.setFlows, seq: seq, ifindex: 0, flows: [fresh])
                }
            case 17:                                         // no flow at all
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: [])
            default:                                         // reads what both stored
                let table = tables[draw.next(tables.count)]
                request = try Self.request(.getFlows, seq: seq, ifindex: ifindex, selector: FlowSelector(table: table))
            }

            let expected = try Self.typed(reference, request)
            var got: [UInt8] = []
            let wasFast = request.withUnsafeBytes { r in
                fast.answer(r, requestFamilyID: Self.family) { got = Array($0) }
            }
            if wasFast {
                // nlmsg_seq is the listener's own numbering.
                #expect(got.count >= 16)
                if got.count >= 16 { got.replaceSubrange(8..<12, with: [0, 0, 0, 0]) }
            } else {
                fallbacks += 1
                got = try Self.typed(tested, request)
            }
            #expect(got == expected, "request \(n) (fast: \(wasFast))")
            if expectFast { #expect(wasFast, "request \(n) should have taken the fast path") }
            if got != expected { break }
        }
        #expect(fast.answered > 1000)
        #expect(fallbacks > 300)
        #expect(tested.counters == reference.counters)
        for ifindex: UInt32 in [7, 8] {
            for table in tables {
                let a = reference.devices.existingState(for: ifindex)?.backend.allFlows(table: table) ?? []
                let b = tested.devices.existingState(for: ifindex)?.backend.allFlows(table: table) ?? []
                #expect(a == b, "ifindex \(ifindex) table \(table)")
            }
        }
    }

    @Test(arguments: BackendKind.allCases)
    func declinesWithoutChangingAnything(kind: BackendKind) throws {
        let s = HairpinService(model: DefaultModelSource.model, backend: kind)
        let fast = ByteService(service: s, answerFamilyID: Self.family)
        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 9)
        let flow = gen.flows(count: 1)[0]
        let set = try Self.request(.setFlows, seq: 1, ifindex: 7, flows: [flow])
        var answered = set.withUnsafeBytes { fast.answer($0, requestFamilyID: Self.family) { _ in } }
        #expect(answered)
        // The same again: EEXIST is the typed path's to say; nothing is stored twice.
        answered = set.withUnsafeBytes { fast.answer($0, requestFamilyID: Self.family) { _ in } }
        #expect(!answered)
        #expect(s.devices.existingState(for: 7)?.backend.allFlows(table: flow.table) == [flow])
        #expect(s.counters.commands[UInt32(NFL.Command.setFlows.rawValue)]?.requests == 1)
        // Another family id, a truncated message: declined.
        answered = set.withUnsafeBytes { fast.answer($0, requestFamilyID: 0x30) { _ in } }
        #expect(!answered)
        answered = set.withUnsafeBytes { fast.answer(UnsafeRawBufferPointer(rebasing: $0.dropLast(4)), requestFamilyID: Self.family) { _ in } }
        #expect(!answered)
    }

    /// Batches: 1 to 12 flows per SET/DEL under all four strategies, most succeeding, some with
    /// a failing flow somewhere (already stored, a duplicate inside the batch, invalid, no such
    /// uid), so the fast path must undo what it applied before declining; GET_FLOWS in between
    /// reads what both stored (the fast side decodes its stored bytes).
    @Test(arguments: BackendKind.allCases, [UInt64(4), 5])
    func batchesAreByteIdenticalToTheTypedPath(kind: BackendKind, seed: UInt64) throws {
        let model = DefaultModelSource.model
        let reference = HairpinService(model: model, backend: kind)
        let tested = HairpinService(model: model, backend: kind)
        let fast = ByteService(service: tested, answerFamilyID: Self.family)
        var gen = FlowGenerator(model: model, seed: seed)
        var draw = Draw(state: seed)
        var live: [Flow] = []
        var fallbacks = 0, fastBatches = 0
        let tables = gen.usableTables.map(\.uid)
        let ifindex: UInt32 = 9

        for n in 0..<1500 {
            let seq = UInt64(n) &+ 100
            let strategy = ErrorStrategy.all[draw.next(4)]
            let count = 1 + draw.next(12)
            var request: [UInt8]
            var expectFast = false
            switch draw.next(10) {
            case 0..<5:                                      // fresh flows: success
                let flows = gen.flows(count: count)
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: flows, strategy: strategy)
                expectFast = true
            case 5..<7 where live.count >= count:           // delete some: success
                var flows: [Flow] = []
                for _ in 0..<count { flows.append(live[draw.next(live.count)]) }
                var seen = Set<UInt32>()
                flows = flows.filter { seen.insert($0.uid).inserted }
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: flows, strategy: strategy)
                expectFast = true
            case 7:                                          // a failing flow somewhere in a SET
                var flows = gen.flows(count: count)
                let at = draw.next(flows.count)
                switch draw.next(3) {
                case 0 where !live.isEmpty: flows[at] = live[draw.next(live.count)]    // stored already
                case 1 where flows.count > 1: flows[at] = flows[(at + 1) % flows.count]  // twice in the batch
                default: flows[at].table = 999                                           // invalid
                }
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: flows, strategy: strategy)
            case 8 where !live.isEmpty:                      // a DEL with a missing uid somewhere
                var flows = (0..<count).map { _ in live[draw.next(live.count)] }
                var seen = Set<UInt32>()
                flows = flows.filter { seen.insert($0.uid).inserted }
                flows.insert(gen.flows(count: 1)[0], at: draw.next(flows.count + 1))
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: flows, strategy: strategy)
            default:
                let table = tables[draw.next(tables.count)]
                request = try Self.request(.getFlows, seq: seq, ifindex: ifindex, selector: FlowSelector(table: table))
            }

            let expected = try Self.typed(reference, request)
            var got: [UInt8] = []
            let wasFast = request.withUnsafeBytes { r in
                fast.answer(r, requestFamilyID: Self.family) { got = Array($0) }
            }
            if wasFast {
                fastBatches += 1
                if got.count >= 16 { got.replaceSubrange(8..<12, with: [0, 0, 0, 0]) }
            } else {
                fallbacks += 1
                got = try Self.typed(tested, request)
            }
            #expect(got == expected, "request \(n) (fast: \(wasFast))")
            if expectFast { #expect(wasFast, "request \(n) should have taken the fast path") }
            if got != expected { break }
            // What both now hold (the reference is the truth).
            live = tables.flatMap { reference.devices.existingState(for: ifindex)?.backend.allFlows(table: $0) ?? [] }
        }
        #expect(fastBatches > 600)
        #expect(fallbacks > 300)
        #expect(tested.counters == reference.counters)
        for table in tables {
            let a = reference.devices.existingState(for: ifindex)?.backend.allFlows(table: table) ?? []
            let b = tested.devices.existingState(for: ifindex)?.backend.allFlows(table: table) ?? []
            #expect(a == b, "table \(table)")
        }
    }

    /// Every backend is served by the same byte path: a batch into an empty device is answered
    /// here and stored as the typed path would store it; the same batch again (every uid stored)
    /// is declined with nothing changed.
    @Test(arguments: BackendKind.allCases)
    func everyBackendIsAnsweredOnTheBytePath(kind: BackendKind) throws {
        let s = HairpinService(model: DefaultModelSource.model, backend: kind)
        let reference = HairpinService(model: DefaultModelSource.model, backend: kind)
        let fast = ByteService(service: s, answerFamilyID: Self.family)
        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 3)
        let flows = gen.flows(count: 3)
        let set = try Self.request(.setFlows, seq: 1, ifindex: 7, flows: flows)
        var got: [UInt8] = []
        #expect(set.withUnsafeBytes { fast.answer($0, requestFamilyID: Self.family) { got = Array($0) } })
        if got.count >= 16 { got.replaceSubrange(8..<12, with: [0, 0, 0, 0]) }
        #expect(got == (try Self.typed(reference, set)))
        #expect(!set.withUnsafeBytes { fast.answer($0, requestFamilyID: Self.family) { _ in } })
        for table in Set(flows.map(\.table)) {
            #expect(s.devices.existingState(for: 7)?.backend.allFlows(table: table)
                    == reference.devices.existingState(for: 7)?.backend.allFlows(table: table))
        }
        #expect(s.devices.existingState(for: 7)?.backend.totalCount == 3)
    }
}
