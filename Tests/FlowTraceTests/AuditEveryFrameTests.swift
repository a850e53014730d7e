// The audit finds every single record removed or written twice, whatever it is: a small
// session recorded in this process (the calls `flowtrace demo` makes, the errors and *_LOG
// reports included), damaged at each frame in turn. And the records outside calls (nlctrl,
// SET_LISTENER), an empty GET_FLOWS page and a *_LOG report, one by one on the fixtures.

import Foundation
import Testing
import Hairpin
import LibFlowTable
import LiveCapture
@testable import FlowTrace

@Suite struct AuditEveryFrameTests {
    struct SessionFailure: Error { var text: String }

    /// A short session on the twin, recorded: discovery, SET_FLOWS (CONT_LOG), GET_FLOWS (one of
    /// them empty, one on another device), DEL_FLOWS, errors of each kind, the *_LOG reports,
    /// UPDATE_FLOWS, and the listener going away.
    static let session: Result<[StoredTraceRecord], SessionFailure> = {
        do {
            let dir = try TempDir()
            let path = dir.file("session.pcapng")
            var o = LoopbackSession.Options()
            o.devices = LoopbackSession.devices(named: ["unft0", "unft1"])
            o.paths = TwinSocketPaths(directory: dir.path)
            o.recordPath = path
            let session = try LoopbackSession(o)
            try session.start()
            do {
                let c = try FlowTableClient(path: o.paths.api, timeout: 10)
                defer { c.close() }
                try c.resolveFamily()
                let unft0: UInt32 = 1000, unft1: UInt32 = 1001
                for cmd in [NFL.Command.getTables, .getHeaders] { _ = try c.get(cmd, ifindex: unft0) }
                var gen = FlowGenerator(model: o.model, seed: 3)
                // Enough for a GET_FLOWS answer in several ENCAP parts and many reply pages.
                let flows = gen.flows(count: 1500)
                for r in Parts.ranges(of: flows) {
                    _ = try c.setFlows(ifindex: unft0, Array(flows[r]), strategy: .continueLog)
                }
                for t in Set(flows.map(\.table)).sorted() { _ = try c.getFlows(ifindex: unft0, FlowSelector(table: t)) }
                _ = try c.getFlows(ifindex: unft1, FlowSelector(table: flows[0].table))
                _ = try c.delFlows(ifindex: unft0, [flows[1]], strategy: .continueLog)
                let kept = flows[0]
                let fresh = gen.flow(
                    in: o.model.tables.first { $0.uid == kept.table } ?? o.model.tables[0], uid: 70_000)
                let fresh2 = gen.flow(
                    in: o.model.tables.first { $0.uid == kept.table } ?? o.model.tables[0], uid: 70_001)
                _ = try c.setFlows(ifindex: unft0, [fresh, kept], strategy: .continueLog)
                _ = try c.setFlows(ifindex: unft0, [fresh2, kept], strategy: .abortLog)
                _ = try c.setFlows(ifindex: unft0, [kept], strategy: .abort)
                _ = try c.delFlows(
                    ifindex: unft0, [Flow(table: kept.table, uid: 59_999, priority: 0)], strategy: .abortLog)
                _ = try c.get(.getTables, ifindex: 4242)
                _ = try c.call(
                    .updateFlows,
                    {
                        var a = FlowTableAttributes.device(unft0); a.flows = [kept]; return a
                    }())
                session.stopListenerForDemo()
                _ = try c.get(.getTables, ifindex: unft0)
            }
            session.stop()
            return .success(readTrace(path).records)
        } catch {
            return .failure(SessionFailure(text: "cannot record the session: \(error)"))
        }
    }()

    static func audit(_ records: [StoredTraceRecord], _ dir: TempDir) throws -> CallAudit {
        let path = dir.file("damaged.pcapng")
        _ = try writeTrace(path, records)
        return try CallAudit.run(path: path)
    }

    @Test func everyRecordDroppedOrDuplicatedIsFound() throws {
        let clean = try Self.session.get()
        let dir = try TempDir()
        let a = try Self.audit(clean, dir)
        #expect(a.clean, "\(a.text(path: "session"))")
        let first = try #require(clean.firstIndex { !$0.synthetic })
        #expect(clean.count - first > 60)
        // The damage must reach every kind of record: ENCAP parts and reply pages too.
        var families = FamilyTable()
        for r in clean where r.synthetic { _ = r.netlink.withUnsafeBytes { families.learn(fromNetlink: $0) } }
        let parts = clean.filter { r in
            r.netlink.withUnsafeBytes { (SummaryDecoder.summarize($0, families: families).part ?? 0) > 0 }
        }
        #expect(!parts.isEmpty)
        var missed: [String] = []
        for i in first..<clean.count {
            var dropped = clean
            dropped.remove(at: i)
            let d = try Self.audit(dropped, dir)
            if d.clean || d.examples.isEmpty { missed.append("drop frame \(i + 1)") }
            var doubled = clean
            doubled.insert(clean[i], at: i + 1)
            let u = try Self.audit(doubled, dir)
            if u.clean || u.examples.isEmpty { missed.append("duplicate frame \(i + 1)") }
        }
        #expect(missed.isEmpty, "audit clean after: \(missed.joined(separator: ", "))")
    }

    /// The fixture's records with what the call tracker and the summary say of each.
    static func fixture(_ name: String) throws -> [(
        record: StoredTraceRecord, summary: MessageSummary, event: CallEvent
    )] {
        let reader = try TraceReader(path: Fixtures.trace(name))
        var tracker = CallTracker()
        var out: [(StoredTraceRecord, MessageSummary, CallEvent)] = []
        while let r = try reader.next() {
            let s = SummaryDecoder.summarize(r.netlink, families: reader.families)
            let e = tracker.observe(
                s, families: reader.families, timestamp: r.timestamp, frame: reader.frameNumber,
                synthetic: r.synthetic)
            out.append((StoredTraceRecord(r), s, e))
        }
        return out
    }

    /// Each record of `frames` (0-based indexes) dropped, then written twice: a finding each time.
    func expectFound(_ name: String, _ indexes: [Int], _ what: String) throws {
        let records = try Self.fixture(name).map(\.record)
        let dir = try TempDir()
        for i in indexes {
            var dropped = records
            dropped.remove(at: i)
            var a = try Self.audit(dropped, dir)
            #expect(!a.clean, "\(name): \(what) at frame \(i + 1) dropped, audit clean")
            var doubled = records
            doubled.insert(records[i], at: i + 1)
            a = try Self.audit(doubled, dir)
            #expect(!a.clean, "\(name): \(what) at frame \(i + 1) duplicated, audit clean")
            #expect(a.examples.contains { $0.frame == i + 1 || $0.frame == i + 2 || $0.frame < i + 1 }, "\(a.examples)")
        }
    }

    /// SET_LISTENER, its ACK, GETFAMILY, NEWFAMILY and its ACK: outside our calls (nlctrl's
    /// exchanges are calls of another family), yet each exchange must be whole.
    @Test(arguments: ["demo-session.pcapng", "error-session.pcapng"])
    func controlExchangesAreChecked(_ name: String) throws {
        let loaded = try Self.fixture(name)
        let control = loaded.indices.filter { i in
            let (r, s, e) = loaded[i]
            let nlctrl = e.call > 0 && e.requestType == Controller.familyID
            return !r.synthetic && (e.call == 0 || nlctrl)
                && (s.kind == .controller || s.kind == .ack || s.kind == .error
                    || (s.kind == .hairpin && s.command != NFLH.Command.encap.rawValue))
        }
        #expect(control.count >= 5)
        // GETFAMILY, NEWFAMILY and its ACK are one call.
        #expect(
            loaded.contains {
                $0.summary.kind == .controller && $0.summary.isRequest && $0.event.role == .familyRequest
            })
        try expectFound(name, control, "control record")
    }

    /// A GET_FLOWS without flows answers with exactly one empty page.
    @Test func anEmptyGetFlowsPageTwiceIsFound() throws {
        let loaded = try Self.fixture("demo-session.pcapng")
        let pages = loaded.indices.filter {
            loaded[$0].event.role == .apiReply && loaded[$0].event.command == NFL.Command.getFlows.rawValue
                && loaded[$0].summary.flowCount == 0
        }
        #expect(!pages.isEmpty)
        try expectFound("demo-session.pcapng", pages, "empty GET_FLOWS page")
    }

    /// The report of a *_LOG strategy: exactly as many as the strategy and the results say.
    @Test(arguments: Fixtures.all)
    func aLogReportTwiceOrMissingIsFound(_ name: String) throws {
        let loaded = try Self.fixture(name)
        let reports = loaded.indices.filter {
            loaded[$0].event.role == .apiReply
                && (loaded[$0].event.command == NFL.Command.setFlows.rawValue
                    || loaded[$0].event.command == NFL.Command.delFlows.rawValue)
        }
        try expectFound(name, reports, "SET/DEL_FLOWS report")
    }
}
