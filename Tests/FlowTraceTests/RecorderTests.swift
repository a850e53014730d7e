// The Recorder (what `flow-table-hairpind --record` and the twin's sessions write through): its
// blocks are laid out on the recording thread in a double buffer and written by a flusher
// thread. These tests hold it to the writer's contract: the same bytes as PcapngWriter.append,
// no record lost or reordered however the threads interleave, the kill -9 window of the flush
// policy, the time bound, the immediate policy, and rotation with a snapshot per file.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace
import Posix

struct RecorderTests {
    static let families = [
        Controller.Family.flowTable(id: Sample.apiID), Controller.Family.hairpin(id: Sample.hairpinID),
    ]

    /// A small valid netlink message carrying (thread, index) in its header.
    static func message(thread: UInt32, index: UInt32, payload: Int = 4) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: 16 + payload)
        func put(_ v: UInt32, _ at: Int) {
            for i in 0..<4 { m[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
        }
        put(UInt32(m.count), 0)
        m[4] = UInt8(Sample.hairpinID & 0xff)
        put(index, 8)
        put(thread, 12)
        for i in 16..<m.count { m[i] = UInt8(truncatingIfNeeded: i &* 7 &+ Int(index)) }
        return m
    }

    /// Records `total` hairpin requests of thread 1 (payloads of 4 up to 4 + `sizes` - 1
    /// bytes), closes the recorder and checks it met no error.
    static func recordRequests(
        _ rec: Recorder, total: Int, sizes: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for i in 0..<total {
            message(thread: 1, index: UInt32(i), payload: 4 + i % sizes).withUnsafeBytes {
                rec.record(leg: .hairpin, direction: .toKernel, bytes: $0, pairing: UInt64(i))
            }
        }
        rec.close()
        #expect(rec.lastError == nil, sourceLocation: sourceLocation)
    }

    static func field(_ r: StoredTraceRecord, _ at: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(r.netlink[at + $1]) << (8 * UInt32($1)) }
    }

    /// Records not written by the recorder itself (NEWFAMILY, snapshot).
    static func captured(_ path: String) -> ReadResult {
        var r = readTrace(path)
        r.records.removeAll { $0.synthetic }
        return r
    }

    @Test func blocksAreByteIdenticalToTheWriters() throws {
        let dir = try TempDir()
        var records = try Sample.conversation(calls: 6)
        records[3].comment = "injected fault: twin:errno=EBUSY (call 1003)"  // a fault marker
        records[4].pairing = nil
        let rec = try Recorder(
            path: dir.file("rec.pcapng"), families: Self.families, recordsAPI: true,
            sessionComment: "test")
        for r in records {
            r.netlink.withUnsafeBytes { raw in
                rec.record(
                    leg: r.leg, direction: r.direction, bytes: raw, pairing: r.pairing, timestamp: r.timestamp,
                    comment: r.comment)
            }
        }
        rec.close()
        #expect(rec.lastError == nil)
        #expect(rec.recordsWritten == records.count)

        // The same records through PcapngWriter.append, with the Recorder's interface numbering.
        let w = try PcapngWriter(
            path: dir.file("writer.pcapng"),
            interfaces: [
                PcapngInterfaceInfo(name: "hairpin"),
                PcapngInterfaceInfo(name: "api"),
            ])
        for var r in records {
            r.interface = r.leg == .api ? Recorder.apiInterface : Recorder.hairpinInterface
            try r.withRecord { try w.append($0) }
        }
        try w.close()

        func packetBlocks(_ path: String, skip: Int) throws -> [[UInt8]] {
            let bytes = try fileBytes(path)
            return blockLayout(bytes).filter { $0.type == Pcapng.enhancedPacketBlock }.dropFirst(skip)
                .map { Array(bytes[$0.offset..<$0.offset + $0.length]) }
        }
        let got = try packetBlocks(dir.file("rec.pcapng"), skip: Self.families.count)
        let want = try packetBlocks(dir.file("writer.pcapng"), skip: 0)
        #expect(got.count == records.count)
        #expect(got == want)
        // And they read back as recorded, the marker included.
        let back = Self.captured(dir.file("rec.pcapng"))
        #expect(back.error == nil && back.truncation == nil)
        #expect(back.records.map(\.netlink) == records.map(\.netlink))
        #expect(back.records.map(\.comment) == records.map(\.comment))
        #expect(back.records.map(\.pairing) == records.map(\.pairing))
        #expect(back.records.map(\.timestamp) == records.map(\.timestamp))
    }

    /// Four threads at once with a 4-record policy: halves of 2 records, so the recording
    /// threads keep waiting for the flusher. Nothing may be lost, duplicated or reordered.
    @Test func concurrentRecordingLosesAndReordersNothing() throws {
        let dir = try TempDir()
        let path = dir.file("threads.pcapng")
        let rec = try Recorder(
            path: path, families: Self.families, recordsAPI: true, sessionComment: "test",
            flush: PcapngFlushPolicy(maxRecords: 4, maxBytes: 1 << 20, maxDelayNanoseconds: 10_000_000_000))
        let perThread = 3000
        let threads = (0..<4).map { t in
            Thread {
                for i in 0..<perThread {
                    // Some big messages, so halves also fill by bytes and grow.
                    let m = Self.message(
                        thread: UInt32(t), index: UInt32(i), payload: i % 500 == 7 ? 70_000 : 4 + i % 61)
                    m.withUnsafeBytes {
                        rec.record(
                            leg: t % 2 == 0 ? .api : .hairpin, direction: .toKernel, bytes: $0,
                            pairing: UInt64(i))
                    }
                }
            }
        }
        for t in threads { t.start() }
        while !threads.allSatisfy(\.isFinished) { usleep(1000) }
        rec.close()
        #expect(rec.lastError == nil)
        let back = Self.captured(path)
        #expect(back.error == nil && back.truncation == nil)
        #expect(back.records.count == 4 * perThread)
        var next = [UInt32](repeating: 0, count: 4)
        var inOrder = true
        for r in back.records {
            let t = Int(Self.field(r, 12)), i = Self.field(r, 8)
            guard t < 4, i == next[t] else { inOrder = false; break }
            if r.netlink != Self.message(thread: UInt32(t), index: i, payload: r.netlink.count - 16) {
                inOrder = false; break
            }
            next[t] += 1
        }
        #expect(inOrder)
        #expect(next == [UInt32](repeating: UInt32(perThread), count: 4))
        // Timestamps are taken at the hook, so each thread's are in order too.
        for t in 0..<4 {
            let ts = back.records.filter { Self.field($0, 12) == t }.map(\.timestamp)
            #expect(ts == ts.sorted())
        }
    }

    /// What a kill -9 can lose: at any moment at most the policy's record count is not yet in
    /// the file. Read without flush or close, right after recording.
    @Test func whatIsNotYetWrittenStaysWithinThePolicy() throws {
        let dir = try TempDir()
        let path = dir.file("window.pcapng")
        let maxRecords = 8
        let rec = try Recorder(
            path: path, families: Self.families, recordsAPI: true, sessionComment: "test",
            flush: PcapngFlushPolicy(
                maxRecords: maxRecords, maxBytes: 1 << 20,
                maxDelayNanoseconds: 600_000_000_000))
        for n in [1, 5, 100, 1000] {
            let before = rec.recordsWritten
            for i in 0..<n {
                Self.message(thread: 0, index: UInt32(before + i)).withUnsafeBytes {
                    rec.record(leg: .hairpin, direction: .toUser, bytes: $0)
                }
            }
            let onDisk = Self.captured(path).records.count
            #expect(onDisk <= rec.recordsWritten)
            #expect(rec.recordsWritten - onDisk <= maxRecords, "\(rec.recordsWritten - onDisk) records not in the file")
        }
        rec.close()
        #expect(Self.captured(path).records.count == 1106)
    }

    /// A quiet recorder still reaches the disk: the flusher writes a half whose first record is
    /// older than the policy's delay (polled here, up to 20 s, so a loaded machine cannot fail it).
    @Test func aQuietRecorderIsFlushedByTime() throws {
        let dir = try TempDir()
        let path = dir.file("quiet.pcapng")
        let rec = try Recorder(
            path: path, families: Self.families, recordsAPI: true, sessionComment: "test",
            flush: PcapngFlushPolicy(maxRecords: 256, maxBytes: 64 << 10, maxDelayNanoseconds: 20_000_000))
        for i in 0..<3 {
            Self.message(thread: 0, index: UInt32(i)).withUnsafeBytes {
                rec.record(leg: .api, direction: .toKernel, bytes: $0)
            }
        }
        var seen = Self.captured(path).records.count
        for _ in 0..<2000 where seen < 3 {
            usleep(10_000)
            seen = Self.captured(path).records.count
        }
        #expect(seen == 3)
        rec.close()
    }

    @Test func theImmediatePolicyWritesEachRecordBeforeReturning() throws {
        let dir = try TempDir()
        let path = dir.file("immediate.pcapng")
        let rec = try Recorder(
            path: path, families: Self.families, recordsAPI: false, sessionComment: "test",
            flush: .immediate)
        for i in 0..<5 {
            Self.message(thread: 0, index: UInt32(i)).withUnsafeBytes {
                rec.record(leg: .hairpin, direction: .toUser, bytes: $0)
            }
            #expect(Self.captured(path).records.count == i + 1)
        }
        // The API leg has no interface in this file: refused, said so, nothing written.
        Self.message(thread: 0, index: 9).withUnsafeBytes { rec.record(leg: .api, direction: .toUser, bytes: $0) }
        #expect(rec.lastError?.contains("api leg") == true)
        rec.close()
        #expect(Self.captured(path).records.count == 5)
    }

    /// Rotation is decided in record order on the recording thread: every file starts with the
    /// families and a snapshot taken at that point, and the records split exactly.
    @Test func rotationSplitsExactlyWithASnapshotPerFile() throws {
        let dir = try TempDir()
        let base = dir.file("rot.pcapng")
        let snapshots = PosixLockedCounter()
        let rec = try Recorder(
            path: base, families: Self.families, recordsAPI: true, sessionComment: "test",
            rotation: PcapngRotation(maxFileBytes: 4000),
            flush: PcapngFlushPolicy(maxRecords: 16, maxBytes: 1 << 20, maxDelayNanoseconds: 10_000_000_000),
            snapshot: {
                let n = snapshots.increment()
                return [(direction: .toUser, bytes: Self.message(thread: 99, index: UInt32(n)))]
            })
        let total = 300
        Self.recordRequests(rec, total: total, sizes: 40)
        let files = rec.writer.fileIndex + 1
        #expect(files > 5)
        #expect(snapshots.value == files)
        var indexes: [UInt32] = []
        for f in 0..<files {
            let path = PcapngWriter.rotatedPath(base: base, index: f, maxFiles: nil)
            let all = readTrace(path)
            let clean = all.error == nil && all.truncation == nil
            #expect(clean)
            // NEWFAMILY ×2, the snapshot taken for this file, then captured records only.
            #expect(all.records.prefix(3).allSatisfy { $0.synthetic })
            #expect(all.records.count > 3)
            #expect(Self.field(all.records[2], 8) == UInt32(f + 1))
            #expect(all.records.dropFirst(3).allSatisfy { !$0.synthetic })
            #expect((try? fileBytes(path).count).map { $0 <= 4000 + 200 } == true)
            indexes += all.records.dropFirst(3).map { Self.field($0, 8) }
        }
        #expect(indexes == (0..<UInt32(total)).map { $0 })
    }

    /// Rotation stays exact while the flusher writes halves concurrently: every file but the
    /// last is full (its next record would not have fit), none is over the limit. Small halves
    /// keep the flusher writing while the recording thread decides rotations, so a decision that
    /// read the writer's counts mid-write (a half counted twice) would start a file too early.
    @Test func rotationIsExactWhileTheFlusherWrites() throws {
        let dir = try TempDir()
        let base = dir.file("busy.pcapng")
        let limit: UInt64 = 3000
        let rec = try Recorder(
            path: base, families: Self.families, recordsAPI: true, sessionComment: "test",
            rotation: PcapngRotation(maxFileBytes: limit),
            flush: PcapngFlushPolicy(maxRecords: 4, maxBytes: 1 << 20, maxDelayNanoseconds: 10_000_000_000))
        let total = 4000
        Self.recordRequests(rec, total: total, sizes: 24)
        let files = rec.writer.fileIndex + 1
        #expect(files > 20)
        var seen = 0
        var early: [Int] = []
        for f in 0..<files {
            let path = PcapngWriter.rotatedPath(base: base, index: f, maxFiles: nil)
            let size = UInt64(try fileBytes(path).count)
            #expect(size <= limit)
            let records = Self.captured(path).records
            seen += records.count
            guard f + 1 < files else { break }
            let next = Self.captured(PcapngWriter.rotatedPath(base: base, index: f + 1, maxFiles: nil)).records
            guard let first = next.first else { Issue.record("file \(f + 1) has no captured record"); continue }
            let length = try PcapngWriter.packetBlockLength(
                netlinkCount: first.netlink.count, direction: .toKernel,
                hasMeta: true, comment: nil, commentLength: 0, path: path)
            if size + UInt64(length) <= limit { early.append(f) }
        }
        #expect(early.isEmpty, "files rotated before they were full: \(early)")
        #expect(seen == total)
    }
}

/// A counter the snapshot closure (called on the recording thread) can bump.
final class PosixLockedCounter: Sendable {
    private let n = PosixLocked(0)
    func increment() -> Int {
        n.withLock {
            $0 += 1; return $0
        }
    }
    var value: Int { n.withLock { $0 } }
}
