// Reading the few fields a replay needs straight off the bytes, and the normalisation that
// makes a recorded answer and a replayed one comparable byte for byte (spec/replay.md,
// "Normalisation"). Nothing here builds the typed model: the replay loop decodes only when an
// answer differs and a person has to read it.

import FlowTrace
import LibFlowTable

/// The messages of a record (NetlinkMessageIterator's walk). A record normally holds one, but
/// nlmon captures and hand-made files may pack several; a broken length ends the walk, and
/// what is left is handed out whole once, so a malformed record is still compared as bytes.
struct Messages: Sequence, IteratorProtocol {
    var walk: NetlinkMessageIterator

    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer) { walk = NetlinkMessageIterator(bytes) }

    @inline(__always)
    mutating func next() -> UnsafeRawBufferPointer? {
        do throws(DecodeError) {
            return try walk.next()?.bytes
        } catch {
            // Fewer bytes than a header are not a message at all.
            let rest = walk.rest()
            return rest.count >= Netlink.headerLength ? rest : nil
        }
    }
}

/// What the replay needs of an ENCAP message: its header (EncapHeader, the one reader) and,
/// from ATTR, the ifindex and the number of flows.
struct EncapPeek {
    var header: EncapHeader
    var ifindex: UInt32?
    /// Flows in ATTR.FLOWS (list layout; a GET_FLOWS request's selector counts 0).
    var flows = 0

    var command: UInt32 { header.command }
    var sequence: UInt64 { header.sequence }
    var status: UInt32? { header.status }
    var part: UInt32? { header.part }
    var more: Bool { header.more }

    /// nil when `message` is not an ENCAP message or its ENCAP is malformed.
    /// `countFlows`: walk ATTR.FLOWS to count its flows (a GET_FLOWS answer's can be long).
    init?(_ message: UnsafeRawBufferPointer, countFlows: Bool = false) {
        guard let h = EncapHeader.peek(message) else { return nil }
        header = h
        guard let attr = h.attributes else { return }
        var attrs = attr.nested()
        while let x = try? attrs.next() {
            if x.type == NFL.Attr.identifier { ifindex = try? x.u32() }
            if countFlows && x.type == NFL.Attr.flows { flows = x.nested().countHint() }
        }
        // A GET_FLOWS request's FLOWS is the selector, not a list.
        if h.status == nil && h.command == UInt32(NFL.Command.getFlows.rawValue) { flows = 0 }
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
            zeroEncapSequence(m)
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

    /// The ENCAP SEQ is zeroed where the one ENCAP reader finds it (AnswerShapes masks the same
    /// offset, EncapHeader.sequenceOffset); a malformed ENCAP keeps its bytes.
    private func zeroEncapSequence(_ m: UnsafeMutableRawBufferPointer) {
        guard let h = EncapHeader.peek(UnsafeRawBufferPointer(m)) else { return }
        m.storeBytes(of: UInt64(0), toByteOffset: h.sequenceOffset, as: UInt64.self)
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
