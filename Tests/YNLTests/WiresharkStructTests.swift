// Structs and sub-messages in the generated Wireshark dissector: a family's fixed header, binary
// attributes holding a struct (nested, big-endian and enum members) and a sub-message chosen by
// its selector are shown member by member, with the values the YNL interpreter decodes, in a real
// tshark on a pcapng file FlowTrace's writer wrote. Skipped only when tshark is not installed.

import Foundation
import FlowTrace
import LibFlowTable
import Testing
import YNL
import YNLWireshark

@Suite(.serialized) struct WiresharkStructTests {
    /// ovs_* and rt-link in small: every struct and sub-message shape the interpreter decodes.
    static let spec = """
        name: structdemo
        protocol: genetlink-legacy
        doc: Structs and sub-messages.
        definitions:
          - { name: kind, type: enum, entries: [ none, alpha, beta ] }
          - name: hdr
            type: struct
            members:
              - { name: ifindex, type: u32 }
              - { name: kind, type: u8, enum: kind }
              - { name: pad, type: pad, len: 1 }
              - { name: port, type: u16, byte-order: big-endian }
          - name: stats
            type: struct
            members:
              - { name: packets, type: u64 }
              - { name: bytes, type: u64 }
              - { name: drops, type: s32 }
              - { name: pad, type: pad, len: 4 }
          - name: pair
            type: struct
            members:
              - { name: mac, type: binary, len: 6 }
              - { name: pad, type: pad, len: 2 }
              - { name: inner, type: binary, struct: stats }
        attribute-sets:
          - name: main
            attributes:
              - { name: name, type: string }
              - { name: stats, type: binary, struct: stats }
              - { name: pair, type: binary, struct: pair }
              - { name: data-kind, type: string }
              - { name: data, type: sub-message, sub-message: data-msg, selector: data-kind }
          - name: alpha-attrs
            attributes:
              - { name: level, type: u32 }
        sub-messages:
          - name: data-msg
            formats:
              - { value: alpha, attribute-set: alpha-attrs }
              - { value: beta, fixed-header: stats }
        operations:
          fixed-header: hdr
          list:
            - name: get
              value: 1
              attribute-set: main
              do:
                request: { attributes: [ name ] }
                reply: { attributes: [ name, stats, pair, data-kind, data ] }
        """
    static let id: UInt16 = 0x17

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    static func hdr(ifindex: UInt32, kind: UInt8, port: UInt16) -> [UInt8] {
        le(ifindex) + [kind, 0] + withUnsafeBytes(of: port.bigEndian) { Array($0) }
    }

    static func stats(_ packets: UInt64, _ bytes: UInt64, _ drops: Int32) -> [UInt8] {
        le(packets) + le(bytes) + le(drops) + [0, 0, 0, 0]
    }

    /// One get message: the fixed header, then attributes as (type, payload).
    static func message(request: Bool, seq: UInt32, header: [UInt8], _ attrs: [(UInt16, [UInt8])]) -> [UInt8] {
        var w = NetlinkWriter(capacity: 256)
        let start = w.beginMessage(
            type: id, flags: request ? Netlink.flagRequest | Netlink.flagAck : 0, sequence: seq, port: 77)
        w.genericHeader(command: 1, version: 1)
        header.withUnsafeBytes { w.appendRaw(bytes: $0) }
        for (type, payload) in attrs { payload.withUnsafeBytes { w.put(type, bytes: $0) } }
        w.endMessage(start)
        return w.bytes
    }

    static func string(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    /// The frames, numbered from 1.
    static func messages() -> [[UInt8]] {
        var w = NetlinkWriter(capacity: 256)
        Controller.newFamily(
            Controller.Family(id: id, name: "structdemo", version: 1, maxAttr: 5, ops: []), sequence: 1, port: 77,
            into: &w)
        let mac: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
        return [
            w.bytes,  // 1
            message(request: true, seq: 2, header: hdr(ifindex: 7, kind: 1, port: 0x1234), [(1, string("eth0"))]),  // 2
            message(
                request: false, seq: 2, header: hdr(ifindex: 7, kind: 2, port: 80),  // 3
                [
                    (1, string("eth0")), (2, stats(5, 1 << 40, -3)), (3, mac + [0, 0] + stats(1, 2, 0)),
                    (4, string("alpha")), (5, le(UInt16(8)) + le(UInt16(1)) + le(UInt32(9))),
                ]),
            message(
                request: false, seq: 3, header: hdr(ifindex: 8, kind: 0, port: 443),  // 4
                [(4, string("beta")), (5, stats(3, 4, 5))]),
            // A struct shorter than its definition.
            message(request: false, seq: 4, header: hdr(ifindex: 9, kind: 0, port: 1), [(2, le(UInt64(1)))]),  // 5
            // A sub-message without its selector, and one whose selector names no format.
            message(request: false, seq: 5, header: hdr(ifindex: 9, kind: 0, port: 1), [(5, le(UInt32(1)))]),  // 6
            message(
                request: false, seq: 6, header: hdr(ifindex: 9, kind: 0, port: 1),  // 7
                [(4, string("gamma")), (5, le(UInt32(1)))]),
        ]
    }

    /// The filter field and value (as tshark -T fields prints it) of every member the
    /// interpreter decoded from a struct.
    static func leaves(_ family: YNLFamily, _ s: YNLStruct, _ fields: [YNLField], into out: inout [(String, String)]) {
        for f in fields {
            guard let member = s.members.first(where: { $0.name == f.name })?.member else { continue }
            let field = "\(family.name).\(YNLNames.cLower(s.name)).\(YNLNames.cLower(f.name))"
            switch (member, f.value) {
            case (.structure(let i), .fields(let inner)): leaves(family, family.structs[i], inner, into: &out)
            case (_, .unsigned(let v)), (_, .enumerated(let v, _)): out.append((field, String(v)))
            case (_, .signed(let v)): out.append((field, String(v)))
            case (_, .bytes(let b)): out.append((field, b.map { String(format: "%02x", $0) }.joined()))
            default: Issue.record("\(field): \(f.value)")
            }
        }
    }

    /// Everything the interpreter decodes from one message, as filter fields.
    static func expected(_ family: YNLFamily, _ m: YNLMessage) throws -> [(String, String)] {
        var out: [(String, String)] = []
        let op = try #require(family.operation(named: m.operation))
        leaves(family, family.structs[try #require(op.fixedHeader)], m.header, into: &out)
        let main = try #require(family.attributeSet(named: "main"))
        for f in m.attributes {
            let a = try #require(main.attribute(named: f.name))
            switch (a.kind, f.value) {
            case (.structure(let i), .fields(let inner)):
                leaves(family, family.structs[i], inner, into: &out)
            case (.subMessage(let index, _), .fields(let inner)):
                let kind = try #require(m.attributes.first { $0.name == "data-kind" }?.value)
                guard case .string(let key) = kind else { throw CocoaError(.coderInvalidValue) }
                let format = try #require(family.subMessages[index].formats.first { $0.value == key })
                var rest = inner[...]
                if let fh = format.fixedHeader {
                    // The header's members come first (pads are not decoded).
                    let s = family.structs[fh]
                    let n = s.members.filter { if case .pad = $0.member { return false } else { return true } }.count
                    leaves(family, s, Array(rest.prefix(n)), into: &out)
                    rest = rest.dropFirst(n)
                }
                if let set = format.attributeSet {
                    let s = family.attributeSets[set]
                    for g in rest {
                        guard case .unsigned(let v) = g.value else { continue }
                        out.append(("\(family.name).\(YNLNames.cLower(s.name)).\(YNLNames.cLower(g.name))", String(v)))
                    }
                }
            case (_, .string(let s)):
                out.append(("\(family.name).\(YNLNames.cLower(a.name))", s))
            default:
                Issue.record("\(a.name): \(f.value)")
            }
        }
        return out
    }

    static func setUp() throws -> (TsharkRun, URL, YNLFamily)? {
        guard TsharkRun.executable != nil else {
            print("YNLTests: tshark is not installed; skipping the Wireshark struct tests")
            return nil
        }
        let family = try YNLSpecLoader.load(yaml: spec, file: "structdemo.yaml")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ynl-wireshark-structs-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let plugin = dir.appendingPathComponent(ProjectPlugin.fileName)
        try LuaEmitter.emit([family]).write(to: plugin, atomically: true, encoding: .utf8)
        let trace = dir.appendingPathComponent("trace.pcapng")
        let writer = try PcapngWriter(path: trace.path, interfaces: [PcapngInterfaceInfo(name: "nlmon0")])
        for (i, m) in messages().enumerated() {
            let request = m[6] & UInt8(Netlink.flagRequest) != 0
            try m.withUnsafeBytes { raw in
                try writer.append(
                    TraceRecord(
                        timestamp: 1_700_000_000_000_000_000 + UInt64(i) * 1000,
                        direction: request ? .toKernel : .toUser, netlink: raw))
            }
        }
        try writer.close()
        return (TsharkRun(directory: dir, plugin: plugin), trace, family)
    }

    @Test func membersAgreeWithTheInterpreter() throws {
        guard let (tshark, trace, family) = try Self.setUp() else { return }
        var checked = 0
        for (index, bytes) in Self.messages().enumerated().prefix(4).dropFirst() {
            let frame = index + 1
            let decoded = try bytes.withUnsafeBytes { try YNLDecoder(family).decode($0) }
            let expected = try Self.expected(family, decoded)
            // Every occurrence of a field, in tree order (stats appears alone and inside pair).
            var names: [String] = []
            var values: [String: [String]] = [:]
            for (name, value) in expected {
                if values[name] == nil { names.append(name) }
                values[name, default: []].append(value)
            }
            let columns = try tshark.fields(trace, frame: frame, names, occurrence: "a")
            guard columns.count == names.count else { continue }
            for (i, name) in names.enumerated() {
                let shown = columns[i].replacingOccurrences(of: ":", with: "").split(separator: ",").map(String.init)
                #expect(
                    shown == values[name]!, "frame \(frame) \(name): tshark \(columns[i]), interpreter \(values[name]!)"
                )
                checked += shown.count
            }
        }
        // hdr (3 members) x 3, stats (3) + pair (mac + inner 3) in frame 3, alpha's level, beta's stats (3)
        #expect(checked >= 20)
    }

    @Test func filtersOnMembersAndShortStructs() throws {
        guard let (tshark, trace, _) = try Self.setUp() else { return }
        func frames(_ filter: String) throws -> [Int] {
            let run = try tshark.run(["-r", trace.path, "-Y", filter, "-T", "fields", "-e", "frame.number"])
            #expect(run.status == 0 && run.err.isEmpty, "\(filter): \(run.err)")
            return run.out.split(separator: "\n").compactMap { Int($0) }
        }
        #expect(try frames("structdemo.hdr.port == 0x1234") == [2])
        #expect(try frames("structdemo.hdr.kind == 2") == [3])
        #expect(try frames("structdemo.stats.bytes == 1099511627776") == [3])
        #expect(try frames("structdemo.stats.drops == -3") == [3])
        #expect(try frames("structdemo.pair.mac == 02:00:00:00:00:01") == [3])
        #expect(try frames("structdemo.alpha_attrs.level == 9") == [3])
        #expect(try frames("structdemo.stats.packets == 3") == [4])
        #expect(try frames("structdemo.malformed") == [5, 6, 7])
        #expect(try frames("_ws.expert && !structdemo.malformed") == [])
        let run = try tshark.run(["-r", trace.path, "-V", "-Y", "frame.number == 3"])
        #expect(!run.out.contains("Lua Error") && !run.out.contains("issector failure"), "\(run.out)")
        #expect(run.out.contains("DATA (alpha): level 9"), "\(run.out)")
        let bad = try tshark.run(["-r", trace.path, "-V", "-Y", "frame.number >= 6"])
        #expect(bad.out.contains("DATA: sub-message data-msg needs its selector data-kind before it"), "\(bad.out)")
        #expect(bad.out.contains("DATA: sub-message data-msg has no format for data-kind 'gamma'"), "\(bad.out)")
        #expect(!bad.out.contains("Lua Error") && !bad.out.contains("issector failure"), "\(bad.out)")
    }
}
