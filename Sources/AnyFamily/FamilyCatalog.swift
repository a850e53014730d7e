// Every netlink family of a trace, named and decoded from the YNL specs loaded at run time
// (issue 16): the generic families by the names the trace's NEWFAMILY records give their ids,
// the netlink-raw families (rt-link, rt-addr, rt-route…) by their protocol and message type.
// A family without a spec is shown by number, never dropped; a message its spec cannot decode
// says where (attribute path and byte) and why.

import FlowTrace
import LibFlowTable
import Posix
import YNL

public final class FamilyCatalog: Sendable {
    enum Source {
        case loaded(YNLSpecLibrary)
        case pending(@Sendable () -> YNLSpecLibrary)
    }
    private let source: PosixLocked<Source>

    /// The spec library, indexed on first use: a trace of our two families and nlctrl's
    /// GETFAMILY (every recording) never needs it.
    public var library: YNLSpecLibrary {
        source.withLock { s in
            switch s {
            case .loaded(let l): return l
            case .pending(let load):
                let l = load()
                s = .loaded(l)
                return l
            }
        }
    }

    /// The specs are parsed when a message of their family is first decoded or named.
    public init(library: YNLSpecLibrary) { source = PosixLocked(.loaded(library)) }

    /// `load` indexes the spec path when a family first needs it.
    public init(load: @escaping @Sendable () -> YNLSpecLibrary) { source = PosixLocked(.pending(load)) }

    func genericDecoder(_ name: String) -> YNLDecoder? {
        guard let f = library.family(named: name), f.proto.isGeneric else { return nil }
        return YNLDecoder(f)
    }

    /// The netlink-raw family of protocol `p` that has an operation of message type `type`.
    func rawDecoder(_ p: UInt16, _ type: UInt16) -> YNLDecoder? {
        library.rawFamily(protocol: Int(p), type: type).map { YNLDecoder($0) }
    }

    /// The name of a protocol whose families have no spec loaded.
    public static func protocolName(_ p: UInt16) -> String {
        switch p {
        case 0: return "rtnetlink"
        case 4: return "sock_diag"
        case 6: return "xfrm"
        case 9: return "audit"
        case 12: return "nfnetlink"
        case 15: return "uevent"
        case NetlinkPseudoHeader.protocolGeneric: return "genetlink"
        default: return "netlink protocol \(p)"
        }
    }

    /// The decoder of a message: a generic family by id (its name from the trace), or a
    /// netlink-raw family by protocol and message type.
    public func decoder(protocol p: UInt16, type: UInt16, families: FamilyTable) -> YNLDecoder? {
        if p == NetlinkPseudoHeader.protocolGeneric {
            guard let name = families.name(forID: type) else { return nil }
            return genericDecoder(name)
        }
        return rawDecoder(p, type)
    }

    public func decoder(family name: String) -> YNLDecoder? { genericDecoder(name) }

    /// A family and operation as people name them: from the spec when there is one, else the
    /// NEWFAMILY name (or id) and the command number.
    public func names(_ key: FamilyOperationKey, request: Bool = true) -> (family: String, operation: String) {
        if key.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric {
            let family = key.family ?? "family 0x\(String(key.type, radix: 16))"
            if key.family == NFL.familyName, let c = NFL.Command(rawValue: key.command) { return (family, c.name) }
            // nlctrl's GETFAMILY, in every recording, is FlowTrace's own (TraceLine and the control
            // exchanges read it): named as its spec names it, without indexing the spec path.
            if key.type == Controller.familyID, key.command == Controller.Command.getFamily {
                return (family, "getfamily")
            }
            if let d = key.family.flatMap(genericDecoder),
                let op = d.family.operation(value: UInt16(key.command), request: request)
                    ?? d.family.operation(value: UInt16(key.command), request: !request)
            {
                return (family, op.name)
            }
            return (family, "cmd \(key.command)")
        }
        if let d = rawDecoder(key.netlinkProtocol, key.type),
            let op = d.family.operation(value: key.type, request: request)
                ?? d.family.operation(value: key.type, request: !request)
        {
            return (d.family.name, op.name)
        }
        return (Self.protocolName(key.netlinkProtocol), "type \(key.type)")
    }

    /// What a message of another family (not a control message, not our two) is.
    public enum Decoded {
        case decoded(YNLMessage)
        /// The spec could not decode it: the family and operation when known, and why.
        case failed(family: String, operation: String?, error: DecodeError)
        /// No spec: the family's name (from NEWFAMILY) or number, and the command or type.
        /// `generic`: `command` is the genl command; else the message type of another protocol.
        case noSpec(family: String, command: UInt16, generic: Bool)
    }

    /// Decodes the record's message `m` of protocol `p`; nil for control messages and our two
    /// families (the typed model's).
    public func decode(_ m: NetlinkMessageView, protocol p: UInt16, families: FamilyTable) -> Decoded? {
        let type = m.header.type
        guard type >= Netlink.minFamilyType else { return nil }
        if p == NetlinkPseudoHeader.protocolGeneric {
            switch families.kind(ofType: type) {
            case .flowTable, .hairpin, .control, .controller: return nil
            default: break
            }
        }
        let command: UInt16 =
            p == NetlinkPseudoHeader.protocolGeneric
            ? (m.payload.count >= 1 ? UInt16(m.payload[0]) : 0) : type
        guard let d = decoder(protocol: p, type: type, families: families) else {
            let family =
                p == NetlinkPseudoHeader.protocolGeneric
                ? families.name(forID: type) ?? "family 0x\(String(type, radix: 16))" : Self.protocolName(p)
            return .noSpec(family: family, command: command, generic: p == NetlinkPseudoHeader.protocolGeneric)
        }
        do {
            return .decoded(try d.decode(m))
        } catch {
            let op = d.family.operation(value: command, request: m.header.isRequest)?.name
            return .failed(family: d.family.name, operation: op, error: error)
        }
    }
}
