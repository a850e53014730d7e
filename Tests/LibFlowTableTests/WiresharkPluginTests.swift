// The project's Wireshark plugin (what `flowtrace wireshark print --builtin` prints), run in a
// real tshark.
//
// The traces are built here, byte by byte, the way FlowTrace's recorder writes them
// (spec/trace-format.md): SHB, one IDB with LINKTYPE_NETLINK and
// ns timestamps, then one EPB per packet holding the 16-byte netlink pseudo-header and the
// messages, which LibFlowTable's encoders produce. The first packets are nlctrl NEWFAMILY
// messages: without them tshark never hands a message to the plugin.
//
// The plugin is printed from the specs compiled into YNLWireshark (ProjectPlugin): `ynl-gen
// --check` (SpecTests) guarantees that they are spec/. The tests are skipped only when tshark is
// not installed.

import Foundation
import Testing
import LibFlowTable
import YNLWireshark

// MARK: pcapng

/// A pcapng file with one section and one netlink interface (all blocks little-endian).
struct NetlinkPcapng {
    private(set) var bytes: [UInt8] = []
    private var nanoseconds: UInt64 = 1_700_000_000_000_000_000

    init() {
        // SHB: byte-order magic, version 1.0, section length unknown (-1), no options.
        block(0x0A0D_0D0A, Wire.le32(0x1A2B_3C4D) + Wire.le16(1) + Wire.le16(0) + [UInt8](repeating: 0xff, count: 8))
        // IDB: LINKTYPE_NETLINK (253), snaplen 0, if_tsresol (9) = 9 (ns), opt_endofopt.
        block(
            1, Wire.le16(253) + Wire.le16(0) + Wire.le32(0) + Wire.le16(9) + Wire.le16(1) + [9, 0, 0, 0] + Wire.le32(0))
    }

    /// One EPB: the pseudo-header (big-endian: packet type 7 to the kernel / 6 to user space,
    /// ARPHRD_NETLINK, no address, NETLINK_GENERIC), then one or more netlink messages.
    mutating func packet(_ messages: [UInt8], toKernel: Bool) {
        let pseudo: [UInt8] =
            be16(toKernel ? 7 : 6) + be16(0x0338) + be16(0) + [UInt8](repeating: 0, count: 8) + be16(0x0010)
        let data = pseudo + messages
        nanoseconds += 1_000_000
        block(
            6,
            Wire.le32(0) + Wire.le32(UInt32(nanoseconds >> 32)) + Wire.le32(UInt32(nanoseconds & 0xffff_ffff))
                + Wire.le32(UInt32(data.count)) + Wire.le32(UInt32(data.count)) + Wire.padded(data))
    }

    private mutating func block(_ type: UInt32, _ body: [UInt8]) {
        let total = Wire.le32(UInt32(12 + body.count))
        bytes += Wire.le32(type) + total + body + total
    }

    private func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
}

/// Big-endian netlink bytes, for the byte-order check (the kernel writes host order).
enum BigEndianWire {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8((v >> (8 * UInt32($0))) & 0xff) } }
    static func nla(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        Wire.padded(be16(UInt16(4 + payload.count)) + be16(type) + payload)
    }
    static func u32(_ type: UInt16, _ v: UInt32) -> [UInt8] { nla(type, be32(v)) }
    static func nest(_ type: UInt16, _ children: [[UInt8]]) -> [UInt8] { nla(type | 0x8000, children.flatMap { $0 }) }
    static func genl(type: UInt16, flags: UInt16, seq: UInt32, pid: UInt32, cmd: UInt8, _ attrs: [[UInt8]]) -> [UInt8] {
        let body: [UInt8] = [cmd, 1, 0, 0] + attrs.flatMap { $0 }
        return be32(UInt32(16 + body.count)) + be16(type) + be16(flags) + be32(seq) + be32(pid) + body
    }
}

// MARK: tshark

enum Tshark {
    static let executable: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("tshark") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    struct Output {
        var status: Int32
        var stdout: String
        /// Without tshark's warning about running as root.
        var stderr: String
    }
}

/// The plugin and the traces in a scratch directory, made once for all tests.
final class WiresharkFixture: Sendable {
    static let familyID: UInt16 = 0x1c
    static let hairpinID: UInt16 = 0x1d

    let directory: URL
    let plugin: URL
    let trace: URL
    let malformed: URL
    let bigEndian: URL

    static let shared: Result<WiresharkFixture, any Error> = Result { try WiresharkFixture() }

    init() throws {
        let root = SpecNumbers.root
        // One directory per checkout, rebuilt on every run; failures name it so the files can be
        // opened by hand.
        let tag = String(UInt32(truncatingIfNeeded: root.path.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }), radix: 16)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("flowtrace-wireshark-\(tag)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        plugin = directory.appendingPathComponent(ProjectPlugin.fileName)
        try ProjectPlugin.lua().write(to: plugin, atomically: true, encoding: .utf8)
        trace = directory.appendingPathComponent("trace.pcapng")
        try Data(try Self.traceFile().bytes).write(to: trace)
        malformed = directory.appendingPathComponent("malformed.pcapng")
        try Data(Self.malformedFile().bytes).write(to: malformed)
        bigEndian = directory.appendingPathComponent("bigendian.pcapng")
        try Data(Self.bigEndianFile().bytes).write(to: bigEndian)
    }

    func tshark(_ arguments: [String]) throws -> Tshark.Output {
        let process = Process()
        guard let executable = Tshark.executable else { throw CocoaError(.fileNoSuchFile) }
        process.executableURL = executable
        // tshark only honours -G as its first argument.
        let load = ["-X", "lua_script:\(plugin.path)"]
        process.arguments =
            arguments.first == "-G"
            ? Array(arguments.prefix(2)) + load + arguments.dropFirst(2)
            : load + arguments
        var environment = ProcessInfo.processInfo.environment
        // A scratch HOME: no personal preferences, and no installed copy of the plugin registering
        // the same fields twice.
        environment["HOME"] = directory.path
        environment.removeValue(forKey: "XDG_CONFIG_HOME")
        process.environment = environment
        // Files, not pipes: -V output is larger than a pipe buffer.
        let id = UUID().uuidString
        let out = directory.appendingPathComponent("\(id).out")
        let err = directory.appendingPathComponent("\(id).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: out)
        let errHandle = try FileHandle(forWritingTo: err)
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let stderr = String(decoding: try Data(contentsOf: err), as: UTF8.self)
            .split(separator: "\n").filter { !$0.contains("Running as user") }.joined(separator: "\n")
        return Tshark.Output(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self), stderr: stderr)
    }

    /// The frame numbers a display filter selects.
    func frames(_ file: URL, matching filter: String) throws -> [Int] {
        let run = try tshark(["-r", file.path, "-Y", filter, "-T", "fields", "-e", "frame.number"])
        #expect(run.status == 0 && run.stderr.isEmpty, "tshark -Y '\(filter)': \(run.stderr)")
        return run.stdout.split(separator: "\n").compactMap { Int($0) }
    }

    /// Frame number -> [field values] (tshark -T fields, tab-separated).
    func fields(_ file: URL, _ fields: [String], filter: String? = nil) throws -> [Int: [String]] {
        var arguments = ["-r", file.path, "-T", "fields", "-e", "frame.number"]
        for field in fields { arguments += ["-e", field] }
        if let filter { arguments += ["-Y", filter] }
        let run = try tshark(arguments)
        #expect(run.status == 0 && run.stderr.isEmpty, "tshark \(arguments): \(run.stderr)")
        var result: [Int: [String]] = [:]
        for line in run.stdout.split(separator: "\n") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if let number = Int(columns[0]) { result[number] = Array(columns.dropFirst()) }
        }
        return result
    }

    /// `tshark -V` of some frames, split per frame.
    func verbose(_ file: URL, frames numbers: [Int]) throws -> [Int: String] {
        let filter = numbers.map { "frame.number == \($0)" }.joined(separator: " || ")
        let run = try tshark(["-r", file.path, "-V", "-Y", filter])
        #expect(run.status == 0 && run.stderr.isEmpty, "tshark -V: \(run.stderr)")
        var result: [Int: String] = [:]
        for chunk in run.stdout.components(separatedBy: "\nFrame ").enumerated() {
            let text = chunk.offset == 0 ? chunk.element : "Frame " + chunk.element
            guard let number = Int(text.dropFirst("Frame ".count).prefix { $0.isNumber }) else { continue }
            result[number] = text
        }
        return result
    }

    // MARK: the traces

    static let ethertype = FieldRef(
        instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
        value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xffff, type: .u16))
    static let outPort = Action(
        uid: 5, signature: [ActionArg(name: "port", type: .u32, value: FieldValue(2, type: .u32))])

    static func flows(_ uids: [UInt32], table: UInt32 = 2, full: Bool = false, error: UInt32? = nil)
        -> FlowTableAttributes
    {
        var a = FlowTableAttributes.device(7)
        a.flows = uids.map { uid in
            full
                ? Flow(error: error, table: table, uid: uid, priority: 5, matches: [ethertype], actions: [outPort])
                : Flow(error: error, table: table, uid: uid, priority: 5)
        }
        return a
    }

    static func api(
        _ cmd: NFL.Command, _ a: FlowTableAttributes, seq: UInt32, request: Bool = true,
        flags: UInt16? = nil
    ) throws -> [UInt8] {
        let header = NetlinkHeader(
            type: familyID, flags: flags ?? (request ? Netlink.flagRequest | Netlink.flagAck : 0),
            sequence: seq, port: 4242)
        return try FlowTableMessage(header: header, command: cmd.rawValue, attributes: a).encoded()
    }

    /// An ENCAP from the kernel (a request) or from the listener (an answer: with status).
    static func encap(_ e: HairpinEncap) throws -> [UInt8] {
        let header =
            e.isAnswer
            ? NetlinkHeader(type: hairpinID, flags: Netlink.flagRequest | Netlink.flagAck, sequence: 8, port: 99)
            : NetlinkHeader(type: hairpinID, flags: 0, sequence: 0, port: 0)
        return try HairpinMessage(header: header, command: NFLH.Command.encap.rawValue, encap: e).encoded()
    }

    static func ack(family: UInt16, seq: UInt32, port: UInt32, error: Int32 = 0, message: String? = nil) -> [UInt8] {
        NetlinkAck(
            header: NetlinkHeader(type: Netlink.typeError, flags: 0, sequence: seq, port: port), error: error,
            request: NetlinkHeader(length: 36, type: family, flags: 5, sequence: seq, port: port),
            message: message
        ).encoded()
    }

    static func newFamilies() -> [[UInt8]] {
        [Controller.Family.flowTable(id: familyID), .hairpin(id: hairpinID)].map { family in
            var w = NetlinkWriter(capacity: 256)
            Controller.newFamily(family, sequence: 1, port: 4242, into: &w)
            return w.bytes
        }
    }

    /// The frames the tests name by number (see `expectedInfo`).
    static func traceFile() throws -> NetlinkPcapng {
        var p = NetlinkPcapng()
        for message in newFamilies() { p.packet(message, toKernel: false) }  // 1, 2
        p.packet(try api(.setFlows, flows([10, 11, 12], full: true), seq: 1), toKernel: true)  // 3
        var batch = flows([10, 11, 12], full: true)
        batch.errorStrategy = .abort
        p.packet(try encap(HairpinEncap(command: 6, sequence: 42, attributes: batch)), toKernel: false)  // 4
        p.packet(
            try encap(
                HairpinEncap(
                    command: 6, status: 0, sequence: 42, attributes: .device(7),
                    results: (0..<3).map { FlowResult(index: $0, errno: 0) })), toKernel: true)  // 5
        p.packet(ack(family: hairpinID, seq: 8, port: 99), toKernel: false)  // 6
        p.packet(ack(family: familyID, seq: 1, port: 4242), toKernel: false)  // 7
        var selector = FlowTableAttributes.device(7)
        selector.selector = FlowSelector(table: 2, minPriority: 1, maxPriority: 9)
        p.packet(try api(.getFlows, selector, seq: 2), toKernel: true)  // 8
        p.packet(try encap(HairpinEncap(command: 5, sequence: 43, attributes: selector)), toKernel: false)  // 9
        p.packet(
            try encap(
                HairpinEncap(
                    command: 5, status: 0, sequence: 43, attributes: flows([10]),
                    part: 0, more: true)), toKernel: true)  // 10
        p.packet(
            try encap(
                HairpinEncap(
                    command: 5, status: 0, sequence: 43, attributes: flows([11]),
                    part: 1)), toKernel: true)  // 11
        p.packet(
            try api(.getFlows, flows([10, 11]), seq: 2, request: false, flags: Netlink.flagMulti), toKernel: false)  // 12
        p.packet(
            Wire.le32(20) + Wire.le16(Netlink.typeDone) + Wire.le16(Netlink.flagMulti) + Wire.le32(2)
                + Wire.le32(4242) + Wire.le32(0), toKernel: false)  // 13
        var logged = flows([10])
        logged.errorStrategy = .abortLog
        p.packet(try api(.setFlows, logged, seq: 3), toKernel: true)  // 14
        p.packet(try encap(HairpinEncap(command: 6, sequence: 44, attributes: logged)), toKernel: false)  // 15
        p.packet(
            try encap(
                HairpinEncap(
                    command: 6, status: 17, sequence: 44, results: [FlowResult(index: 0, errno: 17)],
                    errorMessage: "duplicate uid 10 in table 2")), toKernel: true)  // 16
        p.packet(try api(.setFlows, flows([10], error: 17), seq: 3, request: false), toKernel: false)  // 17
        p.packet(
            ack(family: familyID, seq: 3, port: 4242, error: -17, message: "flow 0 (table 2 uid 10): duplicate uid"),
            toKernel: false)  // 18
        p.packet(
            try HairpinMessage(
                header: NetlinkHeader(type: hairpinID, flags: 5, sequence: 1, port: 0),
                command: NFLH.Command.setListener.rawValue, listener: HairpinListener()
            ).encoded(),
            toKernel: true)  // 19
        p.packet(
            try HairpinMessage(
                header: NetlinkHeader(type: hairpinID, flags: 0, sequence: 2, port: 77),
                command: NFLH.Command.getListener.rawValue, listener: HairpinListener(port: 77)
            ).encoded(),
            toKernel: false)  // 20
        var tables = FlowTableAttributes.device(7)
        tables.tables = [
            Table(
                name: "l2", uid: 2, source: 1, apply: 3, size: 1024,
                matches: [FieldRef(instance: 1, header: 1, field: 2, maskType: .exact, type: .unspec)],
                actions: [5, 9])
        ]
        p.packet(
            try api(.getTables, tables, seq: 5, request: false) + ack(family: familyID, seq: 5, port: 4242),
            toKernel: false)  // 21
        p.packet(
            try api(.getFlows, flows([10]), seq: 6, request: false, flags: Netlink.flagMulti)
                + api(.getFlows, flows([12], table: 3), seq: 6, request: false, flags: Netlink.flagMulti),
            toKernel: false)  // 22
        var graph = FlowTableAttributes.device(7)
        graph.tableGraph = [TableGraphNode(uid: 2, flags: NFL.TableGraphNodeFlag.ingressRoot, jumps: [])]
        p.packet(try api(.getTableGraph, graph, seq: 7, request: false), toKernel: false)  // 23
        return p
    }

    static func malformedFile() -> NetlinkPcapng {
        var p = NetlinkPcapng()
        p.packet(newFamilies()[0], toKernel: false)  // 1
        p.packet(newFamilies()[1], toKernel: false)  // 2
        let preamble = [Wire.u32(1, 1), Wire.u32(2, 7)]
        func api(_ cmd: UInt8, _ attrs: [[UInt8]]) -> [UInt8] {
            Wire.genl(type: familyID, flags: 5, seq: 10, pid: 1, cmd: cmd, attrs)
        }
        // 3: IDENTIFIER claims 64 bytes where 8 are left (offset 16 + 4 + 8 = 28 in the message).
        p.packet(api(0, [Wire.u32(1, 1), Wire.le16(64) + Wire.le16(2) + Wire.le32(7)]), toKernel: true)
        // 4: a u32 with a 2-byte payload.
        p.packet(api(0, [Wire.u32(1, 1), Wire.nla(2, [7, 0])]), toKernel: true)
        // 5: nla_len 2, shorter than the header.
        p.packet(api(0, preamble + [Wire.le16(2) + Wire.le16(3) + Wire.le32(0)]), toKernel: true)
        // 6: an attribute number the spec does not have (a warning, not an error).
        p.packet(api(0, preamble + [Wire.u32(0x30, 1)]), toKernel: true)
        // 7: a flow whose TABLE overruns the flow; FLOWS_ERROR after it must still be decoded.
        p.packet(
            api(
                6,
                preamble + [
                    Wire.nest(8, [Wire.nest(1, [Wire.le16(40) + Wire.le16(2) + Wire.le32(2)])]),
                    Wire.u32(9, 1),
                ]), toKernel: true)
        // 8: two bytes after the last attribute.
        p.packet(api(0, preamble + [[0xee, 0xee]]), toKernel: true)
        // 9: the same overrun inside a hairpin ENCAP's net_flow_nl attributes.
        p.packet(
            Wire.genl(
                type: hairpinID, flags: 0, seq: 0, pid: 0, cmd: 3,
                [
                    Wire.nest(
                        1,
                        [
                            Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 9),
                            Wire.nest(
                                5,
                                preamble + [
                                    Wire.nest(8, [Wire.nest(1, [Wire.le16(40) + Wire.le16(3) + Wire.le32(10)])])
                                ]),
                        ])
                ]), toKernel: false)
        // 10: a genl header cut to 2 bytes (genl's own business; the plugin must not fail).
        p.packet(
            Wire.le32(18) + Wire.le16(familyID) + Wire.le16(5) + Wire.le32(11) + Wire.le32(1) + [0, 1], toKernel: true)
        return p
    }

    static func bigEndianFile() -> NetlinkPcapng {
        typealias B = BigEndianWire
        var p = NetlinkPcapng()
        p.packet(newFamilies()[0], toKernel: false)  // 1 (little-endian)
        p.packet(
            B.genl(type: familyID, flags: 5, seq: 1, pid: 4242, cmd: 0, [B.u32(1, 1), B.u32(2, 7)]), toKernel: true)  // 2
        let match = B.nest(
            1, [B.u32(2, 1), B.u32(3, 1), B.u32(4, 3), B.u32(5, 1), B.u32(6, 2), B.nla(7, [0x08, 0x00])])
        let flow = B.nest(1, [B.u32(2, 2), B.u32(3, 10), B.u32(4, 5), B.nest(5, [match])])
        p.packet(
            B.genl(type: familyID, flags: 5, seq: 2, pid: 4242, cmd: 6, [B.u32(1, 1), B.u32(2, 7), B.nest(8, [flow])]),
            toKernel: true)  // 3
        // 4: little-endian again, as a 2015 kernel writes it: nests without NLA_F_NESTED; and
        // IDENTIFIER flagged NLA_F_NET_BYTEORDER, so big-endian inside a little-endian message.
        let plainFlow = Wire.nla(1, [Wire.u32(2, 2), Wire.u32(3, 10), Wire.u32(4, 5)].flatMap { $0 })
        p.packet(
            Wire.genl(
                type: familyID, flags: 5, seq: 3, pid: 4242, cmd: 6,
                [Wire.u32(1, 1), Wire.nla(2 | 0x4000, B.be32(7)), Wire.nla(8, plainFlow)]), toKernel: true)
        return p
    }
}

/// Names only the missing lines (a failed `contains` would print the whole tshark output).
func expectLines(
    _ output: String, _ lines: [String], in what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let missing = lines.filter { !output.contains($0) }
    #expect(missing.isEmpty, "\(what) lacks \(missing)", sourceLocation: sourceLocation)
}

func expectAbsent(
    _ output: String, _ texts: [String], in what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let present = texts.filter { output.contains($0) }
    #expect(present.isEmpty, "\(what) contains \(present)", sourceLocation: sourceLocation)
}

// MARK: tests

@Suite(
    .enabled(
        if: Tshark.executable != nil,
        "tshark is not installed (apt-get install -y tshark); the Wireshark plugin tests need it"))
struct WiresharkPluginTests {
    var fixture: WiresharkFixture { get throws { try WiresharkFixture.shared.get() } }

    static let expectedInfo: [Int: (protocol: String, info: String)] = [
        1: ("Netlink generic", "NEWFAMILY net_flow_nl id 0x1c"),
        2: ("Netlink generic", "NEWFAMILY nfl_hairpin id 0x1d"),
        3: ("NFL", "SET_FLOWS req ifindex 7 3 flows table 2"),
        4: ("NFLH", "ENCAP SET_FLOWS seq 42 request ifindex 7 3 flows table 2 errstrategy ABORT"),
        5: ("NFLH", "ENCAP SET_FLOWS seq 42 answer status 0 (OK) ifindex 7 3 results"),
        6: ("NFLH", "ACK nfl_hairpin seq 8"),
        7: ("NFL", "ACK net_flow_nl seq 1"),
        8: ("NFL", "GET_FLOWS req ifindex 7 table 2 prio 1-9"),
        9: ("NFLH", "ENCAP GET_FLOWS seq 43 request ifindex 7 table 2 prio 1-9"),
        10: ("NFLH", "ENCAP GET_FLOWS seq 43 answer status 0 (OK) part 0 more ifindex 7 1 flow table 2"),
        11: ("NFLH", "ENCAP GET_FLOWS seq 43 answer status 0 (OK) part 1 ifindex 7 1 flow table 2"),
        12: ("NFL", "GET_FLOWS rsp ifindex 7 2 flows table 2"),
        13: ("Netlink", "DONE seq 2"),
        14: ("NFL", "SET_FLOWS req ifindex 7 1 flow table 2 errstrategy ABORT_LOG"),
        15: ("NFLH", "ENCAP SET_FLOWS seq 44 request ifindex 7 1 flow table 2 errstrategy ABORT_LOG"),
        16: (
            "NFLH",
            "ENCAP SET_FLOWS seq 44 answer status 17 (EEXIST) 1 result (1 failed) \"duplicate uid 10 in table 2\""
        ),
        17: ("NFL", "SET_FLOWS rsp ifindex 7 1 flow table 2 error EEXIST"),
        18: ("NFL", "ERROR EEXIST (-17) net_flow_nl seq 3: \"flow 0 (table 2 uid 10): duplicate uid\""),
        19: ("NFLH", "SET_LISTENER req type ENCAP"),
        20: ("NFLH", "GET_LISTENER rsp type ENCAP port 77"),
        21: ("NFL", "GET_TABLES rsp ifindex 7 1 table | ACK net_flow_nl seq 5"),
        22: ("NFL", "GET_FLOWS rsp ifindex 7 1 flow table 2 | GET_FLOWS rsp ifindex 7 1 flow table 3"),
        23: ("NFL", "GET_TABLE_GRAPH rsp ifindex 7 1 node"),
    ]

    @Test func protocolAndInfoColumns() throws {
        let f = try fixture
        let columns = try f.fields(f.trace, ["_ws.col.Protocol", "_ws.col.Info"])
        #expect(columns.count == Self.expectedInfo.count, "frames in \(f.trace.path)")
        for (number, expected) in Self.expectedInfo.sorted(by: { $0.key < $1.key }) {
            #expect(columns[number] == [expected.protocol, expected.info], "frame \(number) of \(f.trace.path)")
        }
    }

    @Test func wellFormedTraceHasNoErrors() throws {
        let f = try fixture
        let run = try f.tshark(["-r", f.trace.path, "-V"])
        #expect(run.status == 0)
        #expect(run.stderr.isEmpty, "stderr: \(run.stderr)")
        expectAbsent(
            run.stdout,
            [
                "Lua Error", "Lua: Error", "Expert Info (Error", "Expert Info (Warning", "Malformed",
                "not in the set", "Dissector failure", "Dissector bug", "[malformed]",
            ],
            in: "tshark -V of \(f.trace.path)")
        // Every family message was claimed by the plugin (genl adds genl.cmd only for unclaimed ones).
        #expect(try f.frames(f.trace, matching: "genl.cmd").isEmpty)
    }

    @Test func treeNamesCommandsAndAttributes() throws {
        let f = try fixture
        let v = try f.verbose(f.trace, frames: [3, 4, 5, 16, 21, 23])
        let api = try #require(v[3])
        expectLines(
            api,
            [
                "Command: SET_FLOWS (6)", "IDENTIFIER_TYPE: IFINDEX (1)", "IDENTIFIER: 7", "[Interface index: 7]",
                "FLOWS (flow-list layout): 3 flows", "FLOW [0]: table 2, uid 10, priority 5",
                "FLOW [2]: table 2, uid 12", "PRIORITY: 5", "MATCHES: 1 field-ref", "ACTIONS: 1 action",
                "FIELD_REF [0]: instance 1, header 1, field 3, mask-type EXACT",
                "HEADER: 1", "MASK_TYPE: EXACT (1)", "TYPE: U16 (2)",
                "VALUE: 0x0800 (16 bits, little-endian)", "MASK: 0xffff (16 bits, little-endian)",
                "ACTION [0]: uid 5", "ACTION_ARG [0]: name \"port\", type U32, value 0x00000002",
                "NAME: port", "..00 0000 0000 1000 = Type: 8 (FLOWS)", "NLA_F_NESTED: True",
            ], in: "frame 3")
        // The ENCAP's ATTR is a net_flow_nl attribute set, decoded with net_flow_nl's names.
        let encap = try #require(v[4])
        expectLines(
            encap,
            [
                "Command: ENCAP (3)", "ENCAP: cmd-type NFL_COMMAND, cmd SET_FLOWS, seq 42", "CMD_TYPE: NFL_COMMAND (1)",
                "CMD: SET_FLOWS (6)", "SEQ: 42", "ATTR: identifier-type IFINDEX, identifier 7, flows-error ABORT",
                "IDENTIFIER: 7", "FLOWS (flow-list layout)", "FLOW [1]: table 2, uid 11, priority 5",
                "FLOWS_ERROR: ABORT (0)", "VALUE: 0x0800 (16 bits, little-endian)",
            ], in: "frame 4")
        expectAbsent(encap, ["STATUS"], in: "frame 4, an ENCAP request")
        let answer = try #require(v[5])
        expectLines(
            answer, ["STATUS: OK (0)", "RESULTS", "RESULT [2]: index 2, errno OK", "ERRNO: OK (0)"], in: "frame 5")
        let failed = try #require(v[16])
        expectLines(
            failed, ["STATUS: EEXIST (17)", "ERROR_MSG: duplicate uid 10 in table 2", "ERRNO: EEXIST (17)"],
            in: "frame 16")
        let tables = try #require(v[21])
        expectLines(
            tables,
            [
                "TABLES: 1 table", "TABLE [0]: name \"l2\", uid 2, source 1, apply 3, size 1024", "SIZE: 1024",
                "ACTIONS: 2 uids", "UID: 5", "UID: 9", "FlowTrace: ACK net_flow_nl seq 5",
            ], in: "frame 21")
        let graph = try #require(v[23])
        expectLines(
            graph,
            [
                "FLAGS: 0x00000002", "= INGRESS_ROOT: True", "= EGRESS_ROOT: False",
                "NODE [0]: uid 2, flags INGRESS_ROOT",
            ], in: "frame 23")
    }

    /// FLOWS: the selector in GET_FLOWS requests (API: NLM_F_REQUEST; ENCAP: no STATUS), the list
    /// everywhere else. The wrong choice would read TABLE (1) as a FLOW nest and report garbage.
    @Test func flowsLayoutFollowsCommandAndDirection() throws {
        let f = try fixture
        let v = try f.verbose(f.trace, frames: [8, 9, 10, 12])
        for number in [8, 9] {
            let text = try #require(v[number])
            expectLines(
                text, ["FLOWS (table-flows layout): table 2, minprio 1, maxprio 9", "MINPRIO: 1", "MAXPRIO: 9"],
                in: "frame \(number)")
            expectAbsent(text, ["FLOW [", "Expert Info"], in: "frame \(number), a GET_FLOWS request")
        }
        for number in [10, 12] {
            let text = try #require(v[number])
            expectLines(text, ["FLOWS (flow-list layout)", "FLOW [0]: table 2, uid 10"], in: "frame \(number)")
            expectAbsent(text, ["MINPRIO", "Expert Info"], in: "frame \(number), a GET_FLOWS answer")
        }
        #expect(try f.frames(f.trace, matching: "net_flow_nl.table_flows.table") == [8, 9])
        #expect(try f.frames(f.trace, matching: "net_flow_nl.flow_list.flow && net_flow_nl.cmd == 5") == [12, 22])
    }

    @Test func filterFieldsSelectTheRightFrames() throws {
        let f = try fixture
        let cases: [(String, [Int])] = [
            ("net_flow_nl", [3, 8, 12, 14, 17, 21, 22, 23]),
            ("net_flow_nl.flow.uid == 10", [3, 4, 10, 12, 14, 15, 17, 22]),
            ("net_flow_nl && net_flow_nl.flow.uid == 10", [3, 12, 14, 17, 22]),
            ("nfl_hairpin && net_flow_nl.flow.uid == 10", [4, 10, 15]),
            ("net_flow_nl.flow.uid == 12", [3, 4, 22]),
            ("net_flow_nl.flow.priority == 5", [3, 4, 10, 11, 12, 14, 15, 17, 22]),
            ("net_flow_nl.flow.error == 17", [17]),
            ("net_flow_nl.cmd == 5", [8, 12, 22]),
            ("net_flow_nl.cmd == 6", [3, 14, 17]),
            ("net_flow_nl.ifindex == 7", [3, 4, 5, 8, 9, 10, 11, 12, 14, 15, 17, 21, 22, 23]),
            ("net_flow_nl.table == 2", [3, 4, 8, 9, 10, 11, 12, 14, 15, 17, 22]),
            ("net_flow_nl.table == 3", [22]),
            ("net_flow_nl.errstrategy == 2", [14, 15]),
            ("net_flow_nl.errstrategy", [4, 14, 15]),
            ("net_flow_nl.field_ref.header == 1", [3, 4, 21]),
            ("net_flow_nl.field_ref.value == 0x0800", [3, 4]),
            ("net_flow_nl.table_graph_node.flags.ingress_root", [23]),
            ("nfl_hairpin.cmd == 3", [4, 5, 9, 10, 11, 15, 16]),
            ("nfl_hairpin.encap.cmd == 5", [9, 10, 11]),
            ("nfl_hairpin.encap.seq == 42", [4, 5]),
            ("nfl_hairpin.encap.status", [5, 10, 11, 16]),
            ("nfl_hairpin.encap.status == 17", [16]),
            ("nfl_hairpin.encap.part == 1", [11]),
            ("nfl_hairpin.encap.more", [10]),
            ("nfl_hairpin.result.errno == 17", [16]),
            ("nfl_hairpin.listener.port == 77", [20]),
            ("flowtrace.ack.error == 0", [6, 7, 21]),
            ("flowtrace.ack.error == -17 && flowtrace.ack.family == \"net_flow_nl\"", [18]),
        ]
        for (filter, expected) in cases {
            #expect(try f.frames(f.trace, matching: filter) == expected, "-Y '\(filter)' on \(f.trace.path)")
        }
    }

    @Test func fieldValues() throws {
        let f = try fixture
        let rows = try f.fields(
            f.trace,
            [
                "net_flow_nl.cmd", "net_flow_nl.ifindex", "nfl_hairpin.encap.cmd",
                "nfl_hairpin.encap.seq", "nfl_hairpin.encap.status", "net_flow_nl.flow.uid",
            ])
        #expect(rows[3] == ["6", "7", "", "", "", "10,11,12"])
        #expect(rows[4] == ["", "7", "6", "42", "", "10,11,12"])
        #expect(rows[16] == ["", "", "6", "44", "17", ""])
        #expect(rows[22] == ["5,5", "7,7", "", "", "", "10,12"])
    }

    /// Every attribute of both specs has its filter field: <family>.<attr> for the top-level set,
    /// <family>.<set>.<attr> otherwise; commands and enum values carry the spec's names.
    @Test func everySpecAttributeHasAField() throws {
        let f = try fixture
        let run = try f.tshark(["-G", "fields"])
        #expect(run.status == 0)
        var fields: [String: String] = [:]  // abbreviation -> type
        for line in run.stdout.split(separator: "\n") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            if columns.count > 3, columns[0] == "F" { fields[String(columns[2])] = String(columns[3]) }
        }
        let renamed = ["net_flow_nl.flows_error": "net_flow_nl.errstrategy"]
        var checked = 0
        for (file, family, top) in [
            ("net_flow_nl.yaml", "net_flow_nl", "nfl-attrs"),
            ("nfl_hairpin.yaml", "nfl_hairpin", "nflh-attrs"),
        ] {
            let spec = try SpecNumbers(file)
            for set in spec.sets {
                for attr in set.attributes where attr.type != "unused" {
                    let name = attr.name.replacingOccurrences(of: "-", with: "_")
                    var abbr =
                        set.name == top
                        ? "\(family).\(name)"
                        : "\(family).\(set.name.replacingOccurrences(of: "-", with: "_")).\(name)"
                    abbr = renamed[abbr] ?? abbr
                    #expect(fields[abbr] != nil, "no field \(abbr) for \(file) \(set.name).\(attr.name)")
                    checked += 1
                }
            }
        }
        #expect(checked > 60)
        for abbr in [
            "net_flow_nl.cmd", "net_flow_nl.ifindex", "net_flow_nl.table", "net_flow_nl.flow.uid",
            "net_flow_nl.flow.priority", "net_flow_nl.flow.error", "net_flow_nl.errstrategy",
            "net_flow_nl.field_ref.header", "nfl_hairpin.cmd", "nfl_hairpin.encap.cmd",
            "nfl_hairpin.encap.seq", "nfl_hairpin.encap.status", "nfl_hairpin.encap.part",
            "nfl_hairpin.listener.port",
        ] {
            #expect(fields[abbr] != nil, "no field \(abbr)")
        }
        #expect(fields["nfl_hairpin.encap.seq"] == "FT_UINT64")
        #expect(fields["net_flow_nl.field_ref.value"] == "FT_UINT64")

        let values = try f.tshark(["-G", "values"])
        let lines = Set(values.stdout.split(separator: "\n").map(String.init))
        // A function, so that a failure prints the line, not the thousands in `lines`.
        func listed(_ line: String) -> Bool { lines.contains(line) }
        let nfl = try SpecNumbers("net_flow_nl.yaml")
        for op in nfl.operations {
            let name = SpecNumbers.cUpper(op.name)
            #expect(listed("V\tnet_flow_nl.cmd\t\(op.value)\t\(name)"), "command \(op.name)")
            // ENCAP's CMD names net_flow_nl commands.
            #expect(listed("V\tnfl_hairpin.encap.cmd\t\(op.value)\t\(name)"), "encap command \(op.name)")
        }
        let hairpin = try SpecNumbers("nfl_hairpin.yaml")
        for op in hairpin.operations {
            #expect(listed("V\tnfl_hairpin.cmd\t\(op.value)\t\(SpecNumbers.cUpper(op.name))"), "command \(op.name)")
        }
        for (field, spec, enumName) in [
            ("net_flow_nl.field_ref.mask_type", nfl, "mask-type"),
            ("net_flow_nl.field_ref.type", nfl, "field-ref-type"),
            ("net_flow_nl.action_arg.type", nfl, "action-arg-type"),
            ("net_flow_nl.errstrategy", nfl, "flows-error"),
            ("net_flow_nl.identifier_type", nfl, "identifier-type"),
            ("nfl_hairpin.listener.type", hairpin, "listener-type"),
            ("nfl_hairpin.encap.cmd_type", hairpin, "encap-cmd-type"),
        ] {
            let entries = try #require(spec.enums[enumName])
            for entry in entries {
                #expect(
                    listed("V\t\(field)\t\(entry.value)\t\(SpecNumbers.cUpper(entry.name))"),
                    "\(field) value \(entry.value)")
            }
        }
        for entry in try #require(nfl.enums["table-graph-node-flag"]) {
            let abbr = "net_flow_nl.table_graph_node.flags." + entry.name.replacingOccurrences(of: "-", with: "_")
            #expect(fields[abbr] == "FT_BOOLEAN", "flag field \(abbr)")
        }
    }

    @Test func malformedInputGivesExpertInfoNotErrors() throws {
        let f = try fixture
        let run = try f.tshark(["-r", f.malformed.path, "-V"])
        #expect(run.status == 0)
        #expect(run.stderr.isEmpty, "stderr: \(run.stderr)")
        expectAbsent(
            run.stdout, ["Lua Error", "Lua: Error", "Dissector failure"], in: "tshark -V of \(f.malformed.path)")
        expectLines(
            run.stdout,
            [
                "Expert Info (Error/Malformed): attribute 2 at offset 28: nla_len 64 runs 56 byte(s) past the end of its nfl-attrs nest",
                "Expert Info (Error/Malformed): IDENTIFIER: a u32 needs 4 bytes, this one has 2",
                "nla_len 2 is shorter than the 4-byte attribute header",
                "Expert Info (Warning/Undecoded): attribute 48 is not in the set nfl-attrs",
                "Expert Info (Warning/Malformed): 2 byte(s) after the last attribute of nfl-attrs",
                "FLOWS_ERROR: CONTINUE (1)",
            ], in: "tshark -V of \(f.malformed.path)")
        #expect(try f.frames(f.malformed, matching: "net_flow_nl.malformed") == [3, 4, 5, 7, 9])
        #expect(try f.frames(f.malformed, matching: "net_flow_nl.unknown_attr") == [6])
        #expect(try f.frames(f.malformed, matching: "net_flow_nl.trailing") == [8])
        #expect(try f.frames(f.malformed, matching: "net_flow_nl.failure || nfl_hairpin.failure").isEmpty)
        // What could be read is still there, in the columns too.
        let columns = try f.fields(f.malformed, ["_ws.col.Info"])
        #expect(columns[3] == ["GET_TABLES req [malformed]"])
        #expect(columns[4] == ["GET_TABLES req [malformed]"])
        #expect(columns[6] == ["GET_TABLES req ifindex 7"])
        #expect(columns[7] == ["SET_FLOWS req ifindex 7 1 flow errstrategy CONTINUE [malformed]"])
        #expect(columns[8] == ["GET_TABLES req ifindex 7"])
        #expect(columns[9] == ["ENCAP SET_FLOWS seq 9 request ifindex 7 1 flow [malformed]"])
    }

    @Test func byteOrdersAndUnflaggedNestsAreDecoded() throws {
        let f = try fixture
        let columns = try f.fields(f.bigEndian, ["_ws.col.Info", "net_flow_nl.flow.uid"])
        #expect(columns[2] == ["GET_TABLES req ifindex 7", ""])
        #expect(columns[3] == ["SET_FLOWS req ifindex 7 1 flow table 2", "10"])
        #expect(columns[4] == ["SET_FLOWS req ifindex 7 1 flow table 2", "10"])
        let v = try f.verbose(f.bigEndian, frames: [3, 4])
        let text = try #require(v[3])
        expectLines(
            text, ["[big-endian]", "VALUE: 0x0800 (16 bits, big-endian)", "FLOW [0]: table 2, uid 10, priority 5"],
            in: "frame 3 of \(f.bigEndian.path)")
        expectAbsent(text, ["Expert Info"], in: "frame 3 of \(f.bigEndian.path)")
        let legacy = try #require(v[4])
        expectLines(
            legacy, ["FLOW [0]: table 2, uid 10, priority 5", "NLA_F_NET_BYTEORDER: True", "[Interface index: 7]"],
            in: "frame 4 of \(f.bigEndian.path)")
        expectAbsent(legacy, ["Expert Info", "NLA_F_NESTED", "[big-endian]"], in: "frame 4 of \(f.bigEndian.path)")
    }
}
