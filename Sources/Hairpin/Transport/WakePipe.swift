// The wake-up pipe of the transports' poll loops (the clock, the lock and the thread they use
// are in Sources/Posix). Plain Glibc, so the library targets stay free of Foundation.

#if canImport(Glibc)
import Glibc
#endif

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
