// gzip-compressed traces read as the trace they hold (as tshark reads them): the same records,
// from a file or a pipe, several gzip members one after the other; a .gz cut anywhere hands out
// the records before the cut and reports the cut, a corrupt one an error; never a crash.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

struct CompressedTraceTests {
    /// A trace and its gzip copy (the gzip tool, so the reader is checked against another
    /// implementation); nil when gzip is not installed.
    func sample(_ dir: TempDir, calls: Int = 40) throws -> (plain: String, gz: String, records: [StoredTraceRecord])? {
        guard let gzip = toolPath("gzip") else { return nil }
        let plain = dir.file("t.pcapng")
        let records = Sample.preambleRecords(time: 1) + (try Sample.conversation(calls: calls))
        try writeTrace(plain, records)
        let r = try run(gzip, ["-k", "-f", plain])
        #expect(r.status == 0, "\(r.stderr)")
        return (plain, plain + ".gz", records)
    }

    @Test func aGzipFileReadsAsThePlainOne() throws {
        let dir = try TempDir()
        guard let s = try sample(dir) else { return }
        let plain = readTrace(s.plain), gz = readTrace(s.gz)
        #expect(plain.error == nil && gz.error == nil)
        #expect(gz.records == s.records)
        #expect(gz.records == plain.records)
        #expect(gz.truncation == nil)
        let reader = try TraceReader(path: s.gz)
        while try reader.next() != nil {}
        #expect(reader.isCompressed)
        #expect(reader.truncationMessage == nil)
        #expect(reader.frameNumber == s.records.count)
    }

    @Test func gzipMembersOneAfterTheOther() throws {
        let dir = try TempDir()
        guard let s = try sample(dir) else { return }
        // gzip's own rule: a file of several members is their contents concatenated. Split the
        // trace between two blocks and compress each half on its own.
        let bytes = try fileBytes(s.plain)
        let blocks = blockLayout(bytes)
        let split = blocks[blocks.count / 2].offset
        try writeBytes(Array(bytes[..<split]), to: dir.file("a"))
        try writeBytes(Array(bytes[split...]), to: dir.file("b"))
        let gzip = try #require(toolPath("gzip"))
        _ = try run(gzip, ["-f", dir.file("a"), dir.file("b")])
        let joined = try fileBytes(dir.file("a.gz")) + fileBytes(dir.file("b.gz"))
        try writeBytes(joined, to: dir.file("ab.pcapng.gz"))
        let r = readTrace(dir.file("ab.pcapng.gz"))
        #expect(r.error == nil)
        #expect(r.records == s.records)
        #expect(r.truncation == nil)
    }

    @Test func aGzipStreamOnAPipe() throws {
        let dir = try TempDir()
        guard let s = try sample(dir) else { return }
        let bytes = try fileBytes(s.gz)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let writeEnd = fds[1]
        let writer = Thread {
            bytes.withUnsafeBytes { p in
                var off = 0
                while off < p.count {
                    let n = write(writeEnd, p.baseAddress! + off, min(4096, p.count - off))
                    if n <= 0 { break }
                    off += n
                }
            }
            close(writeEnd)
        }
        writer.start()
        let reader = try TraceReader(fileDescriptor: fds[0], closeWhenDone: true, name: "pipe")
        var got: [StoredTraceRecord] = []
        while let r = try reader.next() { got.append(StoredTraceRecord(r)) }
        #expect(got == s.records)
        #expect(reader.truncation == nil)
    }

    @Test func everyCutOfAGzipFileIsReportedAsACut() throws {
        let dir = try TempDir()
        guard let s = try sample(dir, calls: 8) else { return }
        let gz = try fileBytes(s.gz)
        let cutPath = dir.file("cut.pcapng.gz")
        for cut in stride(from: 2, to: gz.count, by: 3) {
            try writeBytes(Array(gz.prefix(cut)), to: cutPath)
            let r = readTrace(cutPath)
            // The records before the cut, in order, and never a clean end.
            #expect(Array(s.records.prefix(r.records.count)) == r.records, "cut \(cut)")
            #expect(r.records.count < s.records.count || r.truncation != nil || r.error != nil, "cut \(cut)")
            if r.error == nil {
                let t = try #require(r.truncation, "cut \(cut) of \(gz.count) reads as whole")
                // Within the last 8 bytes (the gzip trailer) every record is there, still a cut.
                #expect(
                    t.reason != nil || t.declaredLength != nil || t.blockType != nil || t.blockOffset < t.fileEnd,
                    "cut \(cut)")
            }
        }
    }

    @Test func corruptGzipDataIsAnErrorNamingTheCompressedByte() throws {
        let dir = try TempDir()
        guard let s = try sample(dir) else { return }
        var gz = try fileBytes(s.gz)
        // The deflate data starts after the 10-byte header and the file name.
        let start = 10 + (gz[10...].firstIndex(of: 0).map { $0 - 9 } ?? 0)
        for i in start..<min(gz.count - 8, start + 40) { gz[i] ^= 0x5a }
        try writeBytes(gz, to: dir.file("bad.pcapng.gz"))
        let r = readTrace(dir.file("bad.pcapng.gz"))
        let e = try #require(r.error)
        #expect(e.message.contains("gzip"))
        #expect(e.message.contains("compressed byte"))
    }

    @Test func framesAreNamedAsWiresharkNumbersThem() throws {
        let dir = try TempDir()
        let path = dir.file("t.pcapng")
        let records = Sample.preambleRecords(time: 1) + (try Sample.conversation(calls: 3))
        try writeTrace(path, records)
        let bytes = try fileBytes(path)
        let packets = blockLayout(bytes).filter { $0.type == 6 }
        // Cut inside the 5th packet block: frames 1-4 are whole, frame 5 is cut.
        let fifth = packets[4]
        try writeBytes(Array(bytes.prefix(fifth.offset + 20)), to: dir.file("cut.pcapng"))
        let reader = try TraceReader(path: dir.file("cut.pcapng"))
        var n = 0
        while try reader.next() != nil { n += 1 }
        #expect(n == 4)
        let message = try #require(reader.truncationMessage)
        #expect(message.contains("frame 5 is cut"), "\(message)")
        #expect(message.contains("at byte \(fifth.offset)"), "\(message)")
    }
}
