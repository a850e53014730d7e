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
        public var latency = Histogram<UInt64>(highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
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
    public var byCommand: [Key: CommandStats] = [:]
    public var errnos: [Int32: Int] = [:]
    /// Flows applied per table: SET_FLOWS adds, DEL_FLOWS removes (from ENCAP results).
    public var added: [UInt32: Int] = [:]
    public var removed: [UInt32: Int] = [:]

    var latencies = LatencyTracker()
    /// Tables of the flows of open SET/DEL calls on the hairpin leg, by ENCAP SEQ.
    var batchTables: [UInt64: (command: UInt8, tables: [UInt32])] = [:]

    public init() {}

    public mutating func add(_ record: TraceRecord, families: FamilyTable) {
        records += 1
        if firstTimestamp == nil { firstTimestamp = record.timestamp }
        lastTimestamp = record.timestamp
        if record.synthetic { synthetic += 1; return }
        let leg = families.leg(of: record)
        let s = SummaryDecoder.summarize(record.netlink, families: families)
        if s.kind == .malformed { malformed += 1; return }
        let answer = latencies.observe(s, leg: leg, timestamp: record.timestamp, recorded: record.pairing)
        // ACKs and errors name no command: they count under the call they answer.
        guard let cmd = s.apiCommand ?? answer?.command else {
            if s.kind == .error, let st = s.status { errnos[st, default: 0] += 1 }
            return
        }
        let key = Key(leg: leg, command: cmd)
        // Mutated in place through the dictionary: a copy taken out and stored back would
        // share the histogram's buckets and copy them on every record.
        let isStart = Pairing.isCallStart(s)
        let failed = s.status.map { $0 != 0 && (s.kind == .hairpin || s.kind == .error) } ?? false
        let final = answer != nil && Pairing.isFinal(s, leg: leg)
        withStats(key) { c in
            c.messages += 1
            if isStart { c.calls += 1 }
            if failed, let st = s.status { c.errors[st, default: 0] += 1 }
            if final, let answer { c.latency.record(answer.latency) }
        }
        if failed, let st = s.status { errnos[st, default: 0] += 1 }

        // Flow accounting from the hairpin leg: requests say which table each flow is in,
        // answers say which were applied.
        guard leg == .hairpin, cmd == NFL.Command.setFlows.rawValue || cmd == NFL.Command.delFlows.rawValue,
              let seq = s.encapSeq else { return }
        if s.status == nil {
            // Mutated in place: copying the entry out and back would copy its array each time.
            Self.appendFlowTables(record.netlink, to: &batchTables[seq, default: (cmd, [])].tables)
        } else if let entry = batchTables[seq] {
            for (index, errno) in Self.results(record.netlink) where errno == 0 && Int(index) < entry.tables.count {
                let t = entry.tables[Int(index)]
                if entry.command == NFL.Command.setFlows.rawValue { added[t, default: 0] += 1 } else { removed[t, default: 0] += 1 }
            }
            if !s.more { batchTables[seq] = nil }
        }
    }

    @inline(__always)
    mutating func withStats(_ key: Key, _ body: (inout CommandStats) -> Void) {
        body(&byCommand[key, default: CommandStats()])
    }

    /// Appends the table of each flow of an ENCAP request, in order.
    static func appendFlowTables(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt32]) {
        guard bytes.count > 20 else { return }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: bytes[20...]), baseOffset: 20)
        while let e = try? it.next() {
            guard e.type == NFLH.Attr.encap else { continue }
            var fields = e.nested()
            while let x = try? fields.next() {
                guard x.type == NFLH.EncapAttr.attr else { continue }
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
    }

    /// The (index, errno) results of an ENCAP answer.
    static func results(_ bytes: UnsafeRawBufferPointer) -> [(UInt32, UInt32)] {
        var out: [(UInt32, UInt32)] = []
        guard bytes.count > 20 else { return out }
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: bytes[20...]), baseOffset: 20)
        while let e = try? it.next() {
            guard e.type == NFLH.Attr.encap else { continue }
            var fields = e.nested()
            while let x = try? fields.next() {
                guard x.type == NFLH.EncapAttr.results else { continue }
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
        }
        return out
    }

    public var durationNanoseconds: UInt64 {
        guard let a = firstTimestamp, let b = lastTimestamp, b >= a else { return 0 }
        return b - a
    }
}
