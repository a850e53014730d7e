// flowtrace replay: recorded sessions replay with zero divergences into every backend and the
// twin; an altered recorded answer is found, reported readably, and fails the exit status; the
// same trace into the same backend twice gives the same bytes; the starting state comes from
// the snapshot; --loop, --step, kernel:DEV without the module.

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay
import LiveCapture

@Suite("replay") struct ReplayTests {
    @Test(arguments: BackendKind.allCases)
    func demoReplaysIntoEveryBackend(_ backend: BackendKind) throws {
        let path = try Fixtures.demo.get()
        let report = try replay(path, .backend(backend))
        #expect(report.divergent == 0, "\(report.text())")
        #expect(report.stopped == nil)
        #expect(report.calls > 20)
        #expect(report.compared == report.calls)
        #expect(report.startingState.contains("2 device(s)"))
    }

    @Test func demoReplaysIntoTheTwinAtRecordedSpeed() throws {
        let path = try Fixtures.demo.get()
        let report = try replay(path, .twin(backend: .hash), timing: .recorded(multiplier: 1))
        #expect(report.divergent == 0, "\(report.text())")
        #expect(report.stopped == nil)
        #expect(report.compared > 20)
        // The last call met no listener in the recording: it did nothing there, and is not sent.
        #expect(report.skipped == 1)
        #expect(report.pacing?.paced == report.calls)
    }

    @Test(arguments: [BackendKind.dummy, .tcam])
    func demoReplaysIntoTheTwinWithOtherBackends(_ backend: BackendKind) throws {
        let report = try replay(try Fixtures.demo.get(), .twin(backend: backend))
        #expect(report.divergent == 0, "\(report.text())")
        #expect(report.compared > 20)
    }

    @Test(arguments: [ReplayTarget.backend(.hash), .backend(.tss), .backend(.tcam), .twin(backend: .hash)])
    func generatedTraceWithStartingStateReplays(_ target: ReplayTarget) throws {
        let report = try replay(try Fixtures.generated.get(), target)
        #expect(report.divergent == 0, "\(report.text())")
        #expect(report.startingState.contains("300 flows"), "\(report.startingState)")
        #expect(report.compared > 100)
    }

    /// The trace without its snapshot's ENCAP exchanges (NEWFAMILY kept).
    static func stripSnapshot(_ source: String, to path: String) throws {
        let reader = try TraceReader(path: source)
        var records: [StoredTraceRecord] = []
        while let r = try reader.next() {
            let isSnapshotEncap =
                r.synthetic && r.netlink.count >= 6
                && r.netlink.loadUnaligned(fromByteOffset: 4, as: UInt16.self) != Controller.familyID
            if !isSnapshotEncap { records.append(StoredTraceRecord(r)) }
        }
        let writer = try PcapngWriter(
            path: path, interfaces: [PcapngInterfaceInfo(name: "hairpin"), PcapngInterfaceInfo(name: "api")])
        for r in records { try r.withRecord { try writer.append($0) } }
        try writer.close()
    }

    @Test func withoutTheSnapshotTheReplayDivergesAndSaysWhy() throws {
        let dir = try TempDir()
        let stripped = dir.file("stripped.pcapng")
        try Self.stripSnapshot(try Fixtures.generated.get(), to: stripped)
        let report = try replay(stripped, .backend(.hash))
        #expect(report.notes.contains { $0.contains("no snapshot") })
        #expect(
            report.divergent > 0, "the prefilled flows are missing, so deletions and duplicates must answer differently"
        )
    }

    @Test func withoutASnapshotTheTwinGetsTheDevicesTheCallsName() throws {
        // The demo starts empty, so without its snapshot it still replays clean — if the twin
        // has both devices (unft1 appears only in calls).
        let dir = try TempDir()
        let stripped = dir.file("stripped.pcapng")
        try Self.stripSnapshot(try Fixtures.demo.get(), to: stripped)
        let report = try replay(stripped, .twin(backend: .hash))
        #expect(report.notes.contains { $0.contains("no snapshot") })
        #expect(report.divergent == 0, "\(report.text())")
        #expect(report.compared > 20)
    }

    @Test func aRunningTwinIsClearedAndGivenTheStartingState() throws {
        let dir = try TempDir()
        var o = LoopbackSession.Options()
        o.devices = LoopbackSession.devices(named: ["unft0", "unft1"])
        o.backend = .tss
        o.paths = TwinSocketPaths(directory: dir.path)
        let session = try LoopbackSession(o)
        try session.start()
        defer { session.stop() }
        // Flows the trace knows nothing about, which the replay must remove first.
        let client = try FlowTableClient(path: o.paths.api)
        var gen = FlowGenerator(model: o.model, seed: 99)
        _ = try client.setFlows(ifindex: 1000, gen.flows(count: 200), strategy: .continue)
        client.close()
        for _ in 0..<2 {
            let report = try replay(try Fixtures.generated.get(), .socket(path: o.paths.api))
            #expect(report.divergent == 0, "\(report.text())")
            #expect(report.compared > 100)
        }
    }

    @Test func devicesMapOntoOtherIfindexes() throws {
        let dir = try TempDir()
        var o = LoopbackSession.Options()
        o.devices = [UnftTwin.Device(name: "a", ifindex: 7), UnftTwin.Device(name: "b", ifindex: 8)]
        o.paths = TwinSocketPaths(directory: dir.path)
        let session = try LoopbackSession(o)
        try session.start()
        defer { session.stop() }
        let connection = try UnixSeqpacketConnection.connect(path: o.paths.api)
        defer { connection.close() }
        var options = ReplayOptions(timing: .topSpeed)
        options.log = { _ in }
        options.ifindexMap = [1000: 7, 1001: 8]
        let report = try Replayer.replayAPI(
            try ReadAheadSource(path: try Fixtures.generated.get()), over: connection,
            targetName: "mapped twin", options: options)
        #expect(report.divergent == 0, "\(report.text())")
        #expect(report.compared > 100)
    }

    @Test func sameTraceSameBackendTwiceGivesTheSameBytes() throws {
        let path = try Fixtures.generated.get()
        func answers() throws -> [[UInt8]] {
            var all: [[UInt8]] = []
            _ = try replay(path, .backend(.tcam), preload: true) { o in o.onAnswer = { all.append([UInt8]($0)) } }
            return all
        }
        let first = try answers(), second = try answers()
        #expect(first.count > 100)
        #expect(first == second)
    }

    @Test func loopsReplayFromTheStartingStateEachTime() throws {
        let report = try replay(try Fixtures.generated.get(), .backend(.hash)) { $0.loops = 3 }
        let once = try replay(try Fixtures.generated.get(), .backend(.hash))
        #expect(report.divergent == 0)
        #expect(report.calls == 3 * once.calls)
        let twin = try replay(try Fixtures.generated.get(), .twin(backend: .hash)) { $0.loops = 2 }
        #expect(twin.divergent == 0, "\(twin.text())")
        #expect(twin.calls == 2 * once.calls)
    }

    @Test func stepModeShowsEachRequestAndStopsWhenTold() throws {
        final class Stepper: StepControl {
            var requests: [String] = []
            var answers: [[String]] = []
            func before(request: String) -> Bool {
                requests.append(request)
                return requests.count <= 4
            }
            func after(answer: [String], matched: Bool?) { answers.append(answer) }
        }
        let stepper = Stepper()
        let report = try replay(try Fixtures.generated.get(), .backend(.hash)) { $0.step = stepper }
        #expect(report.calls == 4)
        #expect(report.stopped?.contains("--step") == true)
        #expect(stepper.requests.first?.contains("GET_TABLES") == true)
        #expect(stepper.answers.contains { $0.contains { $0.contains("answer") } })
    }

    @Test func kernelTargetWithoutTheModuleSaysWhatIsMissing() throws {
        #expect(throws: ReplayError.self) {
            _ = try replay(try Fixtures.generated.get(), .kernel(devices: ["unft0"]))
        }
        do {
            _ = try replay(try Fixtures.generated.get(), .kernel(devices: ["unft0"]))
        } catch {
            #expect("\(error)".contains("needs the unft module"))
        }
    }

    @Test func targetsParse() throws {
        #expect(try ReplayTarget.parse("backend:tcam") == .backend(.tcam))
        #expect(try ReplayTarget.parse("twin") == .twin(backend: .hash))
        #expect(try ReplayTarget.parse("twin:tss") == .twin(backend: .tss))
        #expect(try ReplayTarget.parse("socket:/tmp/x.sock") == .socket(path: "/tmp/x.sock"))
        #expect(try ReplayTarget.parse("kernel:unft0,unft1") == .kernel(devices: ["unft0", "unft1"]))
        for bad in ["backend:fast", "socket:", "kernel:", "nothing", "x:y"] {
            #expect(throws: ReplayError.self) { _ = try ReplayTarget.parse(bad) }
        }
        #expect(ReplayTarget.backend(.hash).defaultTiming == .topSpeed)
        #expect(ReplayTarget.twin(backend: .hash).defaultTiming == .recorded(multiplier: 1))
    }
}

@Suite("replay: divergences") struct DivergenceTests {
    /// The demo with one recorded hairpin answer changed: a SET_FLOWS that succeeded now says EEXIST.
    static func flippedStatus(_ dir: TempDir) throws -> String {
        let out = dir.file("flipped.pcapng")
        let n = try rewrite(
            try Fixtures.demo.get(), to: out,
            editHairpinAnswer(.setFlows, once: Once()) { e in
                guard e.status == 0 else { return false }
                e.status = 17
                return true
            })
        #expect(n == 1)
        return out
    }

    /// The demo with one flow dropped from a recorded GET_FLOWS answer, on both legs.
    static func droppedFlow(_ dir: TempDir) throws -> String {
        let out = dir.file("dropped.pcapng")
        let hairpin = editHairpinAnswer(.getFlows, once: Once()) { e in
            guard var flows = e.attributes?.flows, flows.count >= 3 else { return false }
            flows.remove(at: 1)
            e.attributes?.flows = flows
            return true
        }
        let api = editAPIReply(.getFlows, once: Once()) { a in
            guard var flows = a.flows, flows.count >= 3 else { return false }
            flows.remove(at: 1)
            a.flows = flows
            return true
        }
        let n = try rewrite(try Fixtures.demo.get(), to: out) { r, f in try hairpin(&r, f) || api(&r, f) }
        #expect(n == 2)
        return out
    }

    @Test func aFlippedErrnoIsTheOneDivergenceAndReadsWell() throws {
        let dir = try TempDir()
        let path = try Self.flippedStatus(dir)
        let report = try replay(path, .backend(.hash))
        #expect(report.divergent == 1)
        let first = try #require(report.first)
        #expect(first.command == "SET_FLOWS")
        #expect(first.reason.contains("EEXIST") && first.reason.contains("OK"), "\(first.reason)")
        let text = report.text()
        #expect(text.contains("first divergence: SET_FLOWS"))
        // The side-by-side marks exactly the differing status lines.
        let marked = text.split(separator: "\n").filter { $0.contains(" ≠ ") }
        #expect(!marked.isEmpty && marked.allSatisfy { $0.contains("status") || $0.contains("errno") }, "\(text)")
        let json = report.json()
        #expect(json["divergent"]?.int64Value == 1)
        #expect(json["first_divergence"]?["changed_lines"]?.elements?.isEmpty == false)
    }

    @Test func aDroppedFlowShowsAsOneMissingFlow() throws {
        let dir = try TempDir()
        let path = try Self.droppedFlow(dir)
        let backend = try replay(path, .backend(.dummy))
        #expect(backend.divergent == 1)
        let first = try #require(backend.first)
        #expect(first.command == "GET_FLOWS")
        let rows = first.sideBySide.changes
        // One flow's lines are only in the replayed answer; besides, only the length differs.
        #expect(rows.contains { $0.mark == .onlyRight }, "\(first.text())")
        let others = rows.filter { $0.mark != .onlyRight }
        #expect(others.count == 1 && others.allSatisfy { $0.left?.contains("nlmsg_len") == true }, "\(first.text())")
        let twin = try replay(path, .twin(backend: .hash))
        #expect(twin.divergent == 1, "\(twin.text())")
        // The twin shows both legs: the flow is missing first from the listener's answer.
        #expect(twin.first?.leg == .hairpin && twin.legs == [.api, .hairpin])
    }

    @Test func theBinaryExitsOneWithAReportAndTwoOnTrouble() throws {
        let bin = try flowtraceBinary()
        let dir = try TempDir()
        let flipped = try Self.flippedStatus(dir)
        let bad = try run(bin, ["replay", flipped, "--target", "backend:tss"])
        #expect(bad.status == 1, "\(bad.stdout)\(bad.stderr)")
        #expect(bad.stdout.contains("first divergence"))
        #expect(bad.stdout.contains("≠"))
        let good = try run(bin, ["replay", try Fixtures.demo.get(), "--target", "backend:tss"])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        let json = try run(bin, ["replay", flipped, "--target", "backend:hash", "--json"])
        #expect(json.status == 1)
        let value = try FlowTableJSON.parse(json.stdout)
        #expect(value["divergent"]?.int64Value == 1)
        #expect(value["ok"]?.boolValue == false)
        let twin = try run(bin, ["replay", try Self.droppedFlow(dir), "--target", "twin", "--topspeed"])
        #expect(twin.status == 1, "\(twin.stdout)\(twin.stderr)")
    }

    @Test func hostileInputIsAClearErrorNotACrash() throws {
        let bin = try flowtraceBinary()
        let dir = try TempDir()
        let garbage = dir.file("garbage.pcapng")
        try Data("this is not a trace at all".utf8).write(to: URL(fileURLWithPath: garbage))
        let g = try run(bin, ["replay", garbage, "--target", "backend:hash"])
        #expect(g.status == 2)
        #expect(g.stderr.contains("neither pcapng nor pcap"), "\(g.stderr)")
        let empty = dir.file("empty.pcapng")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(try run(bin, ["replay", empty, "--target", "twin"]).status == 2)
        #expect(try run(bin, ["replay", dir.file("missing"), "--target", "backend:hash"]).status == 2)
        #expect(try run(bin, ["replay", garbage, "--target", "warp:9"]).status == 2)
        // Cut in the middle of a block: every record before the cut replays, then the cut is
        // named, exit status 2 (as tshark).
        let whole = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.demo.get()))
        let cut = dir.file("cut.pcapng")
        try whole.prefix(whole.count / 2 + 3).write(to: URL(fileURLWithPath: cut))
        let c = try run(bin, ["replay", cut, "--target", "backend:hash"])
        #expect(c.status == 2, "\(c.stderr)")
        #expect(c.stderr.contains("ends inside a block"), "\(c.stderr)")
        #expect(c.stderr.contains("is cut"), "\(c.stderr)")
        #expect(c.stdout.contains("calls"), "\(c.stdout)")
        // Random bytes after a valid head.
        var noisy = Data(whole.prefix(4096))
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<20_000 { noisy.append(UInt8(truncatingIfNeeded: rng.next())) }
        let n = dir.file("noisy.pcapng")
        try noisy.write(to: URL(fileURLWithPath: n))
        for target in ["backend:hash", "twin"] {
            let r = try run(bin, ["replay", n, "--target", target, "--topspeed"], timeout: 60)
            #expect([0, 1, 2].contains(r.status), "\(target): \(r.stderr)")
        }
    }
}

@Suite("diff") struct DiffTests {
    @Test func diffFindsTheAlteredAnswer() throws {
        let dir = try TempDir()
        let original = try Fixtures.demo.get()
        let flipped = try DivergenceTests.flippedStatus(dir)
        let report = try TraceDiff.compare(original, flipped)
        #expect(report.divergent == 1, "\(report.text())")
        #expect(report.first?.leg == .hairpin)
        #expect(try TraceDiff.compare(original, original).identical)
        let bin = try flowtraceBinary()
        let r = try run(bin, ["diff", original, flipped])
        #expect(r.status == 1)
        #expect(r.stdout.contains("≠"))
        #expect(try run(bin, ["diff", original, original]).status == 0)
        #expect(try run(bin, ["diff", original, dir.file("nope")]).status == 2)
    }

    @Test func theTwinTargetRecordsItsSessionAsATraceThatReplays() throws {
        let dir = try TempDir()
        let again = dir.file("again.pcapng")
        let report = try replay(try Fixtures.generated.get(), .twin(backend: .tss)) { $0.recordPath = again }
        #expect(report.divergent == 0)
        // The recording starts from the state the twin had (empty), and holds the replay's own
        // calls, installing the starting state included: replayed, it matches itself.
        let second = try replay(again, .backend(.hash))
        #expect(second.divergent == 0, "\(second.text())")
        #expect(second.calls > report.calls)
    }
}
