// The bytes of a trace as its readers see them: a file or pipe read as it is, or, when it
// starts with the gzip magic (1f 8b), inflated as it is read (tshark reads .gz traces the same
// way), so `flowtrace show t.pcapng.gz` and `zcat`-free pipes work. Streaming: one 64 KiB
// compressed buffer, whatever the file's size. Offsets the readers report are offsets in the
// uncompressed trace.

import CZlib
import Posix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

final class TraceByteStream {
    let fd: Int32
    let name: String

    private enum Mode { case unknown, plain, gzip }
    private var mode = Mode.unknown
    /// Bytes read from fd but not yet handed out (plain) or inflated (gzip): raw[rawStart..<rawEnd].
    private let raw: UnsafeMutablePointer<UInt8>
    private let rawCapacity = 64 * 1024
    private var rawStart = 0
    private var rawEnd = 0
    private var inputEOF = false
    /// Compressed bytes consumed from fd, for the messages about a damaged gzip stream.
    private(set) var compressedPosition: UInt64 = 0
    private var z: UnsafeMutablePointer<z_stream>?
    /// The gzip stream ended (its last member's trailer was read).
    private var gzipDone = false
    /// Set when the input ends inside a gzip member: the trace is cut.
    private(set) var gzipCut: String?

    /// TraceReader.progress as it was when this stream was made, the file's size when it is a
    /// regular file, and the bytes of the file read so far (compressed ones for a gzip file).
    private let progress: ((String, UInt64, UInt64?) -> Void)?
    private let fileSize: UInt64?
    private var fileBytesRead: UInt64 = 0
    private var reportedAt: UInt64 = 0

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
        raw = .allocate(capacity: rawCapacity)
        progress = TraceReader.progress
        var st = stat()
        fileSize = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? UInt64(st.st_size) : nil
    }

    deinit {
        if let z {
            inflateEnd(z)
            z.deallocate()
        }
        raw.deallocate()
    }

    var isCompressed: Bool { mode == .gzip }

    /// Reads up to `count` bytes into `dst`: the count, 0 at the end, or -errno.
    /// A corrupt gzip stream is thrown as a format error.
    func read(_ dst: UnsafeMutableRawPointer, _ count: Int) throws(TraceFileError) -> Int {
        switch mode {
        case .plain:
            if rawStart < rawEnd {
                let n = min(count, rawEnd - rawStart)
                dst.copyMemory(from: raw + rawStart, byteCount: n)
                rawStart += n
                return n
            }
            let n = Sys.readSome(fd, dst, count)
            if n > 0 { tally(n) }
            return n
        case .gzip:
            return try inflate(into: dst, count)
        case .unknown:
            try sniff()
            return try read(dst, count)
        }
    }

    /// Counts bytes read from the file, and tells the progress hook every MiB or so.
    @inline(__always)
    private func tally(_ n: Int) {
        fileBytesRead += UInt64(n)
        if let progress, fileBytesRead - reportedAt >= 1 << 20 {
            reportedAt = fileBytesRead
            progress(name, fileBytesRead, fileSize)
        }
    }

    /// Reads the first bytes and decides: the gzip magic, or the bytes as they are.
    private func sniff() throws(TraceFileError) {
        while rawEnd < 2 && !inputEOF {
            let n = try fill()
            if n == 0 { break }
        }
        if rawEnd - rawStart >= 2 && raw[rawStart] == 0x1f && raw[rawStart + 1] == 0x8b {
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            // 15 + 16: a gzip header and trailer around a 32 KiB-window deflate stream.
            guard inflateInit2_(s, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                s.deallocate()
                throw TraceFileError(.io(ENOMEM), "cannot start gzip decompression", path: name)
            }
            z = s
            mode = .gzip
        } else {
            mode = .plain
        }
    }

    /// More compressed (or raw) bytes from fd into raw; 0 at end of input.
    private func fill() throws(TraceFileError) -> Int {
        if rawStart == rawEnd { rawStart = 0; rawEnd = 0 }
        if rawEnd == rawCapacity {
            (raw).update(from: raw + rawStart, count: rawEnd - rawStart)
            rawEnd -= rawStart
            rawStart = 0
        }
        let n = Sys.readSome(fd, raw + rawEnd, rawCapacity - rawEnd)
        if n < 0 { throw TraceFileError(.io(Int32(-n)), "read failed", path: name, offset: compressedPosition) }
        if n == 0 { inputEOF = true }
        rawEnd += n
        tally(n)
        return n
    }

    private func inflate(into dst: UnsafeMutableRawPointer, _ count: Int) throws(TraceFileError) -> Int {
        guard let z, !gzipDone, gzipCut == nil else { return 0 }
        while true {
            if rawStart == rawEnd && !inputEOF { _ = try fill() }
            let haveInput = rawEnd - rawStart
            z.pointee.next_in = raw + rawStart
            z.pointee.avail_in = UInt32(haveInput)
            z.pointee.next_out = dst.assumingMemoryBound(to: UInt8.self)
            z.pointee.avail_out = UInt32(min(count, Int(UInt32.max)))
            let ret = CZlib.inflate(z, Z_NO_FLUSH)
            let used = haveInput - Int(z.pointee.avail_in)
            rawStart += used
            compressedPosition += UInt64(used)
            let produced = min(count, Int(UInt32.max)) - Int(z.pointee.avail_out)
            switch ret {
            case Z_STREAM_END:
                // Another member may follow (gzip a b > c, or an appended gzip): read it too.
                if rawStart == rawEnd && !inputEOF { _ = try fill() }
                if rawEnd - rawStart >= 2 && raw[rawStart] == 0x1f && raw[rawStart + 1] == 0x8b {
                    inflateReset(z)
                } else {
                    gzipDone = true
                }
                if produced > 0 || gzipDone { return produced }
            case Z_OK, Z_BUF_ERROR:
                if produced > 0 { return produced }
                if rawStart == rawEnd && inputEOF {
                    gzipCut = "the gzip stream is cut at compressed byte \(compressedPosition) (before its end)"
                    return 0
                }
            default:
                let why = z.pointee.msg.map { String(cString: $0) } ?? "error \(ret)"
                throw TraceFileError(
                    .malformed, "corrupt gzip data near compressed byte \(compressedPosition): \(why)",
                    path: name)
            }
        }
    }
}
