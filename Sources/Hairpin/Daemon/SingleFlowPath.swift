// The fast path for the call a replay sees most: a SET_FLOWS or DEL_FLOWS of one flow that
// succeeds. It answers straight from the request's bytes, without the HairpinMessage /
// HairpinEncap values, the batch machinery or the answer encoder:
//
//   * the ENCAP nest is read in place (CMD_TYPE, CMD, SEQ, ATTR, nothing else, each once);
//   * only ATTR goes through the typed decoder (FlowTableAttributes.decode, the very call the
//     typed path makes), since validation and the backend need the Flow (the hash backend
//     stores Flows: get-flows answers from them);
//   * validation and the backend are the typed path's (ValidationIndex.firstError, insert /
//     delete);
//   * the answer of a successful single-flow call is the same bytes for every call to a device
//     but for the two sequence numbers, so it is encoded once by the real encoder (a template per
//     command and ifindex) and only SEQ and nlmsg_seq are patched in.
//
// Anything else — more than one flow, no flow, PART/MORE, STATUS, an unknown attribute, a
// decoding error, a validation error, a backend refusal, injected faults — returns false
// without having changed anything, and the caller hands the request to the typed path
// (ListenerLoop → HairpinService.handle), which then gives the answer with its errno and text.
// A refused insert or delete leaves the hash backend as it was (it checks before it mutates), so
// the typed path sees the same state. Tests/HairpinTests/SingleFlowPathTests.swift runs both
// paths over generated workloads with errors and compares every answer byte for byte.
//
// Not for backends other than hash (the caller decides): a refused operation must have no side
// effect for the fallback to be exact, and that is checked here only for hash.
import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

public final class SingleFlowPath {
    public let service: HairpinService
    /// The family id the answers carry (the listener's).
    public let answerFamilyID: UInt16
    /// Calls answered here (the rest went to the typed path).
    public private(set) var answered = 0
    /// The ifindex of the call answered last.
    public private(set) var lastIfindex: UInt32 = 0

    private struct Template {
        var command: UInt32 = .max
        var ifindex: UInt32 = 0
        var bytes: [UInt8] = []
        /// Where SEQ's u64 payload is in `bytes`.
        var sequenceOffset = 0
    }
    // exclusivity(unchecked): one thread (the listener's or the replay's), as ListenerLoop.
    @exclusivity(unchecked) private var templates = [Template](repeating: Template(), count: 2)
    @exclusivity(unchecked) private var nlmsgSequence: UInt32 = 0

    public init(service: HairpinService, answerFamilyID: UInt16) {
        self.service = service
        self.answerFamilyID = answerFamilyID
    }

    private static let setCommand = UInt32(NFL.Command.setFlows.rawValue)
    private static let delCommand = UInt32(NFL.Command.delFlows.rawValue)

    /// Answers `request` (exactly one netlink message of family `requestFamilyID`) if it is a
    /// single-flow SET_FLOWS / DEL_FLOWS that succeeds: applies it, calls `body` with the
    /// answer (valid only during the call) and returns true. Otherwise changes nothing and
    /// returns false.
    public func answer(_ request: UnsafeRawBufferPointer, requestFamilyID: UInt16,
                       _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard service.faults == nil else { return false }
        var messages = NetlinkMessageIterator(request)
        guard let m = try? messages.next(), m.bytes.count == request.count, m.header.type == requestFamilyID,
              let (g, top) = try? m.generic(), g.command == NFLH.Command.encap.rawValue else { return false }
        // Exactly one top-level attribute, ENCAP.
        var attrs = top
        guard case .attribute(let encap) = Self.next(&attrs), encap.type == NFLH.Attr.encap,
              case .end = Self.next(&attrs) else { return false }
        var cmdType: UInt32?, cmd: UInt32?, seq: UInt64?, inner: Attribute?
        var it = encap.nested()
        reading: while true {
            let a: Attribute
            switch Self.next(&it) {
            case .attribute(let x): a = x
            case .end: break reading
            case .error: return false
            }
            switch a.type {
            case NFLH.EncapAttr.cmdType where cmdType == nil: cmdType = try? a.u32()
            case NFLH.EncapAttr.cmd where cmd == nil: cmd = try? a.u32()
            case NFLH.EncapAttr.seq where seq == nil: seq = try? a.u64()
            case NFLH.EncapAttr.attr where inner == nil: inner = a
            default: return false   // STATUS, PART, MORE, a repeat, anything unknown
            }
        }
        guard cmdType == NFLH.EncapCmdType.nflCommand, let cmd, let seq, let inner,
              cmd == Self.setCommand || cmd == Self.delCommand,
              let attributes = try? FlowTableCodec.decode(inner.nested(), layout: .list, depth: 2),
              attributes.identifierType == NFL.IdentifierType.ifindex, let ifindex = attributes.identifier,
              let flows = attributes.flows, flows.count == 1,
              ErrorStrategy.all.contains(attributes.errorStrategy ?? .abort) else { return false }
        let flow = flows[0]
        let isSet = cmd == Self.setCommand
        let k = isSet ? 0 : 1
        if templates[k].command != cmd || templates[k].ifindex != ifindex || templates[k].bytes.isEmpty {
            guard let t = Self.template(command: cmd, ifindex: ifindex, familyID: answerFamilyID) else { return false }
            templates[k] = t
        }

        pthread_mutex_lock(&service.lock)
        guard let device = service.devices.state(for: ifindex),
              device.index.firstError(in: flow, for: isSet ? .set : .del) == nil else {
            pthread_mutex_unlock(&service.lock)
            return false
        }
        let applied: Bool
        if isSet {
            applied = device.backend.insert(flow).errno == 0
        } else if case .success = device.backend.delete(table: flow.table, uid: flow.uid) {
            applied = true
        } else {
            applied = false
        }
        if applied { service.countSingleFlowSuccess(command: cmd) }
        pthread_mutex_unlock(&service.lock)
        guard applied else { return false }
        answered += 1
        lastIfindex = ifindex

        nlmsgSequence = nlmsgSequence == UInt32.max ? 1 : nlmsgSequence + 1
        let offset = templates[k].sequenceOffset
        let nlseq = nlmsgSequence
        templates[k].bytes.withUnsafeMutableBytes { b in
            b.storeBytes(of: nlseq, toByteOffset: 8, as: UInt32.self)
            b.storeBytes(of: seq, toByteOffset: offset, as: UInt64.self)
            body(UnsafeRawBufferPointer(b))
        }
        return true
    }

    private enum Step { case attribute(Attribute), end, error }

    /// The next attribute, the end, or an error (try? would merge the last two).
    @inline(__always)
    private static func next(_ it: inout AttributeIterator) -> Step {
        do throws(DecodeError) {
            guard let a = try it.next() else { return .end }
            return .attribute(a)
        } catch {
            return .error
        }
    }

    /// The typed path's answer to a successful single-flow call, encoded by the real encoder
    /// (as ListenerLoop.encode does), and where its SEQ is.
    private static func template(command: UInt32, ifindex: UInt32, familyID: UInt16) -> Template? {
        var answer = HairpinEncap(commandType: NFLH.EncapCmdType.nflCommand, command: command, status: 0, sequence: 0)
        answer.results = [FlowResult(index: 0, errno: 0)]
        answer.attributes = FlowTableAttributes(identifierType: NFL.IdentifierType.ifindex, identifier: ifindex)
        let message = HairpinMessage(
            header: NetlinkHeader(type: familyID, flags: Netlink.flagRequest | Netlink.flagAck, sequence: 0, port: 0),
            command: NFLH.Command.encap.rawValue, encap: answer)
        guard let bytes = try? message.encoded() else { return nil }
        let offset: Int? = bytes.withUnsafeBytes { raw in
            guard let m = try? NetlinkMessageView.single(raw), let (_, top) = try? m.generic() else { return nil }
            var attrs = top
            while case .attribute(let a) = next(&attrs) {
                guard a.type == NFLH.Attr.encap else { continue }
                var it = a.nested()
                while case .attribute(let e) = next(&it) {
                    if e.type == NFLH.EncapAttr.seq && e.payload.count == 8 { return e.payloadOffset }
                }
            }
            return nil
        }
        guard let offset else { return nil }
        return Template(command: command, ifindex: ifindex, bytes: bytes, sequenceOffset: offset)
    }
}
