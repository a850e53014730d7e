// Generic netlink family ids are dynamic: the same family gets another id after a module
// reload or on another machine, and the twin uses its own. A trace names them the way the
// kernel does, with nlctrl CTRL_CMD_NEWFAMILY messages (the recorder writes one per family
// at the start of every file), and this table learns them as records stream past, so a
// decoder can tell which family a message belongs to.

import LibFlowTable

/// What a netlink message's nlmsg_type stands for.
public enum MessageFamily: Hashable, Sendable {
    /// NLMSG_NOOP/ERROR/DONE/OVERRUN (types below 0x10).
    case control(UInt16)
    /// nlctrl, 0x10.
    case controller
    /// net_flow_nl.
    case flowTable
    /// nfl_hairpin.
    case hairpin
    /// Another family the trace named.
    case other(String)
    /// An id no NEWFAMILY has named (yet).
    case unknown(UInt16)
}

public struct FamilyTable: Hashable, Sendable {
    private var byID: [UInt16: Controller.Family] = [:]
    private var idByName: [String: UInt16] = [:]
    /// Our two families' ids (0 = not named yet; real ids are ≥ 0x10), so `kind(ofType:)`
    /// answers for almost every message without hashing and without comparing names.
    private var flowTableIDCache: UInt16 = 0
    private var hairpinIDCache: UInt16 = 0

    public init() {}

    public init(_ families: [Controller.Family]) {
        for f in families { insert(f) }
    }

    /// Every family known, by id.
    public var families: [Controller.Family] { byID.keys.sorted().compactMap { byID[$0] } }

    /// Adds or replaces a family. A name seen again with a new id (the module was reloaded)
    /// forgets the old id; an id reused by another name forgets the old name.
    public mutating func insert(_ f: Controller.Family) {
        if let oldID = idByName[f.name], oldID != f.id { byID[oldID] = nil }
        if let old = byID[f.id], old.name != f.name { idByName[old.name] = nil }
        byID[f.id] = f
        idByName[f.name] = f.id
        flowTableIDCache = idByName[NFL.familyName] ?? 0
        hairpinIDCache = idByName[NFLH.familyName] ?? 0
    }

    /// Learns from every CTRL_CMD_NEWFAMILY message in the record; returns how many it read.
    /// Malformed nlctrl messages are ignored: they teach nothing, and the record itself is
    /// someone else's to judge. Cheap for all other records: one header load per message.
    @discardableResult
    public mutating func learn(from record: TraceRecord) -> Int {
        guard record.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric else { return 0 }
        return learn(fromNetlink: record.netlink)
    }

    /// False when the record certainly teaches nothing: a single message that is not nlctrl
    /// (almost every record). Lets a reader skip the mutating call, and its exclusivity check.
    @inline(__always)
    static func mayTeach(_ record: TraceRecord) -> Bool {
        record.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric && mayTeach(netlink: record.netlink)
    }

    @inline(__always)
    static func mayTeach(_ record: RecordCore) -> Bool {
        record.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric && mayTeach(netlink: record.netlink)
    }

    @inline(__always)
    static func mayTeach(netlink bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count >= Netlink.headerLength, let base = bytes.baseAddress {
            let length = Int(base.loadUnaligned(as: UInt32.self))
            let type = base.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
            if type != Controller.familyID && Netlink.align(length) >= bytes.count { return false }
        }
        return true
    }

    @discardableResult
    public mutating func learn(fromNetlink bytes: UnsafeRawBufferPointer) -> Int {
        guard Self.mayTeach(netlink: bytes) else { return 0 }
        var learnt = 0
        var it = NetlinkMessageIterator(bytes)
        while true {
            guard let m = try? it.next() else { break }
            guard m.header.type == Controller.familyID, m.payload.count >= Netlink.genericHeaderLength,
                m.payload[0] == Controller.Command.newFamily,
                let f = try? Controller.decodeFamily(m)
            else { continue }
            insert(f)
            learnt += 1
        }
        return learnt
    }

    public func name(forID id: UInt16) -> String? {
        id == Controller.familyID ? "nlctrl" : byID[id]?.name
    }

    public func id(forName name: String) -> UInt16? {
        name == "nlctrl" ? Controller.familyID : idByName[name]
    }

    public func family(forID id: UInt16) -> Controller.Family? { byID[id] }

    public var flowTableID: UInt16? { idByName[NFL.familyName] }
    public var hairpinID: UInt16? { idByName[NFLH.familyName] }

    /// `kind(ofType:)` without the names: a plain-data answer for the per-record paths
    /// (MessageFamily carries a String, so each answer was copied and destroyed out of line).
    enum FastKind { case control, controller, flowTable, hairpin, other }

    @inline(__always)
    func fastKind(ofType type: UInt16) -> FastKind {
        if type < Netlink.minFamilyType { return .control }
        if type == Controller.familyID { return .controller }
        if type == hairpinIDCache { return .hairpin }
        if type == flowTableIDCache { return .flowTable }
        guard let f = byID[type] else { return .other }
        switch f.name {
        case NFL.familyName: return .flowTable
        case NFLH.familyName: return .hairpin
        default: return .other
        }
    }

    /// What a nlmsg_type is, as far as the trace has said.
    @inline(__always)
    public func kind(ofType type: UInt16) -> MessageFamily {
        if type < Netlink.minFamilyType { return .control(type) }
        if type == Controller.familyID { return .controller }
        if type == hairpinIDCache { return .hairpin }
        if type == flowTableIDCache { return .flowTable }
        guard let f = byID[type] else { return .unknown(type) }
        switch f.name {
        case NFL.familyName: return .flowTable
        case NFLH.familyName: return .hairpin
        default: return .other(f.name)
        }
    }

    /// The record's leg: as recorded, else from its first message's family. ACKs, errors and
    /// nlctrl messages alone do not tell, and stay .unknown.
    public func leg(of record: TraceRecord) -> TraceLeg {
        leg(of: RecordCore(record))
    }

    @inline(__always)
    func leg(of record: RecordCore) -> TraceLeg {
        if record.leg != .unknown { return record.leg }
        guard record.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric,
            record.netlink.count >= Netlink.headerLength, let base = record.netlink.baseAddress
        else { return .unknown }
        switch fastKind(ofType: base.loadUnaligned(fromByteOffset: 4, as: UInt16.self)) {
        case .flowTable: return .api
        case .hairpin: return .hairpin
        default: return .unknown
        }
    }
}
