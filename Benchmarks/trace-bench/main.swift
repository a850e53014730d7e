// Trace file benchmark: the pcapng writer (records/s for 256-byte messages), the streaming
// reader alone, and the reader plus a summary decode per record (what `flowtrace show` and
// `stats` do). Prints numbers; asserts nothing.
//
//   swift run -c release trace-bench [records] [path]

import FlowTrace
import Hairpin
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

let args = Array(CommandLine.arguments.dropFirst())
let count = args.first.flatMap { Int($0) } ?? 2_000_000
let path = args.count > 1 ? args[1] : "/tmp/trace-bench.pcapng"

func now() -> Double { Double(MonotonicClock.now()) / 1e9 }

/// CPU seconds this process used: on a shared machine a better guide than wall time, which
/// counts the time other jobs held the cores.
func cpu() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// "N records/s (M records/s of CPU time)".
func rate(_ n: Int, wall: Double, cpu: Double) -> String {
    "\(Int(Double(n) / wall)) records/s (\(Int(Double(n) / cpu)) records per CPU second)"
}

// A 256-byte hairpin message: an ENCAP SET_FLOWS request with one flow, padded to 256 bytes
// with an ERROR_MSG so the size is exact.
var attrs = FlowTableAttributes.device(1000)
var gen = FlowGenerator(model: DefaultModel.model, seed: 3)
guard let table = DefaultModel.model.tables.first(where: { $0.name == "ipv4_route" }) else { exit(1) }
attrs.flows = [gen.flow(in: table, uid: 1)]
attrs.errorStrategy = .abort
var encap = HairpinEncap(command: UInt32(NFL.Command.setFlows.rawValue), sequence: 1, attributes: attrs)
var message: [UInt8] = []
do {
    message = try HairpinMessage(
        header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 0, port: 0), command: 3, encap: encap
    ).encoded()
    if message.count < 256 {
        encap.errorMessage = String(repeating: "x", count: max(0, 256 - message.count - 5))
        message = try HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 0, port: 0), command: 3, encap: encap
        ).encoded()
    }
} catch { print("\(error)"); exit(1) }

do {
    let families = [Controller.Family.flowTable(id: 0x1c), Controller.Family.hairpin(id: 0x1d)]
    let t0 = now(), c0 = cpu()
    let writer = try PcapngWriter(
        path: path, interfaces: [PcapngInterfaceInfo(name: "hairpin")],
        preamble: { w in
            var nl = NetlinkWriter()
            for f in families {
                nl.reset()
                Controller.newFamily(f, sequence: 0, port: 0, into: &nl)
                try nl.withUnsafeBytes {
                    try w.append(
                        TraceRecord(timestamp: 0, leg: .hairpin, direction: .toUser, netlink: $0, synthetic: true))
                }
            }
        })
    try message.withUnsafeBytes { raw in
        var ts = PcapngWriter.now()
        for i in 0..<count {
            ts &+= 1000
            try writer.append(
                TraceRecord(
                    timestamp: ts, leg: .hairpin, direction: i & 1 == 0 ? .toUser : .toKernel,
                    netlink: raw, pairing: UInt64(i >> 1)))
        }
    }
    try writer.close()
    let tw = now() - t0, cw = cpu() - c0
    var st = stat()
    stat(path, &st)
    print("message \(message.count) bytes, \(count) records, file \(st.st_size / 1_000_000) MB")
    print("write                : \(rate(count, wall: tw, cpu: cw))")

    let t1 = now(), c1 = cpu()
    let r1 = try TraceReader(path: path)
    var n = 0
    while let rec = try r1.next() { n &+= rec.netlink.count }
    let tr = now() - t1, cr = cpu() - c1
    print("read                 : \(rate(count, wall: tr, cpu: cr))")

    let t2 = now(), c2 = cpu()
    let r2 = try TraceReader(path: path)
    var flows = 0
    while let rec = try r2.next() {
        let s = SummaryDecoder.summarize(rec.netlink, families: r2.families)
        flows &+= s.flowCount
    }
    let ts = now() - t2, cs = cpu() - c2
    print("read + summary       : \(rate(count, wall: ts, cpu: cs)) (\(flows) flows seen)")

    // What `flowtrace stats` runs.
    let t3 = now(), c3 = cpu()
    let r3 = try TraceReader(path: path)
    var stats = TraceStats()
    try stats.add(contentsOf: r3)
    let tt = now() - t3, ct = cpu() - c3
    print("read + stats         : \(rate(count, wall: tt, cpu: ct))")
    if getenv("TRACE_BENCH_KEEP") == nil { unlink(path) } else { print("kept \(path)") }
} catch {
    print("trace-bench: \(error)")
    exit(1)
}
