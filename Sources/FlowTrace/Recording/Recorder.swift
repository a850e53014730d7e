// The recorder: every message the twin or the daemon sends or receives becomes one pcapng
// record. Thread-safe (the twin and the listener run on their own threads). Every file, rotated
// ones included, starts with NEWFAMILY records for the families and a snapshot of the devices'
// state, so one file is a complete bug report (spec/trace-format.md).
//
// The NDO path's share is small on purpose: `record` takes the timestamp, then, under an
// uncontended lock, lays the Enhanced Packet Block out in place (the same function as
// PcapngWriter.append, so the bytes are identical) in the half of a double buffer being filled.
// A full half is handed to the flusher thread, which writes it with one write(2) while the
// other half fills; the NDO thread never waits for the disk unless both halves are full (then
// it waits for the write to finish rather than drop a record). Each half holds at most half
// the flush policy's records and bytes, so a kill -9 loses no more than the policy says
// (default 256 records / 64 KiB). The time bound is the flusher's: a half whose first record
// is `maxDelayNanoseconds` old is written even when not full.

import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

public final class Recorder: @unchecked Sendable {
    /// Interface ids in the files: the hairpin leg always, the API leg when recorded.
    public static let hairpinInterface: UInt32 = 0
    public static let apiInterface: UInt32 = 1
    /// Every other family and protocol of an nlmon capture, when recorded (after the API leg).
    public static let otherInterface: UInt32 = 2

    /// Messages (whole netlink messages, encoded) that rebuild the devices' state: synthetic
    /// discovery and GET_FLOWS exchanges. Called at the start of every file, with the
    /// daemon's state held still by the caller.
    public typealias SnapshotProvider = () -> [(direction: TraceDirection, bytes: [UInt8])]

    let writer: PcapngWriter
    let families: [Controller.Family]
    // Every mutable field below is touched only with `lock` held (the lock and the condition
    // variables themselves being what serialises), except the writer and the half in flight,
    // which belong to the flusher while `inFlight` is set and to a lock holder otherwise.
    // The runtime's exclusivity checks would add nothing but cost on the NDO path.
    let lock = PosixMutex()
    /// Signalled when a half is handed over (and on close): wakes the flusher.
    let work = PosixCondition()
    /// Signalled when the flusher is done with a half: wakes a producer waiting for room.
    let done = PosixCondition()
    @exclusivity(unchecked) public private(set) var recordsWritten = 0
    @exclusivity(unchecked) public private(set) var lastError: String?
    @exclusivity(unchecked) var flusher: pthread_t?
    @exclusivity(unchecked) var stopping = false
    @exclusivity(unchecked) var closed = false
    /// The flusher takes handed-over halves; false before it starts, once `close` has joined
    /// it, and with a synchronous policy: then halves are written on the recording thread.
    @exclusivity(unchecked) var flusherRunning = false

    /// The double buffer: `halves[filling]` takes records; the other is empty or, while
    /// `inFlight`, being written by the flusher.
    /// Two `Half`s, reached in place through the pointer (no copies, no access checks).
    let halves: UnsafeMutablePointer<Half>
    @exclusivity(unchecked) var filling = 0
    @exclusivity(unchecked) var inFlight = false
    /// A half waits in `halves[1 - filling]` for the flusher (handed over, not yet taken).
    @exclusivity(unchecked) var handedOver = false
    @exclusivity(unchecked) var flusherWaiting = false
    /// Monotonic time of the first record in the filling half (the flush deadline's start).
    @exclusivity(unchecked) var fillingSince: UInt64 = 0
    /// The current file's size and captured records in record order, every record laid out in
    /// a half counted at once: rotation is decided on these, under the lock, never on the
    /// writer's own counts, which the flusher updates outside the lock.
    @exclusivity(unchecked) var fileBytes: UInt64 = 0
    @exclusivity(unchecked) var fileRecords = 0
    /// Records per half, bytes per half before a handover, and the time bound.
    let halfRecords: Int
    let halfBytes: Int
    let maxDelay: UInt64
    /// `PcapngFlushPolicy.immediate` and the like: every record goes to write(2) before
    /// `record` returns, on the caller's thread.
    let synchronous: Bool
    let hasRotation: Bool
    let interfaceCount: Int

    /// One half of the double buffer: whole EPBs, laid out as they go to the file.
    struct Half {
        var base: UnsafeMutableRawPointer
        var capacity: Int
        var used = 0
        var records = 0

        init(capacity: Int) {
            self.capacity = capacity
            base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        }

        /// Room for one block larger than the whole half (only ever grown while empty).
        mutating func grow(to n: Int) {
            base.deallocate()
            capacity = align4(n)
            base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        }
    }

    /// - Parameters:
    ///   - families: the family ids used in this session (NEWFAMILY records in every file).
    ///   - recordsAPI: whether the API leg is recorded too (the twin sees both legs).
    ///   - recordsOther: whether messages of other families and protocols are recorded too (an
    ///     nlmon capture of every family), on a third interface; needs `recordsAPI`.
    public init(
        path: String, families: [Controller.Family], recordsAPI: Bool, recordsOther: Bool = false,
        sessionComment: String,
        rotation: PcapngRotation? = nil, flush: PcapngFlushPolicy = .default,
        snapshot: SnapshotProvider? = nil
    ) throws {
        self.families = families
        var interfaces = [
            PcapngInterfaceInfo(name: "hairpin", description: "nfl_hairpin: unft <-> flow-table-hairpind")
        ]
        if recordsAPI {
            interfaces.append(PcapngInterfaceInfo(name: "api", description: "net_flow_nl: application <-> unft"))
            if recordsOther {
                interfaces.append(
                    PcapngInterfaceInfo(name: "netlink", description: "every other netlink family and protocol (nlmon)")
                )
            }
        }
        let fams = families
        writer = try PcapngWriter(
            path: path,
            section: .thisHost(comment: sessionComment),
            interfaces: interfaces, flush: flush, rotation: rotation,
            preamble: { w in
                try Recorder.writePreamble(
                    w, families: fams, snapshot: snapshot?() ?? [], timestamp: PcapngWriter.now())
            })
        halfRecords = max(1, flush.maxRecords / 2)
        halfBytes = max(1, flush.maxBytes / 2)
        maxDelay = flush.maxDelayNanoseconds
        synchronous = flush.maxRecords < 2 || flush.maxDelayNanoseconds == 0
        hasRotation = rotation != nil
        interfaceCount = interfaces.count
        // A half holds its share of the bytes plus one typical block past it; a larger block
        // grows the half it lands in.
        let halfCapacity = max(4096, halfBytes + 4096)
        halves = UnsafeMutablePointer<Half>.allocate(capacity: 2)
        halves.initialize(to: Half(capacity: halfCapacity))
        (halves + 1).initialize(to: Half(capacity: synchronous ? 16 : halfCapacity))
        fileBytes = writer.currentFileBytes
        startFlusher()
    }

    /// Records one message. Never throws into the caller's NDO path: a write error is kept in
    /// `lastError` (and the writer keeps the unwritten bytes to retry on the next write).
    /// `timestamp` is taken here, at the hook, before any wait for the lock.
    /// A record of `leg` .unknown goes to the other families' interface when the file has one.
    /// `synthetic`: written by the capture rather than seen (a NEWFAMILY asked from nlctrl).
    public func record(
        leg: TraceLeg, direction: TraceDirection, bytes: UnsafeRawBufferPointer,
        pairing: UInt64? = nil, timestamp: UInt64 = PcapngWriter.now(), comment: String? = nil,
        netlinkProtocol: UInt16 = NetlinkPseudoHeader.protocolGeneric, synthetic: Bool = false
    ) {
        let iface =
            leg == .api
            ? Recorder.apiInterface
            : leg == .unknown && interfaceCount > Int(Recorder.otherInterface)
                ? Recorder.otherInterface : Recorder.hairpinInterface
        let commentLength = comment?.utf8.count ?? 0
        let hasMeta = leg != .unknown || pairing != nil || synthetic  // as PcapngWriter.append decides
        lock.lock()
        defer { lock.unlock() }
        let total: Int
        do {
            guard !closed else { throw TraceFileError(.invalidArgument, "record after close", path: writer.path) }
            guard Int(iface) < interfaceCount else {
                throw TraceFileError(.invalidArgument, "the api leg is not recorded in this file", path: writer.path)
            }
            total = try PcapngWriter.packetBlockLength(
                netlinkCount: bytes.count, direction: direction, hasMeta: hasMeta,
                comment: comment, commentLength: commentLength,
                path: self.writer.path)
            if hasRotation { try rotateIfNeeded(adding: total) }
        } catch {
            lastError = "\(error)"
            return
        }
        var half = halves + filling
        // handOver may wait (lock released) while another thread records: look again after it.
        while half.pointee.used > 0
            && (half.pointee.records >= halfRecords || half.pointee.used + total > halfBytes)
        {
            handOver()
            half = halves + filling
        }
        // The half is empty or has room below halfBytes, which its capacity exceeds: a grow
        // only ever happens to an empty half.
        if total > half.pointee.capacity - half.pointee.used { half.pointee.grow(to: total) }
        if half.pointee.records == 0 { fillingSince = MonotonicClock.now() }
        PcapngWriter.formatPacketBlock(
            at: half.pointee.base + half.pointee.used, total: total, interface: iface,
            timestamp: timestamp, leg: leg, direction: direction, pairing: pairing,
            synthetic: synthetic, hasMeta: hasMeta,
            netlinkProtocol: netlinkProtocol,
            netlink: bytes, comment: comment, commentLength: commentLength)
        half.pointee.used += total
        half.pointee.records += 1
        recordsWritten += 1
        fileBytes += UInt64(total)
        fileRecords += 1
        if synchronous {
            writeFillingNow()
        } else if half.pointee.records >= halfRecords || half.pointee.used >= halfBytes, !inFlight, !handedOver {
            // Full: hand it over now, while the flusher is idle, rather than at the next record.
            handOver()
        }
    }

    /// Writes the preamble a trace file starts with: a NEWFAMILY for each family, then the
    /// state snapshot, all synthetic records on the hairpin interface at `timestamp`.
    public static func writePreamble(
        _ w: PcapngWriter, families: [Controller.Family],
        snapshot: [(direction: TraceDirection, bytes: [UInt8])], timestamp: UInt64
    ) throws {
        var nl = NetlinkWriter(capacity: 512)
        for f in families {
            nl.reset()
            Controller.newFamily(f, sequence: 0, port: 0, into: &nl)
            try nl.withUnsafeBytes { raw in
                try w.append(
                    TraceRecord(
                        timestamp: timestamp, leg: .hairpin, direction: .toUser, interface: hairpinInterface,
                        netlink: raw, synthetic: true, comment: "family \(f.name) is id \(f.id)"))
            }
        }
        for m in snapshot {
            try m.bytes.withUnsafeBytes { raw in
                try w.append(
                    TraceRecord(
                        timestamp: timestamp, leg: .hairpin, direction: m.direction,
                        interface: hairpinInterface, netlink: raw, synthetic: true))
            }
        }
    }

    /// Names a family met during a capture: its NEWFAMILY (in the kernel's layout, as the
    /// preamble's), synthetic, on the other families' interface, so a reader learns the id
    /// before the family's first message.
    public func recordFamily(_ f: Controller.Family, timestamp: UInt64 = PcapngWriter.now()) {
        var w = NetlinkWriter(capacity: 512)
        Controller.newFamily(f, sequence: 0, port: 0, into: &w)
        w.withUnsafeBytes { raw in
            record(
                leg: .unknown, direction: .toUser, bytes: raw, timestamp: timestamp,
                comment: "family \(f.name) is id \(f.id)", synthetic: true)
        }
    }

    @inline(__always)
    private func takeFilling() -> Half { halves[filling] }

    /// Hands the filling half to the flusher and switches to the other, first waiting (lock
    /// held) for the flusher to finish the other one if it is still being written: a full
    /// buffer blocks the producer, it never drops. Called with the lock held.
    private func handOver() {
        guard flusherRunning else {
            writeFillingNow()
            return
        }
        waitForTheOtherHalf()
        let h = takeFilling()
        guard h.records > 0 else { return }
        handedOver = true
        filling = 1 - filling
        if flusherWaiting { work.signal() }
    }

    /// Writes the filling half on this thread (lock held), once the flusher is done: for
    /// `flush()`, `close()`, rotation and the synchronous policy.
    private func writeFillingNow() {
        waitForTheOtherHalf()
        writeFillingHalf()
    }

    /// Returns (lock held) once the other half is empty. A half handed over but not yet taken
    /// is written here, on this thread, rather than waited for: on a loaded machine the
    /// flusher may not be scheduled for milliseconds, and the recording thread must not wait
    /// on that (it then pays one write(2), as a synchronous writer would). A half the flusher
    /// is writing is waited for: its write(2) is already under way.
    private func waitForTheOtherHalf() {
        while inFlight || handedOver {
            if handedOver && !inFlight {
                handedOver = false
                filling = 1 - filling
                writeFillingHalf()
                filling = 1 - filling
            } else {
                done.wait(lock)
            }
        }
    }

    private func writeFillingHalf() {
        let h = halves + filling
        guard h.pointee.records > 0 else { return }
        do {
            try writer.appendBlocks(h.pointee.base, count: h.pointee.used, records: h.pointee.records)
        } catch {
            lastError = "\(error)"
        }
        h.pointee.used = 0
        h.pointee.records = 0
    }

    /// Rotation is decided here, in record order, on the recording thread (as PcapngWriter.append
    /// decides it): the new file's snapshot must be the state between the last record of the old
    /// file and the first of the new one, so everything pending goes to the old file first.
    private func rotateIfNeeded(adding total: Int) throws {
        guard let rotation = writer.rotation,
            rotation.needsNewFile(fileBytes: fileBytes, records: fileRecords, adding: total)
        else { return }
        writeFillingNow()
        // The flusher is idle now (nothing handed over, the lock held): the writer's count of
        // the new file's headers and preamble can be read.
        defer {
            fileBytes = writer.currentFileBytes
            fileRecords = 0
        }
        try writer.rotateNow()
    }

    /// Writes what is buffered (the flusher also does, within the policy's time bound).
    public func flush() {
        lock.lock()
        defer { lock.unlock() }
        writeFillingNow()
        do { try writer.flush() } catch { lastError = "\(error)" }
    }

    /// Finishes the file. Idempotent.
    public func close() {
        lock.lock()
        let wasStopping = stopping
        stopping = true
        work.signal()
        lock.unlock()
        if wasStopping { return }
        if let flusher { pthread_join(flusher, nil) }
        lock.lock()
        defer { lock.unlock() }
        flusherRunning = false
        writeFillingNow()
        closed = true
        do { try writer.close() } catch { lastError = "\(error)" }
    }

    public var path: String { writer.path }

    deinit {
        close()
        halves[0].base.deallocate()
        halves[1].base.deallocate()
        halves.deinitialize(count: 2)
        halves.deallocate()
    }

    /// The flusher: writes each half handed over, and a half whose first record has waited the
    /// policy's delay. It writes outside the lock, so recording goes on meanwhile.
    func startFlusher() {
        guard !synchronous else { return }
        let box = Unmanaged.passUnretained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { arg in
                guard let arg else { return nil }
                Unmanaged<Recorder>.fromOpaque(arg).takeUnretainedValue().flusherLoop()
                return nil
            }, box)
        if rc == 0 {
            flusher = thread
            flusherRunning = !synchronous
        }
    }

    private func flusherLoop() {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if handedOver {
                handedOver = false
                inFlight = true
                let h = halves[1 - filling]
                lock.unlock()
                var failure: String?
                do { try writer.appendBlocks(h.base, count: h.used, records: h.records) } catch { failure = "\(error)" }
                lock.lock()
                if let failure { lastError = failure }
                halves[1 - filling].used = 0
                halves[1 - filling].records = 0
                inFlight = false
                done.broadcast()
                continue
            }
            if stopping { return }
            let h = takeFilling()
            let now = MonotonicClock.now()
            if h.records > 0 && now &- fillingSince >= maxDelay && !synchronous {
                handOver()  // the other half is free here: nothing in flight
                continue
            }
            // Sleep until the filling half's deadline (or half the delay when it is empty);
            // a handover or close wakes us earlier.
            let wait = h.records > 0 ? maxDelay &- (now &- fillingSince) : max(maxDelay / 2, 1_000_000)
            let deadline = now &+ min(wait, 1_000_000_000)
            flusherWaiting = true
            work.wait(lock, until: deadline)
            flusherWaiting = false
        }
    }
}
