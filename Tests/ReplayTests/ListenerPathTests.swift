// The embedded listener on the twin's own thread (bytes handed over in memory) against the
// listener on a thread of its own behind the twin's hairpin socket: the same workload gives the
// same trace after normalisation (`flowtrace diff`'s TraceDiff), including request parts, answer
// parts, errors, and the listener going away (ENOTCONN). And calls still time out when the
// listener is on the twin's thread.

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay
import LiveCapture

@Suite("listener path") struct ListenerPathTests {
    /// Runs one workload against a session with `path`, recording to `trace`; returns what the
    /// client saw (errno and text of each call, flows read back) for comparison.
    static func record(_ path: LoopbackSession.ListenerPath, to trace: String, dir: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var o = LoopbackSession.Options()
        o.devices = LoopbackSession.devices(named: ["unft0", "unft1"])
        o.paths = TwinSocketPaths(directory: dir)
        o.recordPath = trace
        o.listenerPath = path
        let session = try LoopbackSession(o)
        #expect(session.listenerPath == path)
        try session.start()
        defer { session.stop() }
        let c = try FlowTableClient(path: o.paths.api, timeout: 10)
        defer { c.close() }
        var seen = try calls(c, model: o.model)
        session.stopListenerForDemo()
        seen.append(contentsOf: try afterTheListenerLeft(c, model: o.model))
        return seen
    }

    static func describe(_ r: FlowTableReply) -> String {
        "\(r.errno) \(r.errorMessage ?? "") \(r.report.count) \(r.flows.count)"
    }

    /// The workload's calls while the listener is there: what the client saw of each.
    static func calls(_ c: FlowTableClient, model: PipelineModel) throws -> [String] {
        var seen: [String] = []
        func note(_ r: FlowTableReply) { seen.append(describe(r)) }
        let unft0: UInt32 = 1000, unft1: UInt32 = 1001
        for cmd in [NFL.Command.getTables, .getHeaders, .getActions, .getHeaderGraph, .getTableGraph] {
            note(try c.get(cmd, ifindex: unft0))
        }
        var gen = FlowGenerator(model: model, seed: 77)
        // Requests filled to the netlink limit: the twin forwards them in ENCAP parts.
        let flows = gen.flows(count: 3000)
        for r in Parts.ranges(of: flows) {
            note(try c.setFlows(ifindex: unft0, Array(flows[r]), strategy: .continueLog))
        }
        // Reading them back: the listener answers in several parts, the twin pages the reply.
        for t in Set(flows.map(\.table)).sorted() { note(try c.getFlows(ifindex: unft0, FlowSelector(table: t))) }
        note(try c.getFlows(ifindex: unft1, FlowSelector(table: flows[0].table)))
        // Errors: duplicates logged, an aborted batch, an unknown device, a missing flow.
        note(try c.setFlows(ifindex: unft0, Array(flows[0..<5]), strategy: .continueLog))
        note(try c.setFlows(ifindex: unft0, [gen.flow(in: model.tables[0]), flows[1]], strategy: .abort))
        note(try c.get(.getTables, ifindex: 4242))
        note(try c.delFlows(ifindex: unft0, [Flow(table: flows[0].table, uid: 999_999, priority: 0)]))
        note(
            try c.delFlows(
                ifindex: unft0, Array(flows[0..<100]).map { Flow(table: $0.table, uid: $0.uid, priority: 0) }))
        return seen
    }

    static func afterTheListenerLeft(_ c: FlowTableClient, model: PipelineModel) throws -> [String] {
        var gen = FlowGenerator(model: model, seed: 77)
        return [
            describe(try c.get(.getTables, ifindex: 1000)),
            describe(try c.setFlows(ifindex: 1000, [gen.flows(count: 1)[0]])),
        ]
    }

    /// `flowtrace gen`'s way: the listener and the client both in memory, the twin never
    /// started, run on the client's thread inside its receive. The client sees what it sees
    /// over the API socket, call for call; with no listener, a call fails at once (ENOTCONN).
    @Test func aClientOnTheTwinsThreadSeesWhatASocketClientSees() throws {
        let dir = NSTemporaryDirectory() + "ft-listener-path-client-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = LoopbackSession.Options()
        o.devices = LoopbackSession.devices(named: ["unft0", "unft1"])
        let overSocket = try Self.record(.inProcess, to: dir + "/socket.pcapng", dir: dir + "/a")

        var config = UnftTwin.Configuration(
            devices: o.devices, timeout: 10, paths: TwinSocketPaths(directory: dir + "/b"))
        var legs: [UnftTwin.Leg: Int] = [:]
        config.onMessage = { info, _ in legs[info.leg, default: 0] += 1 }
        let twin = try UnftTwin(config)
        let service = HairpinService(model: o.model, backend: .hash, devices: o.devices.map(\.ifindex))
        let link = twin.attachInProcessListener()
        let loop = ListenerLoop(transport: link, familyID: config.hairpinFamilyID, service: service, log: { _ in })
        try loop.register()
        twin.finishInProcessRegistration(link)
        link.serveListener = { _ = try? loop.serveWaiting() }
        let connection = twin.attachInProcessClient()
        let c = FlowTableClient(transport: connection, timeout: 10)
        var seen = try Self.calls(c, model: o.model)
        #expect(seen == Array(overSocket.prefix(seen.count)))
        #expect((legs[.hairpin] ?? 0) > 40 && (legs[.api] ?? 0) > 40, "\(legs)")
        // The listener goes away, as the session's demo takes it away: the next calls fail at once.
        twin.detachInProcessListener()
        link.serveListener = nil
        seen.append(contentsOf: try Self.afterTheListenerLeft(c, model: o.model))
        #expect(seen == overSocket, "\(seen)")
        connection.close()
    }

    @Test func inProcessAndSocketGiveTheSameTrace() throws {
        let dir = NSTemporaryDirectory() + "ft-listener-path-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = dir + "/in-process.pcapng", b = dir + "/socket.pcapng"
        let seenA = try Self.record(.inProcess, to: a, dir: dir + "/a")
        let seenB = try Self.record(.socket, to: b, dir: dir + "/b")
        #expect(seenA == seenB)
        // The calls did what they should: the listener going away is ENOTCONN for both.
        #expect(
            seenA.suffix(2).allSatisfy { $0.hasPrefix("\(ENOTCONN) no hairpin listener is registered") }, "\(seenA)")
        #expect(seenA.prefix(5).allSatisfy { $0.hasPrefix("0 ") }, "\(seenA)")
        // The duplicates were reported (5 flows, EEXIST) and the flows read back.
        #expect(seenA.contains("0  5 5"), "\(seenA)")
        #expect(seenA.contains { $0.hasPrefix("\(EEXIST) flow 1 (table 3 uid 2): duplicate uid") }, "\(seenA)")
        #expect(seenA.contains { $0.hasPrefix("0  0 ") && $0 != "0  0 0" }, "\(seenA)")
        let report = try TraceDiff.compare(a, b)
        #expect(report.identical, "\(report.text())")
        // Both legs were compared, with the parts and pages in them.
        #expect((report.compared[.hairpin] ?? 0) > 40, "\(report.compared)")
        #expect((report.compared[.api] ?? 0) > 40, "\(report.compared)")
    }

    @Test func aChangedTraceIsNotTheSame() throws {
        // The comparison above can fail: one call more on one side is found.
        let dir = NSTemporaryDirectory() + "ft-listener-path-neg-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = dir + "/a.pcapng", b = dir + "/b.pcapng"
        _ = try Self.record(.inProcess, to: a, dir: dir + "/a")
        var o = LoopbackSession.Options()
        o.devices = LoopbackSession.devices(named: ["unft0", "unft1"])
        o.paths = TwinSocketPaths(directory: dir + "/b")
        try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        o.recordPath = b
        o.listenerPath = .socket
        let s = try LoopbackSession(o)
        try s.start()
        let c = try FlowTableClient(path: o.paths.api, timeout: 10)
        _ = try c.get(.getTables, ifindex: 1000)
        c.close()
        s.stop()
        let report = try TraceDiff.compare(a, b)
        #expect(!report.identical)
    }

    @Test func aCallStillTimesOutOnTheTwinsThread() throws {
        // 1 µs for an answer; decoding and storing a full batch takes the listener far longer.
        // The listener runs on the twin's thread, so the twin only looks at the clock once the
        // answer is back: the call must still fail with ETIMEDOUT, and the late answer be
        // refused, as over the socket.
        let dir = NSTemporaryDirectory() + "ft-listener-timeout-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var o = LoopbackSession.Options()
        o.paths = TwinSocketPaths(directory: dir)
        o.timeout = 0.000_001
        o.listenerPath = .inProcess
        let session = try LoopbackSession(o)
        try session.start()
        defer { session.stop() }
        let c = try FlowTableClient(path: o.paths.api, timeout: 30)
        defer { c.close() }
        var gen = FlowGenerator(model: o.model, seed: 5)
        let flows = gen.flows(count: 2000)
        let r = try c.setFlows(ifindex: 1000, Array(flows[Parts.ranges(of: flows)[0]]))
        #expect(r.errno == ETIMEDOUT, "\(r.errno) \(r.errorMessage ?? "")")
        #expect(r.errorMessage == "the hairpin listener did not answer within 0 ms")
        // The session goes on: the client may call again (and times out again).
        let next = try c.get(.getTables, ifindex: 1000)
        #expect(next.errno == ETIMEDOUT)
        session.stop()  // joins the twin's thread: the listener's statistics are final
        #expect(session.twin.counters.timeouts == 2)
        #expect(session.twin.counters.answers == 0)
        // Both late answers were refused: "no pending call with SEQ …".
        #expect(session.listener?.statistics.answerErrors[UInt32(ENOENT)] == 2)
    }
}
