// fuzz-netlink: arbitrary bytes as a netlink packet, every message through every decoder of
// both families (Flow Table API, hairpin) plus NLMSG_ERROR and nlctrl NEWFAMILY. Decoding must
// end in a value or a DecodeError, never a trap. The oracles: the check-only walk
// (FlowTableMessage.check) gives the decoder's verdict and error; whatever decodes is encoded again
// and must decode to the same value (decode(encode(x)) == x, nlmsg_len aside), encoding that
// again must give the same bytes, and Flow Table attributes must survive FlowTrace's extended
// JSON (FlowTableAttributes(extendedJSON:)) unchanged.
import FuzzSupport
import LibFlowTable

@main
enum NetlinkFuzz: FuzzTarget {
    static let name = "fuzz-netlink"
    /// A packet holds at most this many messages worth looking at (bounds the work per input).
    static let maxMessages = 64

    static func run(_ packet: UnsafeRawBufferPointer) {
        var messages = NetlinkMessageIterator(packet)
        var n = 0
        while n < maxMessages, let m = try? messages.next() {
            n += 1
            flowTable(m)
            hairpin(m)
            if m.header.type == Netlink.typeError { ack(m) }
            controller(m)
        }
        // The single-message entry point the tools use on a whole buffer.
        _ = try? FlowTableMessage.decode(packet)
        _ = try? HairpinMessage.decode(packet)
    }

    static func withoutLength(_ h: NetlinkHeader) -> NetlinkHeader {
        var h = h
        h.length = 0
        return h
    }

    // MARK: Flow Table API

    static func flowTable(_ m: NetlinkMessageView) {
        // The check-only walk must give the decoder's verdict and error, with and without shape.
        for requireShape in [false, true] {
            var decoded: DecodeError?, checked: DecodeError?
            do throws(DecodeError) { _ = try FlowTableMessage.decode(m, requireShape: requireShape) } catch {
                decoded = error
            }
            do throws(DecodeError) { _ = try FlowTableMessage.check(m, requireShape: requireShape) } catch {
                checked = error
            }
            Fuzz.check(
                decoded == checked,
                "FlowTableMessage: check and decode disagree (requireShape \(requireShape))\n"
                    + "decode: \(decoded.map { "\($0)" } ?? "ok")\ncheck: \(checked.map { "\($0)" } ?? "ok")")
        }
        let x: FlowTableMessage
        do throws(DecodeError) { x = try FlowTableMessage.decode(m, requireShape: false) } catch {
            _ = error.description
            return
        }
        let shaped = try? FlowTableMessage.decode(m, requireShape: true)
        if let shaped { Fuzz.check(shaped == x, "FlowTableMessage: requireShape changed the decoded value") }

        let bytes: [UInt8]
        do throws(EncodeError) { bytes = try x.encoded() } catch {
            Fuzz.fail("FlowTableMessage decoded but does not encode: \(error)\n\(x)")
        }
        let y: FlowTableMessage
        do throws(DecodeError) { y = try FlowTableMessage.decode(bytes, requireShape: shaped != nil) } catch {
            Fuzz.fail("FlowTableMessage: the encoding of a decoded message does not decode: \(error)\n\(x)")
        }
        var a = x, b = y
        a.header = withoutLength(a.header)
        b.header = withoutLength(b.header)
        Fuzz.check(a == b, "FlowTableMessage: decode(encode(x)) != x\nx: \(x)\ny: \(y)")
        Fuzz.check((try? y.encoded()) == bytes, "FlowTableMessage: encoding is not stable")
        json(x.attributes)
    }

    /// FlowTrace's extended JSON claims to be lossless for every field of the model.
    static func json(_ a: FlowTableAttributes) {
        let value = a.extendedJSON()
        let back: FlowTableAttributes
        do throws(JSONError) { back = try FlowTableAttributes(extendedJSON: value) } catch {
            Fuzz.fail("extended JSON of decoded attributes does not read back: \(error)\n\(value)")
        }
        Fuzz.check(back == a, "extended JSON round trip changed the attributes\nbefore: \(a)\nafter: \(back)")
        let text = value.serializedBytes(style: .compact)
        let parsed: JSONValue
        do throws(JSONError) { parsed = try FlowTableJSON.parse(bytes: text) } catch {
            Fuzz.fail("serialized JSON does not parse: \(error)")
        }
        Fuzz.check(parsed == value, "JSON text round trip changed the value")
    }

    // MARK: hairpin

    static func hairpin(_ m: NetlinkMessageView) {
        let x: HairpinMessage
        do throws(DecodeError) { x = try HairpinMessage.decode(m) } catch {
            _ = error.description
            return
        }
        let bytes: [UInt8]
        do throws(EncodeError) { bytes = try x.encoded() } catch {
            Fuzz.fail("HairpinMessage decoded but does not encode: \(error)\n\(x)")
        }
        let y: HairpinMessage
        do throws(DecodeError) { y = try HairpinMessage.decode(bytes) } catch {
            Fuzz.fail("HairpinMessage: the encoding of a decoded message does not decode: \(error)\n\(x)")
        }
        var a = x, b = y
        a.header = withoutLength(a.header)
        b.header = withoutLength(b.header)
        Fuzz.check(a == b, "HairpinMessage: decode(encode(x)) != x\nx: \(x)\ny: \(y)")
        Fuzz.check((try? y.encoded()) == bytes, "HairpinMessage: encoding is not stable")
        if let attributes = x.encap?.attributes { json(attributes) }
        // A whole call split into parts and assembled again is the call (a batch answer's
        // RESULTS travel with flows only in made-up messages; those are left out).
        if let e = x.encap, e.part == nil, !e.more, e.results == nil || (e.attributes?.flows ?? []).isEmpty {
            var assembler = EncapAssembler()
            var whole: HairpinEncap?
            for p in e.parts(budget: 1024) {
                do throws(EncapAssembler.Failure) { whole = try assembler.add(p) } catch {
                    Fuzz.fail("the parts of a decoded ENCAP do not assemble: \(error)")
                }
            }
            Fuzz.check(
                whole == e,
                "ENCAP split into parts and assembled differs\nbefore: \(e)\nafter: \(String(describing: whole))")
        }
    }

    // MARK: NLMSG_ERROR, nlctrl

    static func ack(_ m: NetlinkMessageView) {
        guard let x = try? NetlinkAck.decode(m) else { return }
        let bytes = x.encoded()
        let y: NetlinkAck? = bytes.withUnsafeBytes { raw in
            (try? NetlinkMessageView.single(raw)).flatMap { try? NetlinkAck.decode($0) }
        }
        guard let y else { Fuzz.fail("NetlinkAck: the encoding of a decoded ack does not decode\n\(x)") }
        Fuzz.check(
            y.error == x.error && y.request == x.request && y.message == x.message
                && y.header.sequence == x.header.sequence && y.header.port == x.header.port,
            "NetlinkAck: decode(encode(x)) != x\nx: \(x)\ny: \(y)")
    }

    static func controller(_ m: NetlinkMessageView) {
        _ = try? Controller.decodeFamilyName(m)
        guard let f = try? Controller.decodeFamily(m) else { return }
        var w = NetlinkWriter(capacity: 256)
        Controller.newFamily(f, sequence: m.header.sequence, port: m.header.port, into: &w)
        let bytes = w.bytes
        let g: Controller.Family? = bytes.withUnsafeBytes { raw in
            (try? NetlinkMessageView.single(raw)).flatMap { try? Controller.decodeFamily($0) }
        }
        guard let g else { Fuzz.fail("NEWFAMILY: the encoding of a decoded family does not decode\n\(f)") }
        Fuzz.check(
            g == f && g.version == f.version && g.maxAttr == f.maxAttr
                && g.ops.map(\.id) == f.ops.map(\.id) && g.ops.map(\.flags) == f.ops.map(\.flags),
            "NEWFAMILY: decode(encode(x)) != x\nx: \(f)\ny: \(g)")
    }
}
