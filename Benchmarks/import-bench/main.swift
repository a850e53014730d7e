// Import benchmark: writes a seeded ClassBench-like filter set (ClassBenchLike) and times reading
// it and mapping it onto the default model, as `flowtrace gen --from classbench` does before it
// writes the trace. Prints numbers; asserts nothing.
//
//   swift run -c release import-bench [--rules 10000] [--seed 1] [--write FILE] [--runs 5]
// The end-to-end figure is `time flowtrace gen --from classbench FILE -w out.pcapng` on the
// file --write leaves (BENCHMARKS.md, "Workloads from the field").

import Hairpin
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

var count = 10_000
var seed: UInt64 = 1
var path: String?
var runs = 5
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--rules": count = Int(args.next() ?? "") ?? count
    case "--seed": seed = UInt64(args.next() ?? "") ?? seed
    case "--write": path = args.next()
    case "--runs": runs = Int(args.next() ?? "") ?? runs
    default: print("usage: import-bench [--rules N] [--seed S] [--write FILE] [--runs N]"); exit(2)
    }
}

let text = ClassBenchLike.rules(count: count, seed: seed).map(\.text).joined(separator: "\n") + "\n"
let bytes = Array(text.utf8)
if let path {
    let failed = bytes.withUnsafeBytes { Sys.writeFile(path, contents: $0) }
    if let failed { print("cannot write \(path): \(Sys.errorText(failed.errno))"); exit(1) }
}
var best = Double.infinity
var flows = 0
var factor = 0.0
for _ in 0..<max(1, runs) {
    let start = MonotonicClock.now()
    do {
        let i = try FlowImporter.load(.classbench, bytes: bytes, file: "set", model: DefaultModel.model)
        flows = i.flows.count
        factor = i.expansionFactor
    } catch {
        print("\(error)")
        exit(1)
    }
    best = min(best, Double(MonotonicClock.now() - start) / 1e9)
}
print(
    "import-bench: \(count) rules (\(bytes.count) bytes) → \(flows) flows, expansion factor \(factor); "
        + "read + map best of \(runs): \(Int(best * 1000)) ms (\(Int(Double(count) / best)) rules/s)")
