// The one lock: a pthread mutex, with a condition variable for the threads that wait for each
// other (the recorder's flusher, replay's read-ahead). pthread rather than
// Synchronization.Mutex: conditions need a pthread mutex, and ThreadSanitizer understands
// pthread calls in code built without it (the standard library's futex lock it does not see).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex. `lock()`/`unlock()` for the hot paths that hold it across a few statements,
/// `withLock` otherwise.
public final class PosixMutex: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    @inlinable @inline(__always)
    public func lock() { pthread_mutex_lock(mutex) }

    @inlinable @inline(__always)
    public func unlock() { pthread_mutex_unlock(mutex) }

    @inlinable @inline(__always)
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A condition variable on CLOCK_MONOTONIC, used with one PosixMutex held.
public final class PosixCondition: @unchecked Sendable {
    @usableFromInline let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        #if !canImport(Darwin)
        // Timed waits take a CLOCK_MONOTONIC deadline: a wall-clock step must not move them.
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deinitialize(count: 1)
        condition.deallocate()
    }

    /// Waits for a signal; `mutex` is held before and after.
    public func wait(_ mutex: PosixMutex) { pthread_cond_wait(condition, mutex.mutex) }

    /// Waits for a signal or until `deadline` (MonotonicClock nanoseconds); `mutex` is held
    /// before and after.
    public func wait(_ mutex: PosixMutex, until deadline: UInt64) {
        var ts = MonotonicClock.absolute(deadline)
        pthread_cond_timedwait(condition, mutex.mutex, &ts)
    }

    /// Wakes one waiter.
    @inlinable
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter.
    @inlinable
    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// A value only reached with its PosixMutex held.
public final class PosixLocked<Value>: @unchecked Sendable {
    @usableFromInline let mutex = PosixMutex()
    /// Only reached with the mutex held: the runtime's access check would add nothing.
    @usableFromInline @exclusivity(unchecked) var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    @inlinable @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }
}
