// A normalised message as JSON for people: the extended libflow-table JSON of its attributes
// under the netlink and genl header fields that survive normalisation. Used only for the
// divergence report, so it may allocate as it likes.

import LibFlowTable

package enum MessageJSON {
    /// One normalised message (family ids canonical, seq and port 0).
    static func json(_ message: [UInt8]) -> JSONValue {
        message.withUnsafeBytes { json($0) }
    }

    static func json(_ raw: UnsafeRawBufferPointer) -> JSONValue {
        guard let h = NetlinkHeader(peeking: raw) else {
            return .object([
                JSONMember("undecodable", .string("\(raw.count) bytes, shorter than a netlink header")),
                JSONMember("hex", .string(Hex.encode(raw))),
            ])
        }
        var node: [JSONMember] = [
            JSONMember("nlmsg_len", .number(h.length)),
            JSONMember("nlmsg_type", .string(typeName(h.type))),
            JSONMember("nlmsg_flags", .string(flagNames(h.flags, type: h.type))),
        ]
        do {
            let view = try NetlinkMessageView.single(raw)
            switch h.type {
            case Normalizer.canonicalFlowTableID:
                node += members(try FlowTableMessage.decode(view, requireShape: false))
            case Normalizer.canonicalHairpinID:
                node += members(try HairpinMessage.decode(view), errnoNames: true)
            case Netlink.typeError:
                let ack = try NetlinkAck.decode(view)
                node.append(JSONMember("error", .int(Int64(ack.error))))
                if ack.error != 0 { node.append(JSONMember("errno", .string(Errno.display(0 &- ack.error)))) }
                node.append(
                    JSONMember(
                        "request",
                        .object([
                            JSONMember("nlmsg_len", .number(ack.request.length)),
                            JSONMember("nlmsg_type", .string(typeName(ack.request.type))),
                            JSONMember("nlmsg_flags", .string(flagNames(ack.request.flags, type: ack.request.type))),
                        ])))
                if let t = ack.message { node.append(JSONMember("message", .string(t))) }
            case Netlink.typeDone:
                break
            default:
                node.append(JSONMember("hex", .string(Hex.encode(raw))))
            }
        } catch {
            node.append(JSONMember("undecodable", .string("\(error)")))
            node.append(JSONMember("hex", .string(Hex.encode(raw))))
        }
        return .object(node)
    }

    /// A Flow Table API message's members: its command's name and the extended JSON of its
    /// attributes (also `flowtrace show --tree`).
    package static func members(_ m: FlowTableMessage) -> [JSONMember] {
        [JSONMember("cmd", .string(m.knownCommand?.name ?? "\(m.command)"))]
            + (m.attributes.extendedJSON().members ?? [])
    }

    /// A hairpin message's members: its command's name, LISTENER, ENCAP; `errnoNames` adds the
    /// errno's name beside a non-zero STATUS.
    package static func members(_ m: HairpinMessage, errnoNames: Bool) -> [JSONMember] {
        var node = [JSONMember("cmd", .string(m.knownCommand?.name ?? "\(m.command)"))]
        if let l = m.listener {
            var o: [JSONMember] = [JSONMember("type", .number(l.type))]
            if let p = l.port { o.append(JSONMember("port", .number(p))) }
            node.append(JSONMember("listener", .object(o)))
        }
        if let e = m.encap { node.append(JSONMember("encap", encapJSON(e, errnoNames: errnoNames))) }
        return node
    }

    static func encapJSON(_ e: HairpinEncap, errnoNames: Bool) -> JSONValue {
        var o: [JSONMember] = [
            JSONMember("cmd_type", .number(e.commandType)),
            JSONMember(
                "cmd", .string(UInt8(exactly: e.command).flatMap(NFL.Command.init(rawValue:))?.name ?? "\(e.command)")),
        ]
        if let s = e.status {
            o.append(JSONMember("status", .number(s)))
            if errnoNames && s != 0 {
                o.append(JSONMember("errno", .string(Errno.display(Int32(truncatingIfNeeded: s)))))
            }
        }
        o.append(JSONMember("seq", .number(e.sequence)))
        if let p = e.part { o.append(JSONMember("part", .number(p))) }
        if e.more { o.append(JSONMember("more", .bool(true))) }
        if let t = e.errorMessage { o.append(JSONMember("error_msg", .string(t))) }
        if let r = e.results {
            o.append(
                JSONMember(
                    "results",
                    .array(
                        r.map {
                            .object([JSONMember("index", .number($0.index)), JSONMember("errno", .number($0.errno))])
                        })))
        }
        if let a = e.attributes { o.append(JSONMember("attr", a.extendedJSON())) }
        return .object(o)
    }

    static func typeName(_ t: UInt16) -> String {
        switch t {
        case Netlink.typeNoop: return "NLMSG_NOOP"
        case Netlink.typeError: return "NLMSG_ERROR"
        case Netlink.typeDone: return "NLMSG_DONE"
        case Netlink.typeOverrun: return "NLMSG_OVERRUN"
        case Controller.familyID: return "nlctrl"
        case Normalizer.canonicalFlowTableID: return NFL.familyName
        case Normalizer.canonicalHairpinID: return NFLH.familyName
        default: return "type \(t)"
        }
    }

    static func flagNames(_ f: UInt16, type: UInt16) -> String {
        var names: [String] = []
        let common: [(UInt16, String)] = [
            (Netlink.flagRequest, "REQUEST"), (Netlink.flagMulti, "MULTI"),
            (Netlink.flagAck, "ACK"), (Netlink.flagEcho, "ECHO"),
        ]
        var left = f
        for (bit, name) in common where f & bit != 0 {
            names.append(name)
            left &= ~bit
        }
        if type == Netlink.typeError {
            for (bit, name) in [(Netlink.flagCapped, "CAPPED"), (Netlink.flagAckTLVs, "ACK_TLVS")] where f & bit != 0 {
                names.append(name)
                left &= ~bit
            }
        }
        if left != 0 { names.append("0x" + String(left, radix: 16)) }
        return names.isEmpty ? "0" : names.joined(separator: "|")
    }
}
