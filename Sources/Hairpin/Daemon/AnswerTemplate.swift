// One ENCAP answer encoded once by the real encoder, sent again and again with only its two
// sequence numbers patched in: nlmsg_seq (the listener's numbering, byte 8 of the netlink
// header) and the ENCAP SEQ (the call it answers). ByteService's SET/DEL answers and
// DiscoveryTemplates' getter answers are such templates; both are byte-identical to what the
// typed path (ListenerLoop.encode) sends for the same call.
import LibFlowTable

struct AnswerTemplate {
    /// The whole answer message.
    var bytes: [UInt8] = []
    /// Where SEQ's u64 payload is in `bytes`; 0: none (an empty template).
    var sequenceOffset = 0

    /// Patches nlmsg_seq and SEQ in place and calls `body` with the answer (valid only during
    /// the call).
    @inline(__always)
    mutating func send(nlmsgSequence: UInt32, sequence: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) {
        let offset = sequenceOffset
        bytes.withUnsafeMutableBytes { b in
            b.storeBytes(of: nlmsgSequence, toByteOffset: 8, as: UInt32.self)
            b.storeBytes(of: sequence, toByteOffset: offset, as: UInt64.self)
            body(UnsafeRawBufferPointer(b))
        }
    }
}

extension AnswerTemplate {
    /// Encodes `answer` as the listener sends it (one message, nlmsg_seq 0, ENCAP SEQ as
    /// given, patched on every send). nil when it would not fit one message (the listener
    /// would send it in parts) or cannot be encoded.
    init?(_ answer: HairpinEncap, familyID: UInt16) {
        let message = HairpinMessage(
            header: NetlinkHeader(type: familyID, flags: ListenerLoop.answerFlags, sequence: 0, port: 0),
            command: NFLH.Command.encap.rawValue, encap: answer)
        guard let bytes = try? message.encoded(), bytes.count <= Parts.defaultBudget else { return nil }
        let offset: Int? = bytes.withUnsafeBytes { raw in
            guard let m = try? NetlinkMessageView.single(raw) else { return nil }
            return EncapHeader.peek(m.bytes)?.sequenceOffset
        }
        guard let offset, offset > 0 else { return nil }
        self.bytes = bytes
        sequenceOffset = offset
    }
}
