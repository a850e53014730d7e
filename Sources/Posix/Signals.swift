// Stopping a long-running tool cleanly: SignalWaiter for the servers (flow-table-hairpind,
// flowtrace twin), Interrupt for the jobs that report on Ctrl-C (replay, bench, gen, load).

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

/// SIGINT during a long job (replay, bench, gen, load), as tcpreplay takes it: the job sees
/// `requested` at its next call or record, finishes its report with what it did so far, and
/// the tool exits with `exitStatus` (128 + SIGINT, what a shell reports for Ctrl-C). A second
/// SIGINT ends the process at once. The handler only stores: everything else is ordinary code.
public enum Interrupt {
    /// [0]: SIGINTs received; [1]: a child process to pass SIGINT on to (0: none).
    /// Allocated by `install`, before the handler can run, so the handler never initialises it.
    @usableFromInline nonisolated(unsafe) static let state: UnsafeMutablePointer<Int32> = {
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
        p.initialize(repeating: 0, count: 2)
        return p
    }()

    public static let exitStatus: Int32 = 130
    public static let reason = "interrupted (SIGINT)"

    /// Takes SIGINT from now on (restarting interrupted system calls).
    public static func install() {
        _ = state
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = interruptHandler
        sa.sa_flags = SA_RESTART
        sigemptyset(&sa.sa_mask)
        sigaction(SIGINT, &sa, nil)
    }

    /// Whether SIGINT came (a plain load, inlined into the callers: cheap enough for a
    /// per-record check).
    @inlinable
    public static var requested: Bool { state.pointee != 0 }

    /// A worker process that gets SIGINT too when this one does (0: none).
    public static var child: Int32 {
        get { state[1] }
        set { state[1] = newValue }
    }

    /// Marks the job interrupted without a signal (a worker that was interrupted on its own).
    public static func request() { state.pointee = max(state.pointee, 1) }
}

private func interruptHandler(_ signal: Int32) {
    let s = Interrupt.state
    s.pointee += 1
    if s[1] > 0 { kill(s[1], SIGINT) }
    if s.pointee > 1 { _exit(Interrupt.exitStatus) }
}
