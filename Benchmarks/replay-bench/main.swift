// replay-bench: how fast a trace replays into a backend (hash unless --backend) at top speed, preloaded and
// streaming, and how much memory each takes. Prints numbers; never a pass/fail test.
//
//   swift build -c release && .build/release/replay-bench                 # generates 200 000 flows
//   .build/release/replay-bench --flows 1000000 --runs 5
//   .build/release/replay-bench --trace big.pcapng                        # any trace (e.g. > 1 GiB)
//   .build/release/replay-bench --typed        # every call through the typed path (no ByteService)
//   .build/release/replay-bench --backend tss  # another backend (default hash)
//   .build/release/replay-bench --no-skip      # streaming: the reader builds every record (no TraceReader.skipping)
//   .build/release/replay-bench --closure      # streaming: kept records as TraceRecords through the filter closure
//
// A > 1 GiB trace: `flowtrace gen --flows 1200000 --batch 1 --churn 0.5 --reads 0 -w big.pcapng`
// (about 2.4 million single-flow calls, 12 million records; see spec/replay.md).
//
// Streaming runs first: ru_maxrss only grows, so the streaming figure is not inflated by the
// preloaded copy of the file.

import FlowTrace
import Hairpin
import LibFlowTable
import Replay
import Posix

#if canImport(Glibc)
import Glibc
#endif

var tracePath: String?
var flows = 200_000
var runs = 3
var keep = false
var typed = false
var skipUnread = true
var closureFilter = false
var backend = BackendKind.hash
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--trace": tracePath = args.popFirst()
    case "--flows": flows = args.popFirst().flatMap { Int($0) } ?? flows
    case "--runs": runs = max(1, args.popFirst().flatMap { Int($0) } ?? runs)
    case "--keep": keep = true
    case "--typed": typed = true
    case "--backend":
        guard let k = args.popFirst().flatMap(BackendKind.init(rawValue:)) else {
            print(
                "replay-bench: --backend takes one of \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
            exit(2)
        }
        backend = k
    case "--no-skip": skipUnread = false
    case "--closure": closureFilter = true
    default:
        print(
            "usage: replay-bench [--trace FILE | --flows N] [--runs N] [--keep] [--backend NAME] [--typed] [--no-skip] [--closure]"
        )
        exit(2)
    }
}

func mib(_ n: Int) -> String { String(Double(n * 10 / (1 << 20)) / 10) + " MiB" }
func rate(_ x: Double) -> String {
    x >= 1e6 ? String(Double(Int(x / 1e4)) / 100) + "M" : String(Double(Int(x / 10)) / 100) + "k"
}

let path: String
if let tracePath {
    path = tracePath
} else {
    path = "/tmp/replay-bench-\(getpid()).pcapng"
    var o = GenOptions(flows: flows, seed: 1)
    o.batch = 1
    o.churn = 0.5
    o.reads = 0
    let t0 = MonotonicClock.now()
    do {
        let s = try TraceGenerator.write(to: path, options: o)
        print(
            "generated \(path): \(s.calls) calls (one flow each), \(s.records) records, \(mib(Int(s.bytes))) "
                + "in \(Double((MonotonicClock.now() - t0) / 1_000_000) / 1000) s")
    } catch {
        print("replay-bench: \(error)")
        exit(1)
    }
}
defer { if tracePath == nil && !keep { unlink(path) } }

var options = ReplayOptions(timing: .topSpeed)
options.log = { _ in }
options.usesByteService = !typed
let replayer = Replayer(target: .backend(backend), options: options)

func measure(_ label: String, _ make: () throws -> RecordSource) -> [Double] {
    var rates: [Double] = []
    for _ in 0..<runs {
        do {
            let source = try make()
            let r = try replayer.run(source)
            guard r.divergent == 0, r.stopped == nil else {
                print("\(label): \(r.divergent) divergent, \(r.stopped ?? "")")
                exit(1)
            }
            rates.append(r.callsPerSecond)
        } catch {
            print("\(label): \(error)")
            exit(1)
        }
    }
    return rates.sorted()
}

let baseline = peakResidentBytes()
let streaming = measure("streaming") {
    skipUnread && !closureFilter
        ? try ReadAheadSource(path: path, dropping: Replayer.backendSkip)
        : try ReadAheadSource(
            path: path, filter: Replayer.backendRecords, skipping: skipUnread ? Replayer.backendSkip : nil)
}
let streamingPeak = peakResidentBytes()
// The preloaded copy is made once; each run rewinds it (the replay itself is what is timed).
let preloadStart = MonotonicClock.now()
let preloaded: PreloadedSource
do { preloaded = try PreloadedSource(path: path, filter: Replayer.backendRecords) } catch {
    print("preload: \(error)")
    exit(1)
}
let loadSeconds = Double(MonotonicClock.now() - preloadStart) / 1e9
let preloadedRates = measure("preloaded") {
    try preloaded.rewind()
    return preloaded
}
let preloadPeak = peakResidentBytes()

// The ceiling: the daemon's core alone on the same requests — typed decode, HairpinService,
// encoding the answer — with no trace reading, pairing or comparing around it.
func daemonAlone() -> Double {
    do { try preloaded.rewind() } catch { return 0 }
    var state = StartingState()
    var requests: [[UInt8]] = []
    var hairpinID: UInt16 = 0x1d
    while let r = try? preloaded.next() {
        if r.synthetic {
            state.add(r, families: preloaded.families)
            continue
        }
        hairpinID = preloaded.families.hairpinID ?? hairpinID
        guard r.direction == .toUser, r.netlink.count >= 20,
            r.netlink.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == hairpinID
        else { continue }
        requests.append([UInt8](r.netlink))
    }
    let (service, _) = state.makeService(backend: backend, defaultModel: DefaultModel.model)
    var w = NetlinkWriter(capacity: 64 * 1024)
    let t0 = MonotonicClock.now()
    var n = 0
    for bytes in requests {
        guard let m = try? HairpinMessage.decode(bytes, familyID: hairpinID), let e = m.encap else { continue }
        let answer = service.handle(e)
        w.reset()
        let out = HairpinMessage(
            header: NetlinkHeader(
                type: hairpinID, flags: Netlink.flagRequest | Netlink.flagAck,
                sequence: 1, port: 0),
            command: NFLH.Command.encap.rawValue, encap: answer)
        try? out.encode(into: &w)
        n += 1
    }
    return Double(n) / (Double(MonotonicClock.now() - t0) / 1e9)
}
let ceiling = (0..<runs).map { _ in daemonAlone() }.sorted()

let best = preloadedRates.last ?? 0, median = preloadedRates[preloadedRates.count / 2]
let sBest = streaming.last ?? 0, sMedian = streaming[streaming.count / 2]
print(
    "trace \(path): \(preloaded.count) records, \(mib(preloaded.byteCount)) of netlink data (loaded in \(Double(Int(loadSeconds * 100)) / 100) s)"
)
print(
    "replay into backend:\(backend.rawValue), top speed, \(runs) runs (median / best), calls = single-flow SET/DEL requests, "
        + (typed ? "typed path only (--typed):" : "ByteService on:"))
print("  preloaded: \(rate(median)) / \(rate(best)) calls/s")
print("  streaming: \(rate(sMedian)) / \(rate(sBest)) calls/s  (\(Int(sMedian / max(median, 1) * 100))% of preloaded)")
print(
    "  the daemon core alone (decode, HairpinService, encode; no replay around it): \(rate(ceiling[ceiling.count / 2])) calls/s"
        + " — the replay reaches \(Int(median / max(ceiling[ceiling.count / 2], 1) * 100))% of it")
print(
    "  peak RSS: \(mib(baseline)) at start, \(mib(streamingPeak)) after streaming, \(mib(preloadPeak)) after preloading"
)
