// Reading the few fields a replay needs straight off the bytes, and the normalisation that
// makes a recorded answer and a replayed one comparable byte for byte (spec/replay.md,
// "Normalisation"). Nothing here builds the typed model: the replay loop decodes only when an
// answer differs and a person has to read it.

import FlowTrace
import LibFlowTable

/// The fixed header of one netlink message, read without trusting its length field.
struct Head {
    var length: Int
    var type: UInt16
    var flags: UInt16
    var sequence: UInt32
    var port: UInt32

    /// nil when fewer than 16 bytes are there.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Netlink.headerLength else { return nil }
        length = Int(bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        type = bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        flags = bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
        sequence = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        port = bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
    }

    /// The genl command byte, when the message has a genl header.
    static func command(_ bytes: UnsafeRawBufferPointer) -> UInt8? {
        bytes.count >= Netlink.headerLength + Netlink.genericHeaderLength ? bytes[Netlink.headerLength] : nil
    }
}

/// The messages of a record. A record normally holds one, but nlmon captures and hand-made
/// files may pack several; a broken length ends the walk (what is left is not a message).
struct Messages: Sequence, IteratorProtocol {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func next() -> UnsafeRawBufferPointer? {
        let left = bytes.count - offset
        guard left >= Netlink.headerLength else { return nil }
        let len = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        guard len >= Netlink.headerLength, len <= left else {
            // Hand the rest out whole once, so a malformed record is still compared as bytes.
            defer { offset = bytes.count }
            return UnsafeRawBufferPointer(rebasing: bytes[offset...])
        }
        defer { offset = Swift.min(offset + Netlink.align(len), bytes.count) }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + len)])
    }
}

/// What the replay needs of an ENCAP message.
struct EncapPeek {
    var command: UInt32?
    var sequence: UInt64?
    var status: UInt32?
    var part: UInt32?
    var more = false
    var ifindex: UInt32?
    /// Flows in ATTR.FLOWS (list layout; a GET_FLOWS request's selector counts 0).
    var flows = 0

    /// Reads the ENCAP nest of a hairpin message leniently: what cannot be read stays nil.
    /// `countFlows`: walk ATTR.FLOWS to count its flows (a GET_FLOWS answer's can be long).
    /// `readAttributes` false: leave ATTR unread (ifindex stays nil), for callers that need only
    /// SEQ, STATUS, PART and MORE.
    init?(_ message: UnsafeRawBufferPointer, countFlows: Bool = false, readAttributes: Bool = true) {
        guard message.count >= Netlink.headerLength + Netlink.genericHeaderLength,
              message[Netlink.headerLength] == NFLH.Command.encap.rawValue else { return nil }
        let len = min(Int(message.loadUnaligned(as: UInt32.self)), message.count)
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard len > start else { return }
        var top = AttributeIterator(UnsafeRawBufferPointer(rebasing: message[start..<len]), baseOffset: start)
        while let a = try? top.next() {
            guard a.type == NFLH.Attr.encap else { continue }
            var inner = a.nested()
            while let e = try? inner.next() {
                switch e.type {
                case NFLH.EncapAttr.cmd: command = try? e.u32()
                case NFLH.EncapAttr.seq: sequence = try? e.u64()
                case NFLH.EncapAttr.status: status = try? e.u32()
                case NFLH.EncapAttr.part: part = try? e.u32()
                case NFLH.EncapAttr.more: more = true
                case NFLH.EncapAttr.attr where readAttributes:
                    var attrs = e.nested()
                    while let x = try? attrs.next() {
                        if x.type == NFL.Attr.identifier { ifindex = try? x.u32() }
                        if countFlows && x.type == NFL.Attr.flows { flows = x.nested().countHint() }
                    }
                default: break
                }
            }
            // A GET_FLOWS request's FLOWS is the selector, not a list.
            if status == nil && command == UInt32(NFL.Command.getFlows.rawValue) { flows = 0 }
            return
        }
    }
}

/// CMD, SEQ, STATUS, PART and MORE of an ENCAP message read off the attribute headers alone:
/// exactly what `EncapPeek(_, readAttributes: false)` gives (EncapHeadTests compares the two on
/// valid, truncated and malformed messages), without the iterator's optionals and error values.
/// The replay loop reads three messages a call this way (request, answer, recorded answer), where
/// EncapPeek cost ~360 instructions each.
struct EncapHead {
    var command: UInt32?
    var sequence: UInt64?
    var status: UInt32?
    var part: UInt32?
    var more = false
    /// Where the SEQ value read is (its u64 payload), -1 without one.
    var sequenceOffset = -1

    @inline(__always)
    init?(_ message: UnsafeRawBufferPointer) {
        let headers = Netlink.headerLength + Netlink.genericHeaderLength
        guard message.count >= headers, let base = message.baseAddress,
              base.load(fromByteOffset: Netlink.headerLength, as: UInt8.self) == NFLH.Command.encap.rawValue else { return nil }
        let end = min(Int(base.loadUnaligned(as: UInt32.self)), message.count)
        var pos = headers
        // The first top-level ENCAP (as AttributeIterator walks: a bad length ends the walk).
        while end - pos >= Netlink.attributeHeaderLength {
            let len = Int(base.loadUnaligned(fromByteOffset: pos, as: UInt16.self))
            guard len >= Netlink.attributeHeaderLength, len <= end - pos else { return }
            let type = base.loadUnaligned(fromByteOffset: pos + 2, as: UInt16.self) & Netlink.attributeTypeMask
            guard type == NFLH.Attr.encap else {
                pos = min(pos + Netlink.align(len), end)
                continue
            }
            let nestEnd = pos + len
            var p = pos + Netlink.attributeHeaderLength
            while nestEnd - p >= Netlink.attributeHeaderLength {
                let l = Int(base.loadUnaligned(fromByteOffset: p, as: UInt16.self))
                guard l >= Netlink.attributeHeaderLength, l <= nestEnd - p else { return }
                let t = base.loadUnaligned(fromByteOffset: p + 2, as: UInt16.self) & Netlink.attributeTypeMask
                let payload = p + Netlink.attributeHeaderLength
                let n = l - Netlink.attributeHeaderLength
                switch t {
                case NFLH.EncapAttr.cmd: command = n == 4 ? base.loadUnaligned(fromByteOffset: payload, as: UInt32.self) : nil
                case NFLH.EncapAttr.seq:
                    if n == 8 {
                        sequence = base.loadUnaligned(fromByteOffset: payload, as: UInt64.self)
                        sequenceOffset = payload
                    } else {
                        sequence = nil
                        sequenceOffset = -1
                    }
                case NFLH.EncapAttr.status: status = n == 4 ? base.loadUnaligned(fromByteOffset: payload, as: UInt32.self) : nil
                case NFLH.EncapAttr.part: part = n == 4 ? base.loadUnaligned(fromByteOffset: payload, as: UInt32.self) : nil
                case NFLH.EncapAttr.more: more = true
                default: break
                }
                p = min(p + Netlink.align(l), nestEnd)
            }
            return
        }
    }
}

/// The ifindex of a Flow Table API message's preamble, read off the bytes.
func apiIfindex(_ message: UnsafeRawBufferPointer) -> UInt32? {
    let start = Netlink.headerLength + Netlink.genericHeaderLength
    guard message.count > start else { return nil }
    let len = min(Int(message.loadUnaligned(as: UInt32.self)), message.count)
    guard len > start else { return nil }
    var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: message[start..<len]), baseOffset: start)
    while let a = try? it.next() {
        if a.type == NFL.Attr.identifier { return try? a.u32() }
    }
    return nil
}

/// How one side's messages are made comparable with the other's (spec/replay.md lists what is
/// normalised and why nothing else is):
///
/// * nlmsg_type of the two families → the twin's ids (0x1c net_flow_nl, 0x1d nfl_hairpin):
///   generic netlink ids are dynamic;
/// * nlmsg_seq and nlmsg_pid → 0: chosen by the client and by autobind;
/// * the same three fields of the request header an NLMSG_ERROR echoes;
/// * the ENCAP SEQ → 0: unft's own numbering (a replay may skip calls, a kernel counts on
///   from its load);
/// * with an ifindex map (kernel:DEV, --map-ifindex): the preamble's ifindex of API messages,
///   target → recorded.
///
/// Timestamps are not in the bytes at all.
public struct Normalizer: Sendable {
    public static let canonicalFlowTableID: UInt16 = 0x1c
    public static let canonicalHairpinID: UInt16 = 0x1d

    /// This side's family ids (nil: unknown; such messages keep their type).
    public var flowTableID: UInt16?
    public var hairpinID: UInt16?
    /// This side's ifindex → the recorded one.
    public var ifindexMap: [UInt32: UInt32] = [:]

    public init(flowTableID: UInt16?, hairpinID: UInt16?, ifindexMap: [UInt32: UInt32] = [:]) {
        self.flowTableID = flowTableID
        self.hairpinID = hairpinID
        self.ifindexMap = ifindexMap
    }

    public init(families: FamilyTable) {
        self.init(flowTableID: families.flowTableID, hairpinID: families.hairpinID)
    }

    @inline(__always)
    func canonical(_ type: UInt16) -> UInt16 {
        if type == flowTableID { return Self.canonicalFlowTableID }
        if type == hairpinID { return Self.canonicalHairpinID }
        return type
    }

    /// Appends the normalised copy of one message to `out`.
    public func append(_ message: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let base = out.count
        out.append(contentsOf: message)
        out.withUnsafeMutableBytes { all in
            let m = UnsafeMutableRawBufferPointer(rebasing: all[base...])
            normalize(m)
        }
    }

    /// The normalised copy of one message.
    public func normalized(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count)
        append(message, to: &out)
        return out
    }

    /// Normalises one message in place.
    public func normalize(_ m: UnsafeMutableRawBufferPointer) {
        guard m.count >= Netlink.headerLength else { return }
        let type = m.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        m.storeBytes(of: canonical(type), toByteOffset: 4, as: UInt16.self)
        if type == hairpinID { Self.clearAckFlag(m, at: 6) }
        m.storeBytes(of: UInt32(0), toByteOffset: 8, as: UInt32.self)
        m.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        let len = min(Int(m.loadUnaligned(as: UInt32.self)), m.count)
        if type == Netlink.typeError {
            // error (4 bytes), then the echoed request header.
            let echo = Netlink.headerLength + 4
            guard len >= echo + Netlink.headerLength else { return }
            let t = m.loadUnaligned(fromByteOffset: echo + 4, as: UInt16.self)
            m.storeBytes(of: canonical(t), toByteOffset: echo + 4, as: UInt16.self)
            if t == hairpinID { Self.clearAckFlag(m, at: echo + 6) }
            m.storeBytes(of: UInt32(0), toByteOffset: echo + 8, as: UInt32.self)
            m.storeBytes(of: UInt32(0), toByteOffset: echo + 12, as: UInt32.self)
            return
        }
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard len > start else { return }
        if type == hairpinID, m[Netlink.headerLength] == NFLH.Command.encap.rawValue {
            zeroEncapSequence(m, from: start, to: len)
        } else if type == flowTableID, !ifindexMap.isEmpty {
            mapIfindex(m, from: start, to: len)
        }
    }

    /// Whether a hairpin message asked for an ACK is the listener's choice, not part of its
    /// answer: the listener sends answers without NLM_F_ACK, traces recorded before it did have
    /// NLM_F_REQUEST|NLM_F_ACK; both compare equal.
    @inline(__always)
    static func clearAckFlag(_ m: UnsafeMutableRawBufferPointer, at offset: Int) {
        let flags = m.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        m.storeBytes(of: flags & ~Netlink.flagAck, toByteOffset: offset, as: UInt16.self)
    }

    private func zeroEncapSequence(_ m: UnsafeMutableRawBufferPointer, from start: Int, to end: Int) {
        Self.forEachEncapSequence(UnsafeRawBufferPointer(m), from: start, to: end) { offset in
            m.storeBytes(of: UInt64(0), toByteOffset: offset, as: UInt64.self)
        }
    }

    /// The offsets of the ENCAP SEQ payloads normalisation zeroes in a hairpin ENCAP message
    /// (AnswerShapes masks exactly these): one walk for both, so they cannot disagree.
    static func encapSequenceOffsets(_ m: UnsafeRawBufferPointer) -> [Int] {
        guard m.count >= Netlink.headerLength + Netlink.genericHeaderLength else { return [] }
        let len = min(Int(m.loadUnaligned(as: UInt32.self)), m.count)
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard len > start else { return [] }
        var offsets: [Int] = []
        forEachEncapSequence(m, from: start, to: len) { offsets.append($0) }
        return offsets
    }

    private static func forEachEncapSequence(_ m: UnsafeRawBufferPointer, from start: Int, to end: Int, _ body: (Int) -> Void) {
        var top = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[start..<end]), baseOffset: start)
        while let a = try? top.next() {
            guard a.type == NFLH.Attr.encap else { continue }
            var inner = a.nested()
            while let e = try? inner.next() {
                if e.type == NFLH.EncapAttr.seq, e.payload.count == 8 { body(e.payloadOffset) }
            }
        }
    }

    private func mapIfindex(_ m: UnsafeMutableRawBufferPointer, from start: Int, to end: Int) {
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[start..<end]), baseOffset: start)
        while let a = try? it.next() {
            guard a.type == NFL.Attr.identifier, a.payload.count == 4 else { continue }
            let v = a.payload.loadUnaligned(as: UInt32.self)
            if let mapped = ifindexMap[v] { m.storeBytes(of: mapped, toByteOffset: a.payloadOffset, as: UInt32.self) }
        }
    }
}
