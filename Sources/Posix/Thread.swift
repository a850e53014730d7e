// A thread running one closure, and the error a failed system call reports.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call that failed: its name and errno.
public enum PosixError: Error, Hashable, CustomStringConvertible {
    case system(String, Int32)

    public var description: String {
        switch self {
        case let .system(call, errno): return "\(call) failed: \(Sys.errorText(errno)) (errno \(errno))"
        }
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
    public init(_ body: @escaping () -> Void) throws(PosixError) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
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
