// Unix SOCK_SEQPACKET sockets: the twin's stand-in for a netlink socket. SEQPACKET keeps packet
// boundaries like netlink does (one send = one receive), is connection-oriented so the twin can
// give each peer a port id and notice when it goes away, and the socket file's mode is the
// permission check that CAP_NET_ADMIN is in the kernel.

// <sys/socket.h> reaches this module through libnl's headers (CLibNL), and Clang then files
// its MSG_* constants under CLibNL rather than Glibc: without this import they are not visible.
import CLibNL
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// Why a socket could not be set up. The texts tell the user what to do.
public enum SocketError: Error, Hashable, CustomStringConvertible {
    /// connect: nothing at the path (ENOENT).
    case noListener(path: String)
    /// connect: a socket file without a listener, or its backlog is full (ECONNREFUSED).
    case refused(path: String)
    /// connect/bind: the socket or its directory is not ours to use (EACCES, EPERM).
    case permissionDenied(path: String)
    /// The path does not fit sockaddr_un's sun_path (or is empty or holds a NUL byte).
    case badPath(path: String, why: String)
    /// bind: a live listener already answers at the path.
    case addressInUse(path: String)
    /// bind: something that is not a socket sits at the path; we do not delete it.
    case notASocket(path: String)
    /// The runtime directory is unsafe to use (owned by someone else, writable by others).
    case unsafeDirectory(path: String, why: String)
    /// Any other failed system call: its name, errno and the path it concerned.
    case system(call: String, errno: Int32, path: String)

    public var description: String {
        switch self {
        case let .noListener(path):
            return "no twin listening at \(path): start it with `flow-table-hairpind --twin`"
        case let .refused(path):
            return "connection refused at \(path): the socket file is stale (no twin running; start it with "
                + "`flow-table-hairpind --twin`) or the twin's backlog is full"
        case let .permissionDenied(path):
            return "permission denied at \(path): the twin's sockets are mode 0600 in a 0700 directory; "
                + "run as the user that started the twin (or root)"
        case let .badPath(path, why):
            return "cannot use \(path) as a socket path: \(why)"
        case let .addressInUse(path):
            return "a twin is already listening at \(path): stop it first or choose another path"
        case let .notASocket(path):
            return "\(path) exists and is not a socket: not removing it, choose another path"
        case let .unsafeDirectory(path, why):
            return "refusing to use \(path): \(why)"
        case let .system(call, errno, path):
            return "\(call) \(path) failed: \(Sys.errorText(errno)) (errno \(errno))"
        }
    }
}

/// What a non-blocking send or receive did; the twin's event loop never blocks on a peer.
public enum SocketOutcome: Hashable, Sendable {
    /// Done; for a receive, the packet's length.
    case done(Int)
    /// Nothing to read, or no room to write: try again when poll(2) says so.
    case wouldBlock
    /// The peer closed the connection (or reset it).
    case closed
    /// A packet of this length was larger than the buffer; its first bytes are in the buffer.
    case truncated(Int)
    /// Another error (errno).
    case failed(Int32)
}

enum UnixSocketSupport {
    /// SO_SNDBUF / SO_RCVBUF asked for: room for several 64 KiB messages (a big batch as parts,
    /// a GET_FLOWS answer). The kernel caps it at net.core.[wr]mem_max × 2.
    static let bufferSize: Int32 = 1 << 20

    static func address(_ path: String) throws(SocketError) -> (sockaddr_un, socklen_t) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty else { throw .badPath(path: path, why: "the path is empty") }
        guard !bytes.contains(0) else { throw .badPath(path: path, why: "the path contains a NUL byte") }
        guard bytes.count < capacity else {
            throw .badPath(path: path, why: "\(bytes.count) bytes, a Unix socket path holds at most \(capacity - 1)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            p.copyBytes(from: bytes)
            p[bytes.count] = 0
        }
        return (addr, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
    }

    static func newSocket(path: String) throws(SocketError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(call: "socket", errno: errno, path: path) }
        return fd
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    static func setCloseOnExec(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }

    /// Raises both buffers; failures are harmless (the defaults still carry one 64 KiB message).
    static func raiseBuffers(_ fd: Int32) {
        var size = bufferSize
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// connect(2) to `path`; returns 0 or the errno.
    static func connect(_ fd: Int32, to path: String) throws(SocketError) -> Int32 {
        var (addr, len) = try address(path)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) }
        }
        return rc == 0 ? 0 : errno
    }

    static func identity(of path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Milliseconds for poll(2) from seconds; nil is forever (-1), and a positive wait never
    /// rounds down to a busy 0.
    static func pollMilliseconds(_ seconds: Double?) -> Int32 {
        guard let seconds else { return -1 }
        if seconds <= 0 { return 0 }
        let ms = (seconds * 1000).rounded(.up)
        return ms >= Double(Int32.max) ? Int32.max : Int32(ms)
    }

    /// Waits until `events` happen on `fd` or `timeout` runs out; true if they did.
    static func wait(_ fd: Int32, events: Int16, timeout: Double?) throws(TransportError) -> Bool {
        let deadline = timeout.map { MonotonicClock.now() + MonotonicClock.nanoseconds($0) }
        while true {
            var remaining: Double? = nil
            if let deadline {
                let now = MonotonicClock.now()
                remaining = now >= deadline ? 0 : Double(deadline - now) / 1e9
            }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&p, 1, pollMilliseconds(remaining))
            if n > 0 { return true }
            if n == 0 {
                if remaining == 0 || deadline == nil { return false }
                continue
            }
            if errno == EINTR { continue }
            throw .system("poll", errno)
        }
    }

    /// Sets SO_RCVTIMEO on `fd` to `seconds` (nil: no bound, a blocking recv waits until a
    /// packet comes); false if the kernel refuses. The kernel rounds the bound up to a whole
    /// jiffy (1–10 ms).
    static func setReceiveTimeout(_ fd: Int32, _ seconds: Double?) -> Bool {
        var tv = timeval()
        if let seconds {
            // 0 would mean "no bound": the shortest wait is 1 µs (the kernel makes it a jiffy).
            let us = max((seconds * 1e6).rounded(.up), 1)
            let whole = min(us / 1e6, 1e9).rounded(.down)
            tv.tv_sec = Int(whole)
            tv.tv_usec = Int(min(us - whole * 1e6, 999_999))
        }
        return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0
    }
}

/// The end of a wait on the monotonic clock, for the sockets' send and receive loops.
struct WaitDeadline {
    /// nil: the wait has no end.
    let end: UInt64?

    /// `timeout` seconds from now; nil waits forever.
    @inline(__always)
    init(_ timeout: Double?) {
        end = timeout.map { MonotonicClock.now() + MonotonicClock.nanoseconds($0) }
    }

    /// Seconds left (nil: forever); `.timedOut` once the end has come.
    @inline(__always)
    func remaining() throws(TransportError) -> Double? {
        guard let end else { return nil }
        let now = MonotonicClock.now()
        guard now < end else { throw .timedOut }
        return Double(end - now) / 1e9
    }
}

/// A socket's SO_RCVTIMEO as last set, so a receive sets it only when a wait needs another
/// bound: a caller that asks for about the same timeout on every receive (a client's per-call
/// timeout, a listener's poll interval) costs no setsockopt.
struct ReceiveBound {
    /// SO_RCVTIMEO now, in seconds; nil: none (the kernel's default, a blocking recv waits
    /// until a packet comes).
    private(set) var seconds: Double?
    /// Set when SO_RCVTIMEO cannot be set: waits then go through poll(2).
    private(set) var pollForWaits = false

    /// Whether a recv(2) blocking for the bound is a right wait for `remaining` seconds (nil:
    /// forever): never longer, and not so much shorter that the poll for the rest is more than
    /// half the wait.
    @inline(__always)
    func fits(_ remaining: Double?) -> Bool {
        guard let remaining else { return seconds == nil }
        guard let current = seconds else { return false }
        return current <= remaining && current >= remaining / 2
    }

    /// Sets SO_RCVTIMEO on `fd` to `seconds` (nil: none). False, and waits go through poll(2)
    /// from then on, if the kernel refuses.
    mutating func set(_ fd: Int32, _ seconds: Double?) -> Bool {
        guard UnixSocketSupport.setReceiveTimeout(fd, seconds) else {
            pollForWaits = true
            return false
        }
        self.seconds = seconds
        return true
    }
}

/// One connected SEQPACKET socket: a client's connection to the twin, or one the twin accepted.
/// The descriptor is blocking; what must not wait (`trySend`, `tryReceive`: the twin's poll
/// loop over all its connections) says MSG_DONTWAIT. A `receive` that has to wait sleeps in
/// recv(2) itself, bounded by SO_RCVTIMEO, so every wait still has a bound (see `receive`).
public final class UnixSeqpacketConnection: BufferReceivingTransport {
    /// Receive buffers are grown to at least this: one whole 64 KiB netlink message (an ENCAP
    /// part, a big request) plus room for more messages in the same packet. Larger packets
    /// are reported as truncated.
    public static let receiveBufferSize = 128 * 1024

    // exclusivity(unchecked): a socket is used by one thread at a time, and the dynamic access
    // checks were a visible share of a listener's call (they touch thread-local state).
    @exclusivity(unchecked) public private(set) var fileDescriptor: Int32
    /// The path connected to (clients) or listened on (accepted connections), for messages.
    public let path: String
    /// How long a blocking `send` waits for room before it fails with `.timedOut`; nil forever.
    @exclusivity(unchecked) public var sendTimeout: Double? = 30
    @exclusivity(unchecked) private var bound = ReceiveBound()

    /// `fd` must be blocking (socket(2), socketpair(2) and accept(2) make it so): O_NONBLOCK
    /// would turn every waiting recv into EAGAIN.
    init(fd: Int32, path: String) {
        fileDescriptor = fd
        self.path = path
        UnixSocketSupport.raiseBuffers(fd)
    }

    deinit { close() }

    /// Connects to a listener at `path`. The errors say what to do (start the twin, fix the
    /// permissions) rather than only naming the errno.
    public static func connect(path: String) throws(SocketError) -> UnixSeqpacketConnection {
        let fd = try UnixSocketSupport.newSocket(path: path)
        // Buffers are sized before connect so the first packet already has room.
        UnixSocketSupport.raiseBuffers(fd)
        let err: Int32
        do { err = try UnixSocketSupport.connect(fd, to: path) } catch {
            Glibc.close(fd)
            throw error
        }
        if err != 0 {
            Glibc.close(fd)
            switch err {
            case ENOENT: throw .noListener(path: path)
            case ECONNREFUSED: throw .refused(path: path)
            case EACCES, EPERM: throw .permissionDenied(path: path)
            default: throw .system(call: "connect", errno: err, path: path)
            }
        }
        return UnixSeqpacketConnection(fd: fd, path: path)
    }

    /// A connected pair, for tests and in-process use (socketpair(2)).
    public static func pair() throws(TransportError) -> (UnixSeqpacketConnection, UnixSeqpacketConnection) {
        var fds: [Int32] = [-1, -1]
        let rc = socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        guard rc == 0 else { throw .system("socketpair", errno) }
        return (
            UnixSeqpacketConnection(fd: fds[0], path: "socketpair"),
            UnixSeqpacketConnection(fd: fds[1], path: "socketpair")
        )
    }

    /// The peer's process id and user id (SO_PEERCRED), when the kernel tells.
    public var peerCredentials: (pid: Int32, uid: UInt32)? {
        // struct ucred {pid_t pid; uid_t uid; gid_t gid;} — Glibc hides it behind _GNU_SOURCE.
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fileDescriptor, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 else { return nil }
        return (cred.0, cred.1)
    }

    // MARK: non-blocking primitives (the twin's loop)

    /// One send attempt that never blocks. MSG_NOSIGNAL: a vanished peer is an outcome, not a
    /// SIGPIPE that kills the process.
    public func trySend(_ packet: UnsafeRawBufferPointer) -> SocketOutcome {
        guard fileDescriptor >= 0 else { return .closed }
        while true {
            let n = Glibc.send(
                fileDescriptor, packet.baseAddress, packet.count,
                Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if n >= 0 { return .done(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case EPIPE, ECONNRESET, ENOTCONN: return .closed
            default: return .failed(errno)
            }
        }
    }

    /// One receive attempt that never blocks. MSG_TRUNC makes the kernel return the packet's
    /// real length, so a packet larger than the buffer is detected instead of silently cut.
    /// A zero-length read is the end of the connection (netlink never carries an empty packet).
    public func tryReceive(into buffer: UnsafeMutableRawBufferPointer) -> SocketOutcome {
        guard fileDescriptor >= 0 else { return .closed }
        while true {
            let n = recv(fileDescriptor, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC) | Int32(MSG_DONTWAIT))
            if n > buffer.count { return .truncated(n) }
            if n > 0 { return .done(n) }
            if n == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case ECONNRESET, ENOTCONN, EPIPE: return .closed
            default: return .failed(errno)
            }
        }
    }

    // MARK: MessageTransport

    public func send(_ packet: UnsafeRawBufferPointer) throws(TransportError) {
        let deadline = WaitDeadline(sendTimeout)
        while true {
            switch trySend(packet) {
            case .done(let n):
                // SEQPACKET sends are atomic; a short count would mean a broken kernel.
                guard n == packet.count else { throw .system("send", EMSGSIZE) }
                return
            case .closed: throw .closed
            case .failed(let e): throw .system("send", e)
            case .truncated: throw .system("send", EMSGSIZE)
            case .wouldBlock:
                let remaining = try deadline.remaining()
                _ = try UnixSocketSupport.wait(fileDescriptor, events: Int16(POLLOUT), timeout: remaining)
            }
        }
    }

    /// `receive` into caller-owned memory. On `.truncated` the packet's first `buffer.count`
    /// bytes are in `buffer`.
    ///
    /// A wait is one blocking recv(2) bounded by SO_RCVTIMEO, not a recv that finds nothing
    /// followed by poll(2) and another recv: a client's wait for the twin's answer is then the
    /// one system call that also receives it. The bound is set a little under the wait asked
    /// for (`boundFraction`), so the next waits of about the same length (a client's per-call
    /// timeout, minus what the call has used; a listener's poll interval) fit it unchanged. If
    /// the bound runs out before the deadline, the rest of the wait is a poll(2), which leaves
    /// the bound as it is. `timeout` 0 never waits.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Double?) throws(TransportError) -> Int {
        guard fileDescriptor >= 0 else { throw .closed }
        let deadline = WaitDeadline(timeout)
        var remaining = timeout.map { max($0, 0) }
        // A blocking recv ran out of its bound in this call: the rest is waited for with poll.
        var boundSpent = false
        while true {
            let block: Bool
            if remaining == 0 || bound.pollForWaits || boundSpent {
                block = false
            } else if bound.fits(remaining) {
                block = true
            } else {
                block = bound.set(fileDescriptor, remaining.map { $0 * Self.boundFraction })
            }
            let n = recv(
                fileDescriptor, buffer.baseAddress, buffer.count,
                Int32(MSG_TRUNC) | (block ? 0 : Int32(MSG_DONTWAIT)))
            if n > buffer.count { throw .truncated(n) }
            if n > 0 { return n }
            // A zero-length read is the end of the connection (netlink never sends an empty packet).
            if n == 0 { throw .closed }
            switch errno {
            case EINTR: break
            case EAGAIN, EWOULDBLOCK: if block { boundSpent = true }
            case ECONNRESET, ENOTCONN, EPIPE: throw .closed
            default: throw .system("recv", errno)
            }
            remaining = try deadline.remaining()
            if bound.pollForWaits || boundSpent {
                if try !UnixSocketSupport.wait(fileDescriptor, events: Int16(POLLIN), timeout: remaining) {
                    throw .timedOut
                }
            }
        }
    }

    /// SO_RCVTIMEO is set to this share of the wait that needs a new bound: waits from the bound
    /// up to twice it then fit (`ReceiveBound.fits`) without another setsockopt.
    static let boundFraction = 0.875

    public func close() {
        if fileDescriptor >= 0 {
            Glibc.close(fileDescriptor)
            fileDescriptor = -1
        }
    }
}

/// A listening SEQPACKET socket at a path.
public final class UnixSeqpacketListener {
    public let path: String
    public private(set) var fileDescriptor: Int32
    /// The socket file we created, so `close` never unlinks a successor's socket.
    private var identity: (dev: UInt64, ino: UInt64)?

    /// Binds and listens at `path` with file mode `mode` (0600: only our user may connect).
    /// A stale socket file (nobody answers at it) is replaced; a live one is an error, and so
    /// is anything at the path that is not a socket.
    public init(path: String, mode: mode_t = 0o600, backlog: Int32 = 64) throws(SocketError) {
        self.path = path
        let (addr0, len) = try UnixSocketSupport.address(path)
        try Self.removeStale(path)
        let fd = try UnixSocketSupport.newSocket(path: path)
        var addr = addr0
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            switch e {
            case EADDRINUSE: throw .addressInUse(path: path)
            case EACCES, EPERM: throw .permissionDenied(path: path)
            default: throw .system(call: "bind", errno: e, path: path)
            }
        }
        identity = UnixSocketSupport.identity(of: path)
        // Before listen(2): until then a connect is refused, so nobody slips in while the
        // file still has the umask's mode.
        if chmod(path, mode) != 0 {
            let e = errno
            Glibc.close(fd)
            unlink(path)
            throw .system(call: "chmod", errno: e, path: path)
        }
        if listen(fd, backlog) != 0 {
            let e = errno
            Glibc.close(fd)
            unlink(path)
            throw .system(call: "listen", errno: e, path: path)
        }
        UnixSocketSupport.setNonBlocking(fd)
        fileDescriptor = fd
    }

    deinit { close() }

    static func removeStale(_ path: String) throws(SocketError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
        let probe = try UnixSocketSupport.newSocket(path: path)
        defer { Glibc.close(probe) }
        let err = try UnixSocketSupport.connect(probe, to: path)
        switch err {
        case 0: throw .addressInUse(path: path)
        case ECONNREFUSED, ENOENT:
            if unlink(path) != 0 && errno != ENOENT {
                throw .system(call: "unlink", errno: errno, path: path)
            }
        case EACCES, EPERM: throw .permissionDenied(path: path)
        default: throw .system(call: "connect", errno: err, path: path)
        }
    }

    /// The next waiting connection, or nil when none is waiting (never blocks).
    public func accept() throws(TransportError) -> UnixSeqpacketConnection? {
        guard fileDescriptor >= 0 else { throw .closed }
        while true {
            let fd = Glibc.accept(fileDescriptor, nil, nil)
            if fd >= 0 {
                UnixSocketSupport.setCloseOnExec(fd)
                return UnixSeqpacketConnection(fd: fd, path: path)
            }
            switch errno {
            case EINTR: continue
            // A peer that gave up before we accepted: nothing to hand out.
            case EAGAIN, EWOULDBLOCK, ECONNABORTED: return nil
            default: throw .system("accept", errno)
            }
        }
    }

    /// Stops listening and removes the socket file, if it is still the one we created.
    public func close() {
        guard fileDescriptor >= 0 else { return }
        Glibc.close(fileDescriptor)
        fileDescriptor = -1
        if let identity, let now = UnixSocketSupport.identity(of: path), now == identity {
            unlink(path)
        }
    }
}
