// `flowtrace bench --lookups`: the same flows installed in every backend, the same packets
// looked up in every table that holds flows, through the one protocol method
// (FlowBackend.lookup(table:key:)) and the one clock, and every backend's answer compared with
// the reference's (the dummy's, or the first backend's when the dummy is not run).

import Hairpin
import LibFlowTable
import Posix

public struct LookupBenchResult: Sendable {
    public var backend: String
    /// Flows the backend refused (e.g. the tcam's capacity).
    public var refused = 0
    /// Lookups per timed run (packets × tables) and the nanoseconds of all timed runs.
    public var lookups = 0
    public var runs = 0
    public var nanoseconds: UInt64 = 0
    /// The same runs' CPU time (this thread's): the rate on one core, waits left out.
    public var cpuNanoseconds: UInt64 = 0
    /// Lookups that found a flow, per run.
    public var hits = 0
    /// tss: mask tuples per table.
    public var tuples: [UInt32: Int] = [:]
    /// Per table: lookups per run and nanoseconds over all runs.
    public var perTable: [UInt32: (lookups: Int, nanoseconds: UInt64)] = [:]

    public init(backend: String) { self.backend = backend }

    public var lookupsPerSecond: Double {
        nanoseconds == 0 ? 0 : Double(lookups * runs) / (Double(nanoseconds) / 1e9)
    }

    public var lookupsPerCPUSecond: Double {
        cpuNanoseconds == 0 ? 0 : Double(lookups * runs) / (Double(cpuNanoseconds) / 1e9)
    }
}

/// Two backends chose differently for one packet.
public struct LookupDisagreement {
    public var packet: Int
    public var table: UInt32
    public var reference: String
    public var referenceHit: FlowHit?
    public var backend: String
    public var hit: FlowHit?
}

public enum LookupBench {
    /// Installs `flows` into a fresh backend of each kind (tables of `model`), then looks up
    /// every packet in every table holding flows: one untimed pass (it compiles each backend's
    /// index), then `runs` timed passes. Answers of the first pass are compared with the
    /// reference's.
    public static func run(
        model: PipelineModel, flows: [Flow], packets: [PacketFields], kinds: [BackendKind],
        runs: Int, listed: Int = 10
    )
        -> (results: [LookupBenchResult], disagreements: [LookupDisagreement], disagreementCount: Int)
    {
        let sizes = FlowBackendTables.sizes(of: model.tables)
        return run(
            model: model, flows: flows, packets: packets,
            backends: kinds.map { k in (k.rawValue, { k.make(tables: sizes) }) }, runs: runs, listed: listed)
    }

    /// The same with backends of any kind (tests add one that answers wrongly); the reference is
    /// the one named "dummy", else the first.
    static func run(
        model: PipelineModel, flows: [Flow], packets: [PacketFields],
        backends makers: [(name: String, make: () -> any FlowBackend)], runs: Int, listed: Int = 10
    )
        -> (results: [LookupBenchResult], disagreements: [LookupDisagreement], disagreementCount: Int)
    {
        let layout = PacketLayout(model: model)
        let keys = packets.map { PacketKey($0, layout: layout) }
        let tables = Array(Set(flows.map(\.table))).sorted()
        var results: [LookupBenchResult] = []
        var answers: [[UInt64]] = []  // per backend: per (table, packet) priority<<32|uid, or ~0
        var backends: [any FlowBackend] = []
        for (name, make) in makers {
            let b = make()
            var r = LookupBenchResult(backend: name)
            for f in flows { if case .failure = b.insert(f) { r.refused += 1 } }
            var first: [UInt64] = []
            first.reserveCapacity(tables.count * keys.count)
            for t in tables {
                for k in keys {
                    let h = b.lookup(table: t, key: k)
                    first.append(h.map { UInt64($0.priority) << 32 | UInt64($0.uid) } ?? ~0)
                }
            }
            r.hits = first.filter { $0 != ~0 }.count
            r.lookups = tables.count * keys.count
            if let tss = b as? TSSBackend {
                for t in tables { r.tuples[t] = tss.tupleCount(table: t) }
            }
            for _ in 0..<max(1, runs) {
                if Interrupt.requested { break }
                for t in tables {
                    let c0 = ThreadCPUClock.now()
                    let t0 = MonotonicClock.now()
                    var found = 0
                    for k in keys where b.lookup(table: t, key: k) != nil { found &+= 1 }
                    let dt = MonotonicClock.now() - t0
                    r.cpuNanoseconds += ThreadCPUClock.now() - c0
                    r.nanoseconds += dt
                    r.perTable[t, default: (keys.count, 0)].nanoseconds += dt
                    blackHole(found)
                }
                r.runs += 1
            }
            results.append(r)
            answers.append(first)
            backends.append(b)
        }
        var disagreements: [LookupDisagreement] = []
        var count = 0
        let ref = makers.firstIndex { $0.name == "dummy" } ?? 0
        if !answers.isEmpty {
            for (bi, a) in answers.enumerated() where bi != ref {
                for i in a.indices where a[i] != answers[ref][i] {
                    count += 1
                    guard disagreements.count < listed else { continue }
                    let t = tables[i / max(1, keys.count)]
                    func hit(_ x: UInt64) -> FlowHit? {
                        x == ~0 ? nil : FlowHit(table: t, uid: UInt32(truncatingIfNeeded: x), priority: UInt32(x >> 32))
                    }
                    disagreements.append(
                        LookupDisagreement(
                            packet: i % max(1, keys.count), table: t,
                            reference: makers[ref].name, referenceHit: hit(answers[ref][i]),
                            backend: makers[bi].name, hit: hit(a[i])))
                }
            }
        }
        return (results, disagreements, count)
    }

    /// The flow of `flows` a hit names, for a report.
    public static func flow(_ hit: FlowHit?, in flows: [Flow]) -> Flow? {
        guard let hit else { return nil }
        return flows.first { $0.table == hit.table && $0.uid == hit.uid }
    }

    @inline(never) static func blackHole(_ x: Int) { if x == -1 { print("") } }
}
