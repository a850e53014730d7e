// `flowtrace diff A B`: two traces of the same workload, message by message after the replay's
// normalisation — "this version answers differently". Each leg is compared on its own (the
// order of messages across the two legs depends on thread timing; within one leg it does not),
// each side read by its own streaming reader, so memory stays flat whatever the sizes.
// nlctrl messages (family look-ups, NEWFAMILY) are left out: family ids are normalised anyway.

import FlowTrace
import LibFlowTable

public struct DiffReport {
    public var a: String
    public var b: String
    /// Messages compared per leg.
    public var compared: [TraceLeg: Int] = [:]
    /// Positions that differ (extra messages on one side included).
    public var divergent = 0
    public var onlyInA = 0
    public var onlyInB = 0
    public var first: Divergence?
    public var later: [DivergenceSummary] = []
    public var notes: [String] = []
    /// The traces that end inside a block, with where (the tool then exits 2, as tshark).
    public var truncations: [String] = []

    public var identical: Bool { divergent == 0 }

    public func text() -> String {
        let legs = [TraceLeg.hairpin, .api, .unknown].compactMap { l in compared[l].map { "\($0) \(l)" } }
        var out = [
            "diff \(a) \(b): \(legs.joined(separator: ", ")) messages compared, \(divergent) differ"
                + (onlyInA + onlyInB > 0 ? " (\(onlyInA) only in A, \(onlyInB) only in B)" : "")
        ]
        for n in notes { out.append("  note: \(n)") }
        if let first {
            out.append("")
            out.append(first.text(leftTitle: "A: " + a, rightTitle: "B: " + b))
            if divergent > 1 {
                out.append("")
                out.append(
                    "\(divergent) differing messages in all\(later.count < divergent - 1 ? " (the first \(later.count + 1) listed)" : ""):"
                )
                out.append("  " + first.title + ": " + first.reason)
                for d in later { out.append("  \(d.command): \(d.reason)") }
            }
        }
        return out.joined(separator: "\n")
    }

    public func json() -> JSONValue {
        var o: [JSONMember] = [
            JSONMember("a", .string(a)), JSONMember("b", .string(b)),
            JSONMember(
                "compared",
                .object(
                    [TraceLeg.hairpin, .api, .unknown].compactMap { l in
                        compared[l].map { JSONMember(l.description, .number(UInt64($0))) }
                    })),
            JSONMember("divergent", .number(UInt64(divergent))),
            JSONMember("only_in_a", .number(UInt64(onlyInA))),
            JSONMember("only_in_b", .number(UInt64(onlyInB))),
            JSONMember("identical", .bool(identical)),
        ]
        if let first { o.append(JSONMember("first_divergence", first.json())) }
        o.append(JSONMember("divergences", .array(later.map(\.json))))
        o.append(JSONMember("notes", .array(notes.map(JSONValue.string))))
        return .object(o)
    }
}

public enum TraceDiff {
    /// `legs`: the legs compared (all by default; a kernel-mode recording of flow-table-hairpind
    /// holds the hairpin leg only, so it is compared with a twin's recording on that leg).
    /// `wireOnly`: leave out synthetic records (NEWFAMILY and state-snapshot preambles).
    public static func compare(
        _ a: String, _ b: String, legs: [TraceLeg] = [.hairpin, .api, .unknown],
        wireOnly: Bool = false, listed: Int = 100
    ) throws(ReplayError) -> DiffReport {
        var report = DiffReport(a: a, b: b)
        for leg in legs {
            let left: LegMessages, right: LegMessages
            do {
                left = try LegMessages(path: a, leg: leg, wireOnly: wireOnly)
                right = try LegMessages(path: b, leg: leg, wireOnly: wireOnly)
            } catch {
                throw .trace(error)
            }
            var n = 0
            while true {
                let x: LegMessages.Item?, y: LegMessages.Item?
                do {
                    x = try left.next()
                    y = try right.next()
                } catch {
                    throw .trace(error)
                }
                if x == nil && y == nil { break }
                n += 1
                if let x, let y, x.bytes == y.bytes && x.direction == y.direction { continue }
                if x == nil { report.onlyInB += 1 }
                if y == nil { report.onlyInA += 1 }
                let reason: String
                switch (x, y) {
                case let (x?, y?):
                    reason = x.direction != y.direction ? "directions differ" : APIReplayer.reason(x.bytes, y.bytes)
                case (nil, _): reason = "only in B (A's \(leg) leg ends first)"
                default: reason = "only in A (B's \(leg) leg ends first)"
                }
                let subject = (x ?? y).map { describeMessage($0.bytes) } ?? "?"
                var label = "\(leg) leg message \(n): \(subject)"
                label +=
                    " (A frame \(x.map { String($0.record) } ?? "-"), B frame \(y.map { String($0.record) } ?? "-"))"
                var d = Divergence(
                    call: n, frame: x?.record ?? y?.record ?? 0, timestamp: x?.timestamp ?? y?.timestamp ?? 0,
                    leg: leg, command: label, ifindex: nil, sequence: nil, message: 0, reason: reason,
                    recorded: x.map { [$0.bytes] } ?? [], replayed: y.map { [$0.bytes] } ?? [])
                d.label = label
                report.divergent += 1
                if report.first == nil {
                    report.first = d
                } else if report.later.count < listed {
                    report.later.append(DivergenceSummary(d))
                }
            }
            if n > 0 || leg != .unknown { report.compared[leg] = n }
            for (name, t) in [(a, left.truncation), (b, right.truncation)] {
                if let t, leg == legs.first {
                    report.notes.append("\(name) ends inside a block: \(t)")
                    report.truncations.append("\(TraceInput.displayName(name)): \(t)")
                }
            }
        }
        return report
    }
}

/// One leg's messages of a trace, normalised, nlctrl left out.
final class LegMessages {
    struct Item {
        var bytes: [UInt8]
        var direction: TraceDirection
        var record: Int
        var timestamp: UInt64
    }

    let source: StreamingSource
    let leg: TraceLeg
    var queue: [Item] = []
    var head = 0
    var normalizer = Normalizer(flowTableID: nil, hairpinID: nil)
    var known: (UInt16?, UInt16?) = (nil, nil)

    let wireOnly: Bool

    init(path: String, leg: TraceLeg, wireOnly: Bool = false) throws(TraceFileError) {
        source = try StreamingSource(path: path)
        self.leg = leg
        self.wireOnly = wireOnly
    }

    var truncation: String? { source.truncationNote }

    func next() throws(TraceFileError) -> Item? {
        while head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
            guard let r = try source.next() else { return nil }
            let families = source.families
            if known != (families.flowTableID, families.hairpinID) {
                known = (families.flowTableID, families.hairpinID)
                normalizer = Normalizer(families: families)
            }
            guard families.leg(of: r) == leg, !(wireOnly && r.synthetic) else { continue }
            for m in Messages(r.netlink) {
                guard let h = NetlinkHeader(peeking: m), h.type != Controller.familyID else { continue }
                queue.append(
                    Item(
                        bytes: normalizer.normalized(m), direction: r.direction, record: source.recordNumber,
                        timestamp: r.timestamp))
            }
        }
        defer { head += 1 }
        return queue[head]
    }
}
