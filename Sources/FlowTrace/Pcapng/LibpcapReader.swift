// libpcap's view of a trace file, for cross-checking that what FlowTrace writes is what
// libpcap-based tools (tcpdump, the pcap bindings of other languages) read: same packets,
// same nanosecond timestamps. libpcap drops every pcapng option, the interface id and section
// boundaries (it hands over packets and timestamps only), so FlowTrace's own readers are the ones
// to use; this one is for tests and diagnostics.

import CLibPcap

public final class LibpcapReader {
    /// One packet, a view into libpcap's buffer valid until the next call to `next()`.
    public struct Packet {
        /// Nanoseconds since the epoch (opened with nanosecond precision).
        public var timestamp: UInt64
        public var data: UnsafeRawBufferPointer
        public var originalLength: UInt32
    }

    private let handle: OpaquePointer
    public let path: String

    public init(path: String) throws(TraceFileError) {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let h = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
        guard let h else {
            let text = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TraceFileError(.malformed, "libpcap: \(text)", path: path)
        }
        handle = h
        self.path = path
    }

    deinit { pcap_close(handle) }

    /// The link type (DLT) of the file's first interface.
    public var linkType: Int32 { pcap_datalink(handle) }
    public var snapLength: Int32 { pcap_snapshot(handle) }

    public func next() throws(TraceFileError) -> Packet? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let rc = pcap_next_ex(handle, &header, &data)
        switch rc {
        case 1:
            guard let header, let data else { return nil }
            let h = header.pointee
            let ns = UInt64(max(0, Int64(h.ts.tv_sec))) &* 1_000_000_000 &+ UInt64(max(0, Int64(h.ts.tv_usec)))
            return Packet(
                timestamp: ns, data: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)),
                originalLength: h.len)
        case PCAP_ERROR_BREAK:
            return nil
        default:
            let text = pcap_geterr(handle).map { String(cString: $0) } ?? "error \(rc)"
            throw TraceFileError(.malformed, "libpcap: \(text)", path: path)
        }
    }
}
