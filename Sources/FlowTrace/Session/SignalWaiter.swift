// Stopping a long-running tool cleanly: shared by flow-table-hairpind and flowtrace twin.

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM, taken synchronously: blocked in every thread (threads created later
/// inherit the mask) and collected with sigwait, so stopping runs as ordinary code, not in a
/// signal handler.
public struct SignalWaiter {
    var set = sigset_t()

    public init() {
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    public func wait() -> Int32 {
        var s = set
        var sig: Int32 = 0
        sigwait(&s, &sig)
        return sig
    }

    /// The signal if one arrives within `seconds`, else nil.
    public func wait(seconds: Int) -> Int32? {
        var s = set
        var t = timespec(tv_sec: seconds, tv_nsec: 0)
        let sig = sigtimedwait(&s, nil, &t)
        return sig > 0 ? sig : nil
    }
}
