// Time spent inside a backend's own operations (insert, delete, get), for `flowtrace bench`:
// it reads as a comparison of backends only when the backend's share is told apart from the
// service around it. The service holds an optional instance; nil (the daemon, a plain replay)
// costs one branch per operation, set costs two clock reads per operation.

import Posix

/// An accumulator of backend operation time. Not thread-safe: one per service, used under its
/// lock, like the backends.
open class BackendTiming {
    /// Operations timed and the nanoseconds they took, since this object was made.
    public private(set) var operations = 0
    public private(set) var nanoseconds: UInt64 = 0

    public init() {}

    /// The clock reading an operation starts at.
    @inline(__always)
    public final func start() -> UInt64 { MonotonicClock.now() }

    /// One operation that began at `start` has ended.
    @inline(__always)
    public final func end(_ start: UInt64) {
        let now = MonotonicClock.now()
        operations += 1
        nanoseconds &+= now &- start
        operationEnded()
    }

    /// Called after each timed operation, outside its measured span. Tests override it (a
    /// backend slowed for one call, whatever path serves the call).
    open func operationEnded() {}
}
