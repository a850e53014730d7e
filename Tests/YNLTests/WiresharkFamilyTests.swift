// The Wireshark dissector generated for any family (YNLWireshark's LuaEmitter, the generator
// `flowtrace wireshark install` and ynl-gen share), run in a real tshark on devlink and ethtool
// and netdev messages encoded from the kernel's specs (Tests/Fixtures/kernel-specs). Every attribute tshark
// shows must be the value the YNL interpreter decodes (the decoder `flowtrace show` uses), field
// by field; a filter on an attribute selects the frames that carry it. Skipped only when tshark is
// not installed.

import Foundation
import LibFlowTable
import FlowTrace
import Testing
import YNL
import YNLWireshark

/// A value to encode into an attribute of a spec's set, by attribute name.
indirect enum SpecValue {
    case int(UInt64)
    case string(String)
    case nest([(String, SpecValue)])
}

enum SpecEncoder {
    /// Encodes `fields` as attributes of `set`, numbered and typed by the spec.
    static func put(_ family: YNLFamily, set name: String, _ fields: [(String, SpecValue)], into w: inout NetlinkWriter)
        throws
    {
        let set = try #require(family.attributeSet(named: name))
        for (attrName, value) in fields {
            let a = try #require(set.attribute(named: attrName), "\(family.name) \(name) has no \(attrName)")
            switch (a.kind, value) {
            case (.integer(let t), .int(let v)):
                switch t.scalar.width {
                case 1: w.put(a.value, u8: UInt8(v))
                case 2: w.put(a.value, u16: UInt16(v))
                case 8: w.put(a.value, u64: v)
                case 0 where v > UInt64(UInt32.max): w.put(a.value, u64: v)  // uint in 8 bytes
                default: w.put(a.value, u32: UInt32(v))  // u32, and uint/sint in 4 bytes
                }
            case (.string, .string(let s)):
                w.put(a.value, string: s)
            case (.nest(let inner), .nest(let children)):
                let n = w.beginNest(a.value)
                try put(family, set: family.attributeSets[inner].name, children, into: &w)
                try w.endNest(n)
            default:
                Issue.record("\(attrName) is \(a.typeName), not encodable as \(value)")
            }
        }
    }

    /// One genl message of `operation` (request or reply, numbered by the spec's direction).
    static func message(
        _ family: YNLFamily, id: UInt16, _ operation: String, request: Bool, seq: UInt32,
        _ fields: [(String, SpecValue)]
    ) throws -> [UInt8] {
        let op = try #require(family.operation(named: operation))
        let command = try #require(request ? op.requestValue : op.replyValue)
        var w = NetlinkWriter(capacity: 512)
        let start = w.beginMessage(
            type: id, flags: request ? Netlink.flagRequest | Netlink.flagAck : 0, sequence: seq, port: 77)
        w.genericHeader(command: UInt8(command), version: 1)
        try put(family, set: family.attributeSets[try #require(op.attributeSet)].name, fields, into: &w)
        w.endMessage(start)
        return w.bytes
    }
}

/// Runs tshark with one Lua plugin, in a scratch HOME (no installed plugin registers the fields twice).
struct TsharkRun {
    static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/tshark" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }()

    let directory: URL
    let plugin: URL

    /// The fields `names` of one frame (tshark -T fields), one column each; `occurrence`: f for
    /// the first, a for all (comma-separated).
    func fields(_ trace: URL, frame: Int, _ names: [String], occurrence: String = "f") throws -> [String] {
        let run = try run(
            [
                "-r", trace.path, "-Y", "frame.number == \(frame)", "-T", "fields", "-E", "occurrence=\(occurrence)",
                "-E", "aggregator=,",
            ] + names.flatMap { ["-e", $0] })
        #expect(run.status == 0 && run.err.isEmpty, "frame \(frame): \(run.err)")
        let columns =
            run.out.split(separator: "\n").first.map {
                $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            } ?? []
        #expect(columns.count == names.count, "frame \(frame): \(run.out)")
        return columns
    }

    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.executable))
        process.arguments = ["-X", "lua_script:\(plugin.path)"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = directory.path
        environment.removeValue(forKey: "XDG_CONFIG_HOME")
        process.environment = environment
        let out = directory.appendingPathComponent("tshark.out")
        let err = directory.appendingPathComponent("tshark.err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        let stderr = String(decoding: try Data(contentsOf: err), as: UTF8.self)
            .split(separator: "\n").filter { !$0.contains("Running as user") }.joined(separator: "\n")
        return (process.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self), stderr)
    }
}

@Suite(.serialized) struct WiresharkFamilyTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/kernel-specs")
    static let devlinkID: UInt16 = 0x14
    static let ethtoolID: UInt16 = 0x15
    static let netdevID: UInt16 = 0x16

    static func families() throws -> [YNLFamily] {
        try ["devlink", "ethtool", "netdev"].map {
            try YNLSpecLoader.load(path: fixtures.appendingPathComponent("\($0).yaml").path)
        }
    }

    /// The frames, numbered from 1: NEWFAMILY, then devlink, ethtool and netdev requests and replies.
    static func messages(_ devlink: YNLFamily, _ ethtool: YNLFamily, _ netdev: YNLFamily) throws -> [(
        bytes: [UInt8], family: YNLFamily?
    )] {
        var out: [(bytes: [UInt8], family: YNLFamily?)] = []
        for (id, name) in [(devlinkID, "devlink"), (ethtoolID, "ethtool")] {
            var w = NetlinkWriter(capacity: 256)
            Controller.newFamily(
                Controller.Family(id: id, name: name, version: 1, maxAttr: 1, ops: []), sequence: 1, port: 77, into: &w)
            out.append((w.bytes, nil))
        }
        let dev: [(String, SpecValue)] = [("bus-name", .string("netdevsim")), ("dev-name", .string("netdevsim1"))]
        out.append(
            (
                try SpecEncoder.message(
                    devlink, id: devlinkID, "port-get", request: true, seq: 2,  // 3
                    dev + [("port-index", .int(1))]), devlink
            ))
        out.append(
            (
                try SpecEncoder.message(
                    devlink, id: devlinkID, "port-get", request: false, seq: 2,  // 4
                    dev + [
                        ("port-index", .int(1)), ("port-type", .int(2)), ("port-flavour", .int(0)),
                        ("port-netdev-ifindex", .int(9)), ("port-netdev-name", .string("eni1np1")),
                        ("port-number", .int(0)),
                    ]), devlink
            ))
        out.append(
            (
                try SpecEncoder.message(
                    devlink, id: devlinkID, "port-get", request: true, seq: 3,  // 5
                    dev + [("port-index", .int(2))]), devlink
            ))
        out.append((try SpecEncoder.message(devlink, id: devlinkID, "get", request: true, seq: 4, dev), devlink))  // 6
        out.append(
            (
                try SpecEncoder.message(
                    devlink, id: devlinkID, "get", request: false, seq: 4,  // 7
                    dev + [("reload-failed", .int(0))]), devlink
            ))
        let header: [(String, SpecValue)] = [
            ("header", .nest([("dev-index", .int(3)), ("dev-name", .string("eth0")), ("flags", .int(5))]))
        ]
        out.append(
            (try SpecEncoder.message(ethtool, id: ethtoolID, "linkinfo-get", request: true, seq: 5, header), ethtool))  // 8
        out.append(
            (
                try SpecEncoder.message(
                    ethtool, id: ethtoolID, "linkinfo-get", request: false, seq: 5,  // 9
                    header + [("port", .int(0)), ("phyaddr", .int(1)), ("transceiver", .int(1))]), ethtool
            ))
        out.append(
            (
                try SpecEncoder.message(
                    ethtool, id: ethtoolID, "channels-get", request: false, seq: 6,  // 10
                    header + [("rx-max", .int(8)), ("tx-max", .int(8)), ("combined-count", .int(4))]), ethtool
            ))
        var w = NetlinkWriter(capacity: 256)  // 11
        Controller.newFamily(
            Controller.Family(id: netdevID, name: "netdev", version: 1, maxAttr: 1, ops: []), sequence: 1, port: 77,
            into: &w)
        out.append((w.bytes, nil))
        // A u64 flags value, and uint in 8 and in 4 bytes.
        out.append(
            (
                try SpecEncoder.message(
                    netdev, id: netdevID, "dev-get", request: false, seq: 7,  // 12
                    [("ifindex", .int(5)), ("xdp-features", .int(0x45)), ("xdp-zc-max-segs", .int(1))]), netdev
            ))
        out.append(
            (
                try SpecEncoder.message(
                    netdev, id: netdevID, "page-pool-get", request: false, seq: 8,  // 13
                    [("id", .int(1 << 33)), ("ifindex", .int(5)), ("inflight", .int(3))]), netdev
            ))
        return out
    }

    /// The plugin and the trace in a scratch directory.
    static func setUp(_ name: String) throws -> (TsharkRun, URL, [(bytes: [UInt8], family: YNLFamily?)], [YNLFamily])? {
        guard TsharkRun.executable != nil else {
            print("YNLTests: tshark is not installed; skipping the Wireshark tests for any family")
            return nil
        }
        let families = try families()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ynl-wireshark-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let plugin = dir.appendingPathComponent("flowtrace.lua")
        try LuaEmitter.emit(families).write(to: plugin, atomically: true, encoding: .utf8)
        let trace = dir.appendingPathComponent("trace.pcapng")
        let messages = try messages(families[0], families[1], families[2])
        let writer = try PcapngWriter(path: trace.path, interfaces: [PcapngInterfaceInfo(name: "nlmon0")])
        for (i, m) in messages.enumerated() {
            let request = m.bytes[6] & UInt8(Netlink.flagRequest) != 0  // nlmsg_flags, little-endian
            try m.bytes.withUnsafeBytes { raw in
                try writer.append(
                    TraceRecord(
                        timestamp: 1_700_000_000_000_000_000 + UInt64(i) * 1000,
                        direction: request ? .toKernel : .toUser, netlink: raw))
            }
        }
        try writer.close()
        return (TsharkRun(directory: dir, plugin: plugin), trace, messages, families)
    }

    /// The filter field of every leaf a decoded message holds, with its value as tshark prints
    /// it (integers in decimal; tshark prints flags in hex, compared as numbers).
    static func leaves(
        _ family: YNLFamily, set: Int, _ fields: [YNLField], top: Bool, into out: inout [(String, String)]
    ) {
        let s = family.attributeSets[set]
        for f in fields {
            guard let a = s.attribute(named: f.name) else { continue }
            let field =
                top
                ? "\(family.name).\(YNLNames.cLower(a.name))"
                : "\(family.name).\(YNLNames.cLower(s.name)).\(YNLNames.cLower(a.name))"
            switch (f.value, a.kind) {
            case (.fields(let inner), .nest(let n)): leaves(family, set: n, inner, top: false, into: &out)
            case (.unsigned(let v), _), (.enumerated(let v, _), _), (.flags(let v, _), _):
                out.append((field, String(v)))
            case (.signed(let v), _): out.append((field, String(v)))
            case (.string(let v), _): out.append((field, v))
            default: break
            }
        }
    }

    static func number(_ s: String) -> String {
        if s.hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return String(v) }
        return s
    }

    @Test func fieldsAgreeWithTheInterpreter() throws {
        guard let (tshark, trace, messages, _) = try Self.setUp("fields") else { return }
        var checked = 0
        for (index, m) in messages.enumerated() {
            guard let family = m.family else { continue }
            let frame = index + 1
            let decoded = try m.bytes.withUnsafeBytes { try YNLDecoder(family).decode($0) }
            let op = try #require(family.operation(named: decoded.operation))
            var expected: [(String, String)] = []
            // devlink's operations share one set: its attributes have the short names (devlink.port_index).
            let top = Set(family.operations.compactMap(\.attributeSet)).count == 1
            Self.leaves(family, set: try #require(op.attributeSet), decoded.attributes, top: top, into: &expected)
            #expect(!expected.isEmpty)
            let names = expected.map(\.0)
            let columns = try tshark.fields(trace, frame: frame, ["_ws.col.Info"] + names)
            guard columns.count == names.count + 1 else { continue }
            let direction = decoded.request ? "req" : "rsp"
            #expect(
                columns[0].hasPrefix(YNLNames.cUpper(decoded.operation) + " " + direction),
                "frame \(frame) Info: \(columns[0])")
            for (i, (name, value)) in expected.enumerated() {
                #expect(
                    Self.number(columns[i + 1]) == value,
                    "frame \(frame) \(name): tshark \(columns[i + 1]), interpreter \(value)")
                checked += 1
            }
        }
        #expect(checked >= 30)
    }

    @Test func filterOnAnAttribute() throws {
        guard let (tshark, trace, _, _) = try Self.setUp("filter") else { return }
        func frames(_ filter: String) throws -> [Int] {
            let run = try tshark.run(["-r", trace.path, "-Y", filter, "-T", "fields", "-e", "frame.number"])
            #expect(run.status == 0 && run.err.isEmpty, "\(filter): \(run.err)")
            return run.out.split(separator: "\n").compactMap { Int($0) }
        }
        #expect(try frames("devlink.port_index == 1") == [3, 4])
        #expect(try frames("devlink.port_index") == [3, 4, 5])
        #expect(try frames("devlink.port_netdev_name == \"eni1np1\"") == [4])
        #expect(try frames("ethtool.header.dev_index == 3") == [8, 9, 10])
        #expect(try frames("ethtool.channels.combined_count == 4") == [10])
        #expect(try frames("devlink") == [3, 4, 5, 6, 7])
        #expect(try frames("ethtool && !ethtool.malformed && !ethtool.unknown_attr") == [8, 9, 10])
        #expect(try frames("netdev.page_pool.id == 8589934592") == [13])
        #expect(try frames("netdev.dev.xdp_features == 0x45") == [12])
        #expect(try frames("_ws.expert") == [])
    }

    /// A valid payload for any attribute, from its spec: what a walk of every attribute of every
    /// operation encodes (nests hold their first attributes, a few levels deep).
    static func sample(_ family: YNLFamily, _ a: YNLAttribute, into w: inout NetlinkWriter, depth: Int) throws {
        func bytes(_ n: Int) { [UInt8](repeating: 1, count: n).withUnsafeBytes { w.put(a.value, bytes: $0) } }
        func nest(_ set: Int, _ type: UInt16) throws {
            let n = w.beginNest(type)
            if depth < 3 {
                for inner in family.attributeSets[set].attributes.prefix(6) {
                    try sample(family, inner, into: &w, depth: depth + 1)
                }
            }
            try w.endNest(n)
        }
        switch a.kind {
        case .unused, .pad, .subMessage: return
        case .flag: bytes(0)
        case .string: w.put(a.value, string: "x")
        case .integer(let t): bytes(t.scalar.width == 0 ? 8 : t.scalar.width)
        case .binary: bytes(a.length?.lowerBound ?? 4)
        case .structure(let i): bytes(family.structs[i].size)
        case .array(let t): bytes(2 * t.scalar.width)
        case .bitfield32: bytes(8)
        case .nest(let set): try nest(set, a.value)
        case .indexedArray(let item):
            let outer = w.beginNest(a.value)
            switch item {
            case .nest(let set): try nest(set, 0)
            case .integer(let t):
                [UInt8](repeating: 1, count: t.scalar.width == 0 ? 8 : t.scalar.width).withUnsafeBytes {
                    w.put(0, bytes: $0)
                }
            case .binary: [UInt8](repeating: 1, count: 4).withUnsafeBytes { w.put(0, bytes: $0) }
            }
            try w.endNest(outer)
        case .nestTypeValue(let levels, let set):
            var opened: [Int] = [w.beginNest(a.value)]
            for _ in levels.dropFirst() { opened.append(w.beginNest(1)) }
            try nest(set, 1)
            for n in opened.reversed() { try w.endNest(n) }
        }
    }

    /// Every operation of every generic family on hand (the fixtures; the kernel's specs when
    /// unpacked), both directions, every attribute: tshark shows them without a Lua error or a
    /// dissector failure, and every field registers (no clash with Wireshark's own names).
    @Test func everyOperationOfEveryFamilyDissects() throws {
        guard TsharkRun.executable != nil else { return }
        var dirs = [YNLSpecDirectory(path: Self.fixtures.path, origin: "--spec-dir")]
        if let k = kernelSpecDir() { dirs.append(YNLSpecDirectory(path: k, origin: "kernel")) }
        let lib = YNLSpecLibrary.load(dirs)
        let families = lib.specs.map(\.family).filter { LuaEmitter.skipReason($0) == nil }
        #expect(families.count >= 3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ynl-wireshark-all-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let plugin = dir.appendingPathComponent("flowtrace.lua")
        try LuaEmitter.emit(families).write(to: plugin, atomically: true, encoding: .utf8)
        let trace = dir.appendingPathComponent("all.pcapng")
        let writer = try PcapngWriter(path: trace.path, interfaces: [PcapngInterfaceInfo(name: "nlmon0")])
        var time: UInt64 = 1_700_000_000_000_000_000
        var messages = 0
        func append(_ bytes: [UInt8], toKernel: Bool) throws {
            time += 1000
            try bytes.withUnsafeBytes {
                try writer.append(TraceRecord(timestamp: time, direction: toKernel ? .toKernel : .toUser, netlink: $0))
            }
        }
        for (i, family) in families.enumerated() {
            let id = UInt16(0x20 + i)
            var w = NetlinkWriter(capacity: 256)
            Controller.newFamily(
                Controller.Family(id: id, name: family.name, version: 1, maxAttr: 1, ops: []), sequence: 1, port: 77,
                into: &w)
            try append(w.bytes, toKernel: false)
            for op in family.operations {
                for (request, value) in [(true, op.requestValue), (false, op.replyValue)] {
                    guard let value, let set = op.attributeSet, op.fixedHeader == nil else { continue }
                    var m = NetlinkWriter(capacity: 4096)
                    let start = m.beginMessage(
                        type: id, flags: request ? Netlink.flagRequest : 0, sequence: 2, port: 77)
                    m.genericHeader(command: UInt8(truncatingIfNeeded: value), version: 1)
                    for a in family.attributeSets[set].attributes { try Self.sample(family, a, into: &m, depth: 0) }
                    m.endMessage(start)
                    try append(m.bytes, toKernel: request)
                    messages += 1
                }
            }
        }
        try writer.close()
        let tshark = TsharkRun(directory: dir, plugin: plugin)
        let run = try tshark.run(["-r", trace.path, "-V"])
        #expect(run.status == 0 && run.err.isEmpty, "\(run.err)")
        #expect(
            !run.out.contains("Dissector failure") && !run.out.contains("dissector failure"),
            "a Lua error in \(trace.path)")
        #expect(!run.out.contains("Lua Error"))
        let ours = families.map(\.name).joined(separator: " || ")
        let reached = try tshark.run(["-r", trace.path, "-Y", ours, "-T", "fields", "-e", "frame.number"])
        #expect(reached.status == 0 && reached.err.isEmpty, "\(reached.err)")
        #expect(reached.out.split(separator: "\n").count == messages, "every message reaches its family's dissector")
        try? FileManager.default.removeItem(at: dir)
    }

    @Test func theProjectPluginIsPrintedFromTheInterpreter() throws {
        // The built-in plugin (from the specs compiled in) is what the interpreter's model of
        // spec/ gives, as `flowtrace wireshark print` prints it for any family.
        let lib = YNLSpecLibrary.load([YNLSpecDirectory(path: projectSpecDir, origin: "project")])
        let text = try LuaEmitter.emit(lib.specs.map(\.family))
        let builtin = try ProjectPlugin.lua()
        // Only the header's file names differ (absolute paths here, spec/... there).
        let strip = { (s: String) in
            s.split(separator: "\n").filter { !$0.hasPrefix("-- Generated from ") }.joined(separator: "\n")
        }
        #expect(strip(text) == strip(builtin))
        #expect(builtin.contains("-- Generated from spec/net_flow_nl.yaml and spec/nfl_hairpin.yaml"))
    }

    @Test func familiesWiresharkDissectsAreLeftOut() throws {
        let raw = try YNLSpecLoader.load(
            yaml: """
                name: rt-thing
                protocol: netlink-raw
                protonum: 0
                attribute-sets: [ { name: a, attributes: [ { name: x, type: u32 } ] } ]
                operations: { list: [ { name: get, attribute-set: a, value: 16, do: { request: { attributes: [ x ] } } } ] }
                """, file: "rt-thing.yaml")
        #expect(LuaEmitter.skipReason(raw)?.contains("netlink-route") == true)
        let ctrl = try YNLSpecLoader.load(
            yaml: """
                name: nlctrl
                attribute-sets: [ { name: a, attributes: [ { name: x, type: u32 } ] } ]
                operations: { list: [ { name: get, attribute-set: a, do: { request: { attributes: [ x ] } } } ] }
                """, file: "nlctrl.yaml")
        #expect(LuaEmitter.skipReason(ctrl) != nil)
        #expect(try !LuaEmitter.emit([raw, ctrl]).contains("SPEC[#SPEC + 1]"))
    }

    /// Specs the interpreter loads but Wireshark cannot name: a clear error naming the file and
    /// key, never a trap or a plugin that fails inside Wireshark.
    @Test(arguments: [
        (
            "name: fam\nattribute-sets: [ { name: a, attributes: [ { name: \"x y\", type: u32 } ] } ]",
            "attribute-sets[a].attributes[x y]"
        ),
        (
            "name: fam\nattribute-sets: [ { name: a, attributes: [ { name: x-y, type: u32 }, { name: x_y, type: u32 } ] } ]",
            "fam.x_y"
        ),
        ("name: \"Fam ily\"\nattribute-sets: [ { name: a, attributes: [ { name: x, type: u32 } ] } ]", "name"),
        (
            "name: Fam\nattribute-sets: [ { name: a, attributes: [ { name: x, type: u32 } ] } ]",
            "cannot name a Wireshark protocol"
        ),
        (
            "name: fam\nattribute-sets: [ { name: \"a\u{e9}\", attributes: [ { name: x, type: u32 } ] } ]",
            "attribute-sets[a\u{e9}]"
        ),
    ])
    func hostileNames(_ spec: (String, String)) throws {
        let text =
            spec.0
            + "\noperations: { list: [ { name: get, attribute-set: \(spec.0.contains("\u{e9}") ? "\"a\u{e9}\"" : "a"), do: { request: { attributes: [] } } } ] }"
        let family = try YNLSpecLoader.load(yaml: text, file: "hostile.yaml")
        do {
            _ = try LuaEmitter.emit([family])
            Issue.record("no error for \(spec.0)")
        } catch let error as SpecError {
            #expect(
                error.file == "hostile.yaml" || error.description.contains("hostile") || error.message.contains(spec.1),
                "\(error)")
            #expect("\(error)".contains(spec.1), "\(error)")
        }
    }
}
