// Splitting calls that do not fit one netlink message into parts, and putting them back
// together (spec/two-leg-contract.md, "Parts"). A nest holds at most 65535 bytes, so a batch of
// thousands of flows, or a GET_FLOWS answer for a big table, travels as several ENCAPs with the
// same SEQ, PART 0…n and MORE on all but the last.

package enum Parts {
    /// Payload bytes per part, leaving room for headers under the 64 KiB nest limit.
    package static let defaultBudget = 60 * 1024

    /// Cuts `flows` into consecutive ranges whose encoded size stays within `budget` bytes each
    /// (PartCutter's rule). A single flow larger than the budget gets a range of its own (its
    /// encoding then fails loudly with `nestTooLarge` rather than being dropped).
    package static func ranges(of flows: [Flow], budget: Int = defaultBudget) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var scratch = NetlinkWriter(capacity: 1024)
        var cutter = PartCutter(budget: budget)
        var start = 0
        for (i, f) in flows.enumerated() {
            scratch.reset()
            try? FlowTableCodec.encode(f, into: &scratch)
            if cutter.add(scratch.count) {
                ranges.append(start..<i)
                start = i
            }
        }
        if start < flows.count || ranges.isEmpty { ranges.append(start..<flows.count) }
        return ranges
    }
}

/// The one rule that cuts a batch into parts, the kernel module's (unft_part_end, whose
/// constants ynl-gen writes): an element goes into the current part unless it would take the
/// part past `budget` bytes and the part holds an element already. Fed each FLOW element's
/// padded size in order, by the model (`Parts.ranges`) and by the twin over the request's
/// bytes (TwinVerbatim).
package struct PartCutter {
    @usableFromInline let budget: Int
    /// Bytes and elements in the current part.
    @usableFromInline var size = 0
    @usableFromInline var count = 0

    @inlinable
    package init(budget: Int = Parts.defaultBudget) { self.budget = budget }

    /// Whether the current part holds any element (the last part, once all are added).
    @inlinable
    package var partHasElements: Bool { count > 0 }

    /// Adds the next element, `bytes` long. True when it opens a new part: the elements added
    /// before it make a finished part.
    @inlinable
    package mutating func add(_ bytes: Int) -> Bool {
        let opens = size + bytes > budget && count > 0
        if opens { size = 0; count = 0 }
        size += bytes
        count += 1
        return opens
    }
}

extension HairpinEncap {
    /// This call as one or more parts. Flows and results are sliced together: part k carries
    /// the flows of its range and the results whose INDEX falls in it.
    package func parts(budget: Int = Parts.defaultBudget) -> [HairpinEncap] {
        let flows = attributes?.flows ?? []
        // Results are 20 bytes each on the wire; count them against the same budget.
        let resultBytes = (results?.count ?? 0) * 20
        guard !flows.isEmpty || resultBytes > budget else {
            return [self]
        }
        var ranges = Parts.ranges(of: flows, budget: max(budget - min(resultBytes, budget / 2), 1024))
        if flows.isEmpty {
            // Results only (an answer to a huge batch carries no flows): slice by count.
            let perPart = max(budget / 20, 1)
            let n = results?.count ?? 0
            ranges = stride(from: 0, to: n, by: perPart).map { $0..<min($0 + perPart, n) }
        }
        if ranges.count <= 1 { return [self] }
        var out: [HairpinEncap] = []
        out.reserveCapacity(ranges.count)
        for (k, r) in ranges.enumerated() {
            var p = self
            if !flows.isEmpty { p.attributes?.flows = Array(flows[r]) }
            if let results {
                if flows.isEmpty {
                    p.results = Array(results[r])
                } else {
                    p.results = results.filter { r.contains(Int($0.index)) }
                }
            }
            p.part = UInt32(k)
            p.more = k < ranges.count - 1
            out.append(p)
        }
        return out
    }
}

/// Collects the parts of calls, keyed by SEQ, and hands back a call once its last part came.
package struct EncapAssembler {
    package enum Failure: Error, Hashable, CustomStringConvertible {
        case outOfOrder(sequence: UInt64, expected: UInt32, got: UInt32?)
        case mismatch(sequence: UInt64, what: String)

        package var description: String {
            switch self {
            case let .outOfOrder(seq, expected, got):
                return "ENCAP seq \(seq): part \(got.map(String.init) ?? "none") arrived, part \(expected) was expected"
            case let .mismatch(seq, what):
                return "ENCAP seq \(seq): parts disagree on \(what)"
            }
        }
    }

    var pending: [UInt64: HairpinEncap] = [:]

    package init() {}

    /// Calls waiting for more parts.
    package var pendingCount: Int { pending.count }

    /// Adds one message. Returns the whole call when `part` completes it (or is a single-part
    /// call), nil while more parts are due. A broken sequence drops what was collected.
    package mutating func add(_ part: HairpinEncap) throws(Failure) -> HairpinEncap? {
        let seq = part.sequence
        // Taken out of the table while it grows, so appending does not copy the arrays.
        guard var whole = pending.removeValue(forKey: seq) else {
            if part.part == nil && !part.more { return part }
            guard part.part == 0 else { throw .outOfOrder(sequence: seq, expected: 0, got: part.part) }
            if part.more {
                pending[seq] = part
                return nil
            }
            var single = part
            single.part = nil
            return single
        }
        let expected = (whole.part ?? 0) + 1
        guard part.part == expected else {
            throw .outOfOrder(sequence: seq, expected: expected, got: part.part)
        }
        guard part.command == whole.command, part.commandType == whole.commandType, part.status == whole.status else {
            throw .mismatch(sequence: seq, what: "CMD, CMD_TYPE or STATUS")
        }
        if let flows = part.attributes?.flows {
            if whole.attributes != nil {
                whole.attributes?.flows?.append(contentsOf: flows)
            } else {
                whole.attributes = part.attributes
            }
        }
        if let r = part.results {
            if whole.results == nil { whole.results = r } else { whole.results?.append(contentsOf: r) }
        }
        whole.part = part.part
        if part.more {
            pending[seq] = whole
            return nil
        }
        whole.part = nil
        whole.more = false
        return whole
    }

    /// Forgets a call's parts (its caller gave up, e.g. after a timeout).
    package mutating func drop(sequence: UInt64) { pending[sequence] = nil }
}
