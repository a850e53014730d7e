// The two clocks: CLOCK_MONOTONIC for deadlines, timeouts and rates (never jumps when the wall
// clock is set), CLOCK_REALTIME for timestamps that travel (trace records).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CLOCK_MONOTONIC in nanoseconds.
public enum MonotonicClock {
    // Inlinable: read per call by the daemon, the replay pacer and the recorder.
    @inlinable @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return nanoseconds(ts)
    }

    /// Seconds as nanoseconds; negative and non-finite values count as 0, huge ones saturate.
    public static func nanoseconds(_ seconds: Double) -> UInt64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        let ns = seconds * 1e9
        return ns >= 1.8e19 ? UInt64.max / 2 : UInt64(ns)
    }

    /// A timespec as nanoseconds (negative fields count as 0).
    @inlinable @inline(__always)
    public static func nanoseconds(_ ts: timespec) -> UInt64 {
        UInt64(max(0, Int64(ts.tv_sec))) &* 1_000_000_000 &+ UInt64(max(0, Int64(ts.tv_nsec)))
    }

    /// Sleeps until `deadline` (nanoseconds on this clock), through signals: clock_nanosleep
    /// to an absolute time, so a late wake-up does not add up over repeated sleeps.
    public static func sleep(until deadline: UInt64) {
        var ts = absolute(deadline)
        while now() < deadline {
            let rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
            if rc != 0 && rc != EINTR { return }
        }
    }

    /// Nanoseconds as a timespec, for the calls that take an absolute CLOCK_MONOTONIC time.
    @inlinable
    public static func absolute(_ ns: UInt64) -> timespec {
        timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    }
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch: what trace timestamps are.
public enum RealtimeClock {
    @inlinable @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return MonotonicClock.nanoseconds(ts)
    }
}

/// CLOCK_THREAD_CPUTIME_ID in nanoseconds: the CPU time this thread used, for rates "on one
/// core" that a loaded machine's waiting does not dilute (benchmarks report it beside the
/// monotonic figure).
public enum ThreadCPUClock {
    @inlinable @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return MonotonicClock.nanoseconds(ts)
    }
}
