// The listener's answers carry NLM_F_REQUEST only (ListenerLoop.answerFlags): a recorded
// session, with the listener on the twin's thread or behind its socket, has no ACKs of the
// daemon's answers; and traces recorded before, whose answers have NLM_F_REQUEST|NLM_F_ACK,
// still compare equal to today's answers (Normalizer, AnswerShapes).

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay
import LiveCapture

@Suite("answers without NLM_F_ACK") struct AnswerAckTests {
    @Test(arguments: [LoopbackSession.ListenerPath.inProcess, .socket])
    func aRecordedSessionHasNoAcksOfAnswers(path: LoopbackSession.ListenerPath) throws {
        let dir = NSTemporaryDirectory() + "ft-answer-ack-\(getpid())-\(path)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = dir + "/t.pcapng"
        let seen = try ListenerPathTests.record(path, to: trace, dir: dir + "/s")
        // Every call came back (the listener going away last: ENOTCONN).
        #expect(seen.prefix(5).allSatisfy { $0.hasPrefix("0 ") }, "\(seen)")
        let reader = try TraceReader(path: trace)
        var answers: Set<UInt32> = []
        var answerMessages = 0, acksOfAnswers = 0, errorsOfAnswers = 0
        while let r = try reader.next() {
            // Not the snapshot of the starting state (synthetic answers with nlmsg_seq 0).
            guard r.leg == .hairpin, !r.synthetic, let hairpinID = reader.families.hairpinID else { continue }
            var it = NetlinkMessageIterator(r.netlink)
            while let m = try it.next() {
                if m.header.type == hairpinID && m.header.flags & Netlink.flagRequest != 0
                    && m.bytes[Netlink.headerLength] == NFLH.Command.encap.rawValue
                {
                    answerMessages += 1
                    #expect(m.header.flags == ListenerLoop.answerFlags, "answer flags \(m.header.flags)")
                    answers.insert(m.header.sequence)
                } else if m.header.type == Netlink.typeError {
                    let ack = try NetlinkAck.decode(m)
                    guard answers.contains(ack.request.sequence) else { continue }
                    if ack.error == 0 { acksOfAnswers += 1 } else { errorsOfAnswers += 1 }
                }
            }
        }
        // The workload's calls, with answers in parts: many answer messages, none ACKed.
        #expect(
            answerMessages > 40 && answers.count == answerMessages,
            "\(answerMessages) answer messages, \(answers.count) nlmsg seqs")
        #expect(acksOfAnswers == 0 && errorsOfAnswers == 0)
    }

    /// A successful SET_FLOWS answer as the listener sends it, with `flags`.
    static func answer(flags: UInt16, sequence: UInt64) throws -> [UInt8] {
        var e = HairpinEncap(
            commandType: NFLH.EncapCmdType.nflCommand, command: UInt32(NFL.Command.setFlows.rawValue),
            status: 0, sequence: sequence)
        e.results = [FlowResult(index: 0, errno: 0)]
        e.attributes = .device(1000)
        return try HairpinMessage(
            header: NetlinkHeader(type: Normalizer.canonicalHairpinID, flags: flags, sequence: 9, port: 4),
            command: NFLH.Command.encap.rawValue, encap: e
        ).encoded()
    }

    @Test func anOldAnswerWithAckComparesEqualToANewOne() throws {
        let old = try Self.answer(flags: Netlink.flagRequest | Netlink.flagAck, sequence: 7)
        let new = try Self.answer(flags: ListenerLoop.answerFlags, sequence: 8)
        let n = Normalizer(flowTableID: nil, hairpinID: Normalizer.canonicalHairpinID)
        #expect(old != new)
        #expect(old.withUnsafeBytes { n.normalized($0) } == new.withUnsafeBytes { n.normalized($0) })
        // Only NLM_F_ACK is cleared: another flag still counts.
        let echo = try Self.answer(flags: Netlink.flagRequest | Netlink.flagEcho, sequence: 8)
        #expect(echo.withUnsafeBytes { n.normalized($0) } != new.withUnsafeBytes { n.normalized($0) })
        // The shape learned from today's answer matches the recorded old one (no fallback).
        let shapes = AnswerShapes()
        let s = new.withUnsafeBytes { shapes.learn(produced: $0) { _ in } }
        try #require(s >= 0)
        #expect(old.withUnsafeBytes { shapes.matches(recorded: $0, shape: s) })
        #expect(!echo.withUnsafeBytes { shapes.matches(recorded: $0, shape: s) })
    }
}
