// `flowtrace repair`: rewrites a pcapng file that was cut short (a recorder killed with -9, a
// full disk, a copy interrupted) so that every tool reads it cleanly. Every whole block is
// kept byte for byte, in order; the first block that is cut or whose framing is broken ends
// the copy, and it and everything after it are dropped (nothing after a broken length can be
// trusted to be a block boundary). Reads and writes in one pass with one buffer, whatever the
// file's size.

#if canImport(Glibc)
import Glibc
#endif

public struct RepairReport: Sendable {
    public var input: String
    public var output: String
    /// Whole blocks kept, by kind.
    public var sections = 0
    public var interfaces = 0
    public var packets = 0
    public var otherBlocks = 0
    public var bytesKept: UInt64 = 0
    /// Where the dropped tail starts (nil: the file was whole).
    public var droppedAt: UInt64?
    public var bytesDropped: UInt64 = 0
    /// Why the tail was dropped.
    public var reason: String?

    public var blocksKept: Int { sections + interfaces + packets + otherBlocks }
    public var repaired: Bool { droppedAt != nil }

    public func text() -> String {
        var s =
            "\(input) → \(output): kept \(blocksKept) whole blocks, bytes 0-\(bytesKept) "
            + "(\(sections) section header\(sections == 1 ? "" : "s"), \(interfaces) interface\(interfaces == 1 ? "" : "s"), "
            + "\(packets) record\(packets == 1 ? "" : "s")\(otherBlocks > 0 ? ", \(otherBlocks) other" : ""))"
            + (packets > 0 ? ", frames 1-\(packets)" : "")
        if let at = droppedAt {
            s +=
                "\ndropped \(bytesDropped) bytes from byte \(at) (after frame \(packets)) to the end: \(reason ?? "damaged")"
        } else {
            s += "\nnothing dropped: the file was whole"
        }
        return s
    }
}

public enum PcapngRepair {
    /// Largest block accepted (the reader's default limit is 16 MiB; leave room).
    public static let maxBlockLength: UInt32 = 64 << 20

    /// Copies the whole blocks of `input` to `output` (created or truncated, mode 0644).
    /// Throws when nothing can be kept: the input cannot be read, is not pcapng, or does not
    /// start with a whole section header; or when the output cannot be written.
    /// `input` "-" reads stdin; a gzip-compressed input is repaired into an uncompressed copy.
    public static func repair(input: String, output: String) throws(TraceFileError) -> RepairReport {
        let inFD = input == "-" ? dup(0) : open(input, O_RDONLY | O_CLOEXEC)
        guard inFD >= 0 else { throw TraceFileError(.io(errno), "cannot open the file to repair", path: input) }
        defer { close(inFD) }
        var st = stat()
        guard fstat(inFD, &st) == 0 else { throw TraceFileError(.io(errno), "cannot stat the file", path: input) }
        let inStat = st
        var report = RepairReport(input: input, output: output)

        var reader = BlockInput(stream: TraceByteStream(fd: inFD, name: TraceInput.displayName(input)))
        // The first block must be a section header: anything else is not a file to repair.
        var head = [UInt8](repeating: 0, count: 12)
        let got = try reader.read(into: &head, count: 12, path: input)
        if got >= 4 {
            let magic = head.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            if [0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1].contains(magic) {
                throw TraceFileError(
                    .unsupported, "a classic pcap file: repair handles pcapng (editcap -F pcapng converts it first)",
                    path: input, offset: 0)
            }
        }
        guard got == 12, head.withUnsafeBytes({ $0.loadUnaligned(as: UInt32.self) }) == Pcapng.sectionHeaderBlock else {
            throw TraceFileError(
                .malformed,
                got < 12
                    ? "only \(got) bytes: not even a section header block is whole, nothing to keep"
                    : "not a pcapng file (it does not start with a section header block)",
                path: input, offset: 0)
        }

        // Not truncated before it is known not to be the input itself.
        let outFD = open(output, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard outFD >= 0 else { throw TraceFileError(.io(errno), "cannot create the repaired file", path: output) }
        var outStat = stat()
        if fstat(outFD, &outStat) == 0, outStat.st_dev == inStat.st_dev, outStat.st_ino == inStat.st_ino {
            close(outFD)
            throw TraceFileError(
                .invalidArgument, "-w names the input file itself: write the repaired copy to another file",
                path: output)
        }
        guard ftruncate(outFD, 0) == 0 else {
            let e = errno
            close(outFD)
            throw TraceFileError(.io(e), "cannot truncate the repaired file", path: output)
        }
        var out = BlockOutput(fd: outFD, path: output)
        defer { close(outFD) }

        var offset: UInt64 = 0
        var swapped = false
        var block = head
        var pendingHead: [UInt8]? = head
        // Bytes read past `offset` so far (of the block being read when it stops; the first
        // block's 12 were read above).
        var pastOffset: UInt64 = 12
        func stop(_ why: String) throws(TraceFileError) {
            report.droppedAt = offset
            // The rest counted by reading it: stdin and a gzip stream have no size to stat.
            report.bytesDropped = pastOffset + (try reader.drain(path: input))
            report.reason = why
        }
        while true {
            // The block's first 12 bytes (type, length, and for a section header its byte-order magic).
            var h: [UInt8]
            if let p = pendingHead {
                h = p
                pendingHead = nil
            } else {
                h = [UInt8](repeating: 0, count: 12)
                let n = try reader.read(into: &h, count: 12, path: input)
                pastOffset = UInt64(n)
                if n == 0 { break }
                if n < 12 {
                    try stop("a block cut after \(n) of its first 12 bytes")
                    break
                }
            }
            var type = h.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            if type == Pcapng.sectionHeaderBlock {
                let bom = h.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
                if bom == Pcapng.byteOrderMagic {
                    swapped = false
                } else if bom == Pcapng.byteOrderMagic.byteSwapped {
                    swapped = true
                } else {
                    try stop("a section header block with a bad byte-order magic 0x\(String(bom, radix: 16))")
                    break
                }
            }
            if swapped { type = type.byteSwapped }
            var length = h.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
            if swapped { length = length.byteSwapped }
            let typeText = "block of type 0x\(String(type, radix: 16))"
            guard length >= 12, length % 4 == 0, length <= maxBlockLength else {
                try stop(
                    "\(typeText) declares \(length) bytes (a block is 12 bytes to \(maxBlockLength), a multiple of 4)")
                break
            }
            if block.count < Int(length) { block = [UInt8](repeating: 0, count: Int(length)) }
            for i in 0..<12 { block[i] = h[i] }
            let rest = Int(length) - 12
            let n = rest == 0 ? 0 : try reader.read(into: &block, at: 12, count: rest, path: input)
            pastOffset = 12 + UInt64(n)
            if n < rest {
                try stop("\(typeText) declared \(length) bytes, \(12 + n) present (the file was cut inside it)")
                break
            }
            var trailing = block.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(length) - 4, as: UInt32.self) }
            if swapped { trailing = trailing.byteSwapped }
            guard trailing == length else {
                try stop("\(typeText) has trailing length \(trailing), leading \(length)")
                break
            }
            try out.write(block, count: Int(length))
            switch type {
            case Pcapng.sectionHeaderBlock: report.sections += 1
            case Pcapng.interfaceDescriptionBlock: report.interfaces += 1
            case Pcapng.enhancedPacketBlock, Pcapng.simplePacketBlock, Pcapng.packetBlock: report.packets += 1
            default: report.otherBlocks += 1
            }
            offset += UInt64(length)
        }
        try out.finish()
        report.bytesKept = offset
        return report
    }
}

/// read(2) until `count` bytes or the end of the file.
struct BlockInput {
    let stream: TraceByteStream

    mutating func read(into buffer: inout [UInt8], at start: Int = 0, count: Int, path: String) throws(TraceFileError)
        -> Int
    {
        var done = 0
        while done < count {
            let got = buffer.withUnsafeMutableBytes { raw -> Result<Int, TraceFileError> in
                guard let base = raw.baseAddress, start + count <= raw.count else { return .success(0) }
                do throws(TraceFileError) { return .success(try stream.read(base + start + done, count - done)) } catch
                { return .failure(error) }
            }
            let n = try got.get()
            if n < 0 {
                throw TraceFileError(.io(Int32(-n)), "cannot read the file to repair", path: path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads to the end; returns how many bytes there were.
    mutating func drain(path: String) throws(TraceFileError) -> UInt64 {
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        var total: UInt64 = 0
        while true {
            let n = try read(into: &scratch, count: scratch.count, path: path)
            if n == 0 { return total }
            total += UInt64(n)
        }
    }
}

/// Buffered write(2): whole blocks gathered into 1 MiB writes.
struct BlockOutput {
    let fd: Int32
    let path: String
    var buffer: [UInt8] = []

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    mutating func write(_ bytes: [UInt8], count: Int) throws(TraceFileError) {
        buffer.append(contentsOf: bytes[0..<count])
        if buffer.count >= 1 << 20 { try finish() }
    }

    mutating func finish() throws(TraceFileError) {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base + done, raw.count - done)
            }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw TraceFileError(.io(errno), "cannot write the repaired file", path: path)
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
