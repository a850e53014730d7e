// Shared pieces of the replay tests: traces made for them (a demo session recorded through
// the embedded twin, generated ones), rewriting one record of a trace, and running the built
// flowtrace binary for exit statuses.

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay
import LiveCapture

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A directory removed when the value goes away (kept with FLOWTRACE_KEEP_TEST_FILES set).
final class TempDir {
    let path: String

    init(_ prefix: String = "replay-test") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ b in b.baseAddress.flatMap { mkdtemp($0) } }) else {
            throw TestFailure("mkdtemp failed")
        }
        path = String(cString: p)
    }

    deinit {
        if ProcessInfo.processInfo.environment["FLOWTRACE_KEEP_TEST_FILES"] == nil {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Where the shared fixtures live; removed when the test process exits (a static lives until
/// then, so its deinit never runs).
private let fixturePath: String = {
    var template = Array("/tmp/replay-fixtures-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) } }.map {
        String(cString: $0)
    }
    let path = made ?? "/tmp/replay-fixtures-\(getpid())"
    if made == nil { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    atexit {
        if ProcessInfo.processInfo.environment["FLOWTRACE_KEEP_TEST_FILES"] == nil {
            try? FileManager.default.removeItem(atPath: fixturePath)
        }
    }
    return path
}()

enum Fixtures {
    /// Traces shared by the tests of one run (made once; tests only read them).
    struct Directory {
        func file(_ name: String) -> String { fixturePath + "/" + name }
    }
    static let directory = Directory()

    /// A session recorded as `flowtrace demo` records one: the twin and the daemon in this
    /// process, a client installing ClassBench-like flows, reading them back, deleting, and
    /// provoking each kind of error; at the end the daemon goes away (ENOTCONN).
    static let demo: Result<String, TestFailure> = {
        let path = directory.file("demo.pcapng")
        do {
            try recordDemo(to: path, dir: directory.file("demo-sockets"))
            return .success(path)
        } catch {
            return .failure(TestFailure("recording the demo failed: \(error)"))
        }
    }()

    /// A generated trace with a populated starting state, churn and errors on two devices.
    static let generated: Result<String, TestFailure> = {
        let path = directory.file("gen.pcapng")
        var o = GenOptions(flows: 1500, seed: 11)
        o.devices = 2
        o.batch = 8
        o.prefill = 300
        o.churn = 0.3
        o.errors = 0.08
        do {
            _ = try TraceGenerator.write(to: path, options: o)
            return .success(path)
        } catch {
            return .failure(TestFailure("gen failed: \(error)"))
        }
    }()

    static func recordDemo(to path: String, dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var o = LoopbackSession.Options()
        o.devices = LoopbackSession.devices(named: ["unft0", "unft1"])
        o.paths = TwinSocketPaths(directory: dir)
        o.recordPath = path
        let session = try LoopbackSession(o)
        try session.start()
        defer { session.stop() }
        let c = try FlowTableClient(path: o.paths.api, timeout: 10)
        defer { c.close() }
        let unft0: UInt32 = 1000, unft1: UInt32 = 1001
        for cmd in [NFL.Command.getTables, .getHeaders, .getActions, .getHeaderGraph, .getTableGraph] {
            _ = try c.get(cmd, ifindex: unft0)
        }
        var gen = FlowGenerator(model: o.model, seed: 2015)
        let flows = gen.flows(count: 600)
        for r in Parts.ranges(of: flows, budget: 16 * 1024) {
            _ = try c.setFlows(ifindex: unft0, Array(flows[r]), strategy: .continueLog)
        }
        for t in Set(flows.map(\.table)).sorted() {
            _ = try c.getFlows(ifindex: unft0, FlowSelector(table: t))
        }
        if let t = flows.first?.table {
            _ = try c.getFlows(ifindex: unft0, FlowSelector(table: t, minPriority: 100, maxPriority: 400))
        }
        _ = try c.getFlows(ifindex: unft1, FlowSelector(table: flows.first?.table ?? 1))
        let victims = flows.enumerated().filter { $0.offset % 3 == 0 }.map {
            Flow(table: $0.element.table, uid: $0.element.uid, priority: 0)
        }
        for r in Parts.ranges(of: victims) {
            _ = try c.delFlows(ifindex: unft0, Array(victims[r]), strategy: .continueLog)
        }
        // Errors: duplicate uid, unknown table, missing flow, unknown device, an aborted batch.
        if let kept = flows.enumerated().first(where: { $0.offset % 3 != 0 })?.element {
            _ = try c.setFlows(ifindex: unft0, [kept])
            var unknown = kept
            unknown.table = 99
            _ = try c.setFlows(ifindex: unft0, [unknown])
            let fresh = gen.flow(in: o.model.tables.first { $0.uid == kept.table } ?? o.model.tables[0])
            _ = try c.setFlows(ifindex: unft0, [fresh, kept], strategy: .abort)
            _ = try c.setFlows(ifindex: unft0, [kept, fresh], strategy: .abortLog)
        }
        _ = try c.delFlows(ifindex: unft0, [Flow(table: flows.first?.table ?? 1, uid: 59_999, priority: 0)])
        _ = try c.get(.getTables, ifindex: 4242)
        _ = try c.call(
            .updateFlows,
            {
                var a = FlowTableAttributes.device(unft0); a.flows = [flows[0]]; return a
            }())
        session.stopListenerForDemo()
        _ = try c.get(.getTables, ifindex: unft0)
    }
}

// MARK: rewriting traces

/// Copies a trace record by record, letting `change` edit each; returns how many it changed.
@discardableResult
func rewrite(
    _ source: String, to destination: String,
    _ change: (inout StoredTraceRecord, FamilyTable) throws -> Bool
) throws -> Int {
    let reader = try TraceReader(path: source)
    var records: [StoredTraceRecord] = []
    var changed = 0
    while let r = try reader.next() {
        var s = StoredTraceRecord(r)
        if try change(&s, reader.families) { changed += 1 }
        records.append(s)
    }
    try writeCopy(records, interfacesOf: reader, to: destination, comment: "rewritten by a test")
    return changed
}

/// Writes `records` to `destination` with the interfaces of the trace `reader` read: a test's
/// edited copy of that trace.
func writeCopy(
    _ records: [StoredTraceRecord], interfacesOf reader: TraceReader, to destination: String, comment: String
) throws {
    let interfaces = reader.interfaces.map {
        PcapngInterfaceInfo(name: $0.name ?? "if\($0.index)", description: $0.description)
    }
    let writer = try PcapngWriter(
        path: destination, section: PcapngSectionInfo(comment: comment), interfaces: interfaces)
    for r in records { try r.withRecord { try writer.append($0) } }
    try writer.close()
}

/// An edit applied once, to the first record it fits.
final class Once {
    var done = false
}

/// The first live hairpin ENCAP answer of `command` that `edit` changes, re-encoded.
func editHairpinAnswer(
    _ command: NFL.Command, once: Once,
    _ edit: @escaping (inout HairpinEncap) -> Bool
) -> (inout StoredTraceRecord, FamilyTable) throws -> Bool {
    { record, families in
        guard !once.done, !record.synthetic, record.direction == .toKernel, let id = families.hairpinID,
            var m = try? HairpinMessage.decode(record.netlink, familyID: id),
            var e = m.encap, e.isAnswer, e.command == UInt32(command.rawValue)
        else { return false }
        guard edit(&e) else { return false }
        m.encap = e
        record.netlink = try m.encoded()
        once.done = true
        return true
    }
}

/// The first API reply message of `command` that `edit` changes.
func editAPIReply(
    _ command: NFL.Command, once: Once,
    _ edit: @escaping (inout FlowTableAttributes) -> Bool
) -> (inout StoredTraceRecord, FamilyTable) throws -> Bool {
    { record, families in
        guard !once.done, !record.synthetic, record.direction == .toUser, let id = families.flowTableID,
            var m = try? FlowTableMessage.decode(record.netlink, familyID: id, requireShape: false),
            !m.isRequest, m.command == command.rawValue
        else { return false }
        guard edit(&m.attributes) else { return false }
        record.netlink = try m.encoded()
        once.done = true
        return true
    }
}

// MARK: the built binary

/// The flowtrace binary built with this test bundle (same build directory), else .build/debug.
func flowtraceBinary() throws -> String {
    var candidates: [URL] = []
    if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates.append(root.appendingPathComponent(".build/debug"))
    for dir in candidates {
        let p = dir.appendingPathComponent("flowtrace").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    throw TestFailure("no flowtrace binary next to the test bundle or in .build/debug: `swift build` makes it")
}

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to its end (with a time limit), capturing both outputs (through files, so
/// a full pipe can never stall it).
func run(_ program: String, _ args: [String], timeout: TimeInterval = 300) throws -> ToolResult {
    let dir = try TempDir("replay-run")
    let outPath = dir.file("out"), errPath = dir.file("err")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    guard let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath) else {
        throw TestFailure("cannot create output files")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = args
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        p.terminate()
        throw TestFailure("\(program) \(args.joined(separator: " ")) did not finish within \(timeout) s")
    }
    p.waitUntilExit()
    try out.close()
    try err.close()
    return ToolResult(
        status: p.terminationStatus,
        stdout: String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self),
        stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self))
}

/// A replay in this process, warnings kept quiet.
func replay(
    _ path: String, _ target: ReplayTarget, timing: Timing = .topSpeed, preload: Bool = false,
    configure: (inout ReplayOptions) -> Void = { _ in }
) throws -> ReplayReport {
    var o = ReplayOptions(timing: timing)
    o.log = { _ in }
    configure(&o)
    let source: RecordSource = preload ? try PreloadedSource(path: path) : try ReadAheadSource(path: path)
    return try Replayer(target: target, options: o).run(source)
}
