// The byte-level answers to the five discovery getters (GET_TABLES, GET_HEADERS, GET_ACTIONS,
// GET_HEADER_GRAPH, GET_TABLE_GRAPH). The model answers them, not the backend, so they are the
// same for every backend, and a device's answer to one getter is the same bytes every time but
// for the two sequence numbers: HairpinService.respond builds STATUS 0, ATTR{preamble, the
// model's part} from the device's immutable model. The typed path decoded the request into a
// HairpinEncap and encoded the model's part again on each call (hundreds of attributes for the
// default model's tables); here the answer is encoded once per (device, getter) by the real
// encoder, exactly as ListenerLoop.encode does, and only SEQ and nlmsg_seq are patched in.
//
// Accepted (ByteService.readCall, then `answer` below): one ENCAP request whose ATTR holds
// IDENTIFIER_TYPE = IFINDEX and IDENTIFIER, once each, u32, and nothing else, for a device the
// registry has or creates (the same call, under the service's lock, as the typed path). Anything
// else — another attribute in ATTR, another identifier type, no device (ENODEV), an answer too
// big for one message (the listener would send parts) or one that cannot be encoded (EMSGSIZE),
// injected faults — is declined having changed nothing, and the typed path answers it.
// Tests/HairpinTests/DiscoveryTemplateTests.swift compares both paths byte for byte.
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct DiscoveryTemplates {
    /// GET_TABLES … GET_TABLE_GRAPH are commands 0 … 4.
    static let lastCommand = UInt32(NFL.Command.getTableGraph.rawValue)
    static let maxDevices = 256

    /// One device's five answers. A class: patching the bytes in place needs no copy.
    final class Entry {
        let device: DeviceState
        /// By command. sequenceOffset 0: not built yet; -1: the typed path's (too big for one
        /// message, or not encodable).
        var answers: [AnswerTemplate] = Array(repeating: AnswerTemplate(), count: 5)

        init(device: DeviceState) { self.device = device }
    }

    private var entries: [UInt32: Entry] = [:]
    /// The entry of the previous call: calls mostly go to one device.
    private var last: Entry?

    /// Answers the getter `command` (≤ lastCommand) with `attributes` (ATTR's payload) through
    /// `body` and returns the ifindex, or returns nil having changed nothing.
    mutating func answer(
        command: UInt32, sequence: UInt64, attributes: UnsafeRawBufferPointer,
        service: HairpinService, familyID: UInt16, nlmsgSequence: UInt32,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> UInt32? {
        var idType: UInt32?, ifindexRead: UInt32?
        let read = RawAttributes.walk(attributes) { type, payload in
            switch type {
            case NFL.Attr.identifierType where idType == nil: idType = RawAttributes.u32(payload); return idType != nil
            case NFL.Attr.identifier where ifindexRead == nil:
                ifindexRead = RawAttributes.u32(payload); return ifindexRead != nil
            default: return false  // a repeat, anything else (the typed path decides those)
            }
        }
        guard read, idType == NFL.IdentifierType.ifindex, let ifindex = ifindexRead else { return nil }
        let k = Int(command)

        service.lock.lock()
        guard let device = service.devices.state(for: ifindex) else {
            service.lock.unlock()
            return nil
        }
        let entry: Entry
        if let e = last, e.device === device {
            entry = e
        } else if let e = entries[ifindex], e.device === device {
            entry = e
            last = e
        } else {
            // New device, or a device forgotten and created again (its model may differ).
            if entries.count >= Self.maxDevices { entries.removeAll(keepingCapacity: true) }
            entry = Entry(device: device)
            entries[ifindex] = entry
            last = entry
        }
        if entry.answers[k].sequenceOffset == 0 {
            entry.answers[k] =
                Self.template(command: command, device: device, familyID: familyID)
                ?? AnswerTemplate(bytes: [], sequenceOffset: -1)
        }
        guard entry.answers[k].sequenceOffset > 0 else {
            service.lock.unlock()
            return nil
        }
        service.countFastGetter(command: command)
        service.lock.unlock()

        entry.answers[k].send(nlmsgSequence: nlmsgSequence, sequence: sequence, body)
        return ifindex
    }

    /// The typed path's answer (HairpinService.respond) to getter `command` for `device`,
    /// encoded as ListenerLoop.encode does; nil when the listener would not send it as one
    /// message.
    static func template(command: UInt32, device: DeviceState, familyID: UInt16) -> AnswerTemplate? {
        guard command <= lastCommand, let byte = UInt8(exactly: command), let cmd = NFL.Command(rawValue: byte) else {
            return nil
        }
        var out = FlowTableAttributes(identifierType: NFL.IdentifierType.ifindex, identifier: device.ifindex)
        device.addModelPart(for: cmd, to: &out)
        var answer = HairpinEncap(commandType: NFLH.EncapCmdType.nflCommand, command: command, status: 0, sequence: 0)
        answer.attributes = out
        return AnswerTemplate(answer, familyID: familyID)
    }
}
