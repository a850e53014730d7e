// YNL interpreter benchmark: decode rate of the messages of our two families (from a trace) with
// the specs loaded at run time, next to LibFlowTable's generated codec on the same messages.
// Prints numbers; asserts nothing.
//
//   swift run -c release ynl-bench [trace] [spec-dir] [rounds] [max-bytes]

import FlowTrace
import LibFlowTable
import YNL

#if canImport(Glibc)
import Glibc
#endif

let args = Array(CommandLine.arguments.dropFirst())
let tracePath = args.first ?? "traces/demo-session.pcapng"
let specDir = args.count > 1 ? args[1] : "spec"
let rounds = args.count > 2 ? Int(args[2]) ?? 200 : 200

/// CPU seconds this process used (a shared machine's wall time counts other jobs).
func cpu() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

let lib = YNLSpecLibrary.load([YNLSpecDirectory(path: specDir, origin: "bench")])
for e in lib.errors { print("spec error: \(e.error)") }
guard let flowFamily = lib.family(named: "net_flow_nl"), let hairpinFamily = lib.family(named: "nfl_hairpin") else {
    print("ynl-bench: no net_flow_nl/nfl_hairpin spec in \(specDir)")
    exit(1)
}

// The messages of our families, each copied out of its record.
var messages: [(family: String, bytes: [UInt8])] = []
do {
    let reader = try TraceReader(path: tracePath)
    while let rec = try reader.next() {
        var it = NetlinkMessageIterator(rec.netlink)
        while let m = try it.next() {
            if let name = reader.families.name(forID: m.header.type), name == "net_flow_nl" || name == "nfl_hairpin" {
                messages.append((name, Array(m.bytes)))
            }
        }
    }
} catch {
    print("ynl-bench: \(tracePath): \(error)")
    exit(1)
}
// --max-bytes N (4th argument): only messages up to N bytes (a single request or answer rather
// than a dump page).
if args.count > 3, let limit = Int(args[3]) { messages = messages.filter { $0.bytes.count <= limit } }
let totalBytes = messages.reduce(0) { $0 + $1.bytes.count }
print(
    "\(messages.count) messages of net_flow_nl/nfl_hairpin from \(tracePath), \(totalBytes / max(messages.count, 1)) bytes on average; \(rounds) rounds"
)

let flow = YNLDecoder(flowFamily)
let hairpin = YNLDecoder(hairpinFamily)
var fields = 0
var failures = 0
let t0 = cpu()
for _ in 0..<rounds {
    for m in messages {
        m.bytes.withUnsafeBytes { raw in
            do {
                let d = try (m.family == "net_flow_nl" ? flow : hairpin).decode(raw)
                fields &+= d.attributes.count
            } catch {
                failures += 1
            }
        }
    }
}
let t1 = cpu()
let n = rounds * messages.count
print(
    "YNL interpreter (runtime spec): \(Int(Double(n) / (t1 - t0))) msg/s per CPU second, \(Int(Double(totalBytes * rounds) / (t1 - t0) / 1e6)) MB/s; \(failures) failures"
)

var count = 0
let t2 = cpu()
for _ in 0..<rounds {
    for m in messages {
        m.bytes.withUnsafeBytes { raw in
            if m.family == "net_flow_nl" {
                if let d = try? FlowTableMessage.decode(raw, requireShape: false) { count &+= Int(d.command) }
            } else if let d = try? HairpinMessage.decode(raw) {
                count &+= Int(d.command)
            }
        }
    }
}
let t3 = cpu()
print(
    "LibFlowTable codec (generated):  \(Int(Double(n) / (t3 - t2))) msg/s per CPU second (\(fields &+ count) checksum)")
