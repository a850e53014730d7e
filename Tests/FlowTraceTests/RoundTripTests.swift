// (a) What the writer writes, FlowTrace's reader (and libpcap) read back field for field.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

struct RoundTripTests {
    @Test func everyFieldComesBack() throws {
        let dir = try TempDir()
        let path = dir.file("trace.pcapng")
        let preamble = Sample.preambleRecords(time: Sample.baseTime)
        let records = try Sample.conversation(calls: 4)
        try writeTrace(path, records, preamble: preamble)

        let back = readTrace(path)
        #expect(back.error == nil)
        #expect(back.truncation == nil)
        #expect(back.format == .pcapng)
        #expect(back.records == preamble + records)
        // The family ids come from the NEWFAMILY preamble.
        #expect(back.families.flowTableID == Sample.apiID)
        #expect(back.families.hairpinID == Sample.hairpinID)
        // Spot checks that the comparison above is not vacuous.
        try #require(back.records.count == 2 + 4 * 5 + 2)
        #expect(back.records[2].pairing == 1000)
        #expect(back.records[2].direction == .toKernel)
        #expect(back.records[2].comment == "call 0 request")
        #expect(back.records[0].synthetic && !back.records[2].synthetic)
        #expect(back.records[3].leg == .hairpin && back.records[3].interface == 1)
    }

    @Test func headersAndOptionsAreWhatWasAskedFor() throws {
        let dir = try TempDir()
        let path = dir.file("t.pcapng")
        try writeTrace(path, try Sample.conversation(calls: 1))
        let r = try PcapngReader(path: path)
        var packets = 0
        while let p = try r.next() {
            packets += 1
            #expect(p.block == .enhanced)
            #expect(p.linkType == 253)
            #expect(p.flags == 1 || p.flags == 2)
            #expect(p.flowTrace != nil)
            // The pseudo-header: packet type 7/6, ARPHRD_NETLINK, NETLINK_GENERIC, big endian.
            let d = [UInt8](p.data.prefix(16))
            #expect(d[0] == 0 && (d[1] == 7 || d[1] == 6))
            #expect(d[1] == (p.flags == 2 ? 7 : 6))
            #expect(Array(d[2...3]) == [0x03, 0x38])
            #expect(Array(d[4..<14]) == [UInt8](repeating: 0, count: 10))
            #expect(Array(d[14...15]) == [0, 16])
            #expect(Int(p.originalLength) == p.data.count)
        }
        #expect(packets == 6)
        #expect(r.sections.count == 1)
        let s = try #require(r.sections.first)
        #expect(!s.byteSwapped && s.majorVersion == 1 && s.minorVersion == 0)
        #expect(s.hardware == "x86_64")
        #expect(s.os == "Linux 6.1.0-test")
        #expect(s.userApplication == "FlowTrace test")
        #expect(s.comments == ["session: unit test trace"])
        #expect(r.interfaces.map(\.name) == ["api", "hairpin"])
        #expect(r.interfaces.map(\.description) == Sample.interfaces.map(\.description))
        #expect(r.interfaces.allSatisfy { $0.linkType == 253 && $0.snapLength == 0 && $0.timestampResolution == 9 })
        #expect(r.interfaces.allSatisfy { $0.os == "Linux test" })
    }

    @Test func thisHostFillsTheSectionFromUname() {
        let s = PcapngSectionInfo.thisHost(comment: "x")
        #expect(s.hardware?.isEmpty == false)
        #expect(s.os?.hasPrefix("Linux") == true)
        #expect(s.userApplication == "FlowTrace \(FlowTraceInfo.version)")
    }

    @Test func recordsWithoutMetadataOrDirection() throws {
        let dir = try TempDir()
        let path = dir.file("plain.pcapng")
        let msg = Sample.newFamily(.flowTable(id: 0x1c))
        let plain = StoredTraceRecord(timestamp: 5, direction: .unknown, netlink: msg)
        try writeTrace(path, [plain])
        let r = try PcapngReader(path: path)
        let p = try #require(try r.next())
        #expect(p.flags == nil && p.flowTrace == nil && p.commentCount == 0 && p.options.isEmpty)
        let back = readTrace(path)
        #expect(back.records == [plain])
    }

    @Test func largeRecordsAndTinyReadChunks() throws {
        let dir = try TempDir()
        let path = dir.file("big.pcapng")
        // A netlink "message" bigger than both the writer's and the reader's buffers, among
        // small ones: both must grow, and the reader must slide its window many times.
        var records = try Sample.conversation(calls: 6)
        var big = [UInt8](repeating: 0, count: 300_000)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 31) }
        records.insert(StoredTraceRecord(timestamp: 1, leg: .api, direction: .toKernel, netlink: big), at: 7)
        records.append(StoredTraceRecord(timestamp: 2, direction: .toUser, netlink: [1, 2, 3]))  // unaligned size
        try writeTrace(path, records)
        for chunk in [4096, 5000, 1 << 20] {
            let back = readTrace(path, options: .init(chunkSize: chunk))
            #expect(back.error == nil && back.truncation == nil)
            #expect(back.records == records)
        }
        // A limit below the big block is a clear error at its offset, after the records before it.
        let limited = readTrace(path, options: .init(chunkSize: 4096, maxBlockLength: 100_000))
        #expect(limited.records == Array(records.prefix(7)))
        let e = try #require(limited.error)
        #expect(e.message.contains("more than the 100000-byte limit"))
        #expect(e.offset != nil)
    }

    @Test func libpcapReadsTheSamePacketsAndNanoseconds() throws {
        let dir = try TempDir()
        let path = dir.file("libpcap.pcapng")
        let records = Sample.preambleRecords(time: Sample.baseTime) + (try Sample.conversation(calls: 3))
        try writeTrace(path, records)
        let lp = try LibpcapReader(path: path)
        #expect(lp.linkType == 253)
        var i = 0
        while let p = try lp.next() {
            guard i < records.count else { Issue.record("libpcap read more packets than written"); break }
            #expect(p.timestamp == records[i].timestamp)
            #expect([UInt8](p.data.dropFirst(16)) == records[i].netlink)
            #expect(Int(p.originalLength) == 16 + records[i].netlink.count)
            i += 1
        }
        #expect(i == records.count)
    }

    @Test func writerRejectsWhatAFileCannotHold() throws {
        let dir = try TempDir()
        let w = try PcapngWriter(path: dir.file("e.pcapng"), section: Sample.section, interfaces: Sample.interfaces)
        let rec = StoredTraceRecord(timestamp: 1, direction: .toUser, interface: 2, netlink: [0, 0, 0, 0])
        #expect(throws: TraceFileError.self) { try rec.withRecord { try w.append($0) } }
        let long = StoredTraceRecord(
            timestamp: 1, direction: .toUser, netlink: [], comment: String(repeating: "x", count: 70_000))
        #expect(throws: TraceFileError.self) { try long.withRecord { try w.append($0) } }
        try w.close()
        try w.close()  // harmless
        let ok = StoredTraceRecord(timestamp: 1, direction: .toUser, netlink: [])
        #expect(throws: TraceFileError.self) { try ok.withRecord { try w.append($0) } }
        #expect(throws: TraceFileError.self) {
            _ = try PcapngWriter(path: dir.file("none.pcapng"), interfaces: [])
        }
        #expect(throws: TraceFileError.self) {
            _ = try PcapngWriter(path: dir.path + "/no/such/dir/x.pcapng", interfaces: Sample.interfaces)
        }
    }

    @Test func readsFromAPipe() throws {
        // `flowtrace read - < trace` and `tracer | flowtrace`: nothing may seek.
        let dir = try TempDir()
        let path = dir.file("p.pcapng")
        let records = try Sample.conversation(calls: 30)
        try writeTrace(path, records)
        let bytes = try fileBytes(path)
        let pipe = Pipe()
        let feeder = Thread {
            pipe.fileHandleForWriting.write(Data(bytes))
            try? pipe.fileHandleForWriting.close()
        }
        feeder.start()
        let r = try TraceReader(
            fileDescriptor: pipe.fileHandleForReading.fileDescriptor, name: "pipe",
            options: .init(chunkSize: 4096))
        var back: [StoredTraceRecord] = []
        while let rec = try r.next() { back.append(StoredTraceRecord(rec)) }
        #expect(back == records)
        #expect(r.truncation == nil)
    }

    @Test func readerRejectsOtherFiles() throws {
        let dir = try TempDir()
        let empty = dir.file("empty")
        try writeBytes([], to: empty)
        #expect(readTrace(empty).error?.message.contains("empty") == true)
        let text = dir.file("text")
        try writeBytes(Array("hello world\n".utf8), to: text)
        #expect(readTrace(text).error?.message.contains("neither pcapng nor pcap") == true)
        #expect(readTrace(dir.file("missing")).error?.kind == .io(ENOENT))
    }
}

// MARK: the flush policy and what a kill leaves

struct FlushPolicyTests {
    /// What is on disk now, as a reader would see it if the recorder died this instant.
    func onDisk(_ path: String) -> [StoredTraceRecord] {
        let copy = path + ".snapshot"
        try? FileManager.default.removeItem(atPath: copy)
        try? FileManager.default.copyItem(atPath: path, toPath: copy)
        let r = readTrace(copy)
        #expect(r.error == nil)
        #expect(r.truncation == nil)
        return r.records
    }

    @Test func headersAndPreambleReachTheDiskAtOnce() throws {
        let dir = try TempDir()
        let path = dir.file("f.pcapng")
        let preamble = Sample.preambleRecords(time: 1)
        let w = try PcapngWriter(
            path: path, section: Sample.section, interfaces: Sample.interfaces,
            flush: .default,
            preamble: { w in
                for r in preamble { try r.withRecord { try w.append($0) } }
            })
        #expect(onDisk(path) == preamble)
        // A few records stay in the buffer (default: 256 records / 64 KiB / 100 ms)...
        let records = try Sample.conversation(calls: 2)
        for r in records { try r.withRecord { try w.append($0) } }
        #expect(onDisk(path) == preamble)
        // ... until flush().
        try w.flush()
        #expect(onDisk(path) == preamble + records)
        try w.close()
        #expect(w.recordsAppended == UInt64(preamble.count + records.count))
    }

    @Test func recordCountBound() throws {
        let dir = try TempDir()
        let path = dir.file("n.pcapng")
        let w = try PcapngWriter(
            path: path, section: Sample.section, interfaces: Sample.interfaces,
            flush: PcapngFlushPolicy(maxRecords: 4, maxBytes: 1 << 20, maxDelayNanoseconds: .max))
        let records = try Sample.conversation(calls: 2)  // 10 records
        for r in records { try r.withRecord { try w.append($0) } }
        // Whole batches of 4 are on disk; the last 2 are what a kill -9 would lose.
        #expect(onDisk(path) == Array(records.prefix(8)))
        try w.close()
        #expect(onDisk(path) == records)
    }

    @Test func byteBound() throws {
        let dir = try TempDir()
        let path = dir.file("b.pcapng")
        let w = try PcapngWriter(
            path: path, section: Sample.section, interfaces: Sample.interfaces,
            flush: PcapngFlushPolicy(maxRecords: 1000, maxBytes: 200, maxDelayNanoseconds: .max))
        let records = try Sample.conversation(calls: 2)
        for r in records { try r.withRecord { try w.append($0) } }
        // Every record here is over 64 bytes, so at most two wait in the buffer.
        #expect(onDisk(path).count >= records.count - 2)
        try w.close()
    }

    @Test func timeBoundAndFlushIfDue() throws {
        let dir = try TempDir()
        let path = dir.file("t.pcapng")
        let w = try PcapngWriter(
            path: path, section: Sample.section, interfaces: Sample.interfaces,
            flush: PcapngFlushPolicy(
                maxRecords: 1000, maxBytes: 1 << 20,
                maxDelayNanoseconds: 20_000_000))
        let records = try Sample.conversation(calls: 1)
        try records[0].withRecord { try w.append($0) }
        try w.flushIfDue()
        #expect(onDisk(path).isEmpty)
        usleep(40_000)
        try w.flushIfDue()
        #expect(onDisk(path) == [records[0]])
        // The deadline is also checked on append: the second record waits, the third finds
        // the deadline passed and takes both out.
        try records[1].withRecord { try w.append($0) }
        usleep(40_000)
        try records[2].withRecord { try w.append($0) }
        #expect(onDisk(path) == Array(records.prefix(3)))
        try w.close()
    }

    @Test func immediatePolicyWritesEachRecord() throws {
        let dir = try TempDir()
        let path = dir.file("i.pcapng")
        let w = try PcapngWriter(path: path, section: Sample.section, interfaces: Sample.interfaces, flush: .immediate)
        let records = try Sample.conversation(calls: 1)
        for (i, r) in records.enumerated() {
            try r.withRecord { try w.append($0) }
            #expect(onDisk(path).count == i + 1)
        }
        try w.close()
    }

    @Test func realtimeClockIsNow() {
        let t = PcapngWriter.now()
        let wall = UInt64(Date().timeIntervalSince1970 * 1e9)
        #expect(t > wall - 5_000_000_000 && t < wall + 5_000_000_000)
    }
}
