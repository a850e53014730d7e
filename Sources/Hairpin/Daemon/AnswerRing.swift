// Which call each recent answer of the listener belonged to, to name it when unft refuses the
// answer. unft sends nothing back for an answer it accepts (the listener sends answers without
// NLM_F_ACK, spec/two-leg-contract.md "One NDO call" 3) and an NLMSG_ERROR for one it refuses;
// the error echoes only the answer's netlink header, so its nlmsg_seq is what names the call.
// nlmsg_seq goes up by one per message the listener sends, so the last `size` answers fit a
// fixed ring indexed by nlmsg_seq & mask: two stores per answer, no hashing, no allocation, and
// nothing has to be removed when an answer succeeds. Each slot keeps its nlmsg_seq too, so an
// error for an answer older than `size` messages is told apart from the one now in its slot.
struct AnswerRing {
    /// A power of two: far more answers than can be in flight when unft refuses one (unft
    /// answers each message before the listener's next is read).
    static let size = 4096
    private static let mask = UInt32(size - 1)

    /// By nlmsg_seq & mask: the answer's nlmsg_seq (0: none; the listener never uses 0) and the
    /// ENCAP SEQ it answered.
    private var nlmsgSequences: [UInt32]
    private var sequences: [UInt64]

    init() {
        nlmsgSequences = [UInt32](repeating: 0, count: Self.size)
        sequences = [UInt64](repeating: 0, count: Self.size)
    }

    /// Remembers that the message with `nlmsgSequence` answered ENCAP SEQ `sequence`.
    @inline(__always)
    mutating func note(nlmsgSequence: UInt32, sequence: UInt64) {
        let i = Int(nlmsgSequence & Self.mask)
        nlmsgSequences[i] = nlmsgSequence
        sequences[i] = sequence
    }

    /// The ENCAP SEQ the message with `nlmsgSequence` answered, if it is still in the ring.
    func sequence(answeredBy nlmsgSequence: UInt32) -> UInt64? {
        let i = Int(nlmsgSequence & Self.mask)
        guard nlmsgSequence != 0, nlmsgSequences[i] == nlmsgSequence else { return nil }
        return sequences[i]
    }
}
