// Checks that a recorded twin session holds every NDO call exactly once: by the pairing id the
// recorder gives all records of a call (the ENCAP SEQ), each call must have one API request,
// one final API answer (the ACK or error that ends it), and, when it was forwarded, one ENCAP
// request and one ENCAP answer. A record lost by the recorder shows as a missing member, one
// written twice as a duplicate. For load and crash tests (`flowtrace audit`).

import LibFlowTable

public struct CallAudit: Sendable {
    public struct Anomaly: Hashable, Sendable, CustomStringConvertible {
        public var call: UInt64
        public var apiRequests: Int
        public var apiFinals: Int
        public var encapRequests: Int
        public var encapAnswers: Int

        public var description: String {
            "call \(call): \(apiRequests) API request(s), \(apiFinals) final API answer(s), "
                + "\(encapRequests) ENCAP request(s), \(encapAnswers) ENCAP answer(s)"
        }
    }

    public var records = 0
    /// Records that belong to no call (nlctrl, registration, the snapshot).
    public var unpaired = 0
    public var calls = 0
    /// Calls that reached the listener.
    public var forwarded = 0
    /// Calls whose final API answer is in the trace (what the client was sent).
    public var answered = 0
    /// Calls whose final answer was ETIMEDOUT (their late ENCAP answer may be missing).
    public var timedOut = 0
    public var anomalies = 0
    /// The first anomalies, by call id.
    public var examples: [Anomaly] = []
    /// The reader's note when the file ends inside a block.
    public var truncation: String?

    public var clean: Bool { anomalies == 0 }

    /// Counts per call packed in one word: four 7-bit counters and a timeout bit.
    static let apiRequest = 0, apiFinal = 7, encapRequest = 14, encapAnswer = 21, timeoutBit: UInt32 = 1 << 28

    public static func run(path: String) throws(TraceFileError) -> CallAudit {
        let reader = try TraceReader(path: path)
        var audit = CallAudit()
        var counts: [UInt64: UInt32] = [:]
        counts.reserveCapacity(1 << 16)
        @inline(__always) func bump(_ call: UInt64, _ shift: Int) {
            counts[call, default: 0] &+= (counts[call, default: 0] >> UInt32(shift)) & 0x7F == 0x7F ? 0 : 1 << UInt32(shift)
        }
        while let r = try reader.next() {
            audit.records += 1
            guard !r.synthetic, let call = r.pairing, r.netlink.count >= Netlink.headerLength else {
                audit.unpaired += 1
                continue
            }
            let type = r.netlink.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
            let isError = type == Netlink.typeError
            switch (r.leg, r.direction) {
            case (.api, .toKernel): bump(call, apiRequest)
            case (.api, .toUser) where isError:
                bump(call, apiFinal)
                if r.netlink.count >= 20, r.netlink.loadUnaligned(fromByteOffset: 16, as: Int32.self) == -110 {
                    counts[call, default: 0] |= timeoutBit
                }
            case (.api, .toUser): counts[call, default: 0] |= 0   // a reply message: the call exists
            case (.hairpin, .toUser) where !isError: bump(call, encapRequest)
            case (.hairpin, .toUser): break   // unft's ACK of the listener's answer
            case (.hairpin, .toKernel): bump(call, encapAnswer)
            default: audit.unpaired += 1
            }
        }
        audit.truncation = reader.truncation.map { "\($0)" }
        audit.calls = counts.count
        for (call, w) in counts.sorted(by: { $0.key < $1.key }) {
            let a = Int(w >> UInt32(apiRequest) & 0x7F), f = Int(w >> UInt32(apiFinal) & 0x7F)
            let q = Int(w >> UInt32(encapRequest) & 0x7F), n = Int(w >> UInt32(encapAnswer) & 0x7F)
            let timedOut = w & timeoutBit != 0
            if q > 0 { audit.forwarded += 1 }
            if f > 0 { audit.answered += 1 }
            if timedOut { audit.timedOut += 1 }
            // ENCAP parts: a big call or answer may span several records; one each is the rule
            // for the calls a load test makes, and more than one request without parts is a duplicate.
            let ok = a == 1 && f == 1 && q <= 1 && (n == q || (timedOut && n == 0))
            if !ok {
                audit.anomalies += 1
                if audit.examples.count < 20 {
                    audit.examples.append(Anomaly(call: call, apiRequests: a, apiFinals: f, encapRequests: q, encapAnswers: n))
                }
            }
        }
        return audit
    }

    public func text(path: String) -> String {
        var s = "audit \(path): \(records) records, \(calls) calls (\(answered) answered, \(forwarded) forwarded to the listener"
            + (timedOut > 0 ? ", \(timedOut) timed out" : "") + "), \(unpaired) records outside calls; "
            + (anomalies == 0 ? "every call has exactly one request and one answer on each leg it used"
                              : "\(anomalies) calls with missing or duplicated records")
        for e in examples { s += "\n  \(e)" }
        if anomalies > examples.count { s += "\n  … and \(anomalies - examples.count) more" }
        if let t = truncation { s += "\n  the file ends inside a block: \(t)" }
        return s
    }
}
