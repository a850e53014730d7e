// What carries netlink bytes between the parties: a packet in, a packet out, message
// boundaries kept. Implemented by Unix SOCK_SEQPACKET connections (the twin) and by generic
// netlink sockets (the kernel module); tests may use socketpair(2).

/// Errors of a transport, each with the errno that a netlink caller would see.
public enum TransportError: Error, Hashable, CustomStringConvertible {
    /// The peer closed the connection (or the listener went away).
    case closed
    /// A system call failed: its name and errno.
    case system(String, Int32)
    /// No packet arrived within the time asked for.
    case timedOut
    /// A packet larger than the receive buffer arrived and was cut.
    case truncated(Int)

    public var description: String {
        switch self {
        case .closed: return "the peer closed the connection"
        case let .system(call, errno): return "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .timedOut: return "timed out"
        case let .truncated(n): return "a \(n)-byte packet did not fit the receive buffer"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A bidirectional, packet-preserving channel of netlink messages.
public protocol MessageTransport: AnyObject {
    /// Sends one packet (one or more whole netlink messages).
    func send(_ packet: UnsafeRawBufferPointer) throws(TransportError)
    /// Receives one packet into `buffer` (reusing its storage), waiting at most `timeout`
    /// seconds (nil: forever). Returns the packet's length.
    func receive(into buffer: inout [UInt8], timeout: Double?) throws(TransportError) -> Int
    /// A file descriptor that poll(2) reports readable when a packet is waiting.
    var fileDescriptor: Int32 { get }
    func close()
}
