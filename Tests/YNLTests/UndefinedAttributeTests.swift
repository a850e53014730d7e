import Foundation
import LibFlowTable
import Testing
@testable import YNL

/// An attribute its spec does not define (Linux 6.12's devlink.yaml leaves out 84-86, the param
/// values): a tracing decode keeps the rest and shows it by number with its bytes; the strict
/// decode (the fuzz oracle's) refuses it. Everything else stays strict in both.
@Suite struct UndefinedAttributeTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/kernel-specs")

    static func devlink() throws -> YNLFamily {
        try YNLSpecLoader.load(path: fixtures.appendingPathComponent("devlink.yaml").path)
    }

    /// A param-get reply as netdevsim sends it: PARAM (80) holding NAME (81), TYPE (83) and
    /// VALUES_LIST (84, not in the spec) holding VALUE (85) holding DATA (86) and CMODE (87).
    static func paramGetReply(_ f: YNLFamily, extra: (inout NetlinkWriter) -> Void = { _ in }) throws -> [UInt8] {
        let op = try #require(f.operation(named: "param-get"))
        let cmd = try #require(op.replyValue)
        let set = try #require(f.attributeSet(named: "devlink"))
        func type(_ name: String) throws -> UInt16 { try #require(set.attribute(named: name)).value }
        let (bus, dev, param, pname, ptype) = (
            try type("bus-name"), try type("dev-name"), try type("param"), try type("param-name"),
            try type("param-type")
        )
        #expect(set.attribute(type: 84) == nil && set.attribute(type: 86) == nil)
        return try message(type: 0x14, flags: 0, command: UInt8(cmd)) { w in
            w.put(bus, string: "netdevsim")
            w.put(dev, string: "netdevsim1")
            let p = w.beginNest(param)
            w.put(pname, string: "max_macs")
            w.put(ptype, u8: 2)
            let list = w.beginNest(84)
            let value = w.beginNest(85)
            w.put(86, u32: 32)
            w.put(87, u8: 1)
            try w.endNest(value)
            try w.endNest(list)
            try w.endNest(p)
            extra(&w)
        }
    }

    @Test func undefinedAttributeShownByNumberWithItsBytes() throws {
        let f = try Self.devlink()
        let bytes = try Self.paramGetReply(f)
        let m = try bytes.withUnsafeBytes { try YNLDecoder(f).decode($0) }
        #expect(m.operation == "param-get" && !m.request)
        #expect(m.attributes.map(\.name) == ["bus-name", "dev-name", "param"])
        guard case .fields(let param)? = m.attributes["param"] else {
            Issue.record("param is \(String(describing: m.attributes["param"]))")
            return
        }
        #expect(param.map(\.name) == ["param-name", "param-type", YNLValue.undefinedName(84)])
        // The payload of 84 as it is on the wire: the nest of 85 (DATA 8 bytes, CMODE 5 + pad).
        guard case .undefined(let t, let payload)? = param.last?.value else {
            Issue.record("84 is \(String(describing: param.last))")
            return
        }
        #expect(t == 84 && payload.count == 4 + 8 + 8)
        #expect(payload.count > 4 && payload[2] == 85 && payload[3] & 0x7f == 0)
        #expect(m.undefinedAttributes == ["param.84"])
    }

    @Test func strictDecodeRefusesIt() throws {
        let f = try Self.devlink()
        let bytes = try Self.paramGetReply(f)
        // 16 + 4 bytes of headers, bus-name 16, dev-name 16, param's header 4, name 16, type 8.
        let at = 20 + 16 + 16 + 4 + 16 + 8
        #expect(throws: DecodeError(.unknownAttribute(84), at: at).within("param")) {
            try bytes.withUnsafeBytes { try YNLDecoder(f, strict: true).decode($0) }
        }
    }

    @Test func knownAttributesStayStrict() throws {
        let f = try Self.devlink()
        let set = try #require(f.attributeSet(named: "devlink"))
        let dev = try #require(set.attribute(named: "dev-name")).value
        let port = try #require(set.attribute(named: "port-index")).value
        // A known attribute repeated, one of the wrong length, a header running past the end:
        // errors in the tracing decode too.
        let repeated = try Self.paramGetReply(f) { w in w.put(dev, string: "again") }
        #expect(throws: DecodeError(.repeatedAttribute("dev-name"), at: repeated.count - 12)) {
            try repeated.withUnsafeBytes { try YNLDecoder(f).decode($0) }
        }
        let short = try Self.paramGetReply(f) { w in w.put(port, u16: 1) }
        #expect(
            throws: DecodeError(.payloadLength(expected: "4 (u32)", got: 2), at: short.count - 8).within("port-index")
        ) {
            try short.withUnsafeBytes { try YNLDecoder(f).decode($0) }
        }
        var cut = try Self.paramGetReply(f) { w in w.put(port, u32: 1) }
        cut[cut.count - 8] = 12
        #expect(throws: DecodeError.self) { try cut.withUnsafeBytes { try YNLDecoder(f).decode($0) } }
        // An undefined attribute whose own header is malformed is an error too.
        var bad = try Self.paramGetReply(f) { w in w.put(200, u32: 1) }
        bad[bad.count - 8] = 3
        #expect(throws: DecodeError.self) { try bad.withUnsafeBytes { try YNLDecoder(f).decode($0) } }
    }

    @Test func undefinedAtTopLevelAndRepeated() throws {
        let f = try Self.devlink()
        let bytes = try Self.paramGetReply(f) { w in
            w.put(300, u32: 7)
            w.put(300, u32: 8)
        }
        let m = try bytes.withUnsafeBytes { try YNLDecoder(f).decode($0) }
        #expect(m.undefinedAttributes == ["param.84", "300", "300"])
        #expect(m.attributes.last == YNLField(YNLValue.undefinedName(300), .undefined(type: 300, bytes: [8, 0, 0, 0])))
    }
}
