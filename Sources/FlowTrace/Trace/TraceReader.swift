// The one entry point for reading traces: sniffs pcapng or classic pcap from the first bytes
// and hands out TraceRecords, learning the family ids (nlctrl NEWFAMILY) as they pass.

import Posix

public final class TraceReader {
    public enum Format: Hashable, Sendable, CustomStringConvertible {
        case pcapng
        case pcap(nanosecond: Bool, byteSwapped: Bool)

        public var description: String {
            switch self {
            case .pcapng: return "pcapng"
            case let .pcap(ns, swapped): return "pcap (\(ns ? "ns" : "µs")\(swapped ? ", byte-swapped" : ""))"
            }
        }
    }

    /// An interface as the reader knows it (classic pcap has one, unnamed).
    public struct Interface: Hashable, Sendable {
        public var section: Int
        public var index: Int
        public var linkType: UInt16
        public var name: String?
        public var description: String?
        public var os: String?
        /// The if_tsresol byte (6 µs, 9 ns; bit 7 set: 2^-n).
        public var timestampResolution: UInt8
    }

    public private(set) var format: Format

    /// Called by every reader created after it is set, as it reads (per buffer refill, never per
    /// record): the reader's name, bytes read, and the file's size when it is a regular file.
    /// For a tool's progress line; may be called from a reading thread.
    nonisolated(unsafe) public static var progress:
        ((_ name: String, _ bytesRead: UInt64, _ fileSize: UInt64?) -> Void)?
    public var name: String { input.name }
    // Unchecked exclusivity on the state touched per record: see ChunkedInput.
    /// Family ids learnt from the NEWFAMILY records read so far. It changes only after a record
    /// for which `FamilyTable.mayTeach` is true, so a per-record loop can keep its own copy.
    @exclusivity(unchecked) public private(set) var families = FamilyTable()
    /// Packets not handed out: another link type than LINKTYPE_NETLINK, or shorter than its
    /// 16-byte pseudo-header.
    @exclusivity(unchecked) public private(set) var skippedPackets = 0
    /// Records handed out so far, and those `skipping` passed over.
    @exclusivity(unchecked) public private(set) var recordCount = 0
    /// The frame number of the record last handed out, as Wireshark numbers frames: 1-based,
    /// counting every packet of the file (the synthetic preamble and skipped packets too).
    public var frameNumber: Int { recordCount + skippedPackets }

    /// Records `next()` passes over without building them, for readers that drop most of a
    /// trace (the replay's reading thread drops the API leg and the ACKs: three records of five).
    /// A passed-over record still counts in `recordCount`. A record that may teach family ids
    /// (nlctrl, several messages) is never passed over, and a block the full read would report
    /// an error in is read in full, so errors and `families` are what they are without it.
    public var skipping: Skip? {
        didSet {
            pcapng?.setSkip(skipping)
            skipActive = skipping != nil
            activeSkip = skipping
        }
    }
    // What next() reads: a property with observers cannot be exclusivity(unchecked), and its
    // dynamic check cost two calls per record even with nothing to skip.
    @exclusivity(unchecked) private var skipActive = false
    @exclusivity(unchecked) private var activeSkip: Skip?

    /// Which records `skipping` passes over: those of `legs`, and those whose first netlink
    /// message has one of `messageTypes` (e.g. NLMSG_ERROR and NLMSG_DONE).
    public struct Skip: Hashable, Sendable {
        public let legs: Set<TraceLeg>
        public let messageTypes: Set<UInt16>
        /// The two sets flattened for the per-record test: bit n of `legMask` is leg raw value
        /// n, bit n of `typeMask` type n < 64 (netlink's own types are 1 to 4; family ids are
        /// looked up in `messageTypes`).
        let masks: Masks

        struct Masks: Hashable, Sendable {
            var legMask: UInt8 = 0
            var typeMask: UInt64 = 0
            /// Any type ≥ 64 set (then the slow test looks at `messageTypes`).
            var hasOtherTypes = false

            /// Whether a record of `leg` with these netlink bytes is passed over; `others`
            /// only when `hasOtherTypes`.
            @inline(__always)
            func skips(leg: TraceLeg, netlink: UnsafeRawBufferPointer, others: Set<UInt16>?) -> Bool {
                if legMask & 1 << (leg.rawValue & 7) != 0 { return true }
                // 16: a netlink header.
                guard netlink.count >= 16, let base = netlink.baseAddress else { return false }
                let type = base.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
                if type < 64 { return typeMask & 1 << UInt64(type) != 0 }
                return hasOtherTypes && others?.contains(type) == true
            }
        }

        public init(legs: Set<TraceLeg>, messageTypes: Set<UInt16>) {
            self.legs = legs
            self.messageTypes = messageTypes
            var m = Masks()
            for l in legs { m.legMask |= 1 << (l.rawValue & 7) }
            for t in messageTypes {
                if t < 64 { m.typeMask |= 1 << UInt64(t) } else { m.hasOtherTypes = true }
            }
            masks = m
        }

        /// Whether a record of `leg` with these netlink bytes is passed over.
        public func skips(leg: TraceLeg, netlink: UnsafeRawBufferPointer) -> Bool {
            masks.skips(leg: leg, netlink: netlink, others: messageTypes)
        }
    }

    private let input: ChunkedInput
    /// The last pcapng packet when it had comments, for `next()` to decode them.
    @exclusivity(unchecked) private var commentSource: PcapngReader.Packet?
    private let pcapng: PcapngReader?
    private let pcap: ClassicPcapReader?

    /// `path` "-" reads stdin (named "<stdin>" in messages). A gzip-compressed file or stream
    /// is read as the trace it holds.
    public convenience init(path: String, options: PcapngReader.Options = .init()) throws(TraceFileError) {
        if path == "-" {
            try self.init(fileDescriptor: 0, name: "<stdin>", options: options)
            return
        }
        let name = TraceInput.displayName(path)
        let fd = Sys.openForReading(path)
        guard fd >= 0 else { throw TraceFileError(.io(Sys.errno), "cannot open", path: name) }
        try self.init(fileDescriptor: fd, closeWhenDone: true, name: name, options: options)
    }

    /// Reads from an open descriptor (a pipe works: nothing seeks).
    public init(
        fileDescriptor: Int32, closeWhenDone: Bool = false, name: String = "-",
        options: PcapngReader.Options = .init()
    ) throws(TraceFileError) {
        input = ChunkedInput(
            fd: fileDescriptor, closeWhenDone: closeWhenDone, name: name, chunkSize: options.chunkSize,
            maxWindow: options.maxBlockLength + ClassicPcap.recordHeaderLength)
        let have = min(4, try input.ensure(4))
        guard have > 0 else {
            input.closeFile()
            throw TraceFileError(
                .malformed, input.compressionCut ?? "the file is empty, not a trace", path: name, offset: 0)
        }
        // A file cut inside its first 4 bytes still tells its format if those bytes start a magic.
        var head: [UInt8] = []
        for i in 0..<have { head.append(input.window.load(fromByteOffset: i, as: UInt8.self)) }
        func starts(_ magic: [UInt8]) -> Bool { Array(magic.prefix(head.count)) == head }
        let magics: [(bytes: [UInt8], format: Format)] = [
            ([0x0a, 0x0d, 0x0d, 0x0a], .pcapng),
            ([0xd4, 0xc3, 0xb2, 0xa1], .pcap(nanosecond: false, byteSwapped: false)),
            ([0x4d, 0x3c, 0xb2, 0xa1], .pcap(nanosecond: true, byteSwapped: false)),
            ([0xa1, 0xb2, 0xc3, 0xd4], .pcap(nanosecond: false, byteSwapped: true)),
            ([0xa1, 0xb2, 0x3c, 0x4d], .pcap(nanosecond: true, byteSwapped: true)),
        ]
        guard let match = magics.first(where: { starts($0.bytes) }) else {
            input.closeFile()
            let shown = head.map { String($0, radix: 16) }.joined(separator: " ")
            throw TraceFileError(
                .malformed, "neither pcapng nor pcap: the file starts with \(shown)", path: name, offset: 0)
        }
        if case .pcap = match.format {
            let reader = ClassicPcapReader(input: input, maxRecordLength: options.maxBlockLength)
            format = match.format
            try reader.readHeader()
            format = .pcap(nanosecond: reader.nanosecond, byteSwapped: reader.byteSwapped)
            pcap = reader
            pcapng = nil
        } else {
            format = .pcapng
            pcapng = PcapngReader(input: input, options: options)
            pcap = nil
        }
    }

    /// The interfaces of the current section.
    public var interfaces: [Interface] {
        if let pcapng {
            return pcapng.interfaces.map {
                Interface(
                    section: $0.section, index: $0.index, linkType: $0.linkType, name: $0.name,
                    description: $0.description, os: $0.os, timestampResolution: $0.timestampResolution)
            }
        }
        if let pcap {
            return [
                Interface(
                    section: 0, index: 0, linkType: pcap.linkType, name: nil, description: nil, os: nil,
                    timestampResolution: pcap.nanosecond ? 9 : 6)
            ]
        }
        return []
    }

    /// The pcapng sections seen so far (empty for classic pcap).
    public var sections: [PcapngReader.Section] { pcapng?.sections ?? [] }

    /// Set when the file ends inside a block or record, or a gzip-compressed file ends before
    /// its gzip stream does.
    public var truncation: TraceTruncation? {
        var t = pcapng?.truncation ?? pcap?.truncation
        if let cut = input.compressionCut {
            if t == nil {
                t = TraceTruncation(
                    fileEnd: input.position, blockOffset: input.position, blockType: nil, declaredLength: nil)
            }
            t?.reason = cut
        }
        return t
    }

    /// Whether the input is gzip-compressed (byte offsets are then in the uncompressed trace).
    public var isCompressed: Bool { input.isCompressed }

    /// Bytes of the (uncompressed) trace consumed so far, for a progress line.
    public var bytesRead: UInt64 { input.position }

    /// The end of a cut file as a message: the file, where, which frame, what is missing.
    public var truncationMessage: String? { truncationNote.map { "\(name): \($0)" } }

    /// `truncationMessage` without the file's name.
    public var truncationNote: String? {
        guard let t = truncation else { return nil }
        let packetTypes: [UInt32] = [Pcapng.enhancedPacketBlock, Pcapng.simplePacketBlock, Pcapng.packetBlock]
        let frame: String
        // A gzip stream cut between two blocks leaves no block cut: no frame is.
        let betweenBlocks = t.blockType == nil && t.declaredLength == nil && t.blockOffset == t.fileEnd
        if !betweenBlocks, t.blockType.map(packetTypes.contains) ?? true {
            frame = "frame \(frameNumber + 1) is cut"
        } else {
            frame = "the file ends after frame \(frameNumber)"
        }
        return "\(frame): \(t)"
    }

    /// A read error as a message naming the last frame read before it (frames as Wireshark
    /// numbers them, from 1).
    public func failureMessage(_ error: TraceFileError) -> String {
        var e = error
        if e.path == nil { e.path = name }
        return "\(e) (after frame \(frameNumber), the last one read)"
    }

    /// The next netlink record, or nil at the end of the file (then check `truncation`).
    /// The record's bytes are valid until the next call.
    public func next() throws(TraceFileError) -> TraceRecord? {
        guard let c = try nextCore() else { return nil }
        return TraceRecord(c, comment: commentSource.map { $0.comments().joined(separator: "\n") })
    }

    /// The pid `flowtrace capture` named in the last record's comment (nil: none), read without
    /// building the comment's text; nothing to do on a file without comments.
    @inline(__always)
    var recordProcessID: Int32? {
        // Only tested here: taking the packet out would copy it on every record.
        if commentSource == nil { return nil }
        return commentProcessID()
    }

    @inline(never)
    func commentProcessID() -> Int32? {
        guard let p = commentSource else { return nil }
        var it = p.optionIterator()
        while let o = try? it.next() {
            if o.code == Pcapng.optComment, let pid = NetlinkProcess.pid(inComment: o.value) { return pid }
        }
        return nil
    }

    /// The process named in the last record's comment (nil: none).
    var recordProcess: NetlinkProcess? {
        guard let p = commentSource else { return nil }
        for c in p.comments() { if let x = NetlinkProcess(comment: c) { return x } }
        return nil
    }

    /// What a reader that copies each record elsewhere at once keeps of it (the replay's
    /// reading thread): the netlink bytes, valid until the next call, and the fields it reads.
    public struct RecordFields {
        public var netlink: UnsafeRawBufferPointer
        public var timestamp: UInt64
        public var pairing: UInt64?
        public var leg: TraceLeg
        public var direction: TraceDirection
        public var synthetic: Bool
        public var netlinkProtocol: UInt16
        /// `recordCount` after this record (read here: across modules it costs an access check).
        public var number: Int
    }

    /// `next()` without building the TraceRecord (no comment text, interface, section or
    /// original length): the same records, errors, `families`, `recordCount` and `truncation`.
    public func nextFields() throws(TraceFileError) -> RecordFields? {
        guard let c = try nextCore() else { return nil }
        return RecordFields(
            netlink: c.netlink, timestamp: c.timestamp, pairing: c.pairing, leg: c.leg,
            direction: c.direction, synthetic: c.synthetic, netlinkProtocol: c.netlinkProtocol,
            number: recordCount)
    }

    /// `next()` without the comment (see RecordCore); `commentSource` tells whether there is one.
    @inline(__always)
    func nextCore() throws(TraceFileError) -> RecordCore? {
        if let pcapng {
            defer { if skipActive && pcapng.passedOver > 0 { recordCount += pcapng.passedOver; pcapng.passedOver = 0 } }
            while let p = try pcapng.next() {
                guard p.linkType == Pcapng.linkTypeNetlink, p.data.count >= NetlinkPseudoHeader.length else {
                    skippedPackets += 1
                    continue
                }
                // Built in one go: filling in a record field by field copied it twice per record.
                var direction = Self.direction(pseudoHeader: p.data)
                if let flags = p.flags, flags & Pcapng.flagsDirectionMask != 0 {
                    switch flags & Pcapng.flagsDirectionMask {
                    case Pcapng.flagsOutbound: direction = .toKernel
                    case Pcapng.flagsInbound: direction = .toUser
                    default: break
                    }
                }
                let m = p.flowTrace
                let r = RecordCore(
                    timestamp: p.timestamp, leg: m?.leg ?? .unknown, direction: direction,
                    interface: p.interface,
                    netlink: UnsafeRawBufferPointer(rebasing: p.data[NetlinkPseudoHeader.length...]),
                    pairing: m?.pairing, synthetic: m?.synthetic ?? false,
                    netlinkProtocol: Self.netlinkProtocol(pseudoHeader: p.data), section: p.section,
                    originalLength: max(0, Int(p.originalLength) - NetlinkPseudoHeader.length))
                if p.commentCount > 0 {
                    commentSource = p
                } else if commentSource != nil {
                    commentSource = nil
                }
                // (Skipped here: only blocks PcapngReader did not pass over already: SPB, PB, odd options.)
                if admit(r) { return r }
            }
            return nil
        }
        if let pcap {
            while let p = try pcap.next() {
                guard pcap.linkType == Pcapng.linkTypeNetlink, p.data.count >= NetlinkPseudoHeader.length else {
                    skippedPackets += 1
                    continue
                }
                let r = RecordCore(
                    timestamp: p.timestamp, leg: .unknown, direction: Self.direction(pseudoHeader: p.data),
                    interface: 0,
                    netlink: UnsafeRawBufferPointer(rebasing: p.data[NetlinkPseudoHeader.length...]),
                    pairing: nil, synthetic: false,
                    netlinkProtocol: Self.netlinkProtocol(pseudoHeader: p.data), section: 0,
                    originalLength: max(0, Int(p.originalLength) - NetlinkPseudoHeader.length))
                if admit(r) { return r }
            }
        }
        return nil
    }

    /// Counts a netlink record read in full (pcapng or classic pcap) and says whether to hand it
    /// out: one that may teach family ids teaches them and is never skipped; any other is passed
    /// over when `skipping` names it.
    @inline(__always)
    private func admit(_ r: RecordCore) -> Bool {
        recordCount += 1
        if FamilyTable.mayTeach(r) {
            families.learn(fromNetlink: r.netlink)
            return true
        }
        if skipActive, let activeSkip, activeSkip.skips(leg: r.leg, netlink: r.netlink) { return false }
        return true
    }

    /// The pseudo-header's direction; `data` holds at least the 16-byte pseudo-header.
    @inline(__always)
    private static func direction(pseudoHeader data: UnsafeRawBufferPointer) -> TraceDirection {
        switch UInt16(bigEndian: data.loadUnaligned(as: UInt16.self)) {
        case NetlinkPseudoHeader.packetKernel: return .toKernel
        case NetlinkPseudoHeader.packetUser: return .toUser
        default: return .unknown
        }
    }

    @inline(__always)
    private static func netlinkProtocol(pseudoHeader data: UnsafeRawBufferPointer) -> UInt16 {
        UInt16(bigEndian: data.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
    }
}
