// Where a replay's records come from: straight off the file while replaying (flat memory on
// a trace of any size), or all loaded first (`--preload`, for benchmarks that must not
// measure the reader). Both hand out views that stay valid until the next call, as
// TraceReader does, and both can start again for `--loop`.

import FlowTrace
import LibFlowTable

public protocol RecordSource: AnyObject {
    /// The next record, or nil at the end. Its bytes are valid until the next call.
    func next() throws(TraceFileError) -> TraceRecord?
    /// Family ids learnt from the records handed out so far.
    var families: FamilyTable { get }
    /// The frame number of the record handed out last, as Wireshark numbers frames: 1-based,
    /// counting every packet block of the file (synthetic preamble records, records passed over
    /// or filtered out, packets of other link types).
    var recordNumber: Int { get }
    /// Set when the file ended inside a block (what a kill -9 of the recorder leaves).
    var truncationNote: String? { get }
    /// Frames read so far, handed out or not: at the end, the file's last whole frame.
    var framesRead: Int { get }
    /// The file's name, for messages.
    var name: String { get }
    /// Goes back to the first record.
    func rewind() throws(TraceFileError)
    /// Whether `rewind` can work (stdin cannot be read twice).
    var canRewind: Bool { get }
}

/// What the backend replay reads of a record. The two sources it runs on hand these out
/// directly (`nextView`): no existential call and no TraceRecord (a 100-byte struct with an
/// optional String) per record.
struct RecordView {
    var netlink: UnsafeRawBufferPointer
    var timestamp: UInt64
    var direction: TraceDirection
    var synthetic: Bool

    @inline(__always)
    init(netlink: UnsafeRawBufferPointer, timestamp: UInt64, direction: TraceDirection, synthetic: Bool) {
        self.netlink = netlink
        self.timestamp = timestamp
        self.direction = direction
        self.synthetic = synthetic
    }

    init(_ r: TraceRecord) {
        self.init(netlink: r.netlink, timestamp: r.timestamp, direction: r.direction, synthetic: r.synthetic)
    }
}

/// A record held in memory: where its netlink bytes are in its holder's storage, and its other
/// fields. PreloadedSource keeps one per record, ReadAheadSource one per record of a chunk; both
/// hand records out through `record(in:)` and `view(in:)`.
struct HeldRecord {
    var start: Int
    var count: Int
    var timestamp: UInt64
    var pairing: UInt64?
    var leg: TraceLeg
    var direction: TraceDirection
    var synthetic: Bool
    var netlinkProtocol: UInt16

    @inline(__always)
    func record(in storage: UnsafeMutableRawPointer) -> TraceRecord {
        TraceRecord(
            timestamp: timestamp, leg: leg, direction: direction,
            netlink: UnsafeRawBufferPointer(start: storage + start, count: count),
            pairing: pairing, synthetic: synthetic, netlinkProtocol: netlinkProtocol)
    }

    @inline(__always)
    func view(in storage: UnsafeMutableRawPointer) -> RecordView {
        RecordView(
            netlink: UnsafeRawBufferPointer(start: storage + start, count: count),
            timestamp: timestamp, direction: direction, synthetic: synthetic)
    }
}

extension FamilyTable {
    /// `learn(from:)` for a record that may teach something: skips the call for a single
    /// message that is not nlctrl (almost every record), which `learn` would ignore anyway.
    @inline(__always)
    mutating func learnIfController(_ bytes: UnsafeRawBufferPointer, netlinkProtocol: UInt16) {
        guard netlinkProtocol == NetlinkPseudoHeader.protocolGeneric else { return }
        if bytes.count >= Netlink.headerLength, let base = bytes.baseAddress,
            base.loadUnaligned(fromByteOffset: 4, as: UInt16.self) != Controller.familyID,
            Netlink.align(Int(base.loadUnaligned(as: UInt32.self))) >= bytes.count
        {
            return
        }
        learn(fromNetlink: bytes)
    }
}

/// Reads the file while it is replayed: one reader buffer, whatever the file's size.
public final class StreamingSource: RecordSource {
    public let path: String
    /// Records passed over unread (TraceReader.skipping); they still count in `recordNumber`.
    public let skipping: TraceReader.Skip?
    @exclusivity(unchecked) private var reader: TraceReader
    @exclusivity(unchecked) public private(set) var recordNumber = 0

    /// `path` "-" reads stdin (which cannot be rewound).
    public init(path: String, skipping: TraceReader.Skip? = nil) throws(TraceFileError) {
        self.path = path
        self.skipping = skipping
        reader = try Self.open(path, skipping)
    }

    static func open(_ path: String, _ skipping: TraceReader.Skip?) throws(TraceFileError) -> TraceReader {
        let r = path == "-" ? try TraceReader(fileDescriptor: 0, name: "<stdin>") : try TraceReader(path: path)
        r.skipping = skipping
        return r
    }

    public func next() throws(TraceFileError) -> TraceRecord? {
        guard let r = try reader.next() else { return nil }
        recordNumber = reader.recordCount + reader.skippedPackets
        return r
    }

    /// `next()` for the reading thread (TraceReader.nextFields: no TraceRecord built).
    @inline(__always)
    func nextFields() throws(TraceFileError) -> TraceReader.RecordFields? {
        guard var r = try reader.nextFields() else { return nil }
        r.number += reader.skippedPackets
        recordNumber = r.number
        return r
    }

    public var families: FamilyTable { reader.families }
    public var truncationNote: String? { reader.truncationNote }
    public var framesRead: Int { reader.frameNumber }
    public var name: String { reader.name }
    public var canRewind: Bool { path != "-" }

    public func rewind() throws(TraceFileError) {
        guard path != "-" else {
            throw TraceFileError(.invalidArgument, "stdin cannot be replayed more than once (--loop needs a file)")
        }
        reader = try Self.open(path, skipping)
        recordNumber = 0
    }
}

/// Every record in memory: the netlink bytes of all records in one array and a small index
/// entry per record, so handing a record out copies nothing and allocates nothing.
public final class PreloadedSource: RecordSource {
    public let name: String
    /// All netlink bytes, owned here; never moved once loading is done, so views into it stay
    /// valid for the source's life.
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var used = 0
    @exclusivity(unchecked) private var entries: [HeldRecord] = []
    @exclusivity(unchecked) private var position = 0
    /// Each held record's frame number (records a filter dropped leave gaps).
    @exclusivity(unchecked) private var frames: [Int] = []
    @exclusivity(unchecked) public private(set) var families = FamilyTable()
    public private(set) var truncationNote: String?
    public private(set) var framesRead = 0
    public var recordNumber: Int { position == 0 ? 0 : frames[position - 1] }
    /// The records held.
    public var count: Int { entries.count }
    /// Bytes of netlink data held.
    public var byteCount: Int { used }

    /// Reads the whole file now, keeping the records `filter` accepts (all without one).
    public convenience init(path: String, filter: ((TraceRecord) -> Bool)? = nil) throws(TraceFileError) {
        let s = try StreamingSource(path: path)
        try self.init(draining: s, filter: filter)
    }

    /// Reads `source` to its end.
    public init(draining source: RecordSource, filter: ((TraceRecord) -> Bool)? = nil) throws(TraceFileError) {
        name = source.name
        capacity = 1 << 20
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        do {
            while let r = try source.next() {
                if let filter, !filter(r) { continue }
                let n = r.netlink.count
                if used + n > capacity { grow(used + n) }
                if n > 0, let base = r.netlink.baseAddress { (storage + used).copyMemory(from: base, byteCount: n) }
                entries.append(
                    HeldRecord(
                        start: used, count: n, timestamp: r.timestamp, pairing: r.pairing,
                        leg: r.leg, direction: r.direction, synthetic: r.synthetic,
                        netlinkProtocol: r.netlinkProtocol))
                frames.append(source.recordNumber)
                used += n
            }
        } catch {
            storage.deallocate()
            throw error
        }
        truncationNote = source.truncationNote
        framesRead = source.framesRead
    }

    deinit { storage.deallocate() }

    private func grow(_ needed: Int) {
        var c = capacity
        while c < needed { c *= 2 }
        let s = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 16)
        s.copyMemory(from: storage, byteCount: used)
        storage.deallocate()
        storage = s
        capacity = c
    }

    public func next() throws(TraceFileError) -> TraceRecord? {
        guard position < entries.count else { return nil }
        let r = entries[position].record(in: storage)
        position += 1
        // As TraceReader does: the family table follows the records (NEWFAMILY may appear again).
        families.learn(from: r)
        return r
    }

    /// `next()` for the replay loop (see RecordView).
    @inline(__always)
    func nextView() -> RecordView? {
        guard position < entries.count else { return nil }
        let e = entries[position]
        position += 1
        let view = e.view(in: storage)
        families.learnIfController(view.netlink, netlinkProtocol: e.netlinkProtocol)
        return view
    }

    public var canRewind: Bool { true }

    public func rewind() throws(TraceFileError) {
        position = 0
        families = FamilyTable()
    }
}
