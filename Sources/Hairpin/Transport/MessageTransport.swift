// What carries netlink bytes between the parties: a packet in, a packet out, message
// boundaries kept. Implemented by Unix SOCK_SEQPACKET connections (the twin) and by generic
// netlink sockets (the kernel module); tests may use socketpair(2).

import Posix

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
        case let .system(call, errno): return "\(call) failed: \(Sys.errorText(errno)) (errno \(errno))"
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

/// A transport that receives straight into caller-owned memory: the socket transports
/// (GenlSocketTransport, UnixSeqpacketConnection). The array-based `receive` of
/// MessageTransport is then the one implementation below instead of a copy in each.
public protocol BufferReceivingTransport: MessageTransport {
    /// What `receive(into: inout [UInt8], timeout:)` grows a smaller array to: the largest
    /// packet the transport expects (larger ones are reported as `.truncated`).
    static var receiveBufferSize: Int { get }
    /// Receives one packet into `buffer`, waiting at most `timeout` seconds (nil: forever).
    /// Returns its length; on `.truncated` the packet's first `buffer.count` bytes are in
    /// `buffer`.
    func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Double?) throws(TransportError) -> Int
}

extension BufferReceivingTransport {
    public func receive(into buffer: inout [UInt8], timeout: Double?) throws(TransportError) -> Int {
        if buffer.count < Self.receiveBufferSize {
            buffer = [UInt8](repeating: 0, count: Self.receiveBufferSize)
        }
        // withUnsafeMutableBytes rethrows untyped errors: carry the transport's out as a value.
        let result: Result<Int, TransportError> = buffer.withUnsafeMutableBytes { raw in
            do throws(TransportError) { return .success(try receive(into: raw, timeout: timeout)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
