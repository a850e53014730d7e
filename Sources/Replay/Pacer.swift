// When each request goes out. Every deadline is absolute on CLOCK_MONOTONIC, computed from the
// start of the run — never "sleep the gap since the last message" — so oversleeping one message
// (timer slack, a busy core) does not push every later one back: the schedule does not drift,
// and a rate holds over a million messages. A run that falls behind sends what is due at once
// until it has caught up; how late each message was is measured, not hidden.

import Hairpin
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// How requests are spaced.
public enum Timing: Hashable, Sendable, CustomStringConvertible {
    /// As fast as the target answers.
    case topSpeed
    /// The recorded gaps divided by the multiplier (1: as recorded, 2: twice as fast).
    case recorded(multiplier: Double)
    /// A fixed number of requests per second.
    case rate(Double)

    public var description: String {
        switch self {
        case .topSpeed: return "top speed"
        case let .recorded(m): return m == 1 ? "recorded timing" : "recorded timing ×\(m)"
        case let .rate(r): return "\(r) requests/s"
        }
    }

    var isPaced: Bool {
        if case .topSpeed = self { return false }
        return true
    }
}

/// How far behind schedule requests went out.
public struct PacingStats: Hashable, Sendable {
    public var paced = 0
    /// Sum and maximum of (send time − deadline), ns; early sends count 0.
    public var totalLateness: UInt64 = 0
    public var maxLateness: UInt64 = 0
    /// Monotonic time of the first and last paced send.
    public var firstSend: UInt64 = 0
    public var lastSend: UInt64 = 0
    /// The last deadline, relative to the start (what the schedule asked the run to take).
    public var scheduledSpan: UInt64 = 0

    public init() {}

    public var meanLateness: Double { paced == 0 ? 0 : Double(totalLateness) / Double(paced) }

    /// Requests per second between the first and the last paced send.
    public var achievedRate: Double {
        guard paced > 1, lastSend > firstSend else { return 0 }
        return Double(paced - 1) / (Double(lastSend - firstSend) / 1e9)
    }
}

public struct Pacer {
    public let timing: Timing
    /// Monotonic start of the schedule (set by the first request).
    private var start: UInt64 = 0
    /// The first request's recorded timestamp (recorded timing).
    private var origin: UInt64 = 0
    private var index: UInt64 = 0
    public private(set) var stats = PacingStats()
    private let interval: Double

    public init(_ timing: Timing) {
        self.timing = timing
        switch timing {
        case let .rate(r): interval = r > 0 && r.isFinite ? 1e9 / r : 0
        default: interval = 0
        }
    }

    /// Restarts the schedule (a new loop of the trace).
    public mutating func restart() {
        start = 0
        index = 0
    }

    /// Waits until the request recorded at `timestamp` (ns, any epoch) is due.
    public mutating func wait(recordedAt timestamp: UInt64) {
        guard timing.isPaced else { return }
        let now = MonotonicClock.now()
        if start == 0 {
            start = now
            origin = timestamp
            if stats.paced == 0 { stats.firstSend = now }
        }
        let offset: UInt64
        switch timing {
        case .topSpeed:
            return
        case let .recorded(multiplier):
            // A record stamped before the first (clock steps, merged files) is due at once.
            let gap = timestamp >= origin ? timestamp - origin : 0
            let m = multiplier > 0 && multiplier.isFinite ? multiplier : 1
            let scaled = Double(gap) / m
            offset = scaled >= 1.8e19 ? UInt64.max / 4 : UInt64(scaled)
        case .rate:
            let x = Double(index) * interval
            offset = x >= 1.8e19 ? UInt64.max / 4 : UInt64(x)
        }
        index += 1
        let deadline = start &+ offset
        Self.sleep(until: deadline)
        let sent = MonotonicClock.now()
        let late = sent > deadline ? sent - deadline : 0
        stats.paced += 1
        stats.totalLateness &+= late
        stats.maxLateness = max(stats.maxLateness, late)
        stats.lastSend = sent
        stats.scheduledSpan = max(stats.scheduledSpan, offset)
    }

    /// clock_nanosleep to an absolute CLOCK_MONOTONIC time (EINTR: sleep on). The kernel's
    /// timer slack (50 µs by default) makes single sleeps late; at high rates several requests
    /// then go out together and the average holds, which the lateness figures show.
    static func sleep(until deadline: UInt64) {
        MonotonicClock.sleep(until: deadline)
    }
}
