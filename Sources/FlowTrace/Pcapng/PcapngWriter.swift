// A streaming pcapng writer for netlink traces (format: spec/trace-format.md).
//
// Speed: each record becomes one Enhanced Packet Block built in place in one reused byte
// buffer (no per-record allocation, no Foundation), and the buffer goes to the file with one
// write(2) per flush.
//
// Durability: the buffer only ever holds whole blocks, and is written in order, so the file
// is always a valid pcapng file followed by at most one torn block. A kill -9 loses the records
// still in the buffer (bounded by PcapngFlushPolicy) and can tear only the last block, if it
// lands in the middle of write(2); readers then report "truncated at byte N" and still return
// every record before it. Nothing is fsync'ed: a power cut can lose what the page cache held.

import Posix

/// The Section Header Block's descriptive options.
public struct PcapngSectionInfo: Hashable, Sendable {
    /// shb_hardware, e.g. "x86_64".
    public var hardware: String?
    /// shb_os, e.g. "Linux 6.1.0-37-amd64".
    public var os: String?
    /// shb_userappl, e.g. "FlowTrace 0.1.0 (record)".
    public var userApplication: String?
    /// opt_comment: the session description (capinfos shows it as "Capture comment").
    public var comment: String?

    public init(hardware: String? = nil, os: String? = nil, userApplication: String? = nil, comment: String? = nil) {
        self.hardware = hardware
        self.os = os
        self.userApplication = userApplication
        self.comment = comment
    }

    /// This machine's uname and FlowTrace's name and version.
    public static func thisHost(
        application: String = "FlowTrace \(FlowTraceInfo.version)",
        comment: String? = nil
    ) -> PcapngSectionInfo {
        let host = Sys.hostDescription()
        return PcapngSectionInfo(hardware: host.hardware, os: host.os, userApplication: application, comment: comment)
    }
}

/// One Interface Description Block. Every interface is LINKTYPE_NETLINK with snaplen 0 and
/// nanosecond timestamps: libpcap refuses files whose interfaces differ in link type or
/// snap length, so these are not parameters.
public struct PcapngInterfaceInfo: Hashable, Sendable {
    /// if_name, e.g. "api" or "hairpin" (Wireshark: frame.interface_name).
    public var name: String
    /// if_description, e.g. "net_flow_nl via /run/flowtrace/unft.sock".
    public var description: String?
    /// if_os.
    public var os: String?

    public init(name: String, description: String? = nil, os: String? = nil) {
        self.name = name
        self.description = description
        self.os = os
    }
}

/// When the writer hands its buffer to the kernel. The buffer is written as soon as ANY bound
/// is reached, and always on flush(), rotation and close(). The time bound is checked when a
/// record is appended (and by `flushIfDue()`), not by a timer: an idle recorder should call
/// `flushIfDue()` from its poll loop so a quiet trace still reaches the disk.
public struct PcapngFlushPolicy: Hashable, Sendable {
    /// Records buffered at most.
    public var maxRecords: Int
    /// Bytes buffered at most (a single larger block is written on its own).
    public var maxBytes: Int
    /// How long the oldest buffered record may wait, in nanoseconds (monotonic clock).
    public var maxDelayNanoseconds: UInt64

    public init(maxRecords: Int, maxBytes: Int, maxDelayNanoseconds: UInt64) {
        self.maxRecords = max(1, maxRecords)
        self.maxBytes = max(1, maxBytes)
        self.maxDelayNanoseconds = maxDelayNanoseconds
    }

    /// 256 records, 64 KiB or 100 ms, whichever comes first: at most ~64 KiB or 100 ms of
    /// traffic lost to a kill -9, and one write(2) per 256 records under load.
    public static let `default` = PcapngFlushPolicy(
        maxRecords: 256, maxBytes: 64 * 1024,
        maxDelayNanoseconds: 100_000_000)
    /// Every record is written at once (tests, very low rates).
    public static let immediate = PcapngFlushPolicy(maxRecords: 1, maxBytes: 1, maxDelayNanoseconds: 0)
}

/// Size rotation like tcpdump's -C/-W.
public struct PcapngRotation: Hashable, Sendable {
    /// A file is closed and the next opened before a record would take it past this size
    /// (a file holds at least one record after its preamble, whatever its size).
    public var maxFileBytes: UInt64
    /// With a count the files form a ring: `trace0.pcapng` … `trace<N-1>.pcapng`, then the
    /// oldest is overwritten. Without one: `trace.pcapng`, `trace1.pcapng`, `trace2.pcapng` …
    public var maxFiles: Int?

    public init(maxFileBytes: UInt64, maxFiles: Int? = nil) {
        self.maxFileBytes = max(1, maxFileBytes)
        self.maxFiles = maxFiles.map { max(1, $0) }
    }

    /// Whether a block of `bytes` must start a new file, the current one holding `fileBytes`
    /// (headers and preamble included) and `records` records after its preamble. The one rule
    /// for `PcapngWriter.append` and the Recorder's buffered path.
    @inline(__always)
    func needsNewFile(fileBytes: UInt64, records: Int, adding bytes: Int) -> Bool {
        records > 0 && fileBytes + UInt64(bytes) > maxFileBytes
    }

    /// tcpdump's units: -C counts millions of bytes.
    public static func tcpdump(megabytes: Int, files: Int? = nil) -> PcapngRotation {
        PcapngRotation(maxFileBytes: UInt64(max(1, megabytes)) * 1_000_000, maxFiles: files)
    }
}

public final class PcapngWriter {
    /// Called right after each file's SHB and IDBs, the first file's included, to write what
    /// every file must start with (NEWFAMILY records so Wireshark names the families, a state
    /// snapshot). Records it appends never trigger a rotation.
    public typealias Preamble = (PcapngWriter) throws -> Void

    /// The path given at creation; rotated names derive from it.
    public let basePath: String
    /// The file being written. (Unchecked like the fields below: the Recorder's error paths
    /// name it, and the check on it was hoisted into its hot loop.)
    @exclusivity(unchecked) public private(set) var path: String
    /// How many files were started before the current one (0 for the first).
    @exclusivity(unchecked) public private(set) var fileIndex = 0
    public let section: PcapngSectionInfo
    public let interfaces: [PcapngInterfaceInfo]
    public let flushPolicy: PcapngFlushPolicy
    public let rotation: PcapngRotation?
    private let preamble: Preamble?

    // One writer is used by one thread at a time (the Recorder holds its lock around every
    // call), so the per-access exclusivity checks are pure cost on the hot path.
    /// Records appended so far, preamble records included, across all files.
    @exclusivity(unchecked) public private(set) var recordsAppended: UInt64 = 0
    /// Bytes handed to write(2) so far, across all files.
    @exclusivity(unchecked) public private(set) var bytesWritten: UInt64 = 0

    @exclusivity(unchecked) private var fd: Int32 = -1
    @exclusivity(unchecked) private var buffer: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var capacity: Int
    /// Bytes of whole blocks in the buffer; buffer[pendingStart..<used] still go to the file.
    @exclusivity(unchecked) private var used = 0
    @exclusivity(unchecked) private var pendingStart = 0
    @exclusivity(unchecked) private var bufferedRecords = 0
    @exclusivity(unchecked) private var oldestBufferedAt: UInt64 = 0
    /// The current file's size including what is buffered.
    @exclusivity(unchecked) private var fileBytes: UInt64 = 0
    /// Records appended to the current file after its preamble.
    @exclusivity(unchecked) private var recordsInFile = 0
    @exclusivity(unchecked) private var inPreamble = false
    @exclusivity(unchecked) private var closed = false

    /// Creates (truncates) the file, writes SHB and IDBs, runs the preamble and flushes.
    /// Errors: TraceFileError, or whatever the preamble throws.
    public init(
        path: String, section: PcapngSectionInfo = .thisHost(), interfaces: [PcapngInterfaceInfo],
        flush: PcapngFlushPolicy = .default, rotation: PcapngRotation? = nil,
        preamble: Preamble? = nil
    ) throws {
        guard !interfaces.isEmpty else {
            throw TraceFileError(.invalidArgument, "a trace needs at least one interface", path: path)
        }
        basePath = path
        self.path = PcapngWriter.rotatedPath(base: path, index: 0, maxFiles: rotation?.maxFiles)
        self.section = section
        self.interfaces = interfaces
        self.flushPolicy = flush
        self.rotation = rotation
        self.preamble = preamble
        capacity = max(4096, flush.maxBytes + 1024)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        try startFile()
    }

    deinit {
        try? close()
        buffer.deallocate()
    }

    /// Wall-clock now, in the nanoseconds records carry.
    public static func now() -> UInt64 { RealtimeClock.now() }

    /// The name of the `index`-th file (0-based) for a base path: the number goes before the
    /// extension so the files still open by extension ("trace.pcapng" → "trace3.pcapng"), and
    /// in a ring of N files it is zero-padded to the width of N-1 and wraps, as with tcpdump -W.
    public static func rotatedPath(base: String, index: Int, maxFiles: Int?) -> String {
        let label: String
        if let n = maxFiles, n > 0 {
            let digits = String(n - 1).count
            let slot = String(index % n)
            label = String(repeating: "0", count: max(0, digits - slot.count)) + slot
        } else {
            if index == 0 { return base }
            label = String(index)
        }
        let nameStart = base.lastIndex(of: "/").map { base.index(after: $0) } ?? base.startIndex
        if let dot = base[nameStart...].lastIndex(of: "."), dot != nameStart {
            return String(base[..<dot]) + label + String(base[dot...])
        }
        return base + label
    }

    // MARK: records

    /// Appends one record as an EPB. The record's bytes are copied; its view need only live
    /// for this call. Interface must be an index into `interfaces`.
    public func append(_ record: TraceRecord) throws {
        guard !closed else { throw TraceFileError(.invalidArgument, "append after close", path: path) }
        guard Int(record.interface) < interfaces.count else {
            throw TraceFileError(
                .invalidArgument,
                "interface \(record.interface) is not one of the \(interfaces.count) written", path: path)
        }
        let commentLength = record.comment?.utf8.count ?? 0
        let hasMeta = record.leg != .unknown || record.pairing != nil || record.synthetic
        let total = try PcapngWriter.packetBlockLength(
            netlinkCount: record.netlink.count, direction: record.direction,
            hasMeta: hasMeta, comment: record.comment,
            commentLength: commentLength, path: path)

        if let rotation, !inPreamble, rotation.needsNewFile(fileBytes: fileBytes, records: recordsInFile, adding: total)
        {
            try rotate()
        }

        let p = try reserve(total)
        PcapngWriter.formatPacketBlock(
            at: p, total: total, interface: record.interface, timestamp: record.timestamp,
            leg: record.leg, direction: record.direction, pairing: record.pairing,
            synthetic: record.synthetic, hasMeta: hasMeta,
            netlinkProtocol: record.netlinkProtocol, netlink: record.netlink,
            comment: record.comment, commentLength: commentLength)

        used += total
        fileBytes += UInt64(total)
        recordsAppended += 1
        if !inPreamble { recordsInFile += 1 }
        let now = MonotonicClock.now()
        if bufferedRecords == 0 { oldestBufferedAt = now }
        bufferedRecords += 1
        if bufferedRecords >= flushPolicy.maxRecords || used - pendingStart >= flushPolicy.maxBytes
            || now &- oldestBufferedAt >= flushPolicy.maxDelayNanoseconds
        {
            try flush()
        }
    }

    /// The length of the EPB `formatPacketBlock` writes for these fields, or an error naming
    /// the field that does not fit a block (a comment over 65535 bytes, a packet over 4 GiB).
    @inline(__always)
    static func packetBlockLength(
        netlinkCount: Int, direction: TraceDirection, hasMeta: Bool, comment: String?,
        commentLength: Int, path: @autoclosure () -> String
    ) throws -> Int {
        let dataLength = NetlinkPseudoHeader.length + netlinkCount
        guard commentLength <= Int(UInt16.max) else {
            throw TraceFileError(
                .invalidArgument, "a comment of \(commentLength) bytes exceeds an option's 65535", path: path())
        }
        var optionsLength = 0
        if direction != .unknown { optionsLength += 8 }
        if hasMeta { optionsLength += 4 + FlowTraceOption.valueLength }
        if comment != nil { optionsLength += 4 + align4(commentLength) }
        if optionsLength > 0 { optionsLength += 4 }
        let total = 28 + align4(dataLength) + optionsLength + 4
        guard total <= Int(UInt32.max) else {
            throw TraceFileError(
                .invalidArgument, "a record of \(dataLength) bytes does not fit a pcapng block", path: path())
        }
        return total
    }

    /// Writes one EPB of `total` bytes (from `packetBlockLength`) at `p`. The one place an EPB
    /// is laid out: `append` and the Recorder's buffers both use it, so their files are the
    /// same byte for byte.
    @inline(__always)
    static func formatPacketBlock(
        at p: UnsafeMutableRawPointer, total: Int, interface: UInt32, timestamp: UInt64,
        leg: TraceLeg, direction: TraceDirection, pairing: UInt64?, synthetic: Bool,
        hasMeta: Bool, netlinkProtocol: UInt16, netlink: UnsafeRawBufferPointer,
        comment: String?, commentLength: Int
    ) {
        let dataLength = NetlinkPseudoHeader.length + netlink.count
        var o = 0
        put32(p, &o, Pcapng.enhancedPacketBlock)
        put32(p, &o, UInt32(truncatingIfNeeded: total))
        put32(p, &o, interface)
        put32(p, &o, UInt32(truncatingIfNeeded: timestamp >> 32))
        put32(p, &o, UInt32(truncatingIfNeeded: timestamp))
        put32(p, &o, UInt32(truncatingIfNeeded: dataLength))
        put32(p, &o, UInt32(truncatingIfNeeded: dataLength))
        // LINKTYPE_NETLINK pseudo-header, big endian.
        switch direction {
        case .toKernel: put16be(p, &o, NetlinkPseudoHeader.packetKernel)
        case .toUser: put16be(p, &o, NetlinkPseudoHeader.packetUser)
        case .unknown: put16be(p, &o, 0)
        }
        put16be(p, &o, NetlinkPseudoHeader.hardwareTypeNetlink)
        put16be(p, &o, 0)  // link-layer address length
        p.storeBytes(of: UInt64(0), toByteOffset: o, as: UInt64.self); o += 8
        put16be(p, &o, netlinkProtocol)
        if let src = netlink.baseAddress, netlink.count > 0 {
            (p + o).copyMemory(from: src, byteCount: netlink.count)
            o += netlink.count
        }
        zeroPad(p, &o)
        if direction != .unknown {
            put32(p, &o, UInt32(Pcapng.epbFlags) | UInt32(4) << 16)
            put32(p, &o, direction == .toKernel ? Pcapng.flagsOutbound : Pcapng.flagsInbound)
        }
        if hasMeta {
            put32(p, &o, UInt32(Pcapng.optCustomBinaryCopyable) | UInt32(FlowTraceOption.valueLength) << 16)
            put32(p, &o, FlowTraceOption.privateEnterpriseNumber)
            var flags: UInt8 = 0
            if synthetic { flags |= FlowTraceOption.flagSynthetic }
            if pairing != nil { flags |= FlowTraceOption.flagHasPairing }
            put32(p, &o, UInt32(FlowTraceOption.kindRecordV1) | UInt32(leg.rawValue) << 8 | UInt32(flags) << 16)
            p.storeBytes(of: (pairing ?? 0).littleEndian, toByteOffset: o, as: UInt64.self); o += 8
        }
        if var comment {
            put32(p, &o, UInt32(Pcapng.optComment) | UInt32(commentLength) << 16)
            comment.withUTF8 { utf8 in
                if let src = utf8.baseAddress { (p + o).copyMemory(from: src, byteCount: utf8.count) }
            }
            o += commentLength
            zeroPad(p, &o)
        }
        if hasMeta || direction != .unknown || comment != nil { put32(p, &o, 0) }  // opt_endofopt
        put32(p, &o, UInt32(truncatingIfNeeded: total))
    }

    // MARK: blocks formatted elsewhere (the Recorder)

    /// Appends `count` bytes of whole EPBs that `formatPacketBlock` laid out elsewhere (the
    /// Recorder's buffers), `records` of them, to the current file: whatever this writer still
    /// buffers goes first, then the blocks go to write(2) straight from `blocks` (no copy).
    /// Rotation is the caller's (`PcapngRotation.needsNewFile`, `rotateNow`). After a failed write the
    /// unwritten bytes are kept in this writer's buffer, to be retried by the next flush, and the
    /// error is thrown; `blocks` may be reused either way.
    func appendBlocks(_ blocks: UnsafeRawPointer, count: Int, records: Int) throws {
        guard !closed else { throw TraceFileError(.invalidArgument, "append after close", path: path) }
        guard count > 0 else { return }
        recordsAppended += UInt64(records)
        recordsInFile += records
        fileBytes += UInt64(count)
        if used > pendingStart {
            do { try flush() } catch {
                keepUnwritten(blocks, count)
                throw error
            }
        }
        let (written, error) = Sys.writeAll(fd, blocks, count)
        bytesWritten += UInt64(written)
        if error != 0 {
            keepUnwritten(blocks + written, count - written)
            throw TraceFileError(.io(error), "write failed", path: path)
        }
    }

    /// Keeps bytes a failed write left over, after what is already buffered. The buffer grows for
    /// them up to 64 MiB of unwritten data; past that the newest bytes are dropped (a disk that
    /// stays full must not take all memory).
    private func keepUnwritten(_ p: UnsafeRawPointer, _ n: Int) {
        guard n > 0, used - pendingStart + n <= 64 << 20 else { return }
        if used + n > capacity {
            let pending = used - pendingStart
            let newCapacity = max(capacity, align4(pending + n))
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
            fresh.copyMemory(from: buffer + pendingStart, byteCount: pending)
            buffer.deallocate()
            buffer = fresh
            capacity = newCapacity
            used = pending
            pendingStart = 0
        }
        (buffer + used).copyMemory(from: p, byteCount: n)
        used += n
        if bufferedRecords == 0 { oldestBufferedAt = MonotonicClock.now() }
        bufferedRecords += 1
    }

    /// The current file's size so far, buffered and handed-over blocks included. Read it only
    /// while no `appendBlocks` runs (the Recorder reads it once per file, with its flusher idle,
    /// and counts what it hands over itself).
    var currentFileBytes: UInt64 { fileBytes }

    /// Closes the current file and starts the next (SHB, IDBs, preamble), as `append` does when
    /// a record would pass the rotation size.
    func rotateNow() throws { try rotate() }

    /// Writes the buffer if its oldest record has waited longer than the policy allows.
    public func flushIfDue() throws {
        if bufferedRecords > 0 && MonotonicClock.now() &- oldestBufferedAt >= flushPolicy.maxDelayNanoseconds {
            try flush()
        }
    }

    /// Writes every buffered block to the file. After a failed write (ENOSPC…) the unwritten
    /// blocks stay buffered and a later flush resumes exactly where the file ends.
    public func flush() throws {
        guard fd >= 0, used > pendingStart else { return }
        let (written, error) = Sys.writeAll(fd, buffer + pendingStart, used - pendingStart)
        pendingStart += written
        bytesWritten += UInt64(written)
        if error != 0 { throw TraceFileError(.io(error), "write failed", path: path) }
        used = 0
        pendingStart = 0
        bufferedRecords = 0
    }

    /// Flushes and closes the current file. Further appends fail; closing twice is harmless.
    public func close() throws {
        guard !closed else { return }
        closed = true
        defer {
            if fd >= 0 { _ = Sys.close(fd) }
            fd = -1
        }
        try finishFile()
    }

    // MARK: files

    /// Writes what is buffered and closes the current file; `fd` is -1 afterwards, also when
    /// close(2) fails (that error is thrown).
    private func finishFile() throws {
        try flush()
        if Sys.close(fd) != 0 {
            let e = Sys.errno
            fd = -1
            throw TraceFileError(.io(e), "close failed", path: path)
        }
        fd = -1
    }

    private func startFile() throws {
        if path == "-" {
            // "-": stdout, as with tcpdump -w -. A descriptor of our own, so close() leaves fd 1 open.
            guard rotation == nil else {
                throw TraceFileError(
                    .invalidArgument, "a trace written to stdout cannot be rotated (-C needs a file)", path: "<stdout>")
            }
            fd = Sys.duplicate(1)
        } else {
            fd = Sys.openForWriting(path)
        }
        if fd < 0 { throw TraceFileError(.io(Sys.errno), "cannot create the trace file", path: path) }
        fileBytes = 0
        recordsInFile = 0
        try writeHeaders()
        // The headers go out at once: even a file that never gets a record is a valid trace.
        try flush()
        if let preamble {
            inPreamble = true
            defer { inPreamble = false }
            try preamble(self)
        }
        try flush()
    }

    private func rotate() throws {
        try finishFile()
        fileIndex += 1
        path = PcapngWriter.rotatedPath(base: basePath, index: fileIndex, maxFiles: rotation?.maxFiles)
        try startFile()
    }

    private func writeHeaders() throws {
        func stringOption(_ s: String?) -> Int { s.map { 4 + align4($0.utf8.count) } ?? 0 }
        for s in [section.hardware, section.os, section.userApplication, section.comment]
            + interfaces.flatMap({ [$0.name, $0.description, $0.os] })
        {
            if let s, s.utf8.count > Int(UInt16.max) {
                throw TraceFileError(
                    .invalidArgument, "a header option of \(s.utf8.count) bytes exceeds 65535", path: path)
            }
        }
        // SHB.
        let shbOptions =
            stringOption(section.hardware) + stringOption(section.os)
            + stringOption(section.userApplication) + stringOption(section.comment) + 4
        let shbLength = 24 + shbOptions + 4
        var p = try reserve(shbLength)
        var o = 0
        put32(p, &o, Pcapng.sectionHeaderBlock)
        put32(p, &o, UInt32(shbLength))
        put32(p, &o, Pcapng.byteOrderMagic)
        put32(p, &o, 1)  // major 1, minor 0
        put32(p, &o, 0xffff_ffff)  // section length -1: not given
        put32(p, &o, 0xffff_ffff)
        putString(p, &o, Pcapng.optComment, section.comment)
        putString(p, &o, Pcapng.shbHardware, section.hardware)
        putString(p, &o, Pcapng.shbOS, section.os)
        putString(p, &o, Pcapng.shbUserApplication, section.userApplication)
        put32(p, &o, 0)
        put32(p, &o, UInt32(shbLength))
        used += shbLength
        fileBytes += UInt64(shbLength)

        for interface in interfaces {
            let options =
                stringOption(interface.name) + stringOption(interface.description) + 8
                + stringOption(interface.os) + 4
            let length = 16 + options + 4
            p = try reserve(length)
            o = 0
            put32(p, &o, Pcapng.interfaceDescriptionBlock)
            put32(p, &o, UInt32(length))
            put32(p, &o, UInt32(Pcapng.linkTypeNetlink))  // link type + reserved 0
            put32(p, &o, 0)  // snaplen 0: no limit
            putString(p, &o, Pcapng.ifName, interface.name)
            putString(p, &o, Pcapng.ifDescription, interface.description)
            put32(p, &o, UInt32(Pcapng.ifTimestampResolution) | 1 << 16)
            put32(p, &o, 9)  // 10^-9 s, then 3 bytes of padding
            putString(p, &o, Pcapng.ifOS, interface.os)
            put32(p, &o, 0)
            put32(p, &o, UInt32(length))
            used += length
            fileBytes += UInt64(length)
        }
    }

    // MARK: buffer

    /// Room for `n` more bytes at buffer + used. Flushes whole blocks first rather than
    /// splitting one, and grows only for a block larger than the whole buffer.
    private func reserve(_ n: Int) throws -> UnsafeMutableRawPointer {
        if used + n > capacity {
            try flush()
            if n > capacity {
                let newCapacity = align4(n)
                let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
                buffer.deallocate()
                buffer = fresh
                capacity = newCapacity
            }
        }
        return buffer + used
    }
}

// Little-endian and big-endian stores for the block layouts above.

@inline(__always)
fileprivate func put32(_ p: UnsafeMutableRawPointer, _ o: inout Int, _ v: UInt32) {
    p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
    o += 4
}

@inline(__always)
fileprivate func put16be(_ p: UnsafeMutableRawPointer, _ o: inout Int, _ v: UInt16) {
    p.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt16.self)
    o += 2
}

fileprivate func putString(_ p: UnsafeMutableRawPointer, _ o: inout Int, _ code: UInt16, _ value: String?) {
    guard var s = value else { return }
    let n = s.utf8.count
    put32(p, &o, UInt32(code) | UInt32(n) << 16)
    s.withUTF8 { utf8 in
        if let src = utf8.baseAddress { (p + o).copyMemory(from: src, byteCount: n) }
    }
    o += n
    zeroPad(p, &o)
}

@inline(__always)
fileprivate func zeroPad(_ p: UnsafeMutableRawPointer, _ o: inout Int) {
    while o & 3 != 0 {
        p.storeBytes(of: UInt8(0), toByteOffset: o, as: UInt8.self)
        o += 1
    }
}
