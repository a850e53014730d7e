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

    static func request(
        _ cmd: NFL.Command, seq: UInt64, ifindex: UInt32, idType: UInt32 = NFL.IdentifierType.ifindex,
        flows: [Flow]? = nil, strategy: ErrorStrategy? = nil, selector: FlowSelector? = nil
    ) throws -> [UInt8] {
        var attributes = FlowTableAttributes(identifierType: idType, identifier: ifindex)
        attributes.flows = flows
        attributes.errorStrategy = strategy
        attributes.selector = selector
        let encap = HairpinEncap(command: UInt32(cmd.rawValue), sequence: seq, attributes: attributes)
        let m = HairpinMessage(
            header: NetlinkHeader(
                type: family, flags: Netlink.flagRequest, sequence: UInt32(truncatingIfNeeded: seq), port: 0),
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
            out += try HairpinMessage(
                header: NetlinkHeader(type: family, flags: ListenerLoop.answerFlags, sequence: 0, port: 0),
                command: NFLH.Command.encap.rawValue, encap: part
            ).encoded()
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
                let sent =
                    draw.next(2) == 0 ? victim : Flow(table: victim.table, uid: victim.uid, priority: victim.priority)
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: [sent], strategy: .abortLog)
                expectFast = true
            case 11 where !(live[ifindex] ?? []).isEmpty:  // the same uid again: EEXIST
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [live[ifindex]!.last!])
            case 12 where !(live[ifindex] ?? []).isEmpty:  // same matches and priority, new uid: EEXIST
                var twin = live[ifindex]!.last!
                twin.uid = fresh.uid
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [twin])
            case 13:  // no such uid: ENOENT
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: [fresh])
            case 14:  // invalid for the model
                fresh.table = 999
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [fresh])
            case 15:  // two flows: typed only
                let second = gen.flows(count: 1)[0]
                request = try Self.request(
                    .setFlows, seq: seq, ifindex: ifindex, flows: [fresh, second], strategy: .continue)
                live[ifindex, default: []] += [fresh, second]
            case 16:  // bad strategy, bad preamble, no device
                switch draw.next(3) {
                case 0:
                    request = try Self.request(
                        .setFlows, seq: seq, ifindex: ifindex, flows: [fresh], strategy: ErrorStrategy(rawValue: 9))
                case 1: request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, idType: 3, flows: [fresh])
                default: request = try Self.request(.setFlows, seq: seq, ifindex: 0, flows: [fresh])
                }
            case 17:  // no flow at all
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: [])
            default:  // reads what both stored
                let table = tables[draw.next(tables.count)]
                request = try Self.request(.getFlows, seq: seq, ifindex: ifindex, selector: FlowSelector(table: table))
            }

            let expected = try Self.typed(reference, request)
            var got: [UInt8] = []
            var wasFast: Bool
            if n % 2 == 1 {
                // Every other call as a replay makes it, with the ENCAP header it read already
                // (GET_FLOWS too, whose answer may be in parts).
                let answer = Self.fastAnswer(fast, request)
                wasFast = answer != nil
                got = answer ?? []
            } else {
                wasFast = request.withUnsafeBytes { r in
                    fast.answer(r, requestFamilyID: Self.family) { got = Array($0) }
                }
                // nlmsg_seq is the listener's own numbering.
                if wasFast, got.count >= 16 { got.replaceSubrange(8..<12, with: [0, 0, 0, 0]) }
            }
            if wasFast {
                #expect(got.count >= 16)
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
        answered = set.withUnsafeBytes {
            fast.answer(UnsafeRawBufferPointer(rebasing: $0.dropLast(4)), requestFamilyID: Self.family) { _ in }
        }
        #expect(!answered)
        // With the header read by the caller: the same framing rules. A second top-level
        // attribute after ENCAP (the header reader stops at the ENCAP) and another family: declined.
        var second = try Self.request(.setFlows, seq: 2, ifindex: 7, flows: [gen.flows(count: 1)[0]])
        second += [4, 0, 9, 0]
        second.withUnsafeMutableBytes { $0.storeBytes(of: UInt32($0.count), as: UInt32.self) }
        answered = second.withUnsafeBytes { r in
            guard let h = EncapHeader.peek(r) else { return false }
            return fast.answer(r, header: h, requestFamilyID: Self.family) { _ in }
        }
        #expect(!answered)
        answered = set.withUnsafeBytes { r in
            guard let h = EncapHeader.peek(r) else { return false }
            return fast.answer(r, header: h, requestFamilyID: 0x30) { _ in }
        }
        #expect(!answered)
        #expect(s.counters.commands[UInt32(NFL.Command.setFlows.rawValue)]?.requests == 1)
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
            case 0..<5:  // fresh flows: success
                let flows = gen.flows(count: count)
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: flows, strategy: strategy)
                expectFast = true
            case 5..<7 where live.count >= count:  // delete some: success
                var flows: [Flow] = []
                for _ in 0..<count { flows.append(live[draw.next(live.count)]) }
                var seen = Set<UInt32>()
                flows = flows.filter { seen.insert($0.uid).inserted }
                request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: flows, strategy: strategy)
                expectFast = true
            case 7:  // a failing flow somewhere in a SET
                var flows = gen.flows(count: count)
                let at = draw.next(flows.count)
                switch draw.next(3) {
                case 0 where !live.isEmpty: flows[at] = live[draw.next(live.count)]  // stored already
                case 1 where flows.count > 1: flows[at] = flows[(at + 1) % flows.count]  // twice in the batch
                default: flows[at].table = 999  // invalid
                }
                request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: flows, strategy: strategy)
            case 8 where !live.isEmpty:  // a DEL with a missing uid somewhere
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
            #expect(
                s.devices.existingState(for: 7)?.backend.allFlows(table: table)
                    == reference.devices.existingState(for: 7)?.backend.allFlows(table: table))
        }
        #expect(s.devices.existingState(for: 7)?.backend.totalCount == 3)
    }
}

/// GET_FLOWS on the byte path: answered from the backends' stored FLOW elements, byte for byte
/// the typed path's answer (order, parts, PART/MORE), for every backend.
extension ByteServiceTests {
    /// The answer messages of `request` through `answer(_:header:requestFamilyID:_:)` (nlmsg_seq
    /// zeroed, checked to count on by one), or nil when declined.
    static func fastAnswer(_ fast: ByteService, _ request: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var seqs: [UInt32] = []
        let answered = request.withUnsafeBytes { r in
            guard let h = EncapHeader.peek(r) else { return false }
            return fast.answer(r, header: h, requestFamilyID: family) { m in
                var bytes = Array(m)
                if bytes.count >= 16 {
                    seqs.append(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) })
                    bytes.replaceSubrange(8..<12, with: [0, 0, 0, 0])
                }
                out += bytes
            }
        }
        guard answered else { return nil }
        #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $1 == $0 &+ 1 }, "nlmsg_seq \(seqs)")
        return out
    }

    /// `request` with its one FLOW element's TABLE and UID swapped: a layout the decoder (and
    /// the byte path's reader) accepts and the encoder never writes.
    static func reordered(_ request: [UInt8], _ flow: Flow) throws -> [UInt8] {
        var w = NetlinkWriter(capacity: 1024)
        try FlowTableCodec.encode(flow, into: &w)
        let element = w.withUnsafeBytes { Array($0) }
        // TABLE at 4..<12, UID at 12..<20 (no ERROR in a request flow).
        var swapped = element
        swapped.replaceSubrange(4..<20, with: element[12..<20] + element[4..<12])
        let n = element.count
        guard let at = (0...(request.count - n)).first(where: { Array(request[$0..<($0 + n)]) == element }) else {
            Issue.record("element not found")
            return request
        }
        var out = request
        out.replaceSubrange(at..<(at + n), with: swapped)
        return out
    }

    @Test(arguments: BackendKind.allCases)
    func getFlowsIsByteIdenticalToTheTypedPath(kind: BackendKind) throws {
        let model = DefaultModelSource.model
        let reference = HairpinService(model: model, backend: kind)
        let tested = HairpinService(model: model, backend: kind)
        let fast = ByteService(service: tested, answerFamilyID: Self.family)
        var gen = FlowGenerator(model: model, seed: 11)
        var draw = Draw(state: 11)
        let tables = gen.usableTables.map(\.uid)
        let ifindex: UInt32 = 7
        var seq: UInt64 = 100
        var priorities: [UInt32] = []
        var fastReads = 0, parts = 0, emptyAnswers = 0

        func get(_ selector: FlowSelector, on device: UInt32 = ifindex, expectFast: Bool = true) throws {
            seq += 1
            let request = try Self.request(.getFlows, seq: seq, ifindex: device, selector: selector)
            let expected = try Self.typed(reference, request)
            let got = Self.fastAnswer(fast, request)
            #expect((got != nil) == expectFast, "\(selector) on \(device)")
            let answer = try got ?? Self.typed(tested, request)
            #expect(answer == expected, "\(selector) on \(device)")
            if got != nil {
                fastReads += 1
                let messages = expected.withUnsafeBytes { raw in
                    var it = NetlinkMessageIterator(raw)
                    var n = 0
                    while (try? it.next()) != nil { n += 1 }
                    return n
                }
                if messages > 1 { parts += 1 }
                if expected.count < 90 { emptyAnswers += 1 }
            }
        }

        // Empty tables first (every backend answers an empty FLOWS).
        for table in tables { try get(FlowSelector(table: table)) }
        // Fill: mostly through the byte path (request bytes kept), some reordered (kept bytes
        // not the encoder's), some typed (a batch the byte path declines: a duplicate inside).
        for n in 0..<2400 {
            seq += 1
            let flow = gen.flows(count: 1)[0]
            priorities.append(flow.priority)
            var request = try Self.request(.setFlows, seq: seq, ifindex: ifindex, flows: [flow])
            if n % 7 == 3 { request = try Self.reordered(request, flow) }
            if n % 11 == 5 {
                // Two flows, the second a duplicate of the first: typed, CONTINUE keeps the first.
                request = try Self.request(
                    .setFlows, seq: seq, ifindex: ifindex, flows: [flow, flow], strategy: .continue)
            }
            let expected = try Self.typed(reference, request)
            var got = Self.fastAnswer(fast, request)
            if got == nil { got = try Self.typed(tested, request) }
            #expect(got == expected, "SET \(n)")
            // Reads in between, so flows are encoded as they come and read again later.
            if n % 97 == 0 { try get(FlowSelector(table: tables[draw.next(tables.count)])) }
        }
        // Every table whole (some in many parts), then priority windows, an inverted one, and
        // a table or device that does not exist (declined: the typed path's ENOENT / ENODEV).
        for table in tables { try get(FlowSelector(table: table)) }
        for _ in 0..<60 {
            let table = tables[draw.next(tables.count)]
            let a = priorities[draw.next(priorities.count)], b = priorities[draw.next(priorities.count)]
            switch draw.next(4) {
            case 0: try get(FlowSelector(table: table, minPriority: min(a, b), maxPriority: max(a, b)))
            case 1: try get(FlowSelector(table: table, minPriority: a))
            case 2: try get(FlowSelector(table: table, maxPriority: b))
            default: try get(FlowSelector(table: table, minPriority: max(a, b) &+ 1, maxPriority: min(a, b)))
            }
        }
        try get(FlowSelector(table: 999), expectFast: false)
        try get(FlowSelector(table: tables[0]), on: 0, expectFast: false)
        // And again after deletes (the hash backend's arena with garbage).
        for table in tables {
            for flow in (tested.devices.existingState(for: ifindex)?.backend.allFlows(table: table) ?? [])
            where draw.next(3) == 0 {
                seq += 1
                let request = try Self.request(.delFlows, seq: seq, ifindex: ifindex, flows: [flow])
                let expected = try Self.typed(reference, request)
                #expect(Self.fastAnswer(fast, request) == expected)
            }
            try get(FlowSelector(table: table))
        }

        #expect(parts > 0, "no answer in parts")
        #expect(emptyAnswers >= tables.count)
        #expect(fastReads >= 90)
        #expect(tested.counters == reference.counters)
        for table in tables {
            #expect(
                reference.devices.existingState(for: ifindex)?.backend.allFlows(table: table)
                    == tested.devices.existingState(for: ifindex)?.backend.allFlows(table: table), "table \(table)")
        }
    }
}
