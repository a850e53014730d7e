// flowtrace repair: at every cut point of a small trace the repaired copy holds exactly the
// whole blocks before the cut, byte for byte, reads without a truncation notice and gives the
// records the reader gave for the cut file; whole files come back identical; files that
// cannot be repaired are refused with the reason.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

struct RepairTests {
    @Test func everyCutPointIsRepairedToItsWholeBlocks() throws {
        let dir = try TempDir()
        let path = dir.file("whole.pcapng")
        let (_, bytes, blocks) = try writeSmallTrace(path)
        let cutPath = dir.file("cut.pcapng"), fixedPath = dir.file("fixed.pcapng")
        // Every block boundary and the bytes around it, every byte of the first blocks, and a
        // stride through the rest (every byte of every block costs half a minute in a debug build).
        var cuts = Set(12...min(bytes.count, 200)).union(stride(from: 12, through: bytes.count, by: 7))
        for b in blocks {
            for d in -3...3 where (12...bytes.count).contains(b.offset + b.length + d) {
                cuts.insert(b.offset + b.length + d)
            }
        }
        for cut in cuts.sorted() {
            try writeBytes(Array(bytes.prefix(cut)), to: cutPath)
            let report = try PcapngRepair.repair(input: cutPath, output: fixedPath)
            let kept = blocks.filter { $0.offset + $0.length <= cut }
            let end = kept.last.map { $0.offset + $0.length } ?? 0
            #expect(report.bytesKept == UInt64(end), "cut \(cut)")
            #expect(report.blocksKept == kept.count, "cut \(cut)")
            #expect(report.packets == kept.filter { $0.type == 6 }.count, "cut \(cut)")
            #expect(report.repaired == (end != cut), "cut \(cut)")
            if end != cut {
                #expect(report.droppedAt == UInt64(end) && report.bytesDropped == UInt64(cut - end), "cut \(cut)")
            }
            #expect(try fileBytes(fixedPath) == Array(bytes.prefix(end)), "cut \(cut)")
            let fixed = readTrace(fixedPath), damaged = readTrace(cutPath)
            #expect(fixed.truncation == nil, "cut \(cut)")
            if end > 0 {
                #expect(fixed.error == nil, "cut \(cut): \(String(describing: fixed.error))")
                #expect(fixed.records == damaged.records, "cut \(cut)")
            }
        }
    }

    @Test func brokenFramingEndsTheCopyThere() throws {
        let dir = try TempDir()
        let path = dir.file("t.pcapng")
        let (_, whole, blocks) = try writeSmallTrace(path)
        var bytes = whole
        let victim = blocks[blocks.count - 3]
        // The trailing length of one EPB no longer matches its leading one.
        bytes[victim.offset + victim.length - 4] ^= 0x40
        try writeBytes(bytes, to: path)
        let report = try PcapngRepair.repair(input: path, output: dir.file("f.pcapng"))
        #expect(report.droppedAt == UInt64(victim.offset))
        #expect(report.reason?.contains("trailing length") == true)
        #expect(report.blocksKept == blocks.count - 3)
    }

    @Test func refusals() throws {
        let dir = try TempDir()
        let path = dir.file("t.pcapng")
        try writeTrace(path, Sample.preambleRecords(time: 1))
        #expect(throws: TraceFileError.self) { try PcapngRepair.repair(input: path, output: path) }
        #expect(try fileBytes(path).count > 0, "refusing -w INPUT must not truncate the input")
        try writeBytes(Array("not a trace at all".utf8), to: dir.file("text"))
        do {
            _ = try PcapngRepair.repair(input: dir.file("text"), output: dir.file("out"))
            Issue.record("a text file was repaired")
        } catch {
            #expect(error.description.contains("not a pcapng file"))
            #expect(error.offset == 0)
        }
        do {
            _ = try PcapngRepair.repair(input: dir.file("missing"), output: dir.file("out"))
            Issue.record("a missing file was repaired")
        } catch {
            #expect(error.description.contains("cannot open the file to repair"))
        }
    }
}
