// `flowtrace stats`: counts per command, errors by errno, latency percentiles per command
// (HdrHistogram), flows added/removed per table, duration. One pass, constant memory apart
// from the open calls.

import Histogram
import LibFlowTable

public struct TraceStats {
    public struct CommandStats {
        public var messages = 0
        public var calls = 0
        public var errors: [Int32: Int] = [:]
        public var latency = Histogram<UInt64>(
            highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
    }

    public struct Key: Hashable, Comparable {
        public var leg: TraceLeg
        public var command: UInt8
        public static func < (a: Key, b: Key) -> Bool { (a.leg.rawValue, a.command) < (b.leg.rawValue, b.command) }
    }

    public var records = 0
    public var synthetic = 0
    public var malformed = 0
    public var firstTimestamp: UInt64?
    public var lastTimestamp: UInt64?
    public var errnos: [Int32: Int] = [:]

    /// Per (leg, command): an array indexed by leg and command byte pointing into `buckets`
    /// (hashing a Key per record is a visible share of `stats`).
    var bucketOf = [Int32](repeating: -1, count: 3 << 8)
    var buckets: [CommandStats] = []
    var bucketKeys: [Key] = []

    public var byCommand: [Key: CommandStats] {
        Dictionary(uniqueKeysWithValues: zip(bucketKeys, buckets))
    }

    /// Flows applied per table: SET_FLOWS adds, DEL_FLOWS removes (from ENCAP results).
    public var added: [UInt32: Int] { added_.dictionary }
    public var removed: [UInt32: Int] { removed_.dictionary }
    var added_ = TableCounts()
    var removed_ = TableCounts()

    /// Which call each message belongs to: its command, and the latency of its final answer.
    var calls = CallTracker()

    /// Per operation of the other families (and protocols).
    public internal(set) var familyOperations: [FamilyOperationKey: FamilyOperationCounts] = [:]
    /// Follow every request to its answer (`failedRequests`, `unansweredRequests`): off unless
    /// asked, as it keeps each open call.
    public var tracksFailures = false
    /// Requests of any family answered with an error, in the order of their errors.
    public internal(set) var failedRequests: [FailedRequest] = []
    var openRequests: [Int: FailedRequest] = [:]

    /// Count messages per process (`processes`), from the comments `flowtrace capture` writes:
    /// off unless asked, as it decodes every comment.
    public var tracksProcesses = false
    /// Called with each record of another family (an nlmon capture's devlink, rt-link, ...), in
    /// the same pass: what a caller decodes beyond the counts (stats' spec coverage).
    /// `frame`: the record's 1-based frame number, so that what is said of it names where.
    public var otherFamilyRecord:
        ((_ netlink: UnsafeRawBufferPointer, _ netlinkProtocol: UInt16, FamilyTable, _ frame: Int) -> Void)?
    /// Per process: its messages, requests and error answers.
    public internal(set) var processes: [NetlinkProcess: ProcessCounts] = [:]
    /// Requests that named no process (sent with nlmsg_pid 0), by call, until an answer of their
    /// call names it.
    var unnamedRequests: [Int: Int] = [:]
    /// What the call tracker said of the last record, kept only for `add(_:families:frame:)`
    /// to hand back (a copy per record is a visible share of the plain pass).
    var keepsEvent = false
    var lastEvent = CallEvent()
    /// With `lastEvent`: the record was a request; an answer carrying an error.
    var lastRequest = false
    var lastFailed = false

    /// Open SET/DEL calls on the hairpin leg, by ENCAP SEQ: which table each flow is in. A
    /// batch whose flows share one table (nearly all) is a count and the table; the others
    /// keep the list in `mixedTables`.
    struct Batch {
        var command: UInt8
        var count: Int
        var table: UInt32
        var mixed: Bool
    }
    var batches = FlatTable<Batch>(placeholder: Batch(command: 0, count: 0, table: 0, mixed: false))
    var mixedTables: [UInt64: [UInt32]] = [:]

    public init() {}

    /// Adds every record the reader has left.
    public mutating func add(contentsOf reader: TraceReader) throws(TraceFileError) {
        // Our own copy of the family table, refreshed only after a record that may have
        // changed it: fetching it from the reader per record cost retains and releases.
        var families = reader.families
        keepsEvent = tracksProcesses
        let frames = tracksFailures || tracksProcesses || otherFamilyRecord != nil
        while let r = try reader.nextCore() {
            if FamilyTable.mayTeach(r) { families = reader.families }
            add(r, families: families, frame: frames ? reader.frameNumber : 0, process: reader.recordProcessID)
            if tracksProcesses { countProcess(reader.recordProcess) }
        }
    }

    /// `frame`: the record's 1-based frame number, for `failedRequests` (0: its record count).
    /// Returns what the call tracker said of the record (nothing for a snapshot or malformed
    /// record).
    @discardableResult
    public mutating func add(_ record: TraceRecord, families: FamilyTable, frame: Int = 0) -> CallEvent {
        let process = record.comment.flatMap(NetlinkProcess.init(comment:))
        keepsEvent = true
        add(RecordCore(record), families: families, frame: frame, process: process?.pid)
        if tracksProcesses { countProcess(process) }
        return lastEvent
    }

    /// `process`: the pid the record's comment names.
    @inline(__always)
    mutating func add(_ record: RecordCore, families: FamilyTable, frame: Int = 0, process: Int32? = nil) {
        records += 1
        if firstTimestamp == nil { firstTimestamp = record.timestamp }
        lastTimestamp = record.timestamp
        if record.synthetic {
            synthetic += 1
            if keepsEvent { keep(CallEvent(), request: false, failed: false) }
            return
        }
        let recorded = families.leg(of: record)
        let s = SummaryDecoder.summarize(record.netlink, families: families, netlinkProtocol: record.netlinkProtocol)
        if s.kind == .malformed {
            malformed += 1
            if keepsEvent { keep(CallEvent(), request: s.isRequest, failed: false) }
            return
        }
        let e = calls.observe(
            s, families: families, timestamp: record.timestamp, frame: frame > 0 ? frame : records, process: process)
        if keepsEvent { keep(e, request: s.isRequest, failed: (s.status ?? 0) != 0 && s.isAnswer) }
        if tracksFailures {
            trackFailure(s, e, netlink: record.netlink, families: families, frame: frame > 0 ? frame : records)
        }
        if s.kind == .other || e.role.rawValue >= CallRole.familyRequest.rawValue {
            countFamily(s, e, netlink: record.netlink, families: families)
            otherFamilyRecord?(record.netlink, record.netlinkProtocol, families, frame > 0 ? frame : records)
        }
        // An ACK or error without a recorded leg (nlmon) travelled the leg of the message it echoes.
        let leg = recorded != .unknown ? recorded : e.leg
        let status = s.status
        // ACKs and errors name no command: they count under their call's, wherever they came
        // from (the listener, the twin or module answering itself, a fault, a timeout).
        guard let cmd = e.command != 0xff ? e.command : s.apiCommand else {
            if s.kind == .error, let st = status { errnos[st, default: 0] += 1 }
            return
        }
        let failed = status.map { $0 != 0 && (s.kind == .hairpin || s.kind == .error) } ?? false
        let b = bucket(leg, cmd)
        // Mutated in place through the array: a copy taken out and stored back would share
        // the histogram's buckets and copy them on every record.
        buckets[b].messages += 1
        if e.role == .apiRequest || (e.role == .encapRequest && (s.part ?? 0) == 0) { buckets[b].calls += 1 }
        if failed, let st = status {
            buckets[b].errors[st, default: 0] += 1
            errnos[st, default: 0] += 1
        }
        if e.final, let latency = e.latency { buckets[b].latency.record(latency) }

        // Flow accounting from the hairpin leg: requests say which table each flow is in,
        // answers say which were applied.
        guard leg == .hairpin, cmd == NFL.Command.setFlows.rawValue || cmd == NFL.Command.delFlows.rawValue,
            let seq = s.encapSeq
        else { return }
        // The summary describes the record's first message; the record-wide walks below are
        // the reference, used whenever the record is more than that one message.
        let single = Int(record.netlink.loadUnaligned(as: UInt32.self)) == record.netlink.count
        if status == nil {
            var slot = batches.find(seq)
            if slot < 0 { slot = batches.set(seq, Batch(command: cmd, count: 0, table: 0, mixed: false)) }
            let batch = batches.value(at: slot)
            let uniform =
                single && !s.flowsIrregular && !s.flowTablesMixed && !batch.mixed
                && (s.flowCount == 0 || batch.count == 0 || batch.table == s.flowTable)
            if uniform {
                let n = s.flowCount, table = s.flowTable
                if n > 0 {
                    batches.update(slot: slot) { b in
                        if b.count == 0 { b.table = table }
                        b.count += n
                    }
                }
            } else {
                var tables = batch.mixed ? mixedTables[seq] ?? [] : Array(repeating: batch.table, count: batch.count)
                Self.appendFlowTables(record.netlink, to: &tables)
                mixedTables[seq] = tables
                batches.update(slot: slot) { $0.mixed = true }
            }
        } else {
            let slot = batches.find(seq)
            guard slot >= 0 else { return }
            let batch = batches.value(at: slot)
            if batch.mixed {
                let tables = mixedTables[seq] ?? []
                for (index, errno) in Self.results(record.netlink) where errno == 0 && Int(index) < tables.count {
                    countApplied(batch.command, table: tables[Int(index)], 1)
                }
            } else if single && (s.okResults == 0 || Int(s.okResultMaxIndex) < batch.count) {
                if s.okResults > 0 { countApplied(batch.command, table: batch.table, s.okResults) }
            } else {
                for (index, errno) in Self.results(record.netlink) where errno == 0 && Int(index) < batch.count {
                    countApplied(batch.command, table: batch.table, 1)
                }
            }
            if !s.more {
                batches.remove(slot: slot)
                if batch.mixed { mixedTables[seq] = nil }
            }
        }
    }

    @inline(never)
    mutating func keep(_ e: CallEvent, request: Bool, failed: Bool) {
        lastEvent = e
        lastRequest = request
        lastFailed = failed
    }

    @inline(__always)
    mutating func bucket(_ leg: TraceLeg, _ command: UInt8) -> Int {
        let i = Int(leg.rawValue) << 8 | Int(command)
        let b = bucketOf[i]
        if b >= 0 { return Int(b) }
        buckets.append(CommandStats())
        bucketKeys.append(Key(leg: leg, command: command))
        bucketOf[i] = Int32(buckets.count - 1)
        return buckets.count - 1
    }

    @inline(__always)
    mutating func countApplied(_ command: UInt8, table: UInt32, _ n: Int) {
        if command == NFL.Command.setFlows.rawValue { added_.add(table, n) } else { removed_.add(table, n) }
    }

    /// Counts per table: an array for the small table ids every model uses, a dictionary for
    /// the rest.
    struct TableCounts {
        var small: [Int] = []
        var large: [UInt32: Int] = [:]

        @inline(__always)
        mutating func add(_ table: UInt32, _ n: Int) {
            if table < 1024 {
                let t = Int(table)
                if t >= small.count { small.append(contentsOf: repeatElement(0, count: t + 1 - small.count)) }
                small[t] += n
            } else {
                large[table, default: 0] += n
            }
        }

        var dictionary: [UInt32: Int] {
            var d = large
            for (t, n) in small.enumerated() where n > 0 { d[UInt32(t)] = n }
            return d
        }
    }

    /// Appends the table of each flow of an ENCAP request, in order.
    static func appendFlowTables(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt32]) {
        guard bytes.count > 20 else { return }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: bytes[20...]), baseOffset: 20)
        while let e = try? it.next() {
            guard e.type == NFLH.Attr.encap, let x = (try? EncapHeader(e))?.attributes else { continue }
            var top = x.nested()
            while let t = try? top.next() {
                guard t.type == NFL.Attr.flows else { continue }
                var flows = t.nested()
                while let f = try? flows.next() {
                    var attrs = f.nested()
                    var table: UInt32 = 0
                    while let a = try? attrs.next() {
                        if a.type == NFL.FlowAttr.table, let v = try? a.u32() { table = v }
                    }
                    out.append(table)
                }
            }
        }
    }

    /// The (index, errno) results of an ENCAP answer.
    static func results(_ bytes: UnsafeRawBufferPointer) -> [(UInt32, UInt32)] {
        var out: [(UInt32, UInt32)] = []
        guard bytes.count > 20 else { return out }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: bytes[20...]), baseOffset: 20)
        while let e = try? it.next() {
            guard e.type == NFLH.Attr.encap, let x = (try? EncapHeader(e))?.results else { continue }
            var list = x.nested()
            while let r = try? list.next() {
                var index: UInt32 = 0, errno: UInt32 = 0
                var attrs = r.nested()
                while let a = try? attrs.next() {
                    if a.type == NFLH.ResultAttr.index { index = (try? a.u32()) ?? 0 }
                    if a.type == NFLH.ResultAttr.errno { errno = (try? a.u32()) ?? 0 }
                }
                out.append((index, errno))
            }
        }
        return out
    }

    public var durationNanoseconds: UInt64 {
        guard let a = firstTimestamp, let b = lastTimestamp, b >= a else { return 0 }
        return b - a
    }
}
