// (d) Size rotation: every file starts with SHB, IDBs and the preamble; the records are split
// across files with none lost or duplicated.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

struct RotationTests {
    @Test func fileNames() {
        #expect(PcapngWriter.rotatedPath(base: "/t/trace.pcapng", index: 0, maxFiles: nil) == "/t/trace.pcapng")
        #expect(PcapngWriter.rotatedPath(base: "/t/trace.pcapng", index: 3, maxFiles: nil) == "/t/trace3.pcapng")
        #expect(PcapngWriter.rotatedPath(base: "/t.d/trace", index: 2, maxFiles: nil) == "/t.d/trace2")
        #expect(PcapngWriter.rotatedPath(base: ".hidden", index: 1, maxFiles: nil) == ".hidden1")
        #expect(PcapngWriter.rotatedPath(base: "x.pcapng", index: 0, maxFiles: 12) == "x00.pcapng")
        #expect(PcapngWriter.rotatedPath(base: "x.pcapng", index: 13, maxFiles: 12) == "x01.pcapng")
        #expect(PcapngWriter.rotatedPath(base: "x.pcapng", index: 4, maxFiles: 5) == "x4.pcapng")
        #expect(PcapngRotation.tcpdump(megabytes: 2, files: 3) == PcapngRotation(maxFileBytes: 2_000_000, maxFiles: 3))
    }

    /// Many distinct records: the sample conversation with timestamps made unique.
    func manyRecords(_ calls: Int) throws -> [StoredTraceRecord] {
        var records = try Sample.conversation(calls: calls)
        for i in records.indices { records[i].timestamp = Sample.baseTime + UInt64(i) * 1000 }
        return records
    }

    @Test func everyFileIsCompleteAndTheRecordsAreSplitExactly() throws {
        let dir = try TempDir()
        let base = dir.file("trace.pcapng")
        let preamble = Sample.preambleRecords(time: 1)
        let records = try manyRecords(20)  // 100 records, ~200-400 bytes each
        let limit: UInt64 = 3000
        let w = try writeTrace(base, records, preamble: preamble, rotation: PcapngRotation(maxFileBytes: limit))
        #expect(w.fileIndex >= 5)
        var seen: [StoredTraceRecord] = []
        for index in 0...w.fileIndex {
            let path = PcapngWriter.rotatedPath(base: base, index: index, maxFiles: nil)
            let bytes = try fileBytes(path)
            let blocks = blockLayout(bytes)
            #expect(blocks.prefix(3).map(\.type) == [0x0A0D_0D0A, 1, 1], "\(path)")
            #expect(bytes.count <= Int(limit), "\(path) is \(bytes.count) bytes")
            let r = readTrace(path)
            #expect(r.error == nil && r.truncation == nil)
            #expect(Array(r.records.prefix(2)) == preamble, "\(path) starts with the preamble")
            #expect(r.families.flowTableID == Sample.apiID)
            let own = Array(r.records.dropFirst(2))
            #expect(!own.isEmpty && own.allSatisfy { !$0.synthetic })
            seen += own
        }
        #expect(seen == records)
        #expect(
            !FileManager.default.fileExists(
                atPath: PcapngWriter.rotatedPath(base: base, index: w.fileIndex + 1, maxFiles: nil)))
    }

    @Test func aRecordLargerThanTheLimitGetsAFileOfItsOwn() throws {
        let dir = try TempDir()
        let base = dir.file("big.pcapng")
        var records = try manyRecords(2)
        records.insert(
            StoredTraceRecord(timestamp: 5, direction: .toUser, netlink: [UInt8](repeating: 7, count: 5000)), at: 3)
        let w = try writeTrace(base, records, rotation: PcapngRotation(maxFileBytes: 2000))
        var seen: [StoredTraceRecord] = []
        for index in 0...w.fileIndex {
            seen += readTrace(PcapngWriter.rotatedPath(base: base, index: index, maxFiles: nil)).records
        }
        #expect(seen == records)
    }

    @Test func aRingKeepsTheNewestFiles() throws {
        let dir = try TempDir()
        let base = dir.file("ring.pcapng")
        let preamble = Sample.preambleRecords(time: 1)
        let records = try manyRecords(40)
        let w = try writeTrace(
            base, records, preamble: preamble, rotation: PcapngRotation(maxFileBytes: 2500, maxFiles: 3))
        #expect(w.fileIndex > 3)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["ring0.pcapng", "ring1.pcapng", "ring2.pcapng"])
        // Oldest first: the file after the current one in the ring.
        var kept: [StoredTraceRecord] = []
        for k in 1...3 {
            let r = readTrace(PcapngWriter.rotatedPath(base: base, index: w.fileIndex + k, maxFiles: 3))
            #expect(Array(r.records.prefix(2)) == preamble)
            kept += r.records.dropFirst(2)
        }
        // A contiguous run that ends with the last record: nothing lost inside it, nothing twice.
        #expect(!kept.isEmpty)
        #expect(kept == Array(records.suffix(kept.count)))
    }

    @Test func preambleErrorsReachTheCaller() throws {
        struct Boom: Error {}
        let dir = try TempDir()
        #expect(throws: Boom.self) {
            _ = try PcapngWriter(
                path: dir.file("p.pcapng"), interfaces: Sample.interfaces, preamble: { _ in throw Boom() })
        }
    }
}
