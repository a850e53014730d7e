// The twin acknowledges a listener's ENCAP answer exactly as unft_hp_encap does: an accepted
// answer (or part) gets an ACK only when it carries NLM_F_ACK; a refused one gets its error
// either way (netlink reports errors whether or not NLM_F_ACK is set). flow-table-hairpind sends
// answers without NLM_F_ACK (ListenerLoop.answerFlags); the VM's Python listeners ask.

#if canImport(Glibc)
import Glibc
#endif
import Testing
import LibFlowTable
@testable import Hairpin

@Suite("twin: answers with and without NLM_F_ACK") struct TwinAnswerAckTests {
    /// Answers getters with one table and GET_FLOWS with `flows`.
    static func rule(_ flows: [Flow]) -> FakeListener.Rule {
        return { req, _ in
            var a = FlowTableAttributes.device(req.attributes?.identifier ?? 0)
            if req.command == UInt32(NFL.Command.getFlows.rawValue) {
                a.flows = flows
            } else {
                a.tables = [
                    Table(
                        name: "acl", uid: 1, source: 1, apply: 1, size: 100,
                        matches: [FieldRef(instance: 1, header: 1, field: 3, maskType: .exact, type: .unspec)],
                        actions: [5])
                ]
            }
            return [req.answer(attributes: a)]
        }
    }

    @Test(arguments: [Netlink.flagRequest, Netlink.flagRequest | Netlink.flagAck])
    func anAcceptedAnswerIsAckedOnlyWhenAsked(flags: UInt16) throws {
        let h = try TwinHarness()
        // Enough flows for an answer in several parts.
        let all = (1...2300).map { testFlow(uid: UInt32($0), table: 4) }
        let l = try FakeListener(path: h.paths.hairpin, answerFlags: flags, rule: Self.rule(all))
        defer { l.stop() }
        let tables = try h.client().get(.getTables, ifindex: ifindex)
        #expect(tables.errno == 0 && tables.attributes?.tables?.count == 1)
        let flows = try h.client().getFlows(ifindex: ifindex, FlowSelector(table: 4))
        #expect(flows.errno == 0 && flows.flows == all)
        let parts = try #require(l.answerParts(2))
        #expect(parts > 1)
        // The listener's messages were SET_LISTENER (seq 2, before nextSequence's 1001…), then
        // one per answer part. The twin sends a part's ACK before the reply, so it is here now
        // if it was sent at all; wait a little for the listener's thread to read it.
        let answerSeqs = (1...(1 + parts)).map { UInt32(1000 + $0) }
        if flags & Netlink.flagAck != 0 {
            for s in answerSeqs { #expect(try l.waitForAck(s).error == 0) }
        } else {
            usleep(100_000)
            let got = l.acks
            #expect(answerSeqs.allSatisfy { got[$0] == nil }, "unasked ACKs: \(got.keys.sorted())")
        }
        #expect(h.twin.counters.answers == 2)
        // Refused either way: an unknown SEQ is -ENOENT, and the message names it.
        let unknown = HairpinEncap(
            commandType: NFLH.EncapCmdType.nflCommand, command: UInt32(NFL.Command.getTables.rawValue),
            status: 0, sequence: 424_242, attributes: .device(ifindex))
        let seqs = l.send(unknown)
        let refusal = try l.waitForAck(try #require(seqs.first))
        #expect(refusal.error == -ENOENT && refusal.message?.contains("424242") == true, "\(refusal)")
        #expect(l.failure == nil)
    }
}
