// Shared pieces of the trace-format tests: a sample two-leg conversation built from real
// Flow Table API and hairpin messages, file helpers, and running the Wireshark tools.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

enum Sample {
    static let apiID: UInt16 = 0x1c
    static let hairpinID: UInt16 = 0x1d
    static let client: UInt32 = 4242
    static let listener: UInt32 = 77
    static let baseTime: UInt64 = 1_700_000_000_001_234_567

    static let interfaces = [
        PcapngInterfaceInfo(name: "api", description: "net_flow_nl (client ↔ unft)", os: "Linux test"),
        PcapngInterfaceInfo(name: "hairpin", description: "nfl_hairpin (unft ↔ listener)", os: "Linux test"),
    ]

    static let section = PcapngSectionInfo(
        hardware: "x86_64", os: "Linux 6.1.0-test",
        userApplication: "FlowTrace test", comment: "session: unit test trace")

    static func bytes(_ build: (inout NetlinkWriter) throws -> Void) rethrows -> [UInt8] {
        var w = NetlinkWriter()
        try build(&w)
        return w.bytes
    }

    static func newFamily(_ f: Controller.Family, seq: UInt32 = 0) -> [UInt8] {
        bytes { Controller.newFamily(f, sequence: seq, port: 0, into: &$0) }
    }

    /// NEWFAMILY for both families, as the recorder's preamble writes them.
    static func preambleRecords(time: UInt64) -> [StoredTraceRecord] {
        [
            StoredTraceRecord(
                timestamp: time, leg: .api, direction: .toUser, interface: 0,
                netlink: newFamily(.flowTable(id: apiID)), synthetic: true, comment: "family net_flow_nl"),
            StoredTraceRecord(
                timestamp: time, leg: .hairpin, direction: .toUser, interface: 1,
                netlink: newFamily(.hairpin(id: hairpinID)), synthetic: true),
        ]
    }

    static let flow = Flow(
        table: 1, uid: 10, priority: 5,
        matches: [
            FieldRef(
                instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xffff, type: .u16))
        ],
        actions: [
            Action(
                uid: 5,
                signature: [
                    ActionArg(
                        name: "port", type: .u32,
                        value: FieldValue(2, type: .u32))
                ])
        ])

    /// One GET_TABLES and one SET_FLOWS call through both legs: request, ENCAP, answer, ACKs.
    static func conversation(start: UInt64 = baseTime, calls: Int = 2) throws -> [StoredTraceRecord] {
        var out: [StoredTraceRecord] = []
        var t = start
        func add(_ leg: TraceLeg, _ dir: TraceDirection, _ bytes: [UInt8], pairing: UInt64?, comment: String? = nil) {
            t += 1_234_567
            out.append(
                StoredTraceRecord(
                    timestamp: t, leg: leg, direction: dir, interface: leg == .api ? 0 : 1,
                    netlink: bytes, pairing: pairing, comment: comment))
        }
        for call in 0..<calls {
            let seq = UInt32(call + 1)
            let pairing = UInt64(1000 + call)
            let isSet = call % 2 == 1
            var attrs = FlowTableAttributes.device(7)
            if isSet {
                attrs.flows = [flow]
                attrs.errorStrategy = .abort
            }
            let cmd: NFL.Command = isSet ? .setFlows : .getTables
            let request = FlowTableMessage(
                familyID: apiID, command: cmd, isRequest: true, sequence: seq,
                port: client, attributes: attrs)
            add(.api, .toKernel, try request.encoded(), pairing: pairing, comment: "call \(call) request")
            let encap = HairpinMessage(
                header: NetlinkHeader(type: hairpinID, flags: 0, sequence: 0, port: 0),
                command: NFLH.Command.encap.rawValue,
                encap: HairpinEncap(
                    command: UInt32(cmd.rawValue), sequence: UInt64(call + 1),
                    attributes: attrs))
            add(.hairpin, .toUser, try encap.encoded(), pairing: pairing)
            var answerAttrs = FlowTableAttributes.device(7)
            if !isSet {
                answerAttrs.tables = [Table(name: "tcam", uid: 1, source: 1, size: 1024, matches: [], actions: [5])]
            }
            let answerHeader = NetlinkHeader(
                type: hairpinID, flags: Netlink.flagRequest | Netlink.flagAck,
                sequence: seq + 100, port: listener)
            let answer = HairpinMessage(
                header: answerHeader, command: NFLH.Command.encap.rawValue,
                encap: HairpinEncap(
                    command: UInt32(cmd.rawValue), status: 0,
                    sequence: UInt64(call + 1), attributes: answerAttrs,
                    results: isSet ? [FlowResult(index: 0, errno: 0)] : nil))
            add(.hairpin, .toKernel, try answer.encoded(), pairing: pairing)
            add(
                .hairpin, .toUser,
                NetlinkAck(
                    header: NetlinkHeader(
                        type: Netlink.typeError, flags: 0, sequence: seq + 100,
                        port: listener),
                    error: 0, request: answerHeader
                ).encoded(), pairing: pairing)
            if !isSet {
                let reply = FlowTableMessage(
                    familyID: apiID, command: cmd, isRequest: false, sequence: seq, port: client,
                    attributes: answerAttrs)
                add(.api, .toUser, try reply.encoded(), pairing: pairing, comment: "reply")
            }
            add(
                .api, .toUser,
                NetlinkAck(
                    header: NetlinkHeader(type: Netlink.typeError, flags: 0, sequence: seq, port: client),
                    error: isSet ? -19 : 0, request: request.header,
                    message: isSet ? "no such device" : nil
                ).encoded(), pairing: pairing)
        }
        return out
    }
}

/// A scratch directory removed at the end of the test (kept when FLOWTRACE_KEEP_TEST_FILES is
/// set, to look at the files with Wireshark).
final class TempDir {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/flowtrace-test-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw TraceFileError(.io(errno), "mkdtemp failed") }
        path = String(cString: p)
    }

    deinit {
        if ProcessInfo.processInfo.environment["FLOWTRACE_KEEP_TEST_FILES"] == nil {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Writes records with the writer (preamble records first when given).
@discardableResult
func writeTrace(
    _ path: String, _ records: [StoredTraceRecord], preamble: [StoredTraceRecord] = [],
    flush: PcapngFlushPolicy = .default, rotation: PcapngRotation? = nil,
    section: PcapngSectionInfo = Sample.section
) throws -> PcapngWriter {
    let w = try PcapngWriter(
        path: path, section: section, interfaces: Sample.interfaces, flush: flush,
        rotation: rotation,
        preamble: preamble.isEmpty
            ? nil
            : { w in
                for r in preamble { try r.withRecord { try w.append($0) } }
            })
    for r in records { try r.withRecord { try w.append($0) } }
    try w.close()
    return w
}

struct ReadResult {
    var records: [StoredTraceRecord] = []
    var truncation: TraceTruncation?
    var error: TraceFileError?
    var format: TraceReader.Format?
    var families = FamilyTable()
}

/// Reads a whole file with TraceReader, keeping copies of the records.
func readTrace(_ path: String, options: PcapngReader.Options = .init()) -> ReadResult {
    var out = ReadResult()
    do {
        let r = try TraceReader(path: path, options: options)
        out.format = r.format
        defer { out.families = r.families; out.truncation = r.truncation }
        while let rec = try r.next() { out.records.append(StoredTraceRecord(rec)) }
    } catch {
        out.error = error
    }
    return out
}

func fileBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Offsets of the pcapng blocks of a little-endian file, found by walking the lengths
/// independently of the reader: (offset, type, length).
func blockLayout(_ bytes: [UInt8]) -> [(offset: Int, type: UInt32, length: Int)] {
    var out: [(Int, UInt32, Int)] = []
    var o = 0
    func le32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
    while o + 8 <= bytes.count {
        let len = Int(le32(o + 4))
        guard len >= 12 else { break }
        out.append((o, le32(o), len))
        o += len
    }
    return out
}

/// A small whole trace written at `path` (the preamble records, then two calls): what the
/// damage and repair tests cut.
func writeSmallTrace(_ path: String) throws -> (
    records: [StoredTraceRecord], bytes: [UInt8], blocks: [(offset: Int, type: UInt32, length: Int)]
) {
    let records = Sample.preambleRecords(time: 1) + (try Sample.conversation(calls: 2))
    try writeTrace(path, records)
    let bytes = try fileBytes(path)
    return (records, bytes, blockLayout(bytes))
}

// MARK: external tools

func toolPath(_ name: String) -> String? {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"]
    where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
        return dir + "/" + name
    }
    return nil
}

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func run(_ tool: String, _ args: [String]) throws -> ToolResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    // A scratch HOME keeps personal Wireshark plugins and preferences out of the results.
    env["HOME"] = NSTemporaryDirectory()
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes before waiting so a large output cannot block the tool.
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ToolResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self))
}
