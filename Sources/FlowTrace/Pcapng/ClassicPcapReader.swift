// Classic pcap (tcpdump -w, `tcpdump -i nlmon0 -w`, `editcap -F pcap`): a 24-byte header and
// 16-byte record headers, µs or ns magic, either byte order. Read with the same reusable
// buffer as pcapng rather than through libpcap, so truncation and hostile lengths are
// reported the same way, with byte offsets, and pipes work. nlmon captures carry the same
// 16-byte LINKTYPE_NETLINK pseudo-header as our pcapng files.

import Posix

public final class ClassicPcapReader {
    /// One record, a view valid until the next call to `next()`.
    public struct Packet {
        public var recordOffset: UInt64
        /// Nanoseconds since the epoch (µs files: a multiple of 1000).
        public var timestamp: UInt64
        public var data: UnsafeRawBufferPointer
        public var originalLength: UInt32
    }

    let input: ChunkedInput
    let maxRecordLength: Int
    public var name: String { input.name }
    // Unchecked exclusivity on the state touched per record: see ChunkedInput.
    @exclusivity(unchecked) public private(set) var linkType: UInt16 = 0
    @exclusivity(unchecked) public private(set) var snapLength: UInt32 = 0
    @exclusivity(unchecked) public private(set) var nanosecond = false
    /// The file is in the other byte order than this host's.
    @exclusivity(unchecked) public private(set) var byteSwapped = false
    public private(set) var majorVersion: UInt16 = 0
    public private(set) var minorVersion: UInt16 = 0
    public private(set) var truncation: TraceTruncation?
    private var headerRead = false
    @exclusivity(unchecked) private var finished = false

    public convenience init(path: String, options: PcapngReader.Options = .init()) throws(TraceFileError) {
        let fd = Sys.openForReading(path)
        guard fd >= 0 else { throw TraceFileError(.io(Sys.errno), "cannot open", path: path) }
        self.init(
            input: ChunkedInput(
                fd: fd, closeWhenDone: true, name: path, chunkSize: options.chunkSize,
                maxWindow: options.maxBlockLength + ClassicPcap.recordHeaderLength),
            maxRecordLength: options.maxBlockLength)
    }

    init(input: ChunkedInput, maxRecordLength: Int) {
        self.input = input
        self.maxRecordLength = maxRecordLength
    }

    private func fail(_ message: String, at offset: UInt64, _ kind: TraceFileError.Kind = .malformed) -> TraceFileError
    {
        finished = true
        return input.stop(message, at: offset, kind)
    }

    private func truncated(declaredLength: UInt64?) {
        truncation = input.stopTruncated(blockType: nil, declaredLength: declaredLength)
        finished = true
    }

    /// Reads the file header; called by the first `next()` if not before.
    public func readHeader() throws(TraceFileError) {
        if headerRead { return }
        headerRead = true
        let have = try input.ensure(ClassicPcap.headerLength)
        if have < 4 {
            if have == 0 { throw fail("the file is empty", at: 0) }
            truncated(declaredLength: UInt64(ClassicPcap.headerLength))
            return
        }
        let magic = input.window.loadUnaligned(as: UInt32.self)
        switch magic {
        case ClassicPcap.magicMicroseconds: (byteSwapped, nanosecond) = (false, false)
        case ClassicPcap.magicNanoseconds: (byteSwapped, nanosecond) = (false, true)
        case ClassicPcap.magicMicroseconds.byteSwapped: (byteSwapped, nanosecond) = (true, false)
        case ClassicPcap.magicNanoseconds.byteSwapped: (byteSwapped, nanosecond) = (true, true)
        default: throw fail("not a pcap file: magic \(hex32(magic))", at: 0)
        }
        if have < ClassicPcap.headerLength {
            truncated(declaredLength: UInt64(ClassicPcap.headerLength))
            return
        }
        let h = input.window
        majorVersion = load16(h, 4, swapped: byteSwapped)
        minorVersion = load16(h, 6, swapped: byteSwapped)
        guard majorVersion == 2 else {
            throw fail("pcap version \(majorVersion).\(minorVersion) is not supported (2.x is)", at: 4, .unsupported)
        }
        snapLength = load32(h, 16, swapped: byteSwapped)
        // The upper bits of the link-type word carry FCS information; the type is the low 16.
        linkType = UInt16(truncatingIfNeeded: load32(h, 20, swapped: byteSwapped))
        input.consume(ClassicPcap.headerLength)
    }

    /// The next record, or nil at the end (check `truncation`).
    public func next() throws(TraceFileError) -> Packet? {
        try readHeader()
        if finished { return nil }
        let start = input.position
        var have = try input.ensure(ClassicPcap.recordHeaderLength)
        if have == 0 {
            finished = true
            input.closeFile()
            return nil
        }
        if have < ClassicPcap.recordHeaderLength { truncated(declaredLength: nil); return nil }
        let h = input.window
        let seconds = UInt64(load32(h, 0, swapped: byteSwapped))
        let fraction = UInt64(load32(h, 4, swapped: byteSwapped))
        let captured = Int(load32(h, 8, swapped: byteSwapped))
        let original = load32(h, 12, swapped: byteSwapped)
        guard captured <= maxRecordLength else {
            throw fail("record captures \(captured) bytes, more than the \(maxRecordLength)-byte limit", at: start + 8)
        }
        let total = ClassicPcap.recordHeaderLength + captured
        have = try input.ensure(total)
        if have < total { truncated(declaredLength: UInt64(total)); return nil }
        let r = input.window
        input.consume(total)
        // Seconds fit 32 bits, so neither product can overflow 64.
        let ns = seconds * 1_000_000_000 + (nanosecond ? fraction : fraction &* 1000)
        return Packet(
            recordOffset: start, timestamp: ns,
            data: UnsafeRawBufferPointer(start: r + ClassicPcap.recordHeaderLength, count: captured),
            originalLength: original)
    }
}
