// Issue 13, "the trace tells the truth": what bench and replay report is what happened.

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay
import LiveCapture

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
    static let delay: UInt64 = 250_000_000

    @Test(arguments: BackendKind.allCases)
    func aSlowedCallIsTimedAtLeastThatLong(_ backend: BackendKind) throws {
        let trace = try Fixtures.generated.get()
        // The 200th operation: well into the SET/DEL churn (batch 8 → about the 25th call).
        let report = try replay(trace, .backend(backend), preload: true) { o in
            o.backendTiming = { SlowOnce(at: 200, sleeping: Self.delay) }
        }
        #expect(report.divergent == 0)
        // (A loaded machine may stall another call too: at least the slowed one is that long.)
        let slow = report.commands.filter { $0.value.latency.max >= Self.delay }
        #expect(
            slow.count >= 1, "\(backend): the slowed call's latency: \(report.commands.mapValues { $0.latency.max })")
        #expect(slow.values.allSatisfy { $0.serviceNanoseconds >= Self.delay })
    }

    /// The service's clock surrounds the backend's operations: per command, Σ latency ≥ Σ time
    /// inside the backend, and no p50 is below what one call can possibly take.
    @Test(arguments: BackendKind.allCases)
    func serviceTimeSurroundsTheBackend(_ backend: BackendKind) throws {
        let committed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("traces/batched-session.pcapng").path
        for trace in [try Fixtures.generated.get(), committed] {
            let report = try replay(trace, .backend(backend), preload: true) { o in
                o.backendTiming = { BackendTiming() }
            }
            #expect(report.divergent == 0)
            #expect(!report.commands.isEmpty)
            for (c, t) in report.commands {
                #expect(
                    t.serviceNanoseconds >= t.backendNanoseconds,
                    "\(backend) \(commandName(c)): service \(t.serviceNanoseconds) ns, backend \(t.backendNanoseconds) ns"
                )
                #expect(
                    t.latency.valueAtPercentile(50) >= 100,
                    "\(backend) \(commandName(c)) p50 \(t.latency.valueAtPercentile(50)) ns")
            }
            let set = try #require(report.commands[NFL.Command.setFlows.rawValue])
            #expect(
                set.backendOperations > 0 && set.backendNanoseconds > 0, "\(backend): a SET's flows are backend inserts"
            )
        }
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
                let c = UInt8(exactly: e.command)
            else { continue }
            expected[c, default: 0] += e.attributes?.flows?.count ?? 0
        }
        let report = try replay(trace, .backend(backend), preload: true)
        for c in [NFL.Command.setFlows, .delFlows] {
            #expect(report.commands[c.rawValue]?.flows == expected[c.rawValue], "\(backend) \(c.name)")
        }
        #expect(
            (expected[NFL.Command.setFlows.rawValue] ?? 0) > report.commands[NFL.Command.setFlows.rawValue]?.calls ?? 0)
    }

    @Test func theHeadlineIsTheAllRow() throws {
        let source = try PreloadedSource(path: try Fixtures.generated.get())
        var o = BenchOptions()
        o.runs = 3
        o.warmup = 0
        for backend in [BackendKind.hash, .dummy] {
            let r = try Bench.run(source, backend: backend, options: o)
            #expect(r.serviceRate == r.overall.callsPerSecond && r.serviceRate > 0)
            #expect(r.wallRate > 0 && r.wallRate <= r.serviceRate, "the service's time is part of the wall time")
            #expect(r.overall.calls == r.calls, "the all row counts every call of a run")
            #expect(
                (r.runRates.min() ?? 0) <= r.serviceRate * 1.000001
                    && r.serviceRate <= (r.runRates.max() ?? 0) * 1.000001)
            let json = r.json
            #expect(
                json["calls_per_second"].flatMap(doubleValue) == json["all"]?["calls_per_second"].flatMap(doubleValue))
            #expect(r.overall.backendOperations > 0 && r.overall.backendNanosecondsPerOperation > 0)
            #expect(
                r.overall.mean * Double(r.overall.calls) >= r.overall.backendNanosecondsPerOperation
                    * Double(r.overall.backendOperations))
            // In the table, the headline's calls/s cell is the all row's.
            let table = BenchReport.table([r], runs: 3, warmup: 0).split(separator: "\n").map(String.init)
            let head = try #require(
                table.first {
                    $0.hasPrefix(backend.rawValue + " ") && !$0.contains("all") && !$0.contains("_FLOWS")
                        && !$0.contains("GET_")
                })
            let all = try #require(
                table.first {
                    $0.hasPrefix(backend.rawValue + " ") && $0.split(separator: " ").dropFirst().first == "all"
                })
            let headRate = head.split(separator: " ")[1], allRate = all.split(separator: " ")[4]
            #expect(headRate == allRate, "\(head)\n\(all)")
        }
    }
}

/// A copy of `source` without the records `drop` picks (synthetic ones always kept).
@discardableResult
func dropRecords(
    _ source: String, to destination: String,
    _ drop: (StoredTraceRecord, FamilyTable) -> Bool
) throws -> (dropped: Int, of: Int) {
    let reader = try TraceReader(path: source)
    var records: [StoredTraceRecord] = []
    var dropped = 0, live = 0
    while let r = try reader.next() {
        let s = StoredTraceRecord(r)
        if !r.synthetic {
            live += 1
            if drop(s, reader.families) {
                dropped += 1
                continue
            }
        }
        records.append(s)
    }
    try writeCopy(records, interfacesOf: reader, to: destination, comment: "records removed by a test")
    return (dropped, live)
}

@Suite("replay verifies both legs and every call") struct BothLegsTests {
    /// The recorded hairpin answer of a SET_FLOWS changed from STATUS 0 to EEXIST (the API
    /// answer left as it was): the twin's listener answers 0, so the hairpin leg diverges.
    @Test func aChangedHairpinAnswerDivergesOnTheTwin() throws {
        let dir = try TempDir()
        let path = dir.file("eexist.pcapng")
        let changed = try rewrite(
            try Fixtures.demo.get(), to: path,
            editHairpinAnswer(.setFlows, once: Once()) { e in
                guard e.status == 0 else { return false }
                e.status = 17
                return true
            })
        #expect(changed == 1)
        let r = try replay(path, .twin(backend: .hash))
        #expect(!r.succeeded)
        #expect(r.divergent == 1, "\(r.text())")
        #expect(r.first?.leg == .hairpin)
        #expect(r.first?.reason.contains("EEXIST") == true, "\(r.first?.reason ?? "")")
        #expect(r.legs == [.api, .hairpin])
        #expect(r.text().contains("legs compared: api, hairpin"))
        // The untouched recording verifies on both legs.
        let clean = try replay(try Fixtures.demo.get(), .twin(backend: .hash))
        #expect(clean.succeeded && clean.divergent == 0 && clean.legs == [.api, .hairpin], "\(clean.text())")
    }

    /// A changed ENCAP request (what unft forwarded) diverges too, though the answers match.
    @Test func aChangedForwardedRequestDiverges() throws {
        let dir = try TempDir()
        let path = dir.file("req.pcapng")
        let once = Once()
        let changed = try rewrite(try Fixtures.demo.get(), to: path) { record, families in
            guard !once.done, !record.synthetic, record.direction == .toUser, let id = families.hairpinID,
                var m = try? HairpinMessage.decode(record.netlink, familyID: id), var e = m.encap, !e.isAnswer,
                e.command == UInt32(NFL.Command.getTables.rawValue)
            else { return false }
            e.attributes?.identifier = 4711
            m.encap = e
            record.netlink = try m.encoded()
            once.done = true
            return true
        }
        #expect(changed == 1)
        let r = try replay(path, .twin(backend: .hash))
        #expect(
            r.divergent == 1 && r.first?.leg == .hairpin && r.first?.reason.contains("request") == true, "\(r.text())")
    }

    /// Records removed at random (seeded): the replay fails, saying how many calls lack an
    /// answer or a request and where the first is, on a backend and on the twin.
    @Test(arguments: [ReplayTarget.backend(.hash), .twin(backend: .hash)])
    func aTraceWithRecordsRemovedFails(_ target: ReplayTarget) throws {
        let dir = try TempDir()
        let path = dir.file("holes.pcapng")
        var rng = SeededGenerator(seed: 14)
        let (dropped, live) = try dropRecords(try Fixtures.generated.get(), to: path) { _, _ in rng.next() % 100 < 14 }
        #expect(dropped > live / 10)
        let r = try replay(path, target)
        #expect(!r.succeeded)
        #expect(r.unverified + r.strayAnswers > 0 && !r.complete, "\(r.text())")
        #expect(r.text().contains("incomplete trace") && r.text().contains("the first at frame"), "\(r.text())")
    }

    /// Only answers removed: nothing diverges, but the calls are unverified — a failure unless
    /// the user accepts an incomplete trace.
    @Test func missingAnswersFailUnlessAllowed() throws {
        let bin = try flowtraceBinary()
        let dir = try TempDir()
        let path = dir.file("noanswers.pcapng")
        var rng = SeededGenerator(seed: 5)
        var dropped = 0
        try dropRecords(try Fixtures.generated.get(), to: path) { r, families in
            guard r.direction == .toKernel, let id = families.hairpinID, r.netlink.count >= 16,
                r.netlink.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: 4, as: UInt16.self) }) == id,
                rng.next() % 20 == 0
            else { return false }
            dropped += 1
            return true
        }
        #expect(dropped > 0)
        for target in ["backend:hash", "backend:tss"] {
            let fails = try run(bin, ["replay", path, "--target", target])
            #expect(fails.status == 1, "\(fails.stdout)\(fails.stderr)")
            #expect(
                fails.stdout.contains("0 divergent") && fails.stdout.contains("without a recorded answer"),
                "\(fails.stdout)")
            let accepted = try run(bin, ["replay", path, "--target", target, "--allow-incomplete"])
            #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        }
    }
}

/// The packet blocks of a pcapng file in order (EPB, SPB, obsolete PB): what Wireshark numbers
/// as frames 1, 2, … — counted here independently of TraceReader. Each block's packet data.
func packetBlocks(_ path: String) throws -> [[UInt8]] {
    let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    func u32(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }
    var out: [[UInt8]] = []
    var o = 0
    while o + 12 <= b.count {
        let type = u32(o), length = u32(o + 4)
        guard length >= 12, o + length <= b.count else { break }
        switch type {
        case 6: out.append(Array(b[(o + 28)..<(o + 28 + u32(o + 20))]))
        case 3: out.append(Array(b[(o + 12)..<(o + length - 4)]))
        case 2: out.append(Array(b[(o + 28)..<(o + 28 + u32(o + 20))]))
        default: break
        }
        o += length
    }
    return out
}

@Suite("frame numbers as Wireshark shows them") struct FrameNumberTests {
    /// A copy of the demo with one ENCAP answer's STATUS flipped: every target reports the
    /// divergent call at the frame of its request, and diff at the frame of the answer.
    @Test func reportsNameTheFrameWiresharkShows() throws {
        let dir = try TempDir()
        let path = dir.file("flip.pcapng")
        try rewrite(
            try Fixtures.demo.get(), to: path,
            editHairpinAnswer(.setFlows, once: Once()) { e in
                guard e.status == 0 else { return false }
                e.status = 17
                return true
            })
        let frames = try packetBlocks(path)
        // The frame's netlink header (after the 16-byte pseudo-header): type and nlmsg_seq.
        func header(_ frame: Int) -> (type: UInt16, seq: UInt32, bytes: [UInt8])? {
            guard frame >= 1, frame <= frames.count, frames[frame - 1].count >= 32 else { return nil }
            let n = Array(frames[frame - 1][16...])
            return (UInt16(n[4]) | UInt16(n[5]) << 8, n[8..<12].reversed().reduce(0) { $0 << 8 | UInt32($1) }, n)
        }
        for preload in [false, true] {
            let r = try replay(path, .backend(.hash), preload: preload)
            let d = try #require(r.first)
            let h = try #require(header(d.frame), "frame \(d.frame) of \(frames.count)")
            let peek = h.bytes.withUnsafeBytes { EncapPeek($0) }
            #expect(
                peek?.status == nil && peek?.sequence == d.sequence,
                "preload \(preload): frame \(d.frame) is not the call's ENCAP request")
            #expect(r.text().contains("frame \(d.frame)") && !r.text().contains("record \(d.frame)"))
        }
        let twin = try replay(path, .twin(backend: .hash))
        let d = try #require(twin.first)
        let h = try #require(header(d.frame))
        #expect(h.type >= 0x10 && UInt64(h.seq) == d.sequence, "frame \(d.frame) is not the call's API request")
        #expect(twin.json()["first_divergence"]?["frame"]?.int64Value == Int64(d.frame))

        // diff: the frame of the differing message on each side.
        let diff = try TraceDiff.compare(path, try Fixtures.demo.get())
        let label = try #require(diff.first?.label)
        let f = try #require(diff.first?.frame)
        #expect(label.contains("A frame \(f), B frame \(f)"), "\(label)")
        let a = try #require(header(f))
        #expect(a.bytes.withUnsafeBytes { EncapPeek($0)?.status } == 17)

        // tshark agrees on what frame f is (its length).
        if let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) {
            let out = try run(
                tshark, ["-r", path, "-Y", "frame.number == \(f)", "-T", "fields", "-e", "frame.cap_len"])
            #expect(
                out.status == 0
                    && out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(frames[f - 1].count),
                "\(out.stdout) \(out.stderr)")
        }
    }
}

extension FrameNumberTests {
    /// A file cut inside a block: every target and diff say after which frame it ends.
    @Test func aCutFileNamesItsLastWholeFrame() throws {
        let dir = try TempDir()
        let whole = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.demo.get()))
        let path = dir.file("cut.pcapng")
        try whole.prefix(whole.count * 2 / 3).write(to: URL(fileURLWithPath: path))
        let frames = try packetBlocks(path).count
        // The reader names the frame the cut falls in, or the last whole one when it falls between.
        func named(_ note: String) -> Bool {
            note.contains("ends inside a block")
                && (note.contains("frame \(frames + 1) is cut") || note.contains("after frame \(frames)"))
        }
        for (target, preload) in [
            (ReplayTarget.backend(.hash), false), (.backend(.hash), true), (.twin(backend: .hash), false),
        ] {
            let r = try replay(path, target, preload: preload)
            #expect(r.notes.contains(where: named), "\(target) preload \(preload): \(r.notes)")
        }
        let diff = try TraceDiff.compare(path, try Fixtures.demo.get())
        #expect(diff.notes.contains(where: named), "\(diff.notes)")
    }
}

@Suite("bench chart") struct BenchChartTests {
    /// (panel, backend, fill) of every bar, and (backend, fill) of every legend key.
    static func bars(_ svg: String) -> [(panel: String, backend: String, fill: String, title: String)] {
        svg.split(separator: "\n").compactMap { line -> (String, String, String, String)? in
            guard line.hasPrefix("<rect class=\"bar\"") else { return nil }
            return (
                attribute("data-panel", line), attribute("data-backend", line), attribute("fill", line),
                line.range(of: "<title>").map { String(line[$0.upperBound...].prefix { $0 != "<" }) } ?? ""
            )
        }
    }

    static func attribute(_ name: String, _ line: Substring) -> String {
        guard let r = line.range(of: " \(name)=\"") else { return "" }
        return String(line[r.upperBound...].prefix { $0 != "\"" })
    }

    @Test func oneColourPerBackendLabelledAxesAndContext() throws {
        let trace = try Fixtures.generated.get()
        let source = try PreloadedSource(path: trace, filter: Replayer.backendRecords)
        var o = BenchOptions()
        o.runs = 2
        o.warmup = 0
        let results = try [BackendKind.hash, .tcam, .dummy].map { try Bench.run(source, backend: $0, options: o) }
        let svg = SVGChart.render(
            results,
            context: SVGChart.Context(
                runs: 2, warmup: 0, machine: "testhost (Test CPU, 2 cores)",
                version: "9.9.9"))
        let bars = Self.bars(svg)
        // Every panel has a bar for every backend, each backend one colour everywhere, all different.
        for panel in ["latency", "throughput", "p99", "cost", "moves"] {
            #expect(Set(bars.filter { $0.panel == panel }.map(\.backend)) == ["hash", "tcam", "dummy"], "\(panel)")
        }
        // The update cost in the literature's terms: TCAM entry moves per flow updated; the
        // other backends move nothing.
        let tcam = try #require(results.first { $0.backend == "tcam" })
        let updated = tcam.commands.filter { $0.command == "SET_FLOWS" || $0.command == "DEL_FLOWS" }.reduce(0) {
            $0 + $1.flows
        }
        #expect(tcam.movesPerUpdate == Double(tcam.entryMoves ?? 0) / Double(updated))
        #expect(bars.contains { $0.panel == "moves" && $0.backend == "hash" && $0.title.hasSuffix(": 0") })
        var colour: [String: Set<String>] = [:]
        for b in bars { colour[b.backend, default: []].insert(b.fill) }
        #expect(colour.values.allSatisfy { $0.count == 1 }, "\(colour)")
        #expect(Set(colour.values.compactMap(\.first)).count == 3)
        let legend = svg.split(separator: "\n").filter { $0.hasPrefix("<rect class=\"legend-key\"") }
        #expect(legend.count == 3)
        for l in legend { #expect(colour[Self.attribute("data-backend", l)] == [Self.attribute("fill", l)]) }
        // Axes, error bars and what was measured where, in the picture.
        #expect(svg.components(separatedBy: "data-axis=\"y\"").count - 1 == 5)
        #expect(svg.components(separatedBy: "data-axis=\"x\"").count - 1 == 5)
        #expect(svg.contains(">calls/s</text>") && svg.contains("latency (log scale)"))
        #expect(svg.contains("min–max over 2 runs"))
        #expect(svg.contains("machine: testhost (Test CPU, 2 cores)") && svg.contains("FlowTrace 9.9.9"))
        #expect(svg.contains("trace \(trace)") && svg.contains("2 timed run(s)"))
        // The discovery getters are a few calls per run: no p99 bar, "n = N" instead.
        let tables = try #require(results[0].commands.first { $0.command == "GET_TABLES" })
        #expect(tables.calls * 2 < 100)
        #expect(!bars.contains { $0.panel == "p99" && $0.title.contains(" TABLES:") })
        #expect(svg.contains(">n = \(tables.calls * 2)</text>"))
        #expect(bars.contains { $0.panel == "p99" && $0.title.contains(" SET_FLOWS:") })
        let dir = try TempDir()
        try svg.write(toFile: dir.file("c.svg"), atomically: true, encoding: .utf8)
        let xml = try run(
            "/usr/bin/env",
            [
                "python3", "-c", "import sys, xml.dom.minidom as m; m.parse(sys.argv[1]); print('ok')",
                dir.file("c.svg"),
            ])
        #expect(xml.stdout.contains("ok"), "\(xml.stderr)")
    }

    /// A run of one call: no percentile panel, "n = 1" instead.
    @Test func oneCallGetsNoPercentiles() {
        var r = BackendBench(file: "one.pcapng", backend: "hash")
        r.runs = 1
        r.calls = 1
        r.runRates = [1000]
        r.overall.calls = 1
        r.overall.p50 = 5000
        r.overall.callsPerSecond = 1000
        var c = CommandBench(command: "SET_FLOWS")
        c.calls = 1
        c.p99 = 5000
        r.commands = [c]
        let svg = SVGChart.render([r], context: SVGChart.Context(runs: 1, warmup: 0, machine: "m", version: "v"))
        let bars = Self.bars(svg)
        #expect(!bars.contains { $0.panel == "latency" || $0.panel == "p99" })
        #expect(svg.contains("n = 1"))
        #expect(bars.contains { $0.panel == "throughput" })
    }
}

extension BothLegsTests {
    /// A call the twin held past its timeout (a recorded delay fault): compared as a timeout —
    /// re-injected it times out again and matches; without the fault it diverges.
    @Test func aRecordedTimeoutIsComparedAsATimeout() throws {
        let dir = try TempDir()
        let path = dir.file("timeout.pcapng")
        var o = LoopbackSession.Options()
        o.paths = TwinSocketPaths(directory: dir.path)
        o.recordPath = path
        o.timeout = 0.3
        o.faults = FaultInjector(specs: [try FaultSpec.parse("get_tables:delay=500ms:when=2", defaultSide: .twin)])
        let session = try LoopbackSession(o)
        try session.start()
        let c = try FlowTableClient(path: o.paths.api, timeout: 5)
        for _ in 0..<3 { _ = try c.get(.getTables, ifindex: UnftTwin.Device.default.ifindex) }
        c.close()
        usleep(400_000)
        session.stop()
        let plan = try FaultPlan.scan(path: path)
        #expect(plan.twinTimeout == 0.3)
        let again = try replay(path, .twin(backend: .hash)) { $0.faultPlan = plan }
        #expect(again.succeeded && again.compared == 3 && again.divergent == 0, "\(again.text())")
        let without = try replay(path, .twin(backend: .hash))
        #expect(without.divergent == 1 && without.first?.reason.contains("ETIMEDOUT") == true, "\(without.text())")
    }
}
