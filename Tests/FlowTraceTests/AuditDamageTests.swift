// The audit finds every record removed, duplicated or moved in a clean recording, and names
// it by frame: each kind of call record in turn, at many seeded positions.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

@Suite struct AuditDamageTests {
    enum Kind: String, CaseIterable { case apiRequest, encapRequest, encapAnswer, apiReply, done, final, hairpinAck }

    /// The records of a clean fixture, each with its kind (nil: outside calls, or a report
    /// reply whose absence nothing on the wire gives away).
    static func load(_ name: String) throws -> [(kind: Kind?, record: StoredTraceRecord, call: Int)] {
        let reader = try TraceReader(path: Fixtures.trace(name))
        var tracker = CallTracker()
        var out: [(Kind?, StoredTraceRecord, Int)] = []
        while let r = try reader.next() {
            let s = SummaryDecoder.summarize(r.netlink, families: reader.families)
            let e = tracker.observe(
                s, families: reader.families, timestamp: r.timestamp, frame: reader.frameNumber,
                synthetic: r.synthetic)
            var kind: Kind?
            switch e.role {
            case .apiRequest: kind = .apiRequest
            case .encapRequest: kind = .encapRequest
            case .encapAnswer: kind = .encapAnswer
            // SET/DEL_FLOWS reports (the *_LOG strategies) are left out: see the report.
            case .apiReply
            where e.command != NFL.Command.setFlows.rawValue && e.command != NFL.Command.delFlows.rawValue:
                kind = .apiReply
            case .apiDone: kind = .done
            case .apiFinal: kind = .final
            case .hairpinAck: kind = .hairpinAck
            default: kind = nil
            }
            out.append((kind, StoredTraceRecord(r), e.call))
        }
        return out
    }

    func audit(_ records: [StoredTraceRecord], _ dir: TempDir) throws -> CallAudit {
        let path = dir.file("damaged.pcapng")
        _ = try writeTrace(path, records)
        return try CallAudit.run(path: path)
    }

    @Test(arguments: ["demo-session.pcapng", "error-session-acked-answers.pcapng"])
    func everyDamageIsFound(_ name: String) throws {
        let clean = try Self.load(name)
        let dir = try TempDir()
        #expect(try audit(clean.map(\.record), dir).clean)
        var rng = SplitMix(seed: 13)
        var tried = 0
        for kind in Kind.allCases {
            let positions = clean.indices.filter { clean[$0].kind == kind }
            guard !positions.isEmpty else { continue }
            for _ in 0..<4 {
                let i = positions[Int(rng.next() % UInt64(positions.count))]
                var records = clean.map(\.record)
                let frame = i + 1
                // Removed.
                records.remove(at: i)
                var a = try audit(records, dir)
                #expect(!a.clean, "\(name): \(kind) at frame \(frame) removed, audit clean")
                #expect(a.examples.first.map { "\($0)".contains("frame ") } ?? false)
                // Written twice.
                records = clean.map(\.record)
                records.insert(records[i], at: i + 1)
                a = try audit(records, dir)
                #expect(!a.clean, "\(name): \(kind) at frame \(frame) duplicated, audit clean")
                #expect(
                    a.examples.contains { $0.frame == frame + 1 || $0.frame == frame || $0.call > 0 },
                    "\(a.text(path: name))")
                // Swapped with the next record; and, when that is of the same call, with times kept
                // (no time going back gives that away): the order within the call must. (Records
                // of two calls in either order are what concurrent clients make.)
                if i + 1 < clean.count {
                    records = clean.map(\.record)
                    records.swapAt(i, i + 1)
                    a = try audit(records, dir)
                    #expect(!a.clean, "\(name): \(kind) at frame \(frame) swapped with the next, audit clean")
                    // Not checkable: two reply pages (they carry no number), and unft's ACK of
                    // an answer against the API answers (the twin sends it first, the module after).
                    let pair = Set([clean[i].kind, clean[i + 1].kind])
                    guard clean[i + 1].call == clean[i].call, pair != [.apiReply], !pair.contains(.hairpinAck) else {
                        tried += 1
                        continue
                    }
                    records = clean.map(\.record)
                    let (t0, t1) = (records[i].timestamp, records[i + 1].timestamp)
                    records.swapAt(i, i + 1)
                    records[i].timestamp = t0
                    records[i + 1].timestamp = t1
                    a = try audit(records, dir)
                    #expect(
                        !a.clean, "\(name): \(kind) at frame \(frame) moved after the next (times kept), audit clean")
                }
                tried += 1
            }
        }
        #expect(tried >= 20)
    }

    /// A dump's NLMSG_DONE is its final answer: the recording is clean without an ACK, and an
    /// ACK after the DONE (what unft sent before it answered dumps as the kernel does) belongs
    /// to no call: a finding at its frame.
    @Test func anAckAfterADumpsDoneIsFound() throws {
        let clean = try Self.load("demo-session.pcapng")
        let dir = try TempDir()
        #expect(try audit(clean.map(\.record), dir).clean)
        let dumps = clean.indices.filter { i in
            clean[i].kind == .apiRequest && clean[i].record.netlink.count >= 16
                && clean[i].record.netlink.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 6, as: UInt16.self) }
                    & Netlink.flagDump == Netlink.flagDump
        }
        try #require(!dumps.isEmpty, "demo-session.pcapng has no GET_FLOWS dump")
        let request = clean[dumps[0]]
        let done = try #require(
            clean.indices.first { $0 > dumps[0] && clean[$0].kind == .done && clean[$0].call == request.call })
        var records = clean.map(\.record)
        let h = try request.record.netlink.withUnsafeBytes { try NetlinkMessageView.single($0).header }
        let answer = try records[done].netlink.withUnsafeBytes { try NetlinkMessageView.single($0).header }
        var ack = records[done]
        ack.netlink = NetlinkAck(
            header: NetlinkHeader(
                type: Netlink.typeError, flags: 0, sequence: h.sequence,
                port: answer.port), error: 0, request: h
        ).encoded()
        records.insert(ack, at: done + 1)
        let a = try audit(records, dir)
        #expect(a.examples.contains { $0.frame == done + 2 && $0.text.contains("matches no call") }, "\(a.examples)")
    }

    @Test func timestampsGoingBackAreFound() throws {
        var records = try Self.load("demo-session.pcapng").map(\.record)
        let i = records.count / 2
        records[i].timestamp = records[i - 1].timestamp - 1000
        let a = try audit(records, try TempDir())
        #expect(a.examples.contains { $0.frame == i + 1 && $0.text.contains("earlier") }, "\(a.examples)")
    }

    /// Two whole calls exchanged, their records' times rewritten to run forward: the ENCAP SEQs
    /// go back.
    @Test func callsOutOfOrderAreFound() throws {
        let loaded = try callIDs(Fixtures.trace("demo-session.pcapng"))
        let times = loaded.map(\.record.timestamp)
        let a = loaded.filter { $0.call == 5 }.map(\.record), b = loaded.filter { $0.call == 6 }.map(\.record)
        var records: [StoredTraceRecord] = []
        var placed = false
        for (call, r) in loaded {
            if call == 5 || call == 6 {
                if !placed { records += b + a; placed = true }
                continue
            }
            records.append(r)
        }
        for i in records.indices { records[i].timestamp = times[i] }
        let audit = try audit(records, try TempDir())
        #expect(audit.examples.contains { $0.text.contains("SEQs go backwards") }, "\(audit.examples)")
    }
}
