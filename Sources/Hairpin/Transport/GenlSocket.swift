// A generic netlink socket as a MessageTransport: what the client and the listener use when the
// unft kernel module is loaded (spec/two-leg-contract.md, "Transports"). libnl opens and binds
// the socket; everything after that is plain sendto/recv on its descriptor, so the bytes are
// exactly the ones the codec wrote and the kernel sent, with no libnl message objects between.
//
// The socket is set up so the kernel's answers look like the twin's:
// * NETLINK_CAP_ACK: an error does not echo the whole request back (the twin never does);
// * NETLINK_EXT_ACK: errors carry the extended-ack text (NLMSGERR_ATTR_MSG) unft writes.
// Sequence checks and auto-ACK of libnl are off: the callers match nlmsg_seq themselves and
// ask for ACKs with NLM_F_ACK in the bytes they send.

import CLibNL
import Posix

#if canImport(Glibc)
import Glibc
#endif

public final class GenlSocketTransport: BufferReceivingTransport {
    /// linux/netlink.h; not every Glibc module map exports them.
    static let solNetlink: Int32 = 270
    static let netlinkCapAck: Int32 = 10
    static let netlinkExtAck: Int32 = 11
    static let soRcvBufForce: Int32 = 33
    static let soSndBufForce: Int32 = 32

    /// Receive buffers are grown to at least this: one netlink packet from the kernel is one
    /// skb, at most one 64 KiB message plus headers (an ENCAP part, a page of flows).
    public static let receiveBufferSize = 128 * 1024
    /// Socket buffer sizes asked for by default. unft sends all GET_FLOWS pages of one call
    /// inside the client's sendmsg(), before the client can read: they must all fit the
    /// receive buffer, or the call fails with ENOBUFS (kmod/README.md, point 3).
    public static let defaultReceiveBufferBytes: Int32 = 16 << 20
    public static let defaultSendBufferBytes: Int32 = 1 << 20

    /// Where the module shows up once loaded.
    public static let modulePath = "/sys/module/unft"

    /// Whether the unft kernel module is loaded (the tools then talk to the kernel instead of a
    /// twin).
    public static var moduleLoaded: Bool { access(modulePath, F_OK) == 0 }

    /// The ifindex of a kernel network device, or nil when there is none by that name.
    /// Names that cannot be interface names (empty, too long, with '/' or NUL) are nil too,
    /// never passed to the kernel.
    public static func ifindex(ofDevice name: String) -> UInt32? {
        let bytes = Array(name.utf8)
        // IFNAMSIZ is 16 including the NUL.
        guard !bytes.isEmpty, bytes.count < 16, !bytes.contains(0), !bytes.contains(UInt8(ascii: "/")) else {
            return nil
        }
        let index = if_nametoindex(name)
        return index == 0 ? nil : index
    }

    // exclusivity(unchecked): a socket is used by one thread at a time, and the dynamic access
    // checks were a visible share of a listener's call (they touch thread-local state).
    @exclusivity(unchecked) private var socket: OpaquePointer?
    @exclusivity(unchecked) public private(set) var fileDescriptor: Int32
    /// The netlink port id the kernel knows this socket by (nlmsg_pid of what it sends us; the
    /// listener's registered port).
    public let port: UInt32
    /// How long a blocking `send` waits for room before it fails with `.timedOut`; nil forever.
    /// (A request to the kernel is handled inside sendmsg(): the wait for unft's answer is part
    /// of `send`, bounded by the module's timeout_ms, not by this.)
    @exclusivity(unchecked) public var sendTimeout: Double? = 30
    /// Messages the kernel could not queue for us (the receive buffer was full). Netlink reports
    /// them as one ENOBUFS on the next recv; the lost message's call then times out.
    @exclusivity(unchecked) public private(set) var overruns = 0
    @exclusivity(unchecked) private var bound = ReceiveBound()
    /// Receive and send buffer sizes the kernel granted (SO_RCVBUF / SO_SNDBUF read back).
    public private(set) var receiveBufferBytes: Int32 = 0
    public private(set) var sendBufferBytes: Int32 = 0

    /// Opens a NETLINK_GENERIC socket bound to a kernel-chosen port.
    /// - Parameters:
    ///   - receiveBufferBytes / sendBufferBytes: asked with SO_RCVBUFFORCE / SO_SNDBUFFORCE
    ///     (root), falling back to the sysctl-capped SO_RCVBUF / SO_SNDBUF.
    ///   - extendedAck, capAck: the socket options of the file comment; off only for tests.
    public init(
        receiveBufferBytes: Int32 = GenlSocketTransport.defaultReceiveBufferBytes,
        sendBufferBytes: Int32 = GenlSocketTransport.defaultSendBufferBytes,
        extendedAck: Bool = true, capAck: Bool = true
    ) throws(TransportError) {
        guard let sk = nl_socket_alloc() else { throw .system("nl_socket_alloc", ENOMEM) }
        nl_socket_disable_seq_check(sk)
        nl_socket_disable_auto_ack(sk)
        errno = 0
        let rc = genl_connect(sk)
        if rc < 0 {
            // libnl returns its own codes; errno still holds the system call's reason
            // (EPROTONOSUPPORT without generic netlink, EACCES/EPERM in a sandbox).
            let e = errno != 0 ? errno : EIO
            nl_socket_free(sk)
            throw .system("genl_connect", e)
        }
        let fd = nl_socket_get_fd(sk)
        guard fd >= 0 else {
            nl_socket_free(sk)
            throw .system("nl_socket_get_fd", EBADF)
        }
        socket = sk
        fileDescriptor = fd
        // libnl guesses a port before binding; the kernel's word is what getsockname says.
        var addr = sockaddr_nl()
        var len = socklen_t(MemoryLayout<sockaddr_nl>.size)
        let named = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = named == 0 ? addr.nl_pid : nl_socket_get_local_port(sk)

        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        // The descriptor stays blocking: a receive that has to wait sleeps in recv(2) itself,
        // bounded by SO_RCVTIMEO (see `receive`), and everything that must not wait says
        // MSG_DONTWAIT. A wait through poll(2) cost the listener two more system calls per
        // call (a recv that found nothing, then the poll) on the round trip's critical path.

        if capAck { try setOption(Self.netlinkCapAck, 1, "NETLINK_CAP_ACK") }
        if extendedAck { try setOption(Self.netlinkExtAck, 1, "NETLINK_EXT_ACK") }
        setBuffers(receive: receiveBufferBytes, send: sendBufferBytes)
    }

    deinit { close() }

    private func setOption(_ option: Int32, _ value: Int32, _ name: String) throws(TransportError) {
        var v = value
        if setsockopt(fileDescriptor, Self.solNetlink, option, &v, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            let e = errno
            close()
            throw .system("setsockopt(\(name))", e)
        }
    }

    /// Asks for the buffers; a smaller grant is not an error (the read-back sizes say what we got).
    private func setBuffers(receive: Int32, send: Int32) {
        var r = max(receive, 4096), s = max(send, 4096)
        let size = socklen_t(MemoryLayout<Int32>.size)
        let forcedR = setsockopt(fileDescriptor, SOL_SOCKET, Self.soRcvBufForce, &r, size) == 0
        let forcedS = setsockopt(fileDescriptor, SOL_SOCKET, Self.soSndBufForce, &s, size) == 0
        if !forcedR || !forcedS, let socket {
            // Without CAP_NET_ADMIN the FORCE variants fail; libnl's setter is capped by
            // net.core.rmem_max / wmem_max, which is the best an ordinary user gets.
            _ = nl_socket_set_buffer_size(socket, forcedR ? 0 : r, forcedS ? 0 : s)
        }
        var got: Int32 = 0
        var len = size
        if getsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 { receiveBufferBytes = got }
        len = size
        if getsockopt(fileDescriptor, SOL_SOCKET, SO_SNDBUF, &got, &len) == 0 { sendBufferBytes = got }
    }

    // MARK: MessageTransport

    /// Sends one packet to the kernel (sendto(2) to port 0, what nl_sendto does, with
    /// MSG_DONTWAIT: a full socket is waited for here, with `sendTimeout`). For a request to
    /// unft this returns only once the module has handled it (answered, failed or timed out),
    /// with the answer already queued on this socket.
    public func send(_ packet: UnsafeRawBufferPointer) throws(TransportError) {
        try send(packet, toPort: 0)
    }

    /// `send` to any netlink port (0: the kernel; tests send to another socket's port).
    func send(_ packet: UnsafeRawBufferPointer, toPort port: UInt32) throws(TransportError) {
        guard socket != nil, fileDescriptor >= 0 else { throw .closed }
        guard let base = packet.baseAddress, packet.count > 0 else { throw .system("sendto", EINVAL) }
        let deadline = WaitDeadline(sendTimeout)
        var peer = sockaddr_nl()
        peer.nl_family = sa_family_t(AF_NETLINK)
        peer.nl_pid = port
        while true {
            let n = withUnsafePointer(to: &peer) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        fileDescriptor, base, packet.count, Int32(MSG_DONTWAIT), $0,
                        socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
            if n >= 0 {
                // Netlink datagrams are sent whole or not at all.
                guard n == packet.count else { throw .system("sendto", EMSGSIZE) }
                return
            }
            let e = errno
            switch e {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ENOBUFS:
                let remaining = try deadline.remaining()
                _ = try UnixSocketSupport.wait(fileDescriptor, events: Int16(POLLOUT), timeout: remaining)
                // A netlink socket polls writable even when the kernel is short of memory
                // (ENOBUFS): a short pause keeps the retry from spinning.
                usleep(1000)
            default:
                throw .system("sendto", e)
            }
        }
    }

    /// `receive` into caller-owned memory. MSG_TRUNC makes netlink return the packet's real
    /// length, so a packet larger than `buffer` is reported (`.truncated`, its first bytes in
    /// `buffer`) instead of silently cut.
    ///
    /// A wait is one blocking recv(2) bounded by SO_RCVTIMEO, not a recv that finds nothing
    /// followed by poll(2) and another recv: the listener's idle wait for the next ENCAP is then
    /// the one system call that also receives it. When the socket's SO_RCVTIMEO does not fit
    /// the wait (`ReceiveBound.fits`), a first recv with MSG_DONTWAIT looks before the bound is
    /// changed: a client's answer is already queued when its send returns, so a client pays
    /// one recv per packet and no setsockopt. `timeout` 0 never waits.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Double?) throws(TransportError) -> Int {
        guard fileDescriptor >= 0 else { throw .closed }
        let deadline = WaitDeadline(timeout)
        // The first attempt is measured against `timeout` itself, so a caller that always asks
        // for the same bound (the listener's poll interval) finds SO_RCVTIMEO already right.
        var remaining = timeout.map { max($0, 0) }
        var first = true
        while true {
            let wait: Bool
            if remaining == 0 || bound.pollForWaits {
                wait = false
            } else if bound.fits(remaining) {
                wait = true
            } else if first {
                wait = false
            } else {
                wait = bound.set(fileDescriptor, remaining)
            }
            first = false
            let n = recv(
                fileDescriptor, buffer.baseAddress, buffer.count,
                Int32(MSG_TRUNC) | (wait ? 0 : Int32(MSG_DONTWAIT)))
            if n > buffer.count { throw .truncated(n) }
            // An empty datagram carries nothing (netlink never sends one); wait for the next.
            if n > 0 { return n }
            if n < 0 {
                switch errno {
                case EINTR, EAGAIN, EWOULDBLOCK: break
                case ENOBUFS:
                    // A message for us was dropped; the socket is fine and what follows is whole.
                    overruns += 1
                    continue
                default: throw .system("recv", errno)
                }
            }
            remaining = try deadline.remaining()
            if bound.pollForWaits {
                if try !UnixSocketSupport.wait(fileDescriptor, events: Int16(POLLIN), timeout: remaining) {
                    throw .timedOut
                }
            }
        }
    }

    /// Closes the socket (libnl frees it). For the listener this is what unft notices
    /// (NETLINK_URELEASE): the registration ends and pending calls fail with ENOTCONN.
    public func close() {
        if let socket {
            nl_socket_free(socket)
            self.socket = nil
        }
        fileDescriptor = -1
    }
}
