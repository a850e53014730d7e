// fuzz-pcapng: arbitrary bytes as a trace file, read by the streaming PcapngReader (every
// packet, every option) and by TraceReader (pcapng or classic pcap, NEWFAMILY learning, the
// summary `flowtrace show` prints of every record). Reading must end in records, a truncation
// or a clean TraceFileError (kind malformed/unsupported, never io), never a trap or a hang: each
// read consumes bytes, so the number of records is bounded by the file size. The oracle: the
// records read from a file that reads cleanly are written again by PcapngWriter and read back
// equal (bytes, timestamp, direction, leg, pairing, synthetic, comment, protocol, interface).
import FlowTrace
import FuzzSupport
import LibFlowTable
#if canImport(Glibc)
import Glibc
#endif

@main
enum PcapngFuzz: FuzzTarget {
    static let name = "fuzz-pcapng"
    /// Small chunks so inputs cross chunk boundaries; blocks up to 1 MiB (the input is smaller).
    static let options = PcapngReader.Options(chunkSize: 4096, maxBlockLength: 1 << 20)
    /// Records kept for the write-back check.
    static let maxKept = 512

    /// One unlinked scratch file holds each input (the readers take a descriptor).
    nonisolated(unsafe) static var scratch: Int32 = -1
    nonisolated(unsafe) static var writePath: String = {
        let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        atexit { PcapngFuzz.cleanUp() }
        return "\(dir)/fuzz-pcapng-\(getpid()).pcapng"
    }()

    static func cleanUp() { unlink(writePath) }

    static func load(_ input: UnsafeRawBufferPointer) -> Int32 {
        if scratch < 0 {
            var template =
                Array((access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp").utf8CString.dropLast())
                + Array("/fuzz-pcapng-XXXXXX".utf8CString)
            scratch = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard scratch >= 0 else { Fuzz.fail("cannot create a scratch file: errno \(errno)") }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        guard ftruncate(scratch, 0) == 0, pwrite(scratch, input.baseAddress, input.count, 0) == input.count,
            lseek(scratch, 0, SEEK_SET) == 0
        else {
            Fuzz.fail("cannot fill the scratch file: errno \(errno)")
        }
        return scratch
    }

    static func rewind(_ fd: Int32) {
        guard lseek(fd, 0, SEEK_SET) == 0 else { Fuzz.fail("cannot rewind the scratch file") }
    }

    static func run(_ input: UnsafeRawBufferPointer) {
        let fd = load(input)
        pcapng(fd, size: input.count)
        rewind(fd)
        guard let (records, complete) = trace(fd, size: input.count) else { return }
        if complete && !records.isEmpty { writeBack(records) }
    }

    /// A read error must be a clean one: about the bytes, at an offset inside the file.
    static func checkError(_ e: TraceFileError, size: Int) {
        _ = e.description
        switch e.kind {
        case .malformed, .unsupported: break
        default: Fuzz.fail("reading an in-memory file failed with \(e.kind): \(e)")
        }
        if let offset = e.offset {
            Fuzz.check(offset <= UInt64(size), "error offset \(offset) is past the \(size)-byte file: \(e)")
        }
    }

    static func pcapng(_ fd: Int32, size: Int) {
        let reader = PcapngReader(fileDescriptor: fd, name: "input", options: options)
        var n = 0
        do throws(TraceFileError) {
            while let p = try reader.next() {
                n += 1
                Fuzz.check(n <= size / 12 + 1, "PcapngReader returned more packets than the file can hold")
                Fuzz.check(p.blockOffset < UInt64(size), "packet block offset \(p.blockOffset) past the end")
                var options = p.optionIterator()
                while let o = try options.next() { _ = o.code }
                _ = p.comments()
            }
        } catch {
            checkError(error, size: size)
        }
        _ = reader.truncation?.description
        _ = reader.sections.last
        _ = reader.interfaces.count
    }

    /// The records of the trace (as many as kept) and whether it read to its end without error.
    static func trace(_ fd: Int32, size: Int) -> ([StoredTraceRecord], Bool)? {
        let reader: TraceReader
        do throws(TraceFileError) {
            reader = try TraceReader(fileDescriptor: fd, name: "input", options: options)
        } catch {
            checkError(error, size: size)
            return nil
        }
        var kept: [StoredTraceRecord] = []
        var n = 0
        do throws(TraceFileError) {
            while let r = try reader.next() {
                n += 1
                Fuzz.check(n <= size / 12 + 1, "TraceReader returned more records than the file can hold")
                _ = SummaryDecoder.summarize(r.netlink, families: reader.families)
                if kept.count < maxKept { kept.append(StoredTraceRecord(r)) }
            }
        } catch {
            checkError(error, size: size)
            return (kept, false)
        }
        _ = reader.interfaces
        _ = reader.truncation?.description
        return (kept, kept.count == n && reader.truncation == nil && reader.format == .pcapng)
    }

    static func writeBack(_ records: [StoredTraceRecord]) {
        let interfaces = Int(records.map(\.interface).max() ?? 0) + 1
        guard interfaces <= 64, records.allSatisfy({ ($0.comment?.utf8.count ?? 0) <= 65535 }) else { return }
        do {
            let writer = try PcapngWriter(
                path: writePath, section: PcapngSectionInfo(),
                interfaces: (0..<interfaces).map { PcapngInterfaceInfo(name: "if\($0)") })
            for r in records { try r.withRecord { try writer.append($0) } }
            try writer.close()
        } catch {
            Fuzz.fail("records read from a trace cannot be written again: \(error)")
        }
        var back: [StoredTraceRecord] = []
        do throws(TraceFileError) {
            let reader = try TraceReader(path: writePath, options: options)
            while let r = try reader.next() { back.append(StoredTraceRecord(r)) }
        } catch {
            Fuzz.fail("a trace written from read records does not read: \(error)")
        }
        Fuzz.check(back.count == records.count, "wrote \(records.count) records, read back \(back.count)")
        for (i, (a, b)) in zip(records, back).enumerated() {
            Fuzz.check(
                a.netlink == b.netlink && a.timestamp == b.timestamp && a.direction == b.direction
                    && a.leg == b.leg && a.pairing == b.pairing && a.synthetic == b.synthetic
                    && a.comment == b.comment && a.netlinkProtocol == b.netlinkProtocol
                    && a.interface == b.interface,
                "record \(i) written and read back differs\nread: \(a)\nback: \(b)")
        }
    }
}
