// The answers a backend replay compares repeat: a successful single-flow SET_FLOWS to a device
// is the same bytes every time but for nlmsg_seq, nlmsg_pid and the ENCAP SEQ — exactly the
// fields normalisation rewrites (it also clears a hairpin message's NLM_F_ACK, which older
// traces' answers have). A shape is one such answer, normalised, with the offset of its
// ENCAP SEQ. A message equal to the shape everywhere but in nlmsg_seq/pid and that SEQ
// normalises to exactly the shape (the normaliser's walk reads only attribute headers, and
// those are equal), so both the listener's answer and the recorded one are compared with two
// memcmps: no copy, no normalisation, no walk. A message that matches no shape takes the
// general path (normalise, memcmp), so what counts as equal does not change (spec/replay.md,
// "Normalisation").

import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

final class AnswerShapes {
    struct Shape {
        /// The normalised answer (type 0x1d, nlmsg_seq/pid and ENCAP SEQ zero).
        let bytes: UnsafeMutableRawPointer
        let count: Int
        /// The ENCAP SEQ's u64 payload.
        let sequenceOffset: Int
        let more: Bool
        var hits = 0
    }

    /// Enough for a shape per (device, command) of any realistic trace; one-off answers
    /// (errors, GET_FLOWS replies) replace the least used.
    static let limit = 32
    /// Longer answers (GET_FLOWS replies) rarely repeat: not worth a shape.
    static let maxBytes = 512

    @exclusivity(unchecked) private(set) var shapes: [Shape] = []
    @exclusivity(unchecked) private var last = 0

    deinit { for s in shapes { s.bytes.deallocate() } }

    subscript(i: Int) -> Shape { shapes[i] }

    func bytes(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: shapes[i].bytes, count: shapes[i].count)
    }

    /// Equal outside nlmsg_type, nlmsg_seq, nlmsg_pid, NLM_F_ACK and the SEQ payload (the
    /// shape has NLM_F_ACK clear, as normalisation leaves a hairpin message).
    @inline(__always)
    private static func sameBody(_ m: UnsafeRawPointer, _ s: Shape) -> Bool {
        let x = s.sequenceOffset
        return m.loadUnaligned(as: UInt32.self) == s.bytes.loadUnaligned(as: UInt32.self)
            && m.loadUnaligned(fromByteOffset: 6, as: UInt16.self) & ~Netlink.flagAck
                == s.bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
            && memcmp(m + Netlink.headerLength, s.bytes + Netlink.headerLength, x - Netlink.headerLength) == 0
            && memcmp(m + x + 8, s.bytes + x + 8, s.count - x - 8) == 0
    }

    /// The shape an answer of the listener (family id 0x1d) normalises to, or -1.
    @inline(__always)
    func match(produced m: UnsafeRawBufferPointer) -> Int {
        guard let p = m.baseAddress, !shapes.isEmpty else { return -1 }
        if last < shapes.count, matches(p, m.count, last) { return last }
        for i in shapes.indices where i != last && matches(p, m.count, i) {
            last = i
            return i
        }
        return -1
    }

    @inline(__always)
    private func matches(_ p: UnsafeRawPointer, _ count: Int, _ i: Int) -> Bool {
        let s = shapes[i]
        guard s.count == count, p.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == Normalizer.canonicalHairpinID,
            Self.sameBody(p, s)
        else { return false }
        shapes[i].hits &+= 1
        return true
    }

    /// Whether a recorded message normalises to shape `i`. The caller has checked that its
    /// nlmsg_type is the trace's hairpin family (which normalises to 0x1d and gets its SEQ zeroed).
    @inline(__always)
    func matches(recorded m: UnsafeRawBufferPointer, shape i: Int) -> Bool {
        guard let p = m.baseAddress else { return false }
        let s = shapes[i]
        return s.count == m.count && Self.sameBody(p, s)
    }

    /// The SEQ of a message that matched shape `i`.
    @inline(__always)
    func sequence(of m: UnsafeRawBufferPointer, shape i: Int) -> UInt64 {
        m.loadUnaligned(fromByteOffset: shapes[i].sequenceOffset, as: UInt64.self)
    }

    /// Makes a shape of an answer of the listener (family id 0x1d) if it can be one: an ENCAP
    /// answer with exactly one SEQ. Returns its index, or -1. `evicting` is told which shape is
    /// about to be replaced, so that calls still holding it can copy it out first.
    func learn(produced m: UnsafeRawBufferPointer, evicting: (Int) -> Void) -> Int {
        guard m.count <= Self.maxBytes, m.count >= Netlink.headerLength + Netlink.genericHeaderLength,
            m.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == Normalizer.canonicalHairpinID,
            Int(m.loadUnaligned(as: UInt32.self)) == m.count,
            let head = EncapHeader.peek(m), head.status != nil
        else { return -1 }
        // The offset normalisation zeroes (the same reader's).
        let x = head.sequenceOffset
        guard x >= Netlink.headerLength, x + 8 <= m.count else { return -1 }
        let normalised = UnsafeMutableRawPointer.allocate(byteCount: m.count, alignment: 8)
        if let base = m.baseAddress { normalised.copyMemory(from: base, byteCount: m.count) }
        Normalizer(flowTableID: nil, hairpinID: Normalizer.canonicalHairpinID)
            .normalize(UnsafeMutableRawBufferPointer(start: normalised, count: m.count))
        let shape = Shape(bytes: normalised, count: m.count, sequenceOffset: x, more: head.more)
        if shapes.count < Self.limit {
            shapes.append(shape)
            last = shapes.count - 1
            return last
        }
        // Replace the least used; halve the others' counts so old favourites can age out.
        var victim = 0
        for i in shapes.indices where shapes[i].hits < shapes[victim].hits { victim = i }
        evicting(victim)
        shapes[victim].bytes.deallocate()
        shapes[victim] = shape
        for i in shapes.indices { shapes[i].hits /= 2 }
        last = victim
        return victim
    }
}
