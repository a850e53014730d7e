// Loopback benchmark: the round trip client → twin → daemon → backend → back, against a plain
// Unix socket echo round trip with the same message sizes measured in the same run; the same
// loopback with recording on, side by side; and batched SET_FLOWS into the hash backend up to
// a 1M-flow table. Each loopback figure is given for both ways the embedded listener reaches
// the twin: on the twin's thread with the bytes handed over in memory (`in-process`, the
// default of `flow-table-hairpind --twin`), and on its own thread through the twin's hairpin
// socket (`socket`, as a separate daemon process or the kernel module's listener).
// The client is always a separate thread on a real Unix socket. Prints numbers; asserts nothing.
//
//   swift run -c release loopback-bench [--calls N] [--flows N] [--path in-process|socket]
//                                       [--runs N] [--record-dir DIR]
// --runs: alternating runs per measurement (default 5; best and median over them).
// --record-dir: where the recording goes (default a fresh directory in /tmp; /dev/shm takes
// the disk's writeback out of the recording's cost).

import FlowTrace
import Hairpin
import LibFlowTable
import Posix
import LiveCapture

#if canImport(Glibc)
import Glibc
#endif

var calls = 20_000
var totalFlows = 1_000_000
var paths: [LoopbackSession.ListenerPath] = [.inProcess, .socket]
var runs = 5
var recordDir: String?
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--calls": calls = Int(args.next() ?? "") ?? calls
    case "--runs": runs = max(1, Int(args.next() ?? "") ?? runs)
    case "--record-dir": recordDir = args.next()
    case "--flows": totalFlows = Int(args.next() ?? "") ?? totalFlows
    case "--path":
        guard let p = args.next().flatMap(LoopbackSession.ListenerPath.init(rawValue:)) else {
            print("--path: in-process or socket"); exit(2)
        }
        paths = [p]
    default:
        print("usage: loopback-bench [--calls N] [--flows N] [--path in-process|socket] [--runs N] [--record-dir DIR]");
        exit(2)
    }
}

func now() -> Double { Double(MonotonicClock.now()) / 1e9 }

/// Directories made by `tempDir`, removed with what they hold (sockets, the recording) at exit:
/// a run would otherwise leave its sockets and recordings behind in /tmp.
var createdDirs: [String] = []

func tempDir() -> String {
    var t = Array("/tmp/ft-bench-XXXXXX".utf8CString)
    let dir = t.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
    }
    guard let dir else { return "/tmp" }
    createdDirs.append(dir)
    return dir
}

/// Removes the files of each directory `tempDir` made (they hold no subdirectories), then it.
func removeTempDirs() {
    for dir in createdDirs {
        guard let d = opendir(dir) else { continue }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlink(dir + "/" + name) }
        }
        closedir(d)
        rmdir(dir)
    }
    createdDirs.removeAll()
}
atexit { removeTempDirs() }

/// A session with one table big enough for the batched test.
func model(tableSize: UInt32) -> PipelineModel {
    var m = DefaultModel.model
    for i in m.tables.indices where m.tables[i].name == "ipv4_route" { m.tables[i].size = tableSize }
    return m
}

func startSession(
    record: String?, tableSize: UInt32 = 65536,
    path: LoopbackSession.ListenerPath
) throws -> (LoopbackSession, FlowTableClient, String) {
    let dir = tempDir()
    var o = LoopbackSession.Options()
    o.paths = TwinSocketPaths(directory: dir)
    o.model = model(tableSize: tableSize)
    o.recordPath = record
    o.listenerPath = path
    let s = try LoopbackSession(o)
    try s.start()
    let c = try FlowTableClient(path: o.paths.api, timeout: 30)
    try c.resolveFamily()
    return (s, c, dir)
}

// The measured call: GET_FLOWS of a table holding one flow (a small request, a small answer).
let ifindex = UnftTwin.Device.default.ifindex
var gen = FlowGenerator(model: DefaultModel.model, seed: 1)
guard let route = DefaultModel.model.tables.first(where: { $0.name == "ipv4_route" }) else { exit(1) }
let oneFlow = gen.flow(in: route, uid: 1)

func loopbackRun(_ c: FlowTableClient, _ n: Int) throws -> (seconds: Double, requestBytes: Int, replyBytes: Int) {
    let selector = FlowSelector(table: route.uid)
    _ = try c.getFlows(ifindex: ifindex, selector)  // warm
    let t0 = now()
    for _ in 0..<n { _ = try c.getFlows(ifindex: ifindex, selector) }
    let dt = now() - t0
    var req = FlowTableAttributes.device(ifindex)
    req.selector = selector
    let reqBytes = try FlowTableMessage(familyID: 0x1c, command: .getFlows, isRequest: true, attributes: req).encoded()
        .count
    var rep = FlowTableAttributes.device(ifindex)
    rep.flows = [oneFlow]
    let repBytes = try FlowTableMessage(familyID: 0x1c, command: .getFlows, isRequest: false, attributes: rep).encoded()
        .count
    return (dt, reqBytes, repBytes)
}

/// The baseline: a request of `req` bytes over a SEQPACKET socketpair, answered by a thread
/// with the same packets the client gets from the twin (reply page, DONE, ACK).
func echoRun(_ n: Int, req: Int, replies: [Int]) throws -> Double {
    let (a, b) = try UnixSeqpacketConnection.pair()
    let thread = try PosixThread {
        var buf = [UInt8](repeating: 0, count: 65536)
        let out = replies.map { [UInt8](repeating: 1, count: $0) }
        while true {
            guard let got = try? b.receive(into: &buf, timeout: nil), got > 0 else { return }
            for o in out { _ = o.withUnsafeBytes { try? b.send($0) } }
        }
    }
    let msg = [UInt8](repeating: 2, count: req)
    var buf = [UInt8](repeating: 0, count: 65536)
    let t0 = now()
    for _ in 0..<n {
        try msg.withUnsafeBytes { try a.send($0) }
        for _ in replies { _ = try a.receive(into: &buf, timeout: nil) }
    }
    let dt = now() - t0
    a.close()
    thread.join()
    b.close()
    return dt
}

do {
    print(
        "loopback-bench: \(calls) calls per run, release build, \(DefaultModel.model.tables.count)-table default model, hash backend"
    )
    // 1. Round trip vs echo, and recording on vs off, alternating runs (the machine is shared).
    var plain: [(LoopbackSession, FlowTableClient, String)] = []
    var recorded: [(LoopbackSession, FlowTableClient, String)] = []
    for p in paths {
        plain.append(try startSession(record: nil, path: p))
        let file =
            recordDir.map { $0 + "/loopback-bench-\(getpid())-\(p.rawValue).pcapng" } ?? tempDir() + "/bench.pcapng"
        recorded.append(try startSession(record: file, path: p))
    }
    for c in plain + recorded { _ = try c.1.setFlows(ifindex: ifindex, [oneFlow]) }
    var loop = paths.map { _ in [Double]() }, rec = loop, echo: [Double] = []
    var sizes = (0, 0)
    for _ in 0..<runs {
        for i in paths.indices {
            let r = try loopbackRun(plain[i].1, calls)
            loop[i].append(r.seconds)
            sizes = (r.requestBytes, r.replyBytes)
            rec[i].append(try loopbackRun(recorded[i].1, calls).seconds)
        }
        echo.append(try echoRun(calls, req: sizes.0, replies: [sizes.1, 20, 36]))
    }
    let best = { (xs: [Double]) in (xs.min() ?? 0) / Double(calls) * 1e6 }
    let median = { (xs: [Double]) in xs.sorted()[xs.count / 2] / Double(calls) * 1e6 }
    print(
        "GET_FLOWS round trip (request \(sizes.0) B; reply \(sizes.1) B + DONE + ACK), µs per call, best / median of \(runs):"
    )
    print("  unix socket echo, same packets        : \(format1(best(echo))) / \(format1(median(echo)))")
    for (i, p) in paths.enumerated() {
        let name = pad("loopback, listener \(p.rawValue)", 38)
        print(
            "  \(name): \(format1(best(loop[i]))) / \(format1(median(loop[i])))   ratio \(format2(best(loop[i]) / best(echo)))x best, \(format2(median(loop[i]) / median(echo)))x median"
        )
        let recName = pad("  recording on", 38)
        print(
            "  \(recName): \(format1(best(rec[i]))) / \(format1(median(rec[i])))   vs off \(format2(median(rec[i]) / median(loop[i])))x (medians), \(format2(best(rec[i]) / best(loop[i])))x (best)"
        )
    }
    for s in plain + recorded {
        s.0.stop()
        s.1.close()
    }
    if let recordDir {
        for p in paths { unlink(recordDir + "/loopback-bench-\(getpid())-\(p.rawValue).pcapng") }
    }

    // 2. Batched SET_FLOWS filling one table up to `totalFlows`, end to end.
    var g = FlowGenerator(model: model(tableSize: UInt32(totalFlows)), seed: 7)
    var bigRoute = route
    bigRoute.size = UInt32(totalFlows)
    let flows = (0..<totalFlows).map { _ in g.flow(in: bigRoute) }
    let ranges = Parts.ranges(of: flows)
    for p in paths {
        let big = try startSession(record: nil, tableSize: UInt32(totalFlows), path: p)
        var refused = 0
        let t0 = now()
        for r in ranges {
            refused += try big.1.setFlows(ifindex: ifindex, Array(flows[r]), strategy: .continueLog).report.count
        }
        let dt = now() - t0
        print(
            "batched SET_FLOWS end to end into hash, listener \(p.rawValue), \(ranges.count) requests of ~\(totalFlows / max(ranges.count, 1)) flows: \(Int(Double(totalFlows) / dt)) flows/s (\(format1(dt)) s, \(refused) refused)"
        )
        big.0.stop()
        big.1.close()
    }
} catch {
    print("loopback-bench: \(error)")
    exit(1)
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func format1(_ x: Double) -> String { String(Double(Int(x * 10)) / 10) }
func format2(_ x: Double) -> String { String(Double(Int(x * 100)) / 100) }
