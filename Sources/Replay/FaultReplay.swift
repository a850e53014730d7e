// Injected faults on replay. A trace recorded with --inject marks the answer records of every
// call a fault hit (InjectedFault.comment, spec/trace-format.md "Injected faults"); the section
// comment lists the specs. Before replaying, the trace is scanned once for those markers (only
// when the section comment says faults were injected), and the same fault is injected again
// into the same call, so the target's answers match the recorded ones:
// * backend:NAME — the daemon core's injector gets the backend faults by ENCAP SEQ (the feed
//   hands the recorded requests over with their recorded SEQs);
// * twin — the fault is armed for the next call just before that call's request goes out
//   (calls go out one at a time), on the side that injected it.
// Other targets (socket:, kernel:) cannot be told to fail a call: the replay says so.

import FlowTrace
import Hairpin
import LibFlowTable

public struct FaultPlan: Sendable {
    /// By call id: the ENCAP SEQ, which is also the pairing id of the call's records.
    public var faults: [UInt64: InjectedFault] = [:]
    /// The specs the section comment lists ("" when none).
    public var specs = ""
    /// The recording twin's timeout in seconds, read from a timed-out call's error text (a
    /// delay fault held it past the timeout); nil when no call timed out.
    public var twinTimeout: Double?

    public var isEmpty: Bool { faults.isEmpty }
    public var count: Int { faults.count }

    public init() {}

    static let sectionMarker = "injected faults: "

    /// The recorded faults of a trace file; an empty plan (after reading one record) when its
    /// section comment does not mention injected faults, so ordinary replays do not pay a scan.
    public static func scan(path: String) throws(TraceFileError) -> FaultPlan {
        var plan = FaultPlan()
        guard path != "-" else { return plan }
        let reader = try TraceReader(path: path)
        guard var r = try reader.next() else { return plan }
        let comments = reader.sections.flatMap(\.comments)
        guard let line = comments.first(where: { $0.contains(sectionMarker) }) else { return plan }
        plan.specs = Self.text(after: sectionMarker, in: line)
        while true {
            if let c = r.comment, let f = InjectedFault.parse(comment: c) {
                plan.faults[f.sequence] = f
                if plan.twinTimeout == nil { plan.twinTimeout = timeoutText(r.netlink) }
            }
            guard let next = try reader.next() else { break }
            r = next
        }
        return plan
    }

    /// What follows `marker` in `line` (the first occurrence), "" if it does not occur.
    static func text(after marker: String, in line: String) -> String {
        let m = Array(marker.utf8), b = Array(line.utf8)
        guard b.count >= m.count else { return "" }
        for i in 0...(b.count - m.count) where b[i..<(i + m.count)].elementsEqual(m) {
            return String(decoding: b[(i + m.count)...], as: UTF8.self)
        }
        return ""
    }

    /// The daemon core's injector for a backend replay: the backend faults by ENCAP SEQ.
    func backendInjector() -> FaultInjector? {
        let backend = faults.filter { $0.value.side == .backend }
        return backend.isEmpty ? nil : FaultInjector(plan: backend)
    }

    /// What the report says about it.
    func note(injected: Int, backendOnly: Bool = false) -> String {
        let twinSide = faults.values.filter { $0.side == .twin }.count
        var text =
            "re-injected \(injected) of the \(backendOnly ? count - twinSide : count) recorded "
            + (backendOnly ? "backend " : "") + "faults at the calls they hit"
        if backendOnly && twinSide > 0 { text += " (and \(twinSide) of the twin's own, which a backend does not see)" }
        return text + (specs.isEmpty ? "" : "; recorded with \(specs)") + "; --no-reinject replays without them"
    }

    static let timeoutPhrase = Array("did not answer within ".utf8)

    /// N/1000 from "… did not answer within N ms" in an error's text (the twin's ETIMEDOUT).
    static func timeoutText(_ bytes: UnsafeRawBufferPointer) -> Double? {
        let b = Array(bytes), m = timeoutPhrase
        guard b.count > m.count else { return nil }
        for i in 0...(b.count - m.count) where b[i] == m[0] && b[i..<(i + m.count)].elementsEqual(m) {
            var k = i + m.count, ms = 0
            while k < b.count, b[k] >= 0x30, b[k] <= 0x39, ms < 100_000_000 {
                ms = ms * 10 + Int(b[k] - 0x30)
                k += 1
            }
            guard k > i + m.count, b[k...].starts(with: Array(" ms".utf8)) else { return nil }
            return Double(ms) / 1000
        }
        return nil
    }
}
