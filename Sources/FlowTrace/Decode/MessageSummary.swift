// What `flowtrace show` prints on one line and `flowtrace stats` counts, read straight off the
// attributes without building the typed model: a summary costs a walk over the bytes, no
// allocation (text is made only when a line is printed).

import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

/// One netlink message, reduced to what a trace line or a statistic needs.
public struct MessageSummary {
    public enum Kind: Hashable, Sendable {
        case flowTable, hairpin, controller, ack, error, done, other, malformed
    }

    public var kind: Kind = .other
    /// The nlmsg_type: a generic family's id, or a message type of another protocol (for an
    /// NLMSG_ERROR, the type of the message it echoes).
    public var familyID: UInt16 = 0
    /// The record's netlink protocol (NETLINK_GENERIC unless the capture said otherwise).
    public var netlinkProtocol: UInt16 = NetlinkPseudoHeader.protocolGeneric
    /// The request asked for an ACK (NLM_F_ACK): its last answer is the ACK or error.
    public var wantsAck = false
    /// genl command (or nothing for control messages).
    public var command: UInt8 = 0
    /// The Flow Table API command: the message's own, or the one an ENCAP carries.
    public var apiCommand: UInt8?
    public var isRequest = false
    public var netlinkSeq: UInt32 = 0
    public var port: UInt32 = 0
    public var ifindex: UInt32?
    /// ENCAP SEQ.
    public var encapSeq: UInt64?
    /// A positive errno: ENCAP STATUS or the NLMSG_ERROR's error (0 = OK / ACK).
    public var status: Int32?
    public var flowCount = 0
    /// Whether a FLOWS list was present (an empty GET_FLOWS answer still says "0 flows").
    public var hasFlows = false
    /// Distinct tables among the flows (the first two are enough for a line).
    public var firstTable: UInt32?
    public var moreTables = false
    public var selectorTable: UInt32?
    public var elementCount = 0  // tables/headers/actions/nodes in a discovery reply
    public var strategy: UInt32?
    public var part: UInt32?
    public var more = false
    /// Per-flow results of an ENCAP answer: how many, how many failed.
    public var resultCount = 0
    public var failedResults = 0
    /// Of the failed results, those with ECANCELED (not tried or rolled back: not failures of
    /// their own, never in a *_LOG report).
    public var canceledResults = 0
    /// Offset and length of an error text (ERROR_MSG or extended ack) in the message, read
    /// only when printed.
    public var textRange: Range<Int>?
    /// The request header an NLMSG_ERROR echoes.
    public var ackedSeq: UInt32?
    /// A request with NLM_F_DUMP: answered by pages and NLMSG_DONE, never an ACK.
    public var isDump = false
    /// An error's missing-attribute extended ack (NLMSGERR_ATTR_MISS_TYPE; 0: none) and the
    /// offset in the request of the nest it is missing from (NLMSGERR_ATTR_MISS_NEST; 0: the
    /// top level).
    public var missingType: UInt32 = 0
    public var missingNest: UInt32 = 0
    /// Why the message is malformed, as text (made when asked: the summary holds no String,
    /// so copying one is a memcpy, not a retain per field, on `stats`' hot path).
    public var malformedReason: String? { malformed?.text }
    var malformed: MalformedReason?

    // For `flowtrace stats`' flow accounting, gathered in the same walk so stats need not
    // walk the message a second time.
    /// The table of the first flow of an ENCAP request (a flow without TABLE counts as 0).
    var flowTable: UInt32 = 0
    /// Some flow is in another table than the first: stats must list them one by one.
    var flowTablesMixed = false
    /// A message with several ENCAP nests: the summary counted the flows of each.
    var flowsIrregular = false
    /// Results of an ENCAP answer whose (last) ERRNO is 0, and the largest of their indexes.
    var okResults = 0
    var okResultMaxIndex: UInt32 = 0

    public init() {}

    /// The status as an answer's outcome, when the message is an answer.
    public var isAnswer: Bool {
        switch kind {
        case .ack, .error, .done: return true
        case .hairpin: return status != nil
        case .flowTable: return !isRequest
        default: return false
        }
    }
}

public enum SummaryDecoder {
    /// Summarises the first netlink message in `bytes`.
    public static func summarize(_ bytes: UnsafeRawBufferPointer, families: FamilyTable) -> MessageSummary {
        summarize(bytes, families: families, netlinkProtocol: NetlinkPseudoHeader.protocolGeneric)
    }

    /// Summarises the first netlink message of a record of any netlink protocol. Only
    /// NETLINK_GENERIC has family ids; a message of another protocol (rtnetlink) is `.other`,
    /// its nlmsg_type in `familyID`.
    public static func summarize(
        _ bytes: UnsafeRawBufferPointer, families: FamilyTable,
        netlinkProtocol: UInt16
    ) -> MessageSummary {
        var s = MessageSummary()
        s.netlinkProtocol = netlinkProtocol
        guard bytes.count >= Netlink.headerLength else {
            s.kind = .malformed
            s.malformed = .shortRecord(bytes.count)
            return s
        }
        let len = Int(bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let type = bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        let flags = bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
        s.familyID = type
        s.netlinkSeq = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        s.port = bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
        s.isRequest = flags & Netlink.flagRequest != 0
        s.isDump = s.isRequest && flags & Netlink.flagDump == Netlink.flagDump
        s.wantsAck = s.isRequest && flags & Netlink.flagAck != 0
        guard len >= Netlink.headerLength, len <= bytes.count else {
            s.kind = .malformed
            s.malformed = .lengthMismatch(len, bytes.count)
            return s
        }
        let message = UnsafeRawBufferPointer(rebasing: bytes[0..<len])
        if netlinkProtocol != NetlinkPseudoHeader.protocolGeneric {
            switch type {
            case Netlink.typeError: summarizeError(message, flags: flags, into: &s)
            case Netlink.typeDone: s.kind = .done
            default: s.kind = .other
            }
            return s
        }
        switch families.fastKind(ofType: type) {
        case .control where type == Netlink.typeError:
            summarizeError(message, flags: flags, into: &s)
        case .control where type == Netlink.typeDone:
            s.kind = .done
            summarizeFailedDone(message, flags: flags, into: &s)
        case .control:
            s.kind = .other
        case .controller:
            s.kind = .controller
            if len >= 20 { s.command = message[16] }
        case .flowTable:
            s.kind = .flowTable
            guard len >= 20 else { return malformed(&s, .noGenericHeader) }
            s.command = message[16]
            s.apiCommand = s.command
            let region = UnsafeRawBufferPointer(rebasing: message[20...])
            do {
                try walkAPI(
                    AttributeIterator(region, baseOffset: 20), command: s.command, isRequest: s.isRequest,
                    into: &s, depth: 0)
            } catch { return malformed(&s, MalformedReason(error)) }
        case .hairpin:
            s.kind = .hairpin
            guard len >= 20 else { return malformed(&s, .noGenericHeader) }
            s.command = message[16]
            do {
                try walkHairpin(
                    AttributeIterator(UnsafeRawBufferPointer(rebasing: message[20...]), baseOffset: 20), into: &s)
            } catch { return malformed(&s, MalformedReason(error)) }
        case .other:
            s.kind = .other
            if len >= 20 { s.command = message[16] }
        }
        return s
    }

    static func malformed(_ s: inout MessageSummary, _ why: MalformedReason) -> MessageSummary {
        s.kind = .malformed
        s.malformed = why
        return s
    }

    static func summarizeError(_ m: UnsafeRawBufferPointer, flags: UInt16, into s: inout MessageSummary) {
        guard m.count >= Netlink.headerLength + 4 + Netlink.headerLength else {
            s.kind = .malformed
            s.malformed = .shortError
            return
        }
        let error = m.loadUnaligned(fromByteOffset: 16, as: Int32.self)
        s.kind = error == 0 ? .ack : .error
        // Wrapping: a hostile error field of Int32.min has no positive counterpart (fuzz-pcapng).
        s.status = error == 0 ? 0 : 0 &- error
        s.ackedSeq = m.loadUnaligned(fromByteOffset: 28, as: UInt32.self)
        s.familyID = m.loadUnaligned(fromByteOffset: 24, as: UInt16.self)
        guard flags & Netlink.flagAckTLVs != 0 else { return }
        var start = 16 + 4 + Netlink.headerLength
        if flags & Netlink.flagCapped == 0 {
            start = 16 + 4 + Netlink.align(Int(m.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
        }
        guard start < m.count else { return }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[start...]), baseOffset: start)
        while let a = try? it.next() {
            switch a.type {
            case Netlink.extAckMessage: s.textRange = a.payloadOffset..<(a.payloadOffset + a.payload.count)
            case Netlink.extAckMissingType where a.payload.count == 4:
                s.missingType = a.payload.loadUnaligned(as: UInt32.self)
            case Netlink.extAckMissingNest where a.payload.count == 4:
                s.missingNest = a.payload.loadUnaligned(as: UInt32.self)
            default: break
            }
        }
    }

    /// A dump that failed: its NLMSG_DONE's negative errno (`status`) and extended-ack text
    /// (netlink_dump_done); a DONE with status 0 is left as it is.
    static func summarizeFailedDone(_ m: UnsafeRawBufferPointer, flags: UInt16, into s: inout MessageSummary) {
        guard m.count >= Netlink.headerLength + 4 else { return }
        let error = m.loadUnaligned(fromByteOffset: 16, as: Int32.self)
        guard error != 0 else { return }
        s.status = 0 &- error
        guard flags & Netlink.flagAckTLVs != 0, m.count > 20 else { return }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[20...]), baseOffset: 20)
        while let a = try? it.next() {
            if a.type == Netlink.extAckMessage { s.textRange = a.payloadOffset..<(a.payloadOffset + a.payload.count) }
        }
    }

    static func walkAPI(
        _ it: AttributeIterator, command: UInt8, isRequest: Bool, into s: inout MessageSummary,
        depth: Int
    ) throws(DecodeError) {
        var it = it
        while let a = try it.next() {
            switch a.type {
            case NFL.Attr.identifier: s.ifindex = try a.u32()
            case NFL.Attr.flowsError: s.strategy = try a.u32()
            case NFL.Attr.tables, NFL.Attr.headers, NFL.Attr.actions, NFL.Attr.headerGraph, NFL.Attr.tableGraph:
                s.elementCount = a.nested().countHint()
            case NFL.Attr.flows:
                if command == NFL.Command.getFlows.rawValue && isRequest {
                    var sel = a.nested()
                    while let x = try sel.next() {
                        if x.type == NFL.TableFlowsAttr.table { s.selectorTable = try x.u32() }
                    }
                } else {
                    s.hasFlows = true
                    var flows = a.nested()
                    while let f = try flows.next() {
                        s.flowCount += 1
                        var fields = f.nested()
                        var table: UInt32?
                        while let x = try fields.next() {
                            guard x.type == NFL.FlowAttr.table else { continue }
                            let t = try x.u32()
                            if s.firstTable == nil {
                                s.firstTable = t
                            } else if s.firstTable != t {
                                s.moreTables = true
                            }
                            table = t
                            break
                        }
                        if depth > 0 {
                            // Stats' reading of a flow's table: the last valid TABLE, else 0,
                            // without failing on what follows the first (the line's reading).
                            if table != nil {
                                while let x = try? fields.next() {
                                    if x.type == NFL.FlowAttr.table, let t = try? x.u32() { table = t }
                                }
                            }
                            let t = table ?? 0
                            if s.flowCount == 1 {
                                s.flowTable = t
                            } else if t != s.flowTable {
                                s.flowTablesMixed = true
                            }
                        }
                    }
                }
            default: break
            }
        }
    }

    static func walkHairpin(_ it: AttributeIterator, into s: inout MessageSummary) throws(DecodeError) {
        var it = it
        var encaps = 0
        while let a = try it.next() {
            guard a.type == NFLH.Attr.encap else { continue }
            encaps += 1
            if encaps > 1 { s.flowsIrregular = true }
            // The one ENCAP reader: a malformed ENCAP makes the message malformed.
            let h = try EncapHeader(a)
            s.apiCommand = UInt8(truncatingIfNeeded: h.command)
            if let v = h.status { s.status = Int32(bitPattern: v) }
            s.encapSeq = h.sequence
            if let v = h.part { s.part = v }
            if h.more { s.more = true }
            if let x = h.errorMessage { s.textRange = x.payloadOffset..<(x.payloadOffset + x.payload.count) }
            if let x = h.results {
                var r = x.nested()
                while let one = try r.next() {
                    s.resultCount += 1
                    var f = one.nested()
                    var index: UInt32 = 0, errno: UInt32 = 0
                    while let y = try f.next() {
                        if y.type == NFLH.ResultAttr.errno {
                            errno = try y.u32()
                            if errno != 0 {
                                s.failedResults += 1
                                if errno == Errno.ECANCELED { s.canceledResults += 1 }
                            }
                        } else if y.type == NFLH.ResultAttr.index {
                            index = (try? y.u32()) ?? 0
                        }
                    }
                    if errno == 0 {
                        s.okResults += 1
                        s.okResultMaxIndex = max(s.okResultMaxIndex, index)
                    }
                }
            }
            let inner = h.attributes
            if let inner {
                // Requests carry no STATUS: that decides the FLOWS layout, as on the wire.
                try walkAPI(
                    inner.nested(), command: s.apiCommand ?? 0xff, isRequest: s.status == nil, into: &s, depth: 1)
            }
        }
    }
}

/// Why a message is malformed, without strings: every case is made of integers so that
/// MessageSummary stays a plain-data type. `text` gives the words.
enum MalformedReason {
    case shortRecord(Int)
    case lengthMismatch(Int, Int)
    case noGenericHeader
    case shortError
    /// An attribute walk's error (the only reasons AttributeIterator and the fixed-size
    /// getters throw); its description is rebuilt from these.
    case trailingBytes(Int, offset: Int)
    case attributeLength(UInt16, offset: Int)
    case payloadLength(expectedBytes: Int, got: Int, offset: Int)
    /// An error of the ENCAP reader (EncapHeader) inside the ENCAP nest.
    case encap(EncapFault, offset: Int)
    /// Any other decode error: only its offset is kept.
    case other(offset: Int)

    enum EncapFault {
        /// An attribute of the wrong size: its type, expectedTexts' index, the size it has.
        case size(UInt16, expected: Int, got: Int)
        case repeated(UInt16)
        case unknown(UInt16)
        case missing(UInt16)
    }

    init(_ e: DecodeError) {
        switch e.reason {
        case let .trailingBytes(n) where e.path.isEmpty: self = .trailingBytes(n, offset: e.offset)
        case let .badAttributeLength(l) where e.path.isEmpty: self = .attributeLength(l, offset: e.offset)
        case let .payloadLength(expected, got) where e.path.isEmpty:
            if let i = Self.expectedTexts.firstIndex(of: expected) {
                self = .payloadLength(expectedBytes: i, got: got, offset: e.offset)
            } else {
                self = .other(offset: e.offset)
            }
        case let .payloadLength(expected, got) where e.path.count == 1:
            if let i = Self.expectedTexts.firstIndex(of: expected), let t = Self.encapType(e.path[0]) {
                self = .encap(.size(t, expected: i, got: got), offset: e.offset)
            } else {
                self = .other(offset: e.offset)
            }
        case let .repeatedAttribute(name) where e.path.isEmpty:
            self = Self.encapType(name).map { .encap(.repeated($0), offset: e.offset) } ?? .other(offset: e.offset)
        case let .missingAttribute(name) where e.path.isEmpty:
            self = Self.encapType(name).map { .encap(.missing($0), offset: e.offset) } ?? .other(offset: e.offset)
        case let .unknownAttribute(t) where e.path.isEmpty: self = .encap(.unknown(t), offset: e.offset)
        default: self = .other(offset: e.offset)
        }
    }

    static func encapType(_ name: String) -> UInt16? {
        NFLH.EncapAttr.names.first { $0.value == name }?.key
    }

    static func encapName(_ type: UInt16) -> String { NFLH.EncapAttr.names[type] ?? "type \(type)" }

    /// What the fixed-size getters of Attribute (and EncapHeader for MORE) say they expected.
    static let expectedTexts = ["1 (u8)", "2 (u16)", "4 (u32)", "8 (u64)", "0 (flag)"]

    var text: String {
        switch self {
        case let .shortRecord(n): return "\(n) bytes, shorter than a netlink header"
        case let .lengthMismatch(len, n): return "nlmsg_len \(len) does not fit the \(n)-byte record"
        case .noGenericHeader: return "no genl header"
        case .shortError: return "NLMSG_ERROR shorter than its echoed header"
        case let .trailingBytes(n, offset): return DecodeError(.trailingBytes(n), at: offset).description
        case let .attributeLength(l, offset): return DecodeError(.badAttributeLength(l), at: offset).description
        case let .payloadLength(i, got, offset):
            return DecodeError(.payloadLength(expected: Self.expectedTexts[i], got: got), at: offset).description
        case let .encap(fault, offset):
            let reason: DecodeError
            switch fault {
            case let .size(t, i, got):
                reason = DecodeError(.payloadLength(expected: Self.expectedTexts[i], got: got), at: offset)
                    .within(Self.encapName(t))
            case let .repeated(t): reason = DecodeError(.repeatedAttribute(Self.encapName(t)), at: offset)
            case let .unknown(t): reason = DecodeError(.unknownAttribute(t), at: offset)
            case let .missing(t): reason = DecodeError(.missingAttribute(Self.encapName(t)), at: offset)
            }
            return reason.within("ENCAP").description
        case let .other(offset): return "malformed attributes at byte \(offset)"
        }
    }
}

extension MessageSummary {
    /// The missing-attribute extended ack in words: "missing attribute 2", with "in the nest
    /// at byte N" when it is not missing from the top level; nil when there is none.
    public var missingText: String? {
        guard missingType != 0 else { return nil }
        return "missing attribute \(missingType)" + (missingNest != 0 ? " in the nest at byte \(missingNest)" : "")
    }

    /// The error text (ERROR_MSG or extended ack) from the message bytes.
    public func text(in bytes: UnsafeRawBufferPointer) -> String? {
        guard let r = textRange, r.upperBound <= bytes.count else { return nil }
        var slice = UnsafeRawBufferPointer(rebasing: bytes[r])
        if let last = slice.last, last == 0 { slice = UnsafeRawBufferPointer(rebasing: slice.dropLast()) }
        return String(decoding: slice, as: UTF8.self)
    }

    public var apiCommandName: String? {
        apiCommand.map { NFL.Command(rawValue: $0)?.name ?? "cmd \($0)" }
    }

    /// The part after the command on a trace line: "64 flows table 2", "table 3", "5 tables".
    public var detail: String {
        var parts: [String] = []
        if let t = selectorTable { parts.append("table \(t)") }
        if hasFlows {
            var f = "\(flowCount) flow\(flowCount == 1 ? "" : "s")"
            if let t = firstTable { f += moreTables ? " tables \(t),…" : " table \(t)" }
            parts.append(f)
        }
        if elementCount > 0 {
            let noun: String
            switch apiCommand {
            case 0: noun = "table"
            case 1: noun = "header"
            case 2: noun = "action"
            default: noun = "node"
            }
            parts.append("\(elementCount) \(noun)\(elementCount == 1 ? "" : "s")")
        }
        if resultCount > 0 { parts.append("\(resultCount - failedResults)/\(resultCount) applied") }
        if let p = part { parts.append("part \(p)\(more ? "+" : "")") }
        return parts.joined(separator: " ")
    }
}
