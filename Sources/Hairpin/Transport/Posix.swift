// Small POSIX pieces the transports and the twin share: a monotonic clock, a mutex, a thread,
// and a wake-up pipe. Plain Glibc, so the library targets stay free of Foundation.

#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds: deadlines must not jump when the wall clock is set.
public enum MonotonicClock {
    @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Seconds as nanoseconds; negative and non-finite values count as 0, huge ones saturate.
    public static func nanoseconds(_ seconds: Double) -> UInt64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        let ns = seconds * 1e9
        return ns >= 1.8e19 ? UInt64.max / 2 : UInt64(ns)
    }
}

/// A pthread mutex around a value.
public final class PosixLocked<Value> {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Only reached with the mutex held: the runtime's access check would add nothing.
    @exclusivity(unchecked) private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// A thread running one closure. `join()` waits for it; dropped without a join, the thread is
/// detached, so its resources go back when it ends (never a leaked joinable thread).
public final class PosixThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private var thread = pthread_t()
    private var joined = false

    /// Starts `body` on a new thread; throws pthread_create's error.
    public init(_ body: @escaping () -> Void) throws(TransportError) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Body>.fromOpaque(context).release()
            throw .system("pthread_create", rc)
        }
    }

    /// Waits for the thread to end (once; later calls, and calls after `detach`, return at once).
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    /// Lets the thread run on by itself: nothing waits for it, and it frees itself when it ends.
    public func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(thread)
    }

    deinit { detach() }
}

/// A self-pipe: any thread (or a signal handler: write(2) is async-signal-safe) makes the
/// read end readable, which wakes a poll(2) loop.
final class WakePipe {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws(TransportError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .system("pipe", errno) }
        readEnd = fds[0]
        writeEnd = fds[1]
        for fd in fds {
            UnixSocketSupport.setNonBlocking(fd)
            UnixSocketSupport.setCloseOnExec(fd)
        }
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    func wake() {
        var b: UInt8 = 1
        // A full pipe already wakes the reader: EAGAIN is fine.
        _ = write(writeEnd, &b, 1)
    }

    func drain() {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &scratch, { read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
