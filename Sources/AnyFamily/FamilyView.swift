// What `flowtrace show` adds for the families other than our two: the line's text, the JSON
// members and the -V tree of each message, and the family and operation of the call an ACK,
// error or DONE answers. The specs are loaded on first need, so a trace of our families alone
// costs nothing more.

import FlowTrace
import LibFlowTable
import YNL

public struct FamilyView {
    /// Loads its specs on first need (FamilyCatalog(load:)).
    public let catalog: FamilyCatalog

    public init(catalog: FamilyCatalog) { self.catalog = catalog }

    /// Whether the message is one this view describes: another family's, or another protocol's.
    public static func describes(_ s: MessageSummary, _ e: CallEvent) -> Bool {
        // nlctrl's calls keep FlowTrace's own text (TraceLine).
        s.kind == .other
            || ((e.role == .familyRequest || e.role == .familyAnswer) && s.kind != .controller
                && !(e.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric && e.requestType == Controller.familyID))
    }

    /// The family and operation of the call an answer belongs to (or, for an ACK/error of no
    /// known call, of the request type it echoes).
    public func callNames(_ s: MessageSummary, _ e: CallEvent, families: FamilyTable) -> (
        family: String, operation: String
    )? {
        guard s.kind == .ack || s.kind == .error || s.kind == .done else { return nil }
        if e.role == .familyAnswer && e.call > 0 {
            let generic = e.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric
            let key = FamilyOperationKey(
                netlinkProtocol: e.netlinkProtocol, family: generic ? families.name(forID: e.requestType) : nil,
                type: e.requestType, command: generic ? e.requestCommand : 0)
            return catalog.names(key, request: true)
        }
        if s.netlinkProtocol != NetlinkPseudoHeader.protocolGeneric, s.kind != .done {
            let key = FamilyOperationKey(netlinkProtocol: s.netlinkProtocol, family: nil, type: s.familyID, command: 0)
            return catalog.names(key, request: true)
        }
        return nil
    }

    /// The text that replaces "family 0x… cmd N" on the line, or follows ACK/ERROR/DONE.
    public func lineText(_ record: TraceRecord, _ s: MessageSummary, _ e: CallEvent, families: FamilyTable)
        -> String?
    {
        if s.kind == .other {
            return first(record, families: families).map(FamilyText.line)
        }
        return callNames(s, e, families: families).map { "\($0.family) \($0.operation)" }
    }

    /// JSON members for the message's line.
    public func jsonMembers(_ record: TraceRecord, _ s: MessageSummary, _ e: CallEvent, families: FamilyTable)
        -> [JSONMember]
    {
        var o: [JSONMember] = []
        if s.netlinkProtocol != NetlinkPseudoHeader.protocolGeneric {
            o.append(JSONMember("protocol", .number(UInt32(s.netlinkProtocol))))
        }
        if s.kind == .other, let d = first(record, families: families) {
            o += FamilyText.members(d)
        } else if let n = callNames(s, e, families: families) {
            o.append(JSONMember("call_family", .string(n.family)))
            o.append(JSONMember("call_op", .string(n.operation)))
        }
        if s.kind == .error, let st = s.status { o.append(JSONMember("errno", .string(Errno.display(st)))) }
        return o
    }

    /// The record's first message decoded (nil: a control message or one of our families').
    public func first(_ record: TraceRecord, families: FamilyTable) -> FamilyCatalog.Decoded? {
        var it = NetlinkMessageIterator(record.netlink)
        guard let m = try? it.next() else { return nil }
        return catalog.decode(m, protocol: record.netlinkProtocol, families: families)
    }

    /// The -V tree of one message of another family: nil when it is not one (the caller's
    /// typed decoders handle ours, the control messages and nlctrl).
    public func tree(_ m: NetlinkMessageView, protocol p: UInt16, families: FamilyTable) -> [JSONMember]? {
        guard let d = catalog.decode(m, protocol: p, families: families) else { return nil }
        var o = FamilyText.members(d)
        if case .noSpec = d {
            o.append(JSONMember("attrs", Self.rawAttributes(m, generic: p == NetlinkPseudoHeader.protocolGeneric)))
        }
        return o
    }

    /// A message without a spec: its top-level attributes by number (type, length, bytes in hex).
    static func rawAttributes(_ m: NetlinkMessageView, generic: Bool) -> JSONValue {
        let skip = generic ? Netlink.genericHeaderLength : 0
        guard m.payload.count >= skip else { return .array([]) }
        var it = AttributeIterator(
            UnsafeRawBufferPointer(rebasing: m.payload[skip...]), baseOffset: Netlink.headerLength + skip)
        var out: [JSONValue] = []
        // Other protocols put a fixed header before their attributes, whose size only a spec knows.
        while generic, let a = try? it.next() {
            out.append(
                .object([
                    JSONMember("type", .number(UInt32(a.type))), JSONMember("len", .number(UInt32(a.payload.count))),
                    JSONMember("hex", .string(FamilyText.hex(Array(a.payload.prefix(64))))),
                ]))
        }
        if !generic {
            out.append(.object([JSONMember("payload_hex", .string(FamilyText.hex(Array(m.payload.prefix(256)))))]))
        }
        return .array(out)
    }
}
