// Fault specs (strace's inject syntax), the when= arithmetic, the trace marker's round trip,
// and the daemon core's injected answers: a batch fails as an aborted one, applying nothing.

import Testing
import LibFlowTable
@testable import Hairpin

struct FaultInjectionTests {
    @Test func specsParse() throws {
        let s = try FaultSpec.parse("set_flows:error=ENOSPC:when=3", defaultSide: .backend)
        #expect(s.side == .backend && s.command == .setFlows && s.error == 28 && s.delay == 0)
        #expect((1...10).filter { s.hits(call: $0) } == [3])
        let d = try FaultSpec.parse("twin:GET_FLOWS:delay=50ms:when=2+", defaultSide: .backend)
        #expect(d.side == .twin && d.command == .getFlows && d.error == nil && d.delay == 50_000_000)
        #expect((1...5).filter { d.hits(call: $0) } == [2, 3, 4, 5])
        let e = try FaultSpec.parse("all:error=5:delay=2s:when=2+3", defaultSide: .twin)
        #expect(e.command == nil && e.error == 5 && e.delay == 2_000_000_000)
        #expect((1...12).filter { e.hits(call: $0) } == [2, 5, 8, 11])
        let every = try FaultSpec.parse("del_flows:error=EBUSY", defaultSide: .backend)
        #expect((1...3).allSatisfy { every.hits(call: $0) })
    }

    @Test func badSpecsSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("set_flows:error=EFOO", "--inject set_flows:error=EFOO: unknown errno EFOO"),
            ("set_flow:error=EIO", "--inject set_flow:error=EIO: unknown command set_flow"),
            ("set_flows", "nothing to inject"),
            ("set_flows:error=EIO:when=0", "bad when=0"),
            ("set_flows:error=EIO:when=2+0", "bad when=2+0"),
            ("set_flows:delay=-3ms", "bad delay -3ms"),
            ("set_flows:errno=EIO", "unknown key errno"),
            ("set_flows:EIO", "EIO is not KEY=VALUE"),
            ("", "no command"),
        ]
        for (text, expected) in cases {
            do {
                _ = try FaultSpec.parse(text, defaultSide: .backend)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.description.contains(expected), "\(text): \(error.description)")
            }
        }
    }

    @Test func injectorCountsPerSpecAndMarks() throws {
        let specs = [
            try FaultSpec.parse("set_flows:error=ENOSPC:when=2", defaultSide: .backend),
            try FaultSpec.parse("get_tables:error=EBUSY", defaultSide: .twin),
        ]
        let f = FaultInjector(specs: specs)
        let set = NFL.Command.setFlows.rawValue, tables = NFL.Command.getTables.rawValue
        #expect(f.decide(side: .backend, command: set, sequence: 10) == nil)
        #expect(f.decide(side: .backend, command: tables, sequence: 11) == nil, "a twin spec does not hit the backend")
        let hit = f.decide(side: .backend, command: set, sequence: 12)
        #expect(hit?.error == 28 && hit?.call == 2 && hit?.sequence == 12)
        #expect(f.decide(side: .backend, command: set, sequence: 13) == nil)
        #expect(f.mark(forCall: 12) == hit && f.mark(forCall: 13) == nil)
        #expect(f.decide(side: .twin, command: tables, sequence: 14)?.error == 16)
        #expect(f.injectedCount == 2)
        // Armed (a replay's): the next call of that command on that side, once.
        f.arm(InjectedFault(side: .backend, command: tables, call: 0, error: 5, delay: 0, sequence: 0))
        #expect(f.decide(side: .backend, command: set, sequence: 15) == nil)
        #expect(f.decide(side: .backend, command: tables, sequence: 16)?.error == 5)
        #expect(f.decide(side: .backend, command: tables, sequence: 17) == nil)
    }

    @Test func markerRoundTrips() throws {
        let f = InjectedFault(
            side: .twin, command: NFL.Command.delFlows.rawValue, call: 7, error: 16, delay: 1_500_000,
            sequence: 99)
        #expect(f.comment == "injected fault: side=twin command=DEL_FLOWS call=7 seq=99 error=EBUSY delay=1500us")
        #expect(InjectedFault.parse(comment: "family x\n" + f.comment) == f)
        #expect(InjectedFault.parse(comment: "injected fault: side=sideways seq=1") == nil)
        #expect(InjectedFault.parse(comment: "a comment") == nil)
    }

    @Test func anInjectedBatchFailureAppliesNothing() throws {
        let service = HairpinService(model: DefaultModel.model, backend: .hash)
        service.faults = FaultInjector(specs: [
            try FaultSpec.parse("set_flows:error=ENOSPC:when=1", defaultSide: .backend)
        ])
        var gen = FlowGenerator(model: DefaultModel.model, seed: 3)
        let flows = gen.flows(count: 3)
        var a = FlowTableAttributes(identifierType: NFL.IdentifierType.ifindex, identifier: 1000)
        a.flows = flows
        a.errorStrategy = .abort
        let answer = service.handle(
            HairpinEncap(command: UInt32(NFL.Command.setFlows.rawValue), sequence: 1, attributes: a))
        #expect(answer.status == 28)
        #expect(answer.results?.map(\.errno) == [28, 125, 125])
        #expect(answer.errorMessage == "injected fault: ENOSPC")
        #expect(
            service.devices.existingState(for: 1000).map { s in
                flows.map(\.table).allSatisfy { (s.backend.count(table: $0) ?? 0) == 0 }
            } ?? true)
        // The second call is not hit: the same batch now applies.
        let again = service.handle(
            HairpinEncap(command: UInt32(NFL.Command.setFlows.rawValue), sequence: 2, attributes: a))
        #expect(again.status == 0, "\(String(describing: again.errorMessage))")
    }
}
