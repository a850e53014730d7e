// Whole messages of both families and NLMSG_ERROR, to and from bytes.

extension FlowTableMessage {
    /// Appends the message to `w` (several messages may share one writer, as in a dump).
    public func encode(into w: inout NetlinkWriter) throws(EncodeError) {
        try w.genericMessage(header, command: command, version: version) { (w) throws(EncodeError) in
            try FlowTableCodec.encode(attributes, layout: flowsLayout, into: &w)
        }
    }

    public func encoded() throws(EncodeError) -> [UInt8] {
        try NetlinkWriter.encodedBytes { (w) throws(EncodeError) in try encode(into: &w) }
    }

    /// Decodes one Flow Table API message. `familyID`, when given, must equal nlmsg_type.
    /// The FLOWS layout follows from the command and NLM_F_REQUEST. With `requireShape` the
    /// message must also carry what its command needs (see `validateShape`).
    public static func decode(
        _ m: NetlinkMessageView, familyID: UInt16? = nil,
        requireShape: Bool = true
    ) throws(DecodeError) -> FlowTableMessage {
        let (g, attrs) = try m.generic(familyID: familyID)
        let layout = FlowsLayout.of(command: g.command, isRequest: m.header.isRequest)
        let a = try FlowTableCodec.decode(attrs, layout: layout)
        if requireShape {
            try a.validateShape(command: g.command, isRequest: m.header.isRequest, offset: m.offset + m.bytes.count)
        }
        return FlowTableMessage(header: m.header, command: g.command, version: g.version, attributes: a)
    }

    public static func decode(
        _ bytes: UnsafeRawBufferPointer, familyID: UInt16? = nil,
        requireShape: Bool = true
    ) throws(DecodeError) -> FlowTableMessage {
        try decode(try NetlinkMessageView.single(bytes), familyID: familyID, requireShape: requireShape)
    }

    public static func decode(
        _ bytes: [UInt8], familyID: UInt16? = nil,
        requireShape: Bool = true
    ) throws(DecodeError) -> FlowTableMessage {
        try withUnsafeBytesTyped(bytes) { (raw) throws(DecodeError) in
            try decode(raw, familyID: familyID, requireShape: requireShape)
        }
    }
}

extension HairpinMessage {
    public func encode(into w: inout NetlinkWriter) throws(EncodeError) {
        try w.genericMessage(header, command: command, version: version) { (w) throws(EncodeError) in
            try HairpinCodec.encode(self, into: &w)
        }
    }

    public func encoded() throws(EncodeError) -> [UInt8] {
        try NetlinkWriter.encodedBytes { (w) throws(EncodeError) in try encode(into: &w) }
    }

    /// `answerFlowsChecked`: the FLOWS of a GET_FLOWS answer's ATTR are checked by the walk
    /// that mirrors the decoder (same errors) instead of decoded; `attributes.flows` is then a
    /// stand-in with the same emptiness (for the shape rules), and the flows' bytes are the
    /// message's (unft copies them verbatim into its reply pages, as the kernel module does).
    public static func decode(
        _ m: NetlinkMessageView, familyID: UInt16? = nil,
        answerFlowsChecked: Bool = false
    ) throws(DecodeError) -> HairpinMessage {
        let (g, attrs) = try m.generic(familyID: familyID)
        var msg = HairpinMessage(header: m.header, command: g.command, version: g.version)
        try HairpinCodec.decode(attrs, into: &msg, answerFlowsChecked: answerFlowsChecked)
        return msg
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, familyID: UInt16? = nil) throws(DecodeError)
        -> HairpinMessage
    {
        try decode(try NetlinkMessageView.single(bytes), familyID: familyID)
    }

    public static func decode(_ bytes: [UInt8], familyID: UInt16? = nil) throws(DecodeError) -> HairpinMessage {
        try withUnsafeBytesTyped(bytes) { (raw) throws(DecodeError) in try decode(raw, familyID: familyID) }
    }
}

extension NetlinkAck {
    /// NLMSG_ERROR with the request's header echoed (NLM_F_CAPPED) and the extended-ack
    /// attributes there are, in the kernel's order (netlink_ack_tlv_fill): NLMSGERR_ATTR_MSG,
    /// NLMSGERR_ATTR_OFFS, then NLMSGERR_ATTR_MISS_TYPE and NLMSGERR_ATTR_MISS_NEST.
    public func encode(into w: inout NetlinkWriter) {
        var flags = header.flags | Netlink.flagCapped
        if message != nil || missingType != nil || offset != nil { flags |= Netlink.flagAckTLVs }
        let start = w.beginMessage(
            type: Netlink.typeError, flags: flags,
            sequence: header.sequence, port: header.port)
        w.appendRaw(error)
        w.appendRaw(request.length)
        w.appendRaw(request.type)
        w.appendRaw(request.flags)
        w.appendRaw(request.sequence)
        w.appendRaw(request.port)
        if let message { w.put(Netlink.extAckMessage, string: message) }
        if let offset { w.put(Netlink.extAckOffset, u32: offset) }
        if let missingType {
            w.put(Netlink.extAckMissingType, u32: missingType)
            if let missingNest { w.put(Netlink.extAckMissingNest, u32: missingNest) }
        }
        w.endMessage(start)
    }

    public func encoded() -> [UInt8] {
        var w = NetlinkWriter(capacity: 64)
        encode(into: &w)
        return w.bytes
    }

    public static func decode(_ m: NetlinkMessageView) throws(DecodeError) -> NetlinkAck {
        guard m.header.type == Netlink.typeError else {
            throw DecodeError(.notAllowed("nlmsg_type \(m.header.type) is not NLMSG_ERROR"), at: m.offset + 4)
        }
        let p = m.payload
        guard p.count >= 4 + Netlink.headerLength else {
            throw DecodeError(
                .truncated(
                    needed: Netlink.headerLength + 4 + Netlink.headerLength,
                    available: m.bytes.count), at: Netlink.headerLength)
        }
        let error = p.loadUnaligned(as: Int32.self)
        let req = NetlinkHeader(
            length: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
            type: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self),
            flags: p.loadUnaligned(fromByteOffset: 10, as: UInt16.self),
            sequence: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self),
            port: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        var ack = NetlinkAck(header: m.header, error: error, request: req)
        if m.header.flags & Netlink.flagAckTLVs != 0 {
            // Without NLM_F_CAPPED the whole request is echoed before the TLVs.
            var tlvStart = 4 + Netlink.headerLength
            if m.header.flags & Netlink.flagCapped == 0 { tlvStart = 4 + Netlink.align(Int(req.length)) }
            try readExtAck(p, from: tlvStart) { a throws(DecodeError) in
                switch a.type {
                case Netlink.extAckMessage: ack.message = try a.string()
                case Netlink.extAckMissingType: ack.missingType = try a.u32()
                case Netlink.extAckMissingNest: ack.missingNest = try a.u32()
                case Netlink.extAckOffset: ack.offset = try a.u32()
                default: break
                }
            }
        }
        return ack
    }
}

/// Each extended-ack attribute of a NLMSG_ERROR or NLMSG_DONE payload from `start` on.
func readExtAck(
    _ payload: UnsafeRawBufferPointer, from start: Int,
    _ body: (Attribute) throws(DecodeError) -> Void
) throws(DecodeError) {
    guard start < payload.count else { return }
    var it = AttributeIterator(
        UnsafeRawBufferPointer(rebasing: payload[start...]),
        baseOffset: Netlink.headerLength + start)
    while let a = try it.next() { try body(a) }
}

extension NetlinkDone {
    /// NLMSG_DONE as the kernel's netlink_dump_done writes it: NLM_F_MULTI, the 4-byte status,
    /// and a text after it with NLM_F_ACK_TLVS.
    public func encode(into w: inout NetlinkWriter) {
        var flags = header.flags | Netlink.flagMulti
        if message != nil { flags |= Netlink.flagAckTLVs }
        let start = w.beginMessage(type: Netlink.typeDone, flags: flags, sequence: header.sequence, port: header.port)
        w.appendRaw(error)
        if let message { w.put(Netlink.extAckMessage, string: message) }
        w.endMessage(start)
    }

    public static func decode(_ m: NetlinkMessageView) throws(DecodeError) -> NetlinkDone {
        guard m.header.type == Netlink.typeDone else {
            throw DecodeError(.notAllowed("nlmsg_type \(m.header.type) is not NLMSG_DONE"), at: m.offset + 4)
        }
        let p = m.payload
        // A DONE without a status (some old senders) ends a dump that did not fail.
        var done = NetlinkDone(header: m.header, error: p.count >= 4 ? p.loadUnaligned(as: Int32.self) : 0)
        if m.header.flags & Netlink.flagAckTLVs != 0 {
            try readExtAck(p, from: 4) { a throws(DecodeError) in
                if a.type == Netlink.extAckMessage { done.message = try a.string() }
            }
        }
        return done
    }
}

extension NetlinkMessageView {
    /// The generic netlink header and the attributes after it; with `familyID`, nlmsg_type
    /// must be that family's.
    @inline(__always)
    func generic(familyID: UInt16?) throws(DecodeError) -> (GenericHeader, AttributeIterator) {
        if let familyID, header.type != familyID {
            throw DecodeError(.wrongFamily(expected: familyID, got: header.type), at: offset + 4)
        }
        return try generic()
    }
}

extension NetlinkWriter {
    /// One generic netlink message: the netlink header of `header` (its length set at the
    /// end), the genl header, then what `attributes` writes.
    @inline(__always)
    mutating func genericMessage(
        _ header: NetlinkHeader, command: UInt8, version: UInt8,
        _ attributes: (inout NetlinkWriter) throws(EncodeError) -> Void
    ) throws(EncodeError) {
        let start = beginMessage(type: header.type, flags: header.flags, sequence: header.sequence, port: header.port)
        genericHeader(command: command, version: version)
        try attributes(&self)
        endMessage(start)
    }

    /// What `body` writes, in a writer of its own.
    @inline(__always)
    static func encodedBytes(_ body: (inout NetlinkWriter) throws(EncodeError) -> Void) throws(EncodeError) -> [UInt8] {
        var w = NetlinkWriter(capacity: 256)
        try body(&w)
        return w.bytes
    }
}

/// `withUnsafeBytes` for a closure with typed throws (the standard one rethrows `any Error`).
@inline(__always)
func withUnsafeBytesTyped<R>(
    _ bytes: [UInt8],
    _ body: (UnsafeRawBufferPointer) throws(DecodeError) -> R
) throws(DecodeError) -> R {
    let result: Result<R, DecodeError> = bytes.withUnsafeBytes { raw in
        do throws(DecodeError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
