// `flowtrace stats`' bookkeeping: the flat table behind latency pairing and batch tracking
// (against a Dictionary), and flow accounting per table through the fast path (one table per
// batch, read from the summary walk) and the record-wide walks (mixed tables, several parts,
// result indexes past the batch, several messages in one record).

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

@Suite struct StatsTests {
    @Test func flatTableAgreesWithDictionary() {
        var table = FlatTable<UInt64>(placeholder: 0, capacity: 4)
        var reference: [UInt64: UInt64] = [:]
        // A small key range forces collisions, long probe runs and backward shifts; keys
        // 1 << 63 | k and k ^ (2 << 60) mimic the API and per-leg pairing keys.
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func random() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        for step in 0..<200_000 {
            let r = random()
            let k = r % 3 == 0 ? (1 << 63) | (r >> 8) % 300 : ((r >> 8) % 300) ^ (2 << 60)
            switch (r >> 40) % 3 {
            case 1 where reference.count < 200, 0:  // 0: always; 1: while small
                table.set(k, UInt64(step))
                reference[k] = UInt64(step)
            default:
                table.remove(k)
                reference[k] = nil
            }
            if step % 97 == 0 {
                for probe in 0..<300 as Range<UInt64> {
                    for key in [(1 << 63) | probe, probe ^ (2 << 60)] where table[key] != reference[key] {
                        Issue.record(
                            "step \(step): key \(key) gives \(String(describing: table[key])), expected \(String(describing: reference[key]))"
                        )
                        return
                    }
                }
            }
            #expect(table.count == reference.count)
        }
    }

    static let families = FamilyTable([.flowTable(id: Sample.apiID), .hairpin(id: Sample.hairpinID)])

    static func flows(_ tables: [UInt32]) -> [Flow] {
        tables.enumerated().map { i, t in
            var f = Sample.flow
            f.table = t
            f.uid = UInt32(100 + i)
            return f
        }
    }

    static func request(_ cmd: NFL.Command, seq: UInt64, tables: [UInt32], part: UInt32? = nil, more: Bool = false)
        throws -> [UInt8]
    {
        var attrs = FlowTableAttributes.device(7)
        attrs.flows = flows(tables)
        return try HairpinMessage(
            header: NetlinkHeader(type: Sample.hairpinID, flags: 0, sequence: 0, port: 0),
            command: NFLH.Command.encap.rawValue,
            encap: HairpinEncap(
                command: UInt32(cmd.rawValue), sequence: seq, attributes: attrs,
                part: part, more: more)
        ).encoded()
    }

    static func answer(_ cmd: NFL.Command, seq: UInt64, results: [(UInt32, UInt32)]) throws -> [UInt8] {
        try HairpinMessage(
            header: NetlinkHeader(
                type: Sample.hairpinID, flags: Netlink.flagRequest, sequence: 9, port: Sample.listener),
            command: NFLH.Command.encap.rawValue,
            encap: HairpinEncap(
                command: UInt32(cmd.rawValue), status: 0, sequence: seq,
                attributes: .device(7),
                results: results.map { FlowResult(index: $0.0, errno: $0.1) })
        ).encoded()
    }

    /// Hairpin-leg records for several batches, each case chosen for one path of the accounting.
    static func records() throws -> [StoredTraceRecord] {
        var out: [StoredTraceRecord] = []
        var t = Sample.baseTime
        func add(_ bytes: [UInt8], _ dir: TraceDirection, pairing: UInt64) {
            t += 1000
            out.append(
                StoredTraceRecord(
                    timestamp: t, leg: .hairpin, direction: dir, interface: 1, netlink: bytes, pairing: pairing))
        }
        // One table: the fast path; result 1 failed (EEXIST).
        add(try request(.setFlows, seq: 1, tables: [4, 4, 4]), .toUser, pairing: 1)
        add(try answer(.setFlows, seq: 1, results: [(0, 0), (1, 17), (2, 0)]), .toKernel, pairing: 1)
        // Mixed tables: the per-flow list.
        add(try request(.delFlows, seq: 2, tables: [2, 3, 2]), .toUser, pairing: 2)
        add(try answer(.delFlows, seq: 2, results: [(0, 0), (1, 0), (2, 0)]), .toKernel, pairing: 2)
        // Two parts, each one table, but not the same one.
        add(try request(.setFlows, seq: 3, tables: [5], part: 0, more: true), .toUser, pairing: 3)
        add(try request(.setFlows, seq: 3, tables: [6], part: 1), .toUser, pairing: 3)
        add(try answer(.setFlows, seq: 3, results: [(1, 0), (0, 0)]), .toKernel, pairing: 3)
        // A result index past the batch counts nothing.
        add(try request(.setFlows, seq: 4, tables: [7]), .toUser, pairing: 4)
        add(try answer(.setFlows, seq: 4, results: [(0, 0), (5, 0)]), .toKernel, pairing: 4)
        // Two messages in one record: the second request's flows are walked as the reference
        // walk sees them (as attributes of the first), so the summary's counts are not used.
        let two = try request(.setFlows, seq: 5, tables: [8, 8]) + request(.setFlows, seq: 6, tables: [9])
        add(two, .toUser, pairing: 5)
        add(try answer(.setFlows, seq: 5, results: [(0, 0), (1, 0)]), .toKernel, pairing: 5)
        return out
    }

    @Test func flowsPerTable() throws {
        var stats = TraceStats()
        for r in try Self.records() { r.withRecord { stats.add($0, families: Self.families) } }
        #expect(stats.added[4] == 2)
        #expect(stats.removed == [2: 2, 3: 1])
        #expect(stats.added[5] == 1 && stats.added[6] == 1)
        #expect(stats.added[7] == 1)
        #expect(stats.added[8] == 2)
        #expect(stats.added[9] == nil)
        #expect(stats.added.count == 5)
        #expect(stats.batches.count == 0, "every batch was answered")
        let set = stats.byCommand[TraceStats.Key(leg: .hairpin, command: NFL.Command.setFlows.rawValue)]
        #expect(set?.messages == 9)
        #expect(set?.calls == 4)
        #expect(set?.latency.totalCount == 4)
    }

    @Test func readerLoopMatchesRecordByRecord() throws {
        let dir = try TempDir()
        let path = dir.file("stats.pcapng")
        try writeTrace(
            path, try Self.records() + Sample.conversation(calls: 4),
            preamble: Sample.preambleRecords(time: Sample.baseTime))
        var looped = TraceStats()
        try looped.add(contentsOf: try TraceReader(path: path))
        var single = TraceStats()
        let reader = try TraceReader(path: path)
        while let r = try reader.next() { single.add(r, families: reader.families) }
        #expect(looped.records == single.records && looped.records > 20)
        #expect(looped.added == single.added && looped.removed == single.removed && looped.errnos == single.errnos)
        #expect(
            looped.byCommand.mapValues { [$0.messages, $0.calls, Int($0.latency.totalCount)] }
                == single.byCommand.mapValues { [$0.messages, $0.calls, Int($0.latency.totalCount)] })
        #expect(looped.errnos[19] == 2, "two SET_FLOWS calls fail with ENODEV on the API leg")
    }
}
