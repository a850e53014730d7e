// fuzz-encap: arbitrary bytes as one packet arriving at the daemon's hairpin listener
// (ListenerLoop → EncapAssembler → HairpinService → a backend, with the default model). The
// transport is an in-memory one (the bytes under test go in, answers come out); everything else
// is the daemon's own code. Handling must never trap or hang. The oracle:
// * every message the listener sends is one well-formed hairpin ENCAP answer: it decodes
//   strictly, carries STATUS, and its SEQ is the SEQ of an ENCAP in the packet;
// * the same packet gives byte-identical answers on all four backends (spec/backend-contract.md:
//   results, errnos and the order of flows do not depend on the backend).
import FuzzSupport
import Hairpin
import LibFlowTable

/// Hands out one packet, then reports the connection closed; keeps what is sent.
final class OnePacketTransport: MessageTransport {
    var packet: [UInt8]?
    var sent: [[UInt8]] = []

    init(_ packet: [UInt8]) { self.packet = packet }

    func send(_ packet: UnsafeRawBufferPointer) throws(TransportError) { sent.append([UInt8](packet)) }

    func receive(into buffer: inout [UInt8], timeout: Double?) throws(TransportError) -> Int {
        guard let p = packet else { throw .closed }
        packet = nil
        guard p.count <= buffer.count else { throw .truncated(p.count) }
        buffer.withUnsafeMutableBytes { dst in p.withUnsafeBytes { dst.copyMemory(from: $0) } }
        return p.count
    }

    var fileDescriptor: Int32 { -1 }
    func close() {}
}

@main
enum EncapFuzz: FuzzTarget {
    static let name = "fuzz-encap"
    /// The twin's nfl_hairpin family id, which the seed corpus uses.
    static let familyID = UnftTwin.Configuration().hairpinFamilyID
    /// One service per backend, built once (indexing the model for validation is most of the
    /// cost of a fresh one); every device is forgotten after each input, so each input starts
    /// from empty devices exactly as with a fresh service.
    static let services: [(BackendKind, HairpinService)] = BackendKind.allCases.map {
        ($0, HairpinService(devices: DeviceRegistry(model: DefaultModel.model, backend: $0, maxDevices: 8)))
    }

    static func run(_ input: UnsafeRawBufferPointer) {
        let packet = [UInt8](input)
        let sequences = encapSequences(input)
        var reference: (BackendKind, [[UInt8]])?
        for (kind, service) in services {
            defer { for ifindex in service.devices.ifindexes { service.devices.remove(ifindex) } }
            let transport = OnePacketTransport(packet)
            let loop = ListenerLoop(
                transport: transport, familyID: familyID, service: service,
                receiveBufferSize: packet.count, log: { _ in })
            loop.pollInterval = nil
            do throws(ListenerError) {
                let reason = try loop.run()
                Fuzz.check(reason == .closed, "the listener stopped for another reason than the transport closing")
            } catch {
                Fuzz.fail("the listener failed on an in-memory transport: \(error)")
            }
            for bytes in transport.sent { checkAnswer(bytes, sequences: sequences) }
            if let (first, answers) = reference {
                Fuzz.check(
                    answers == transport.sent,
                    "backends \(first) and \(kind) answer differently\n\(first): \(describe(answers))\n\(kind): \(describe(transport.sent))"
                )
            } else {
                reference = (kind, transport.sent)
            }
        }
    }

    static func describe(_ answers: [[UInt8]]) -> String {
        answers.map { a in (try? HairpinMessage.decode(a)).map { "\($0)" } ?? "undecodable \(a)" }.joined(
            separator: "\n")
    }

    static func checkAnswer(_ bytes: [UInt8], sequences: Set<UInt64>) {
        let m: HairpinMessage
        do throws(DecodeError) { m = try HairpinMessage.decode(bytes, familyID: familyID) } catch {
            Fuzz.fail("the listener sent a message that does not decode: \(error)\n\(bytes)")
        }
        Fuzz.check(m.command == NFLH.Command.encap.rawValue, "the listener sent command \(m.command), not ENCAP")
        guard let e = m.encap else { Fuzz.fail("the listener sent an ENCAP without the ENCAP nest: \(m)") }
        Fuzz.check(e.status != nil, "the listener sent an answer without STATUS: \(e)")
        Fuzz.check(sequences.contains(e.sequence), "the listener answered SEQ \(e.sequence), which no request carried")
    }

    /// Every SEQ attribute of an ENCAP nest in the packet, read leniently (the listener answers
    /// malformed requests whose SEQ it can read).
    static func encapSequences(_ packet: UnsafeRawBufferPointer) -> Set<UInt64> {
        var out: Set<UInt64> = []
        var messages = NetlinkMessageIterator(packet)
        while let m = try? messages.next() {
            guard let (_, top) = try? m.generic() else { continue }
            var attributes = top
            while let a = try? attributes.next() {
                guard a.type == NFLH.Attr.encap else { continue }
                var inner = a.nested()
                while let e = try? inner.next() {
                    if e.type == NFLH.EncapAttr.seq, let s = try? e.u64() { out.insert(s) }
                }
            }
        }
        return out
    }
}
