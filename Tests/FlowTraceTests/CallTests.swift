// The call id (CallTracker) and what stands on it: stats counting every answer against its
// command, the audit of whole calls and its damage detection.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

enum Fixtures {
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
    static func trace(_ name: String) -> String { root + "/traces/" + name }
    static let all = [
        "demo-session.pcapng", "batched-session.pcapng", "error-session.pcapng",
        "error-session-acked-answers.pcapng",
    ]
}

/// The call id of every record of a file, in order (0 for none), with the record.
func callIDs(_ path: String) throws -> [(call: Int, record: StoredTraceRecord)] {
    let reader = try TraceReader(path: path)
    var tracker = CallTracker()
    var out: [(Int, StoredTraceRecord)] = []
    while let r = try reader.next() {
        let s = SummaryDecoder.summarize(r.netlink, families: reader.families)
        let e = tracker.observe(
            s, families: reader.families, timestamp: r.timestamp, frame: reader.frameNumber,
            synthetic: r.synthetic)
        out.append((e.call, StoredTraceRecord(r)))
    }
    return out
}

@Suite struct CallTests {
    @Test func statsCountEveryErrorAgainstItsCommand() throws {
        let reader = try TraceReader(path: Fixtures.trace("demo-session.pcapng"))
        var stats = TraceStats()
        try stats.add(contentsOf: reader)
        let api = stats.byCommand.filter { $0.key.leg == .api }
        func errors(_ c: NFL.Command) -> [Int32: Int] {
            api[TraceStats.Key(leg: .api, command: c.rawValue)]?.errors ?? [:]
        }
        // The twin answered these itself: no device 4242, no listener, no UPDATE_FLOWS.
        #expect(errors(.getTables) == [EINVAL: 1, ENOTCONN: 1])
        #expect(errors(.updateFlows) == [EOPNOTSUPP: 1])
        #expect(api[TraceStats.Key(leg: .api, command: NFL.Command.updateFlows.rawValue)]?.latency.totalCount == 1)
        // Every error the trace holds is counted against some command.
        let perCommand = stats.byCommand.values.reduce(0) { $0 + $1.errors.values.reduce(0, +) }
        #expect(perCommand == stats.errnos.values.reduce(0, +))
    }

    /// On our recordings the recorder's pairing id (the ENCAP SEQ) names each forwarded call:
    /// the call ids must split the records the same way.
    @Test(arguments: Fixtures.all)
    func callIDsAgreeWithTheRecordersPairing(_ name: String) throws {
        let records = try callIDs(Fixtures.trace(name))
        var callOfPairing: [UInt64: Int] = [:]
        var pairingOfCall: [Int: UInt64] = [:]
        var calls = Set<Int>()
        for (i, (call, r)) in records.enumerated() where !r.synthetic {
            if call > 0 { calls.insert(call) }
            guard let p = r.pairing else { continue }
            #expect(call > 0, "frame \(i + 1) has pairing \(p) but no call")
            if let c = callOfPairing[p] { #expect(c == call, "frame \(i + 1): pairing \(p) is call \(c) and \(call)") }
            if let q = pairingOfCall[call] {
                #expect(q == p, "frame \(i + 1): call \(call) has pairings \(q) and \(p)")
            }
            callOfPairing[p] = call
            pairingOfCall[call] = p
        }
        // Numbered 1, 2, 3 … in order of their first record.
        var next = 1
        for (call, _) in records where call >= next {
            #expect(call == next)
            next += 1
        }
        #expect(calls.count == next - 1)
    }

    /// `flowtrace audit` and `export` name calls by show's ids (nlctrl's calls take ids too).
    @Test(arguments: Fixtures.all)
    func auditNamesCallsAsShowDoes(_ name: String) throws {
        let ids = try callIDs(Fixtures.trace(name)).map(\.call)
        var log = CallLog()
        let reader = try TraceReader(path: Fixtures.trace(name))
        while let r = try reader.next() { log.add(r, families: reader.families, frame: reader.frameNumber) }
        #expect(!log.calls.isEmpty)
        for c in log.calls {
            #expect(ids[c.firstFrame - 1] == c.id && ids[c.lastFrame - 1] == c.id, "call \(c.id)")
        }
    }

    /// A capture without FlowTrace's metadata (nlmon, `editcap -F pcap`) gets the same ids.
    @Test(arguments: Fixtures.all)
    func callIDsNeedNoMetadata(_ name: String) throws {
        let records = try callIDs(Fixtures.trace(name))
        let dir = try TempDir()
        let bare = dir.file("bare.pcapng")
        _ = try writeTrace(
            bare,
            records.map { r in
                var x = r.record
                x.leg = .unknown
                x.pairing = nil
                x.synthetic = false
                return x
            })
        let again = try callIDs(bare)
        #expect(again.map(\.call) == records.map(\.call))
    }

    /// nlmon stamps each message on the CPU that sent it, so a kernel capture of two clients
    /// can hold a message a few µs "earlier" than the one before it; only our own recorder,
    /// which stamps in the order it writes, promises time order, and only its records are held
    /// to it. The same jitter in a recorded file is a finding.
    @Test func timeOrderIsCheckedOnlyWhereTheRecorderPromisedIt() throws {
        let records = try callIDs(Fixtures.trace("demo-session.pcapng")).map(\.record)
        let i = records.lastIndex { !$0.synthetic && $0.leg == .api }!
        let dir = try TempDir()
        func jittered(bare: Bool) throws -> CallAudit {
            let path = dir.file(bare ? "bare.pcapng" : "recorded.pcapng")
            _ = try writeTrace(
                path,
                records.enumerated().map { n, r in
                    var x = r
                    if n == i { x.timestamp = records[i - 1].timestamp - 3_000 }
                    if bare { x.leg = .unknown; x.pairing = nil; x.synthetic = false }
                    return x
                })
            return try CallAudit.run(path: path)
        }
        let bare = try jittered(bare: true)
        #expect(bare.clean, "\(bare.text(path: "bare"))")
        let recorded = try jittered(bare: false)
        #expect(!recorded.clean && recorded.text(path: "r").contains("out of order"), "\(recorded.text(path: "r"))")
    }

    @Test(arguments: Fixtures.all)
    func fixturesAuditClean(_ name: String) throws {
        let audit = try CallAudit.run(path: Fixtures.trace(name))
        #expect(audit.clean, "\(audit.text(path: name))")
        #expect(audit.calls > 0 && audit.answered == audit.calls)
    }

    @Test func auditCountsErrorsPerCommand() throws {
        let audit = try CallAudit.run(path: Fixtures.trace("demo-session.pcapng"))
        #expect(audit.errorsByCommand["GET_TABLES"] == [EINVAL: 1, ENOTCONN: 1])
        #expect(audit.errorsByCommand["UPDATE_FLOWS"] == [EOPNOTSUPP: 1])
        #expect(audit.answeredByUnft == 3)
    }

    @Test func aCutFileNamesTheFrameBeforeTheCut() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.trace("demo-session.pcapng")))
        let dir = try TempDir()
        let cut = dir.file("cut.pcapng")
        try data.prefix(data.count - 10).write(to: URL(fileURLWithPath: cut))
        let audit = try CallAudit.run(path: cut)
        let total = try callIDs(Fixtures.trace("demo-session.pcapng")).count
        #expect(audit.truncation?.contains("after frame \(total - 1)") == true, "\(audit.truncation ?? "-")")
        #expect(!audit.clean)
    }
}

@Suite struct FrameNumberTests {
    /// Repair names the last whole frame, as Wireshark numbers it.
    @Test func repairNamesTheLastFrameKept() throws {
        let path = Fixtures.trace("demo-session.pcapng")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let dir = try TempDir()
        let cut = dir.file("cut.pcapng")
        try data.prefix(data.count - 10).write(to: URL(fileURLWithPath: cut))
        let report = try PcapngRepair.repair(input: cut, output: dir.file("fixed.pcapng"))
        let frames = try callIDs(path).count
        #expect(report.text().contains("frames 1-\(frames - 1)"), "\(report.text())")
        #expect(report.text().contains("(after frame \(frames - 1))"), "\(report.text())")
    }

    /// The reader's frame numbers count every packet, the synthetic preamble too (Wireshark's).
    @Test func frameNumbersAreWiresharks() throws {
        let reader = try TraceReader(path: Fixtures.trace("demo-session.pcapng"))
        var n = 0
        while try reader.next() != nil {
            n += 1
            #expect(reader.frameNumber == n)
        }
        #expect(n == 461)
    }
}

@Suite struct HairpinOnlyTests {
    /// A daemon recording without the twin holds the hairpin leg alone: each ENCAP request opens
    /// its call, and the trace audits clean.
    @Test func eachEncapRequestOpensACall() throws {
        let records = try callIDs(Fixtures.trace("demo-session.pcapng"))
        let hairpin = records.filter { $0.record.leg != .api }.map(\.record)
        let dir = try TempDir()
        let path = dir.file("hairpin.pcapng")
        _ = try writeTrace(path, hairpin)
        let audit = try CallAudit.run(path: path)
        #expect(audit.clean, "\(audit.text(path: path))")
        #expect(audit.calls == 44 && audit.forwarded == 44)
        let reader = try TraceReader(path: path)
        var tracker = CallTracker()
        var encapRequests: [Int] = []
        while let r = try reader.next() {
            let s = SummaryDecoder.summarize(r.netlink, families: reader.families)
            let e = tracker.observe(
                s, families: reader.families, timestamp: r.timestamp, frame: reader.frameNumber,
                synthetic: r.synthetic)
            if e.role == .encapRequest && (s.part ?? 0) == 0 {
                #expect(e.opened)
                encapRequests.append(e.call)
            }
        }
        #expect(encapRequests == Array(1...44))
    }
}
