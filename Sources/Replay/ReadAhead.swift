// Streaming with the reading on a thread of its own: a reader thread parses the file into
// fixed-size chunks (the records' bytes back to back and a small entry each) while the replay
// consumes the previous ones, so parsing pcapng overlaps with answering instead of adding to
// it. At most `depth` chunks exist at once, so memory stays flat whatever the file's size; a
// chunk is reused once consumed, so steady state allocates nothing.

import FlowTrace
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

public final class ReadAheadSource: RecordSource {
    /// Which records to hand on (the reader thread drops the others without copying them).
    public typealias Filter = (TraceRecord) -> Bool

    final class Chunk {
        struct Entry {
            var record: HeldRecord
            var number: Int
            /// Index into `families` of the table in force for this record.
            var families: Int
        }

        let capacity: Int
        let storage: UnsafeMutableRawPointer
        // Unchecked: a chunk belongs to one thread at a time (handed over under `mutex`).
        @exclusivity(unchecked) var used = 0
        @exclusivity(unchecked) var entries: [Entry] = []
        @exclusivity(unchecked) var families: [FamilyTable] = []

        init(capacity: Int) {
            self.capacity = capacity
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        }

        deinit { storage.deallocate() }

        func reset() {
            used = 0
            entries.removeAll(keepingCapacity: true)
            families.removeAll(keepingCapacity: true)
        }
    }

    /// What the two threads share, under `mutex`.
    final class Shared {
        let mutex = PosixMutex()
        let changed = PosixCondition()
        var full: [Chunk] = []
        var empty: [Chunk] = []
        var done = false
        var error: TraceFileError?
        var truncation: String?
        var frames = 0
        var stop = false

        func lock() { mutex.lock() }
        func unlock() { mutex.unlock() }
        func wait() { changed.wait(mutex) }
        func signal() { changed.broadcast() }
    }

    public let path: String
    public let name: String
    let filter: Filter?
    let skipping: TraceReader.Skip?
    let dropping: TraceReader.Skip?
    let chunkBytes: Int
    let depth: Int
    private var shared = Shared()
    private var thread: PosixThread?
    @exclusivity(unchecked) private var chunk: Chunk?
    @exclusivity(unchecked) private var index = 0
    @exclusivity(unchecked) public private(set) var recordNumber = 0
    @exclusivity(unchecked) public private(set) var families = FamilyTable()
    private var lastFamilies = -1
    public private(set) var truncationNote: String?
    /// The reading thread's count at the end of the file (0 before).
    private var framesAtEnd = 0
    public var framesRead: Int { max(framesAtEnd, recordNumber) }

    /// - Parameters:
    ///   - skipping: records the reader passes over before building them (cheaper than
    ///     `filter`, which still sees every record handed out); must drop nothing `filter` keeps.
    ///   - chunkBytes: bytes per chunk; a record larger than this gets a chunk of its own size.
    ///   - depth: chunks at most (filled, being filled, being read).
    public convenience init(
        path: String, filter: Filter? = nil, skipping: TraceReader.Skip? = nil,
        chunkBytes: Int = 1 << 20, depth: Int = 4
    ) throws(TraceFileError) {
        try self.init(
            path: path, filter: filter, skipping: skipping, dropping: nil, chunkBytes: chunkBytes, depth: depth)
    }

    /// Hands on every record but those `dropping` names: the reader passes over unread what it
    /// can (`skipping`) and the reading thread drops the rest (an nlctrl record, a block the reader
    /// reads in full) with the same test, so no closure and no TraceRecord per record.
    /// `dropping: Replayer.backendSkip` keeps exactly what `filter: Replayer.backendRecords` keeps.
    public convenience init(
        path: String, dropping: TraceReader.Skip,
        chunkBytes: Int = 1 << 20, depth: Int = 4
    ) throws(TraceFileError) {
        try self.init(
            path: path, filter: nil, skipping: dropping, dropping: dropping, chunkBytes: chunkBytes, depth: depth)
    }

    private init(
        path: String, filter: Filter?, skipping: TraceReader.Skip?, dropping: TraceReader.Skip?,
        chunkBytes: Int, depth: Int
    ) throws(TraceFileError) {
        self.path = path
        self.filter = filter
        self.skipping = skipping
        self.dropping = dropping
        self.chunkBytes = max(chunkBytes, 64 * 1024)
        self.depth = max(depth, 2)
        // Opened here, so a missing or foreign file fails at once and not on the first record.
        let reader = try StreamingSource(path: path, skipping: skipping)
        name = reader.name
        start(reader)
    }

    deinit { stopThread() }

    public var canRewind: Bool { path != "-" }

    public func rewind() throws(TraceFileError) {
        guard canRewind else {
            throw TraceFileError(.invalidArgument, "stdin cannot be replayed more than once (--loop needs a file)")
        }
        stopThread()
        shared = Shared()
        chunk = nil
        index = 0
        recordNumber = 0
        families = FamilyTable()
        lastFamilies = -1
        truncationNote = nil
        framesAtEnd = 0
        start(try StreamingSource(path: path, skipping: skipping))
    }

    // MARK: the consumer

    public func next() throws(TraceFileError) -> TraceRecord? {
        guard let (record, storage) = try advance() else { return nil }
        return record.record(in: storage)
    }

    /// `next()` for the replay loop (see RecordView).
    @inline(__always)
    func nextView() throws(TraceFileError) -> RecordView? {
        guard let (record, storage) = try advance() else { return nil }
        return record.view(in: storage)
    }

    /// Moves on to the next record (and its number and family table): the record and the
    /// storage of the chunk holding it, or nil at the end.
    @inline(__always)
    private func advance() throws(TraceFileError) -> (HeldRecord, UnsafeMutableRawPointer)? {
        while true {
            if let c = chunk, index < c.entries.count {
                let e = c.entries[index]
                index += 1
                recordNumber = e.number
                if e.families != lastFamilies {
                    families = c.families[e.families]
                    lastFamilies = e.families
                }
                return (e.record, c.storage)
            }
            guard try takeNextChunk() else { return nil }
        }
    }

    /// The current chunk is used up: gives it back and waits for the next. False at the end.
    private func takeNextChunk() throws(TraceFileError) -> Bool {
        // This chunk is used up: give it back and take the next.
        shared.lock()
        if let c = chunk {
            c.reset()
            shared.empty.append(c)
            chunk = nil
            shared.signal()
        }
        while shared.full.isEmpty && !shared.done { shared.wait() }
        if shared.full.isEmpty {
            let error = shared.error
            truncationNote = shared.truncation
            framesAtEnd = shared.frames
            shared.unlock()
            if let error { throw error }
            return false
        }
        chunk = shared.full.removeFirst()
        shared.unlock()
        index = 0
        lastFamilies = -1
        return true
    }

    // MARK: the reader thread

    private func start(_ reader: StreamingSource) {
        let s = shared
        for _ in 0..<depth { s.empty.append(Chunk(capacity: chunkBytes)) }
        let work = Work(reader: reader, shared: s, filter: filter, dropping: dropping, chunkBytes: chunkBytes)
        do throws(PosixError) {
            thread = try PosixThread { work.run() }
        } catch {
            guard case let .system(_, rc) = error else { return }
            s.lock()
            s.error = TraceFileError(.io(rc), "cannot start the reading thread", path: path)
            s.done = true
            s.unlock()
        }
    }

    private func stopThread() {
        guard let t = thread else { return }
        shared.lock()
        shared.stop = true
        shared.signal()
        shared.unlock()
        if path == "-" {
            // A pipe may never deliver another byte: the thread may sit in read(2) forever.
            // It owns what it uses and ends at its next look at `stop`; nobody waits for it.
            t.detach()
        } else {
            t.join()
        }
        thread = nil
    }

    /// The reader thread's side.
    final class Work {
        let reader: StreamingSource
        let shared: Shared
        let filter: Filter?
        let dropping: TraceReader.Skip?
        let chunkBytes: Int

        init(reader: StreamingSource, shared: Shared, filter: Filter?, dropping: TraceReader.Skip?, chunkBytes: Int) {
            self.reader = reader
            self.shared = shared
            self.filter = filter
            self.dropping = dropping
            self.chunkBytes = chunkBytes
        }

        /// An empty chunk (waits for the consumer to give one back), or nil when told to stop.
        func takeEmpty(atLeast bytes: Int) -> Chunk? {
            shared.lock()
            defer { shared.unlock() }
            while shared.empty.isEmpty && !shared.stop { shared.wait() }
            if shared.stop { return nil }
            let c = shared.empty.removeLast()
            // An outsized record gets a chunk of its own size; it replaces a regular one.
            return c.capacity >= bytes ? c : Chunk(capacity: bytes)
        }

        /// Hands a filled chunk over; false when told to stop.
        func hand(_ c: Chunk) -> Bool {
            shared.lock()
            defer { shared.unlock() }
            if shared.stop { return false }
            shared.full.append(c)
            shared.signal()
            return true
        }

        func finish(error: TraceFileError?) {
            shared.lock()
            shared.error = error
            shared.truncation = reader.truncationNote
            shared.frames = reader.framesRead
            shared.done = true
            shared.signal()
            shared.unlock()
        }

        func run() {
            if let filter { runFiltered(filter) } else { runFields() }
        }

        /// The chunk being filled and the family table it last recorded (valid when
        /// `haveFamilies`; a flag and not an Optional, which was copied on every record).
        struct Filling {
            var current: Chunk?
            var knownFamilies = FamilyTable()
            var haveFamilies = false
        }

        /// Copies one kept record into the current chunk, handing full chunks over; false when
        /// the consumer went away.
        @inline(__always)
        func add(
            _ f: inout Filling, netlink: UnsafeRawBufferPointer, timestamp: UInt64, pairing: UInt64?,
            leg: TraceLeg, direction: TraceDirection, synthetic: Bool, netlinkProtocol: UInt16
        ) -> Bool {
            let n = netlink.count
            if let c = f.current, c.used + n > c.capacity {
                guard hand(c) else { return false }
                f.current = nil
            }
            if f.current == nil {
                guard let c = takeEmpty(atLeast: max(n, chunkBytes)) else { return false }
                f.current = c
                f.haveFamilies = false
            }
            guard let c = f.current else { return false }
            // The table changes only with nlctrl records: compare it only then.
            let isController =
                n >= Netlink.headerLength
                && netlink.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == Controller.familyID
            if !f.haveFamilies || isController {
                let families = reader.families
                if !f.haveFamilies || f.knownFamilies != families {
                    c.families.append(families)
                    f.knownFamilies = families
                    f.haveFamilies = true
                }
            }
            if n > 0, let base = netlink.baseAddress { (c.storage + c.used).copyMemory(from: base, byteCount: n) }
            let record = HeldRecord(
                start: c.used, count: n, timestamp: timestamp, pairing: pairing, leg: leg,
                direction: direction, synthetic: synthetic, netlinkProtocol: netlinkProtocol)
            c.entries.append(Chunk.Entry(record: record, number: reader.recordNumber, families: c.families.count - 1))
            c.used += n
            return true
        }

        /// Hands the last chunk over and reports how the reading ended.
        func end(_ f: Filling, error: TraceFileError?) {
            if let c = f.current, !c.entries.isEmpty {
                guard hand(c) || error != nil else { return }
            }
            finish(error: error)
        }

        /// Without a closure: the reader's fields go straight into the chunk (no TraceRecord,
        /// no comment text, no call per record through a closure).
        func runFields() {
            var f = Filling()
            // Unwrapped once: an Optional's test per record copied (retained) its two sets.
            let drops = dropping != nil
            let drop = dropping ?? TraceReader.Skip(legs: [], messageTypes: [])
            do {
                while let r = try reader.nextFields() {
                    if drops && drop.skips(leg: r.leg, netlink: r.netlink) { continue }
                    guard
                        add(
                            &f, netlink: r.netlink, timestamp: r.timestamp, pairing: r.pairing, leg: r.leg,
                            direction: r.direction, synthetic: r.synthetic, netlinkProtocol: r.netlinkProtocol)
                    else { return }
                }
                end(f, error: nil)
            } catch {
                end(f, error: error)
            }
        }

        /// With a closure, which sees the whole TraceRecord (comment included).
        func runFiltered(_ filter: Filter) {
            var f = Filling()
            do {
                while let r = try reader.next() {
                    if !filter(r) { continue }
                    guard
                        add(
                            &f, netlink: r.netlink, timestamp: r.timestamp, pairing: r.pairing, leg: r.leg,
                            direction: r.direction, synthetic: r.synthetic, netlinkProtocol: r.netlinkProtocol)
                    else { return }
                }
                end(f, error: nil)
            } catch {
                end(f, error: error)
            }
        }
    }
}
