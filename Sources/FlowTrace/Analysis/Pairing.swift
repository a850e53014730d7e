// Matching answers to requests inside a trace, for latencies: on the hairpin leg by ENCAP SEQ,
// on the API leg by (port, nlmsg_seq) — what the two legs echo (spec/two-leg-contract.md).

import LibFlowTable

public enum Pairing {
    /// The key a request and its answers share, or nil for messages that pair with nothing
    /// (nlctrl, ACKs of ENCAP answers on the hairpin leg).
    public static func key(of s: MessageSummary, leg: TraceLeg) -> UInt64? {
        switch s.kind {
        case .hairpin:
            return s.encapSeq
        case .flowTable:
            return apiKey(port: s.port, seq: s.netlinkSeq)
        case .ack, .error, .done:
            // On the API leg an ACK/error closes the client's call; on the hairpin leg it only
            // refuses an ENCAP answer (or, in traces recorded before 2026-11-26, when the
            // daemon's answers asked for one, acknowledges it) and pairs with nothing.
            guard leg != .hairpin else { return nil }
            return apiKey(port: s.port, seq: s.kind == .done ? s.netlinkSeq : (s.ackedSeq ?? s.netlinkSeq))
        default:
            return nil
        }
    }

    /// API keys have the top bit set so they never meet ENCAP sequence numbers.
    @inline(__always)
    static func apiKey(port: UInt32, seq: UInt32) -> UInt64 {
        (1 << 63) | UInt64(port) << 32 | UInt64(seq)
    }

    /// Whether this message starts a call (a request, or the first part of one).
    public static func isCallStart(_ s: MessageSummary) -> Bool {
        (s.kind == .flowTable && s.isRequest) || (s.kind == .hairpin && s.status == nil && (s.part ?? 0) == 0
            && s.command == NFLH.Command.encap.rawValue)
    }

    /// Whether this message ends its call (so its latency is the call's).
    public static func isFinal(_ s: MessageSummary, leg: TraceLeg) -> Bool {
        switch s.kind {
        case .hairpin: return s.status != nil && !s.more
        case .ack, .error: return leg != .hairpin
        default: return false
        }
    }
}

/// Remembers when each open call started, and its API command (an ACK does not say it).
public struct LatencyTracker {
    struct Start {
        var time: UInt64
        var command: UInt8
    }

    /// Open calls by pairing key (a flat table: see FlatTable for why not a Dictionary).
    var started = FlatTable<Start>(placeholder: Start(time: 0, command: 0))

    public init() {}

    /// What `observe` learns about an answer.
    public struct Answer {
        public var latency: UInt64
        public var command: UInt8
    }

    /// Feeds one message; returns the latency and the call's command when it answers a call
    /// seen earlier.
    ///
    /// `recorded` is the pairing id the recorder stored (the call's ENCAP SEQ on both legs);
    /// it wins over what the message says, because a client's request may carry nlmsg_pid 0
    /// while the replies carry the port the other side gave it.
    @inline(__always)
    public mutating func observe(_ s: MessageSummary, leg: TraceLeg, timestamp: UInt64, recorded: UInt64? = nil) -> Answer? {
        let derived: UInt64?
        if let recorded {
            // Per leg: the API request and its ENCAP share the id but are different calls.
            derived = s.kind == .controller ? nil : recorded ^ (UInt64(leg.rawValue) << 60)
        } else {
            derived = Pairing.key(of: s, leg: leg)
        }
        guard let key = derived else { return nil }
        if Pairing.isCallStart(s) {
            started.set(key, Start(time: timestamp, command: s.apiCommand ?? 0xff))
            return nil
        }
        guard s.isAnswer else { return nil }
        let slot = started.find(key)
        guard slot >= 0 else { return nil }
        let start = started.value(at: slot)
        if Pairing.isFinal(s, leg: leg) { started.remove(slot: slot) }
        return Answer(latency: timestamp >= start.time ? timestamp - start.time : 0, command: start.command)
    }

    public var openCalls: Int { started.count }
}
