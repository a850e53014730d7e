// Backend benchmark: per backend and table size, the cost of insert, lookup (classifying
// backends), get-flows and delete; then batched SET_FLOWS through the daemon's service into the
// hash backend. Prints numbers; asserts nothing.
//
//   swift run -c release backend-bench [--sizes 1000,10000,100000,1000000] [--backends …] [--no-service]

import Hairpin
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

func now() -> Double { Double(MonotonicClock.now()) / 1e9 }

var sizes = [1_000, 100_000, 1_000_000]
var modelDir = "models/default"
var kinds = BackendKind.allCases
var serviceRun = true
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--sizes": sizes = (args.next() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--model": modelDir = args.next() ?? modelDir
    case "--backends":
        kinds = (args.next() ?? "").split(separator: ",").compactMap { BackendKind(rawValue: String($0)) }
    case "--no-service": serviceRun = false
    default:
        print("usage: backend-bench [--sizes N,N,…] [--backends dummy,hash,tss,tcam] [--no-service] [--model DIR]");
        exit(2)
    }
}

let model: PipelineModel
do { model = try ModelLoader.load(directory: modelDir) } catch { print("\(error)"); exit(1) }
// The ACL table (mixed masks) is the interesting one for classifiers; make it unbounded here
// so every size fits (the tcam gets its capacity from the size).
guard var acl = model.tables.first(where: { $0.name == "ingress_acl" }) ?? model.tables.first else { exit(1) }

/// Caps per backend: dummy is O(n) per insert and tcam moves O(n) entries per insert, so
/// their largest runs would take hours; they stop at these sizes (reported as "skipped").
let caps: [BackendKind: Int] = [.dummy: 10_000, .tcam: 10_000, .hash: Int.max, .tss: Int.max]

extension String {
    /// Left-aligned in a column of `width` characters.
    func col(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

func fmt(_ x: Double) -> String {
    x >= 100 ? String(Int(x.rounded())) : String(Double(Int(x * 100)) / 100)
}

print("backend  flows     insert ns/op  lookup ns/op  get ns/flow  delete ns/op  tcam moves/insert  rejected")
for n in sizes {
    acl.size = UInt32(n)
    var gen = FlowGenerator(
        model: PipelineModel(
            headers: model.headers, actions: model.actions, tables: [acl],
            headerGraph: model.headerGraph, tableGraph: model.tableGraph),
        seed: 2026)
    let flows = (0..<n).map { _ in gen.flow(in: acl) }
    // Packets built from flows (their matched bits set, the rest random) so lookups hit.
    var packets: [PacketFields] = []
    for i in 0..<10_000 {
        var p = gen.packet()
        let f = flows[(i &* 7919) % flows.count]
        for m in f.matches ?? [] {
            let key = PacketFields.Key(instance: m.instance, header: m.header, field: m.field)
            let mask = m.mask?.rawBits ?? ~0
            p.values[key] = (m.value?.rawBits ?? 0) & mask | (p.values[key] ?? 0) & ~mask
        }
        packets.append(p)
    }
    for kind in kinds {
        guard n <= caps[kind, default: .max] else {
            print("\(kind.rawValue.col(8)) \(n)  skipped (O(n) per insert)")
            continue
        }
        let backend = kind.make(model: [acl])
        var rejected = 0
        let t0 = now()
        for f in flows { if case .failure = backend.insert(f) { rejected += 1 } }
        let insert = (now() - t0) / Double(n) * 1e9
        var lookup = "-"
        if let classifier = backend as? any PacketClassifier {
            let t1 = now()
            var hits = 0
            for p in packets where classifier.lookup(table: acl.uid, packet: p) != nil { hits += 1 }
            lookup = fmt((now() - t1) / Double(packets.count) * 1e9)
            _ = hits
        }
        let t2 = now()
        var returned = 0
        _ = backend.flows(FlowSelector(table: acl.uid)) { _ in returned += 1 }
        let get = (now() - t2) / Double(max(returned, 1)) * 1e9
        var moves = "-"
        if kind == .tcam { moves = fmt(Double(backend.entryMoves) / Double(n)) }
        let t3 = now()
        for f in flows { _ = backend.delete(table: f.table, uid: f.uid) }
        let delete = (now() - t3) / Double(n) * 1e9
        print(
            "\(kind.rawValue.col(8)) \(String(n).col(9)) \(fmt(insert).col(13)) \(lookup.col(13)) \(fmt(get).col(12)) \(fmt(delete).col(13)) \(moves.col(18)) \(rejected)"
        )
    }
}

// Batched SET_FLOWS through the service (validation + batch + hash backend), 256 flows per
// request, filling a 1M-flow table.
if serviceRun {
    let total = sizes.max() ?? 1_000_000
    acl.size = UInt32(total)
    let bigModel = PipelineModel(
        headers: model.headers, actions: model.actions, tables: [acl],
        headerGraph: model.headerGraph, tableGraph: model.tableGraph)
    var gen = FlowGenerator(model: bigModel, seed: 99)
    let flows = (0..<total).map { _ in gen.flow(in: acl) }
    let service = HairpinService(model: bigModel, backend: .hash)
    let batch = 256
    var seq: UInt64 = 0
    var failed = 0
    let t0 = now()
    var i = 0
    while i < flows.count {
        var a = FlowTableAttributes.device(7)
        a.errorStrategy = .continue
        a.flows = Array(flows[i..<min(i + batch, flows.count)])
        seq += 1
        let answer = service.handle(
            HairpinEncap(command: UInt32(NFL.Command.setFlows.rawValue), sequence: seq, attributes: a))
        failed += answer.results?.filter { $0.errno != 0 }.count ?? 0
        i += batch
    }
    let dt = now() - t0
    print(
        "service SET_FLOWS into hash, \(batch) flows/request, \(total) flows: \(Int(Double(total) / dt)) flows/s (\(failed) rejected)"
    )
}
