// Issue 13, "the trace tells the truth": what bench and replay report is what happened.

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay

/// A backend slowed once: the `slowAt`-th backend operation of a run is followed (inside the
/// service, whichever path serves the call) by a sleep.
final class SlowOnce: BackendTiming {
    let slowAt: Int
    let sleep: UInt64
    init(at n: Int, sleeping ns: UInt64) {
        slowAt = n
        sleep = ns
    }
    override func operationEnded() {
        guard operations == slowAt else { return }
        usleep(UInt32(sleep / 1000))
    }
}

@Suite("one clock for every backend") struct OneClockTests {
    static let delay: UInt64 = 30_000_000

    @Test(arguments: BackendKind.allCases)
    func aSlowedCallIsTimedAtLeastThatLong(_ backend: BackendKind) throws {
        let trace = try Fixtures.generated.get()
        // The 200th operation: well into the SET/DEL churn (batch 8 → about the 25th call).
        let report = try replay(trace, .backend(backend), preload: true) { o in
            o.backendTiming = { SlowOnce(at: 200, sleeping: Self.delay) }
        }
        #expect(report.divergent == 0)
        let slow = report.commands.filter { $0.value.latency.max >= Self.delay }
        #expect(slow.count == 1, "\(backend): the slowed call's latency: \(report.commands.mapValues { $0.latency.max })")
        #expect(slow.values.first.map { $0.serviceNanoseconds >= Self.delay } == true)
    }

    /// The service's clock surrounds the backend's operations: per command, Σ latency ≥ Σ time
    /// inside the backend, and no p50 is below what one call can possibly take.
    @Test(arguments: BackendKind.allCases)
    func serviceTimeSurroundsTheBackend(_ backend: BackendKind) throws {
        let trace = try Fixtures.generated.get()
        let report = try replay(trace, .backend(backend), preload: true) { o in o.backendTiming = { BackendTiming() } }
        #expect(report.divergent == 0)
        #expect(!report.commands.isEmpty)
        for (c, t) in report.commands {
            #expect(t.serviceNanoseconds >= t.backendNanoseconds, "\(backend) \(commandName(c)): service \(t.serviceNanoseconds) ns, backend \(t.backendNanoseconds) ns")
            #expect(t.latency.valueAtPercentile(50) >= 100, "\(backend) \(commandName(c)) p50 \(t.latency.valueAtPercentile(50)) ns")
        }
        let set = try #require(report.commands[NFL.Command.setFlows.rawValue])
        #expect(set.backendOperations >= set.flows - 50, "\(backend): a SET's flows are backend inserts")
    }

    /// A batched SET of 8 flows counts 8 flows, whichever path served it.
    @Test(arguments: BackendKind.allCases)
    func flowsAreCountedPerFlow(_ backend: BackendKind) throws {
        let trace = try Fixtures.generated.get()
        var expected: [UInt8: Int] = [:]
        let reader = try TraceReader(path: trace)
        while let r = try reader.next() {
            guard !r.synthetic, r.direction == .toUser, let id = reader.families.hairpinID,
                  let m = try? HairpinMessage.decode(r.netlink, familyID: id), let e = m.encap, !e.isAnswer,
                  let c = UInt8(exactly: e.command) else { continue }
            expected[c, default: 0] += e.attributes?.flows?.count ?? 0
        }
        let report = try replay(trace, .backend(backend), preload: true)
        for c in [NFL.Command.setFlows, .delFlows] {
            #expect(report.commands[c.rawValue]?.flows == expected[c.rawValue], "\(backend) \(c.name)")
        }
        #expect((expected[NFL.Command.setFlows.rawValue] ?? 0) > report.commands[NFL.Command.setFlows.rawValue]?.calls ?? 0)
    }

    @Test func theHeadlineIsTheAllRow() throws {
        let source = try PreloadedSource(path: try Fixtures.generated.get())
        var o = BenchOptions()
        o.runs = 3
        o.warmup = 0
        for backend in [BackendKind.hash, .dummy] {
            let r = try Bench.run(source, backend: backend, options: o)
            #expect(r.serviceRate == r.overall.callsPerSecond && r.serviceRate > 0)
            #expect(r.overall.calls == r.calls, "the all row counts every call of a run")
            #expect((r.runRates.min() ?? 0) <= r.serviceRate * 1.000001 && r.serviceRate <= (r.runRates.max() ?? 0) * 1.000001)
            let json = r.json
            #expect(json["calls_per_second"].flatMap(doubleValue) == json["all"]?["calls_per_second"].flatMap(doubleValue))
            #expect(r.overall.backendOperations > 0 && r.overall.backendNanosecondsPerOperation > 0)
            #expect(r.overall.mean * Double(r.overall.calls) >= r.overall.backendNanosecondsPerOperation * Double(r.overall.backendOperations))
            // In the table, the headline's calls/s cell is the all row's.
            let table = BenchReport.table([r], runs: 3, warmup: 0).split(separator: "\n").map(String.init)
            let head = try #require(table.first { $0.hasPrefix(backend.rawValue + " ") && !$0.contains("all") && !$0.contains("_FLOWS") && !$0.contains("GET_") })
            let all = try #require(table.first { $0.hasPrefix(backend.rawValue + " ") && $0.split(separator: " ").dropFirst().first == "all" })
            let headRate = head.split(separator: " ")[1], allRate = all.split(separator: " ")[4]
            #expect(headRate == allRate, "\(head)\n\(all)")
        }
    }
}
