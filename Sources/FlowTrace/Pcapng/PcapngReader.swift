// A streaming pcapng reader that keeps what libpcap drops: options (comments, epb_flags
// direction, FlowTrace's custom option), interface ids, sections and per-interface time
// resolution. Memory is one reusable buffer (ChunkedInput), whatever the file size; packets
// are handed out as views into it.
//
// Hostile input: every length is checked before it is used, against the block and against
// `maxBlockLength`, and every failure names its byte offset. A file that ends inside a block
// is not an error: the reader returns the records before it and sets `truncation`.

import Posix

/// An option of a block, as a view.
public struct PcapngOption {
    public let code: UInt16
    public let value: UnsafeRawBufferPointer
    /// File offset of the option's header.
    public let offset: UInt64
}

/// Walks a block's options. Stops at opt_endofopt or at the end of the region; an option
/// whose length runs past the region is an error naming its offset.
public struct PcapngOptionIterator {
    let region: UnsafeRawBufferPointer
    let swapped: Bool
    let regionOffset: UInt64
    var position = 0
    var done = false

    init(_ region: UnsafeRawBufferPointer, swapped: Bool, regionOffset: UInt64) {
        self.region = region
        self.swapped = swapped
        self.regionOffset = regionOffset
    }

    public mutating func next() throws(TraceFileError) -> PcapngOption? {
        if done { return nil }
        let remaining = region.count - position
        // Fewer than 4 bytes cannot hold an option header; pcapng regions are padded to 4, so
        // such bytes can only be a sloppy writer's slack and are ignored like a missing endofopt.
        guard remaining >= 4, let base = region.baseAddress else { done = true; return nil }
        let code = load16(base, position, swapped: swapped)
        let length = Int(load16(base, position + 2, swapped: swapped))
        let at = regionOffset + UInt64(position)
        if code == Pcapng.optEndOfOptions { done = true; return nil }
        guard 4 + length <= remaining else {
            throw TraceFileError(
                .malformed,
                "option \(code) declares \(length) bytes, \(remaining - 4) are left in its block",
                offset: at)
        }
        let value = UnsafeRawBufferPointer(start: base + position + 4, count: length)
        position = min(position + 4 + align4(length), region.count)
        return PcapngOption(code: code, value: value, offset: at)
    }
}

/// FlowTrace's metadata option, decoded (see FlowTraceOption for the layout).
public struct FlowTraceMetadata: Hashable, Sendable {
    public var leg: TraceLeg
    public var pairing: UInt64?
    public var synthetic: Bool

    /// nil when the custom option is someone else's (other PEN, or other kind byte).
    init?(_ value: UnsafeRawBufferPointer, swapped: Bool) {
        guard value.count >= FlowTraceOption.valueLength, let base = value.baseAddress,
            load32(base, 0, swapped: swapped) == FlowTraceOption.privateEnterpriseNumber,
            value[4] == FlowTraceOption.kindRecordV1
        else { return nil }
        leg = TraceLeg(rawValue: value[5]) ?? .unknown
        let flags = value[6]
        synthetic = flags & FlowTraceOption.flagSynthetic != 0
        pairing = flags & FlowTraceOption.flagHasPairing != 0 ? load64(base, 8, swapped: swapped) : nil
    }
}

public final class PcapngReader {
    public struct Options: Hashable, Sendable {
        /// Bytes per read(2); the buffer starts at this size.
        public var chunkSize: Int
        /// Largest block accepted; larger ones are errors. Bounds the buffer.
        public var maxBlockLength: Int

        public init(chunkSize: Int = 256 * 1024, maxBlockLength: Int = 16 * 1024 * 1024) {
            self.chunkSize = chunkSize
            self.maxBlockLength = maxBlockLength
        }
    }

    /// A Section Header Block.
    public struct Section: Hashable, Sendable {
        public var index: Int
        public var offset: UInt64
        /// The section is big endian on a little-endian host (or the reverse).
        public var byteSwapped: Bool
        public var majorVersion: UInt16
        public var minorVersion: UInt16
        public var hardware: String?
        public var os: String?
        public var userApplication: String?
        public var comments: [String]
    }

    /// An Interface Description Block.
    public struct Interface: Hashable, Sendable {
        public var section: Int
        /// Index within its section, what packets refer to.
        public var index: Int
        public var linkType: UInt16
        public var snapLength: UInt32
        public var name: String?
        public var description: String?
        public var os: String?
        public var comments: [String]
        /// The raw if_tsresol byte (6 when absent: microseconds).
        public var timestampResolution: UInt8
        public var timestampOffsetSeconds: Int64
        var scale: TimestampScale
    }

    /// Which block a packet came from.
    public enum PacketBlock: Hashable, Sendable { case enhanced, simple, obsolete }

    /// One packet, a view into the reader's buffer valid until the next call to `next()`.
    /// The fields are ordered widest first so the struct stays under 128 bytes: at 129 every
    /// copy of a packet was a call to memcpy.
    public struct Packet {
        /// File offset of the packet's block.
        public var blockOffset: UInt64
        /// Nanoseconds since the epoch; 0 for Simple Packet Blocks, which carry none.
        public var timestamp: UInt64
        public var section: Int
        /// How many opt_comment options the block has; `comments()` decodes them.
        public var commentCount: Int
        public var data: UnsafeRawBufferPointer
        /// All options, to be walked with `optionIterator()`.
        public var options: UnsafeRawBufferPointer
        var optionsOffset: UInt64
        public var flowTrace: FlowTraceMetadata?
        public var interface: UInt32
        public var originalLength: UInt32
        /// epb_flags (pack_flags for the obsolete block), when present.
        public var flags: UInt32?
        public var linkType: UInt16
        public var block: PacketBlock
        var swapped: Bool

        init(
            block: PacketBlock, blockOffset: UInt64, section: Int, interface: UInt32, linkType: UInt16,
            timestamp: UInt64, data: UnsafeRawBufferPointer, originalLength: UInt32, flags: UInt32?,
            flowTrace: FlowTraceMetadata?, commentCount: Int, options: UnsafeRawBufferPointer,
            optionsOffset: UInt64, swapped: Bool
        ) {
            self.blockOffset = blockOffset
            self.timestamp = timestamp
            self.section = section
            self.commentCount = commentCount
            self.data = data
            self.options = options
            self.optionsOffset = optionsOffset
            self.flowTrace = flowTrace
            self.interface = interface
            self.originalLength = originalLength
            self.flags = flags
            self.linkType = linkType
            self.block = block
            self.swapped = swapped
        }

        public func optionIterator() -> PcapngOptionIterator {
            PcapngOptionIterator(options, swapped: swapped, regionOffset: optionsOffset)
        }

        /// The comments, decoded (allocates; only when `commentCount > 0`).
        public func comments() -> [String] {
            guard commentCount > 0 else { return [] }
            var out: [String] = []
            var it = optionIterator()
            // The options were validated when the packet was read, so this cannot throw.
            while let o = try? it.next() {
                if o.code == Pcapng.optComment { out.append(String(decoding: o.value, as: UTF8.self)) }
            }
            return out
        }
    }

    let input: ChunkedInput
    let options: Options
    public var name: String { input.name }

    // Unchecked exclusivity on the state touched per packet: see ChunkedInput.
    /// Every section seen so far; the last is the current one.
    @exclusivity(unchecked) public private(set) var sections: [Section] = []
    /// The current section's interfaces.
    @exclusivity(unchecked) public private(set) var interfaces: [Interface] = []
    /// Blocks skipped because this reader has no use for them (NRB, ISB, DSB, custom, unknown).
    @exclusivity(unchecked) public private(set) var skippedBlocks = 0
    /// Set when the file ends inside a block; `next()` then returns nil.
    public private(set) var truncation: TraceTruncation?
    /// What each packet needs of its interface, without the strings: copying an Interface
    /// per packet would cost retain/release on every read.
    @exclusivity(unchecked) private var hot: [(linkType: UInt16, snapLength: UInt32, scale: TimestampScale)] = []
    @exclusivity(unchecked) private var swapped = false
    @exclusivity(unchecked) private var finished = false
    /// TraceReader.skipping: netlink packets passed over before a Packet is built. Kept as its
    /// plain masks (no references to retain per packet) and the set for family ids.
    func setSkip(_ skip: TraceReader.Skip?) {
        skipOn = skip != nil
        skipMasks = skip?.masks ?? TraceReader.Skip.Masks()
        skipOtherTypes = skip.map { $0.masks.hasOtherTypes ? $0.messageTypes : [] }
    }
    @exclusivity(unchecked) private var skipOn = false
    @exclusivity(unchecked) private var skipMasks = TraceReader.Skip.Masks()
    @exclusivity(unchecked) private var skipOtherTypes: Set<UInt16>?
    /// Packets passed over so far (TraceReader adds them to its count and resets this).
    @exclusivity(unchecked) var passedOver = 0

    /// Opens a file.
    public convenience init(path: String, options: Options = Options()) throws(TraceFileError) {
        let fd = Sys.openForReading(path)
        guard fd >= 0 else { throw TraceFileError(.io(Sys.errno), "cannot open", path: path) }
        self.init(
            input: ChunkedInput(
                fd: fd, closeWhenDone: true, name: path, chunkSize: options.chunkSize,
                maxWindow: options.maxBlockLength), options: options)
    }

    /// Reads from an open descriptor (a pipe works), closing it at the end if asked.
    public convenience init(
        fileDescriptor: Int32, closeWhenDone: Bool = false, name: String = "-",
        options: Options = Options()
    ) {
        self.init(
            input: ChunkedInput(
                fd: fileDescriptor, closeWhenDone: closeWhenDone, name: name,
                chunkSize: options.chunkSize, maxWindow: options.maxBlockLength),
            options: options)
    }

    init(input: ChunkedInput, options: Options) {
        self.input = input
        self.options = options
    }

    /// The next packet, or nil at the end of the file (check `truncation`). Non-packet blocks
    /// are processed or skipped on the way.
    public func next() throws(TraceFileError) -> Packet? {
        while !finished {
            if let p = try nextBlock() { return p }
        }
        return nil
    }

    private func fail(_ message: String, at offset: UInt64, _ kind: TraceFileError.Kind = .malformed) -> TraceFileError
    {
        finished = true
        return input.stop(message, at: offset, kind)
    }

    private func truncated(blockType: UInt32?, declaredLength: UInt64?) {
        truncation = input.stopTruncated(blockType: blockType, declaredLength: declaredLength)
        finished = true
    }

    /// Reads one block; returns a packet if it was one.
    private func nextBlock() throws(TraceFileError) -> Packet? {
        let start = input.position
        var have = try input.ensure(8)
        if have == 0 {
            finished = true
            input.closeFile()
            return nil
        }
        if have < 8 {
            truncated(blockType: have >= 4 ? load32(input.window, 0, swapped: swapped) : nil, declaredLength: nil)
            return nil
        }
        var type = load32(input.window, 0, swapped: swapped)
        if type == Pcapng.sectionHeaderBlock {
            // The SHB's own byte order comes from its magic, which follows its length.
            have = try input.ensure(12)
            if have < 12 { truncated(blockType: type, declaredLength: nil); return nil }
            let magic = input.window.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
            if magic == Pcapng.byteOrderMagic {
                swapped = false
            } else if magic == Pcapng.byteOrderMagic.byteSwapped {
                swapped = true
            } else {
                throw fail("section header byte-order magic is \(hex32(magic)), not 0x1a2b3c4d", at: start + 8)
            }
        } else if sections.isEmpty {
            throw fail("not a pcapng file: the first block is of type \(hex32(type)), not a section header", at: start)
        }
        type = load32(input.window, 0, swapped: swapped)
        let length32 = load32(input.window, 4, swapped: swapped)
        let length = Int(length32)
        // Built only on the error paths: formatting it per block halved the read speed.
        var typeText: String { "block of type \(hex32(type))" }
        guard length >= 12 else {
            throw fail("\(typeText) declares \(length) bytes, less than a block's 12", at: start)
        }
        guard length % 4 == 0 else {
            throw fail("\(typeText) declares \(length) bytes, not a multiple of 4", at: start)
        }
        guard length <= options.maxBlockLength else {
            throw fail(
                "\(typeText) declares \(length) bytes, more than the \(options.maxBlockLength)-byte limit", at: start)
        }
        have = try input.ensure(length)
        if have < length {
            truncated(blockType: type, declaredLength: UInt64(length))
            return nil
        }
        let block = input.window
        let trailer = load32(block, length - 4, swapped: swapped)
        guard trailer == length32 else {
            throw fail("\(typeText) declares \(length) bytes but its trailing length says \(trailer)", at: start)
        }
        // The view stays valid after consume: the buffer moves only in the next ensure().
        input.consume(length)
        let body = UnsafeRawBufferPointer(start: block + 8, count: length - 12)
        switch type {
        case Pcapng.sectionHeaderBlock:
            try readSection(body, at: start)
            return nil
        case Pcapng.interfaceDescriptionBlock:
            try readInterface(body, at: start)
            return nil
        case Pcapng.enhancedPacketBlock:
            if skipOn && passesOver(body, skipMasks) {
                passedOver += 1
                return nil
            }
            return try readEnhanced(body, at: start)
        case Pcapng.simplePacketBlock:
            return try readSimple(body, at: start)
        case Pcapng.packetBlock:
            return try readObsolete(body, at: start)
        default:
            skippedBlocks += 1
            return nil
        }
    }

    private func tooShort(_ what: String, _ body: UnsafeRawBufferPointer, needs: Int, at start: UInt64)
        -> TraceFileError
    {
        fail("\(what) is \(body.count + 12) bytes, less than the \(needs + 12) its fixed fields need", at: start)
    }

    private func readSection(_ body: UnsafeRawBufferPointer, at start: UInt64) throws(TraceFileError) {
        guard body.count >= 16, let b = body.baseAddress else {
            throw tooShort("section header", body, needs: 16, at: start)
        }
        let major = load16(b, 4, swapped: swapped)
        let minor = load16(b, 6, swapped: swapped)
        guard major == 1 else {
            throw fail("pcapng version \(major).\(minor) is not supported (1.x is)", at: start + 12, .unsupported)
        }
        var section = Section(
            index: sections.count, offset: start, byteSwapped: swapped, majorVersion: major,
            minorVersion: minor, hardware: nil, os: nil, userApplication: nil, comments: [])
        var it = PcapngOptionIterator(
            UnsafeRawBufferPointer(rebasing: body[16...]), swapped: swapped,
            regionOffset: start + 24)
        while let o = try nextOption(&it) {
            switch o.code {
            case Pcapng.optComment: section.comments.append(string(o.value))
            case Pcapng.shbHardware: section.hardware = string(o.value)
            case Pcapng.shbOS: section.os = string(o.value)
            case Pcapng.shbUserApplication: section.userApplication = string(o.value)
            default: break
            }
        }
        sections.append(section)
        interfaces.removeAll(keepingCapacity: true)
        hot.removeAll(keepingCapacity: true)
    }

    private func readInterface(_ body: UnsafeRawBufferPointer, at start: UInt64) throws(TraceFileError) {
        guard body.count >= 8, let b = body.baseAddress else {
            throw tooShort("interface description", body, needs: 8, at: start)
        }
        var interface = Interface(
            section: sections.count - 1, index: interfaces.count,
            linkType: load16(b, 0, swapped: swapped), snapLength: load32(b, 4, swapped: swapped),
            name: nil, description: nil, os: nil, comments: [], timestampResolution: 6,
            timestampOffsetSeconds: 0, scale: .microseconds)
        var it = PcapngOptionIterator(
            UnsafeRawBufferPointer(rebasing: body[8...]), swapped: swapped,
            regionOffset: start + 16)
        while let o = try nextOption(&it) {
            switch o.code {
            case Pcapng.optComment: interface.comments.append(string(o.value))
            case Pcapng.ifName: interface.name = string(o.value)
            case Pcapng.ifDescription: interface.description = string(o.value)
            case Pcapng.ifOS: interface.os = string(o.value)
            case Pcapng.ifTimestampResolution:
                guard o.value.count >= 1 else { throw fail("if_tsresol has no value", at: o.offset) }
                interface.timestampResolution = o.value[0]
            case Pcapng.ifTimestampOffset:
                guard o.value.count >= 8, let v = o.value.baseAddress else {
                    throw fail("if_tsoffset is \(o.value.count) bytes, not 8", at: o.offset)
                }
                interface.timestampOffsetSeconds = Int64(bitPattern: load64(v, 0, swapped: swapped))
            default: break
            }
        }
        interface.scale = TimestampScale(tsresol: interface.timestampResolution)
        interface.scale.offsetSeconds = interface.timestampOffsetSeconds
        interfaces.append(interface)
        hot.append((interface.linkType, interface.snapLength, interface.scale))
    }

    @inline(__always)
    private func interface(_ id: UInt32, at start: UInt64) throws(TraceFileError) -> (
        linkType: UInt16, snapLength: UInt32, scale: TimestampScale
    ) {
        guard Int(id) < hot.count else {
            throw fail("packet names interface \(id), but the section has \(hot.count) interface(s)", at: start + 8)
        }
        return hot[Int(id)]
    }

    private func readEnhanced(_ body: UnsafeRawBufferPointer, at start: UInt64) throws(TraceFileError) -> Packet {
        try readTimestamped(body, at: start, block: .enhanced)
    }

    private func readObsolete(_ body: UnsafeRawBufferPointer, at start: UInt64) throws(TraceFileError) -> Packet {
        try readTimestamped(body, at: start, block: .obsolete)
    }

    /// EPB and the obsolete PB share their layout but for the interface id: a u32 in the EPB, a
    /// u16 (followed by a u16 drop count) in the PB.
    private func readTimestamped(
        _ body: UnsafeRawBufferPointer, at start: UInt64,
        block: PacketBlock
    ) throws(TraceFileError) -> Packet {
        let name = block == .enhanced ? "enhanced packet block" : "packet block"
        guard body.count >= 20, let b = body.baseAddress else { throw tooShort(name, body, needs: 20, at: start) }
        let id = block == .enhanced ? load32(b, 0, swapped: swapped) : UInt32(load16(b, 0, swapped: swapped))
        let iface = try interface(id, at: start)
        let raw = UInt64(load32(b, 4, swapped: swapped)) << 32 | UInt64(load32(b, 8, swapped: swapped))
        let captured = Int(load32(b, 12, swapped: swapped))
        let original = load32(b, 16, swapped: swapped)
        guard captured <= body.count - 20 && align4(captured) <= body.count - 20 else {
            throw fail("\(name) captures \(captured) bytes, its block holds \(body.count - 20)", at: start + 20)
        }
        var packet = Packet(
            block: block, blockOffset: start, section: sections.count - 1, interface: id,
            linkType: iface.linkType, timestamp: iface.scale.nanoseconds(raw),
            data: UnsafeRawBufferPointer(start: b + 20, count: captured), originalLength: original,
            flags: nil, flowTrace: nil, commentCount: 0,
            options: UnsafeRawBufferPointer(rebasing: body[(20 + align4(captured))...]),
            optionsOffset: start + 28 + UInt64(align4(captured)), swapped: swapped)
        try readPacketOptions(&packet)
        return packet
    }

    /// Whether `skip` passes over this EPB: read from its fixed fields and options alone, and
    /// only when the full read (`readTimestamped`, `readPacketOptions`) would find nothing wrong
    /// with them and TraceReader would hand the packet out as a record that teaches no family ids.
    /// Not inlined: nextBlock stays as it was for readers that skip nothing.
    @inline(never)
    private func passesOver(_ body: UnsafeRawBufferPointer, _ masks: TraceReader.Skip.Masks) -> Bool {
        guard body.count >= 20, let b = body.baseAddress else { return false }
        let id = Int(load32(b, 0, swapped: swapped))
        guard id < hot.count, hot[id].linkType == Pcapng.linkTypeNetlink else { return false }
        let captured = Int(load32(b, 12, swapped: swapped))
        guard captured >= NetlinkPseudoHeader.length, captured <= body.count - 20, align4(captured) <= body.count - 20
        else {
            return false
        }
        // The options as scanPacketOptions reads them; the leg is in FlowTrace's.
        var leg = TraceLeg.unknown
        var position = 20 + align4(captured)
        let count = body.count
        while count - position >= 4 {
            let code = load16(b, position, swapped: swapped)
            if code == Pcapng.optEndOfOptions { break }
            let length = Int(load16(b, position + 2, swapped: swapped))
            guard 4 + length <= count - position else { return false }
            switch code {
            case Pcapng.epbFlags:
                guard length == 4 else { return false }
            case Pcapng.optCustomBinaryCopyable, Pcapng.optCustomBinaryNoCopy:
                let value = UnsafeRawBufferPointer(start: b + position + 4, count: length)
                if let m = FlowTraceMetadata(value, swapped: swapped) { leg = m.leg }
            default:
                break
            }
            position = min(position + 4 + align4(length), count)
        }
        let data = UnsafeRawBufferPointer(start: b + 20, count: captured)
        let netlink = UnsafeRawBufferPointer(rebasing: data[NetlinkPseudoHeader.length...])
        let generic =
            UInt16(bigEndian: data.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
            == NetlinkPseudoHeader.protocolGeneric
        if generic && FamilyTable.mayTeach(netlink: netlink) { return false }
        return masks.skips(leg: leg, netlink: netlink, others: masks.hasOtherTypes ? skipOtherTypes : nil)
    }

    private func readSimple(_ body: UnsafeRawBufferPointer, at start: UInt64) throws(TraceFileError) -> Packet {
        guard body.count >= 4, let b = body.baseAddress else {
            throw tooShort("simple packet block", body, needs: 4, at: start)
        }
        let iface = try interface(0, at: start)
        let original = load32(b, 0, swapped: swapped)
        // An SPB has no captured length: the packet is the original length cut to the snap
        // length and to what the block holds.
        var captured = min(Int(original), body.count - 4)
        if iface.snapLength > 0 { captured = min(captured, Int(iface.snapLength)) }
        return Packet(
            block: .simple, blockOffset: start, section: sections.count - 1, interface: 0,
            linkType: iface.linkType, timestamp: 0,
            data: UnsafeRawBufferPointer(start: b + 4, count: captured), originalLength: original,
            flags: nil, flowTrace: nil, commentCount: 0,
            options: UnsafeRawBufferPointer(start: b + body.count, count: 0),
            optionsOffset: start + UInt64(body.count + 8), swapped: swapped)
    }

    /// Validates the options and picks out flags, FlowTrace metadata and the comment count.
    @inline(__always)
    private func readPacketOptions(_ packet: inout Packet) throws(TraceFileError) {
        if packet.options.isEmpty || scanPacketOptions(&packet) { return }
        // Something is wrong with the options: the validating walk below names it.
        packet.flags = nil
        packet.flowTrace = nil
        packet.commentCount = 0
        var it = packet.optionIterator()
        while let o = try nextOption(&it) {
            switch o.code {
            case Pcapng.epbFlags:
                guard o.value.count == 4, let v = o.value.baseAddress else {
                    throw fail("epb_flags is \(o.value.count) bytes, not 4", at: o.offset)
                }
                packet.flags = load32(v, 0, swapped: swapped)
            case Pcapng.optCustomBinaryCopyable, Pcapng.optCustomBinaryNoCopy:
                if let m = FlowTraceMetadata(o.value, swapped: swapped) { packet.flowTrace = m }
            case Pcapng.optComment:
                packet.commentCount += 1
            default:
                break
            }
        }
    }

    /// The options of a well-formed packet in one plain loop (the iterator's calls and error
    /// plumbing were a sixth of the read): the same reading as `readPacketOptions`' walk, but
    /// it gives up (returns false) at the first problem instead of describing it.
    @inline(__always)
    private func scanPacketOptions(_ packet: inout Packet) -> Bool {
        let region = packet.options
        guard let base = region.baseAddress else { return true }
        let count = region.count
        let swapped = self.swapped
        var position = 0
        while count - position >= 4 {
            let code = load16(base, position, swapped: swapped)
            if code == Pcapng.optEndOfOptions { return true }
            let length = Int(load16(base, position + 2, swapped: swapped))
            guard 4 + length <= count - position else { return false }
            switch code {
            case Pcapng.epbFlags:
                guard length == 4 else { return false }
                packet.flags = load32(base, position + 4, swapped: swapped)
            case Pcapng.optCustomBinaryCopyable, Pcapng.optCustomBinaryNoCopy:
                let value = UnsafeRawBufferPointer(start: base + position + 4, count: length)
                if let m = FlowTraceMetadata(value, swapped: swapped) { packet.flowTrace = m }
            case Pcapng.optComment:
                packet.commentCount += 1
            default:
                break
            }
            position = min(position + 4 + align4(length), count)
        }
        return true
    }

    /// An option iterator step that marks the reader finished on error.
    @inline(__always)
    private func nextOption(_ it: inout PcapngOptionIterator) throws(TraceFileError) -> PcapngOption? {
        do { return try it.next() } catch {
            throw fail(error.message, at: error.offset ?? 0)
        }
    }

    private func string(_ value: UnsafeRawBufferPointer) -> String {
        // Strings are UTF-8 without a terminator, but some writers add a NUL: drop it.
        let bytes = value.last == 0 ? UnsafeRawBufferPointer(rebasing: value.dropLast()) : value
        return String(decoding: bytes, as: UTF8.self)
    }
}
