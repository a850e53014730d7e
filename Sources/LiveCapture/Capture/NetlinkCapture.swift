// `flowtrace capture`: real kernel traffic, from an nlmon device through libpcap, into
// FlowTrace's pcapng (the Recorder's files: NEWFAMILY records first, the api and hairpin
// interfaces, per-record leg metadata, and a third interface for every other family and
// protocol). Our two families' ids, and those of the families named with --family, are learnt
// from nlctrl before capturing starts; a generic family first seen during the capture is asked
// from nlctrl by its id then, and its NEWFAMILY written (synthetic) before its first message, so
// the file names every family on its own. CaptureFilter decides what is kept.
//
// The loop polls libpcap's descriptor with a short timeout so a stop request (a signal seen by
// the caller's `shouldStop`, the count, the duration) is noticed within 100 ms even when the
// device is idle.

import CLibPcap
import Hairpin
import FlowTrace
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

public struct CaptureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ text: String) { description = text }
}

public final class NetlinkCapture {
    public struct Options {
        /// The nlmon device, e.g. "nlmon0".
        public var device = "nlmon0"
        /// Stop after this many messages were kept.
        public var count: Int?
        /// Stop after this many seconds.
        public var duration: Double?
        /// libpcap's snap length: one netlink skb can hold a 64 KiB message and more.
        public var snapLength: Int32 = 262_144
        /// The kernel ring for the capture: bursts of big SET_FLOWS parts must not be dropped.
        public var bufferBytes: Int32 = 16 << 20
        public var commandLine = ""
        /// Keep only these families (generic family names; "rtnetlink", "route" or an rt-*
        /// spec name for the whole NETLINK_ROUTE protocol). Empty: every family and protocol.
        public var families: [String] = []
        /// Only our two families, which must be registered (the capture of the two legs).
        public var legsOnly = false
        /// Name each message's process (pid and command, from its netlink port) in its comment.
        public var processes = true
        public init() {}
    }

    /// What a capture did, for the closing line.
    public struct Summary: Hashable, Sendable {
        public var filter = CaptureFilter.Statistics()
        public var recordsWritten = 0
        /// Packets the kernel dropped before libpcap read them (pcap_stats ps_drop).
        public var droppedByKernel = 0
        public var seconds = 0.0
        public var writeError: String?
    }

    public let options: Options
    /// Our two families; id 0 when the kernel has not registered them (unft not loaded).
    public let families: (api: Controller.Family, hairpin: Controller.Family)
    /// The families named with --family, and the protocols kept whole.
    public let named: [Controller.Family]
    public let keep: CaptureFilter.Keep
    private let handle: OpaquePointer
    /// The socket that asks nlctrl for the families seen during the capture.
    private let lookup: GenlSocketTransport

    /// The names `--family` takes for the whole NETLINK_ROUTE protocol.
    public static func isRouteName(_ name: String) -> Bool {
        name == "rtnetlink" || name == "route" || name.hasPrefix("rt-") || name.hasPrefix("rt_")
    }

    /// Resolves the families through nlctrl and opens the device (not yet capturing to a file).
    /// Errors say what to do: load unft, create the nlmon device, run as root.
    public init(_ options: Options) throws {
        self.options = options
        do { lookup = try GenlSocketTransport(receiveBufferBytes: 1 << 20) } catch {
            throw CaptureError("cannot open a generic netlink socket to ask nlctrl for the families: \(error)")
        }
        let ours = try Self.resolveFamilies(over: lookup, required: options.legsOnly)
        families = ours
        var named: [Controller.Family] = []
        var ids: Set<UInt16> = [], protocols: Set<UInt16> = []
        var buffer: [UInt8] = []
        for (k, name) in options.families.enumerated() {
            if Self.isRouteName(name) {
                protocols.insert(NetlinkPseudoHeader.protocolRoute)
                continue
            }
            if name == "nlctrl" {
                ids.insert(Controller.familyID)
                continue
            }
            do {
                let f = try FlowTableClient.lookupFamily(
                    name, over: lookup, sequence: UInt32(100 + k), port: lookup.port,
                    timeout: 5, buffer: &buffer)
                named.append(f)
                ids.insert(f.id)
            } catch FlowTableClientError.familyNotFound {
                throw CaptureError("the kernel has no generic netlink family \(name) (is its module loaded?)")
            } catch {
                throw CaptureError("asking nlctrl for \(name) failed: \(error)")
            }
        }
        self.named = named
        if options.legsOnly {
            keep = .ours
        } else if options.families.isEmpty {
            keep = .all
        } else {
            keep = .only(families: ids, protocols: protocols)
        }
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let h = pcap_create(options.device, &errbuf) else {
            throw CaptureError("cannot open \(options.device): \(Self.text(errbuf))")
        }
        _ = pcap_set_snaplen(h, options.snapLength)
        _ = pcap_set_promisc(h, 0)
        _ = pcap_set_buffer_size(h, options.bufferBytes)
        // Packets as they come, not in blocks: the count and the stop flag act at once.
        _ = pcap_set_immediate_mode(h, 1)
        _ = pcap_set_tstamp_precision(h, Int32(PCAP_TSTAMP_PRECISION_NANO))
        let rc = pcap_activate(h)
        if rc < 0 {
            let detail = pcap_geterr(h).map { String(cString: $0) } ?? "error \(rc)"
            pcap_close(h)
            var advice = ""
            if rc == PCAP_ERROR_NO_SUCH_DEVICE {
                advice = " (create it: ip link add \(options.device) type nlmon && ip link set \(options.device) up)"
            } else if rc == PCAP_ERROR_PERM_DENIED {
                advice = " (capturing needs root or CAP_NET_RAW)"
            } else if rc == PCAP_ERROR_IFACE_NOT_UP {
                advice = " (bring it up: ip link set \(options.device) up)"
            }
            throw CaptureError("cannot capture on \(options.device): \(detail)\(advice)")
        }
        let link = pcap_datalink(h)
        guard link == Int32(Pcapng.linkTypeNetlink) else {
            pcap_close(h)
            throw CaptureError("\(options.device) is not a netlink monitor (link type \(link), nlmon devices have 253)")
        }
        guard pcap_setnonblock(h, 1, &errbuf) == 0 else {
            pcap_close(h)
            throw CaptureError("cannot make the capture non-blocking: \(Self.text(errbuf))")
        }
        handle = h
    }

    deinit {
        pcap_close(handle)
        lookup.close()
    }

    /// net_flow_nl and nfl_hairpin as the running kernel registered them (id 0 when not, unless
    /// `required`).
    static func resolveFamilies(over transport: GenlSocketTransport, required: Bool) throws
        -> (api: Controller.Family, hairpin: Controller.Family)
    {
        var buffer: [UInt8] = []
        var found: [Controller.Family] = []
        for (k, name) in [NFL.familyName, NFLH.familyName].enumerated() {
            do {
                found.append(
                    try FlowTableClient.lookupFamily(
                        name, over: transport, sequence: UInt32(k + 1),
                        port: transport.port, timeout: 5, buffer: &buffer))
            } catch FlowTableClientError.familyNotFound {
                if required {
                    throw CaptureError("the kernel has no generic netlink family \(name): load the unft module first")
                }
                found.append(Controller.Family(id: 0, name: name, version: 0, maxAttr: 0, ops: []))
            } catch {
                throw CaptureError("asking nlctrl for \(name) failed: \(error)")
            }
        }
        return (found[0], found[1])
    }

    /// Captures into a new trace file at `path` until `shouldStop` says so (checked at least
    /// every 100 ms), the count is reached or the duration is over.
    public func run(path: String, shouldStop: () -> Bool) throws -> Summary {
        let fams = families
        let known = [fams.api, fams.hairpin].filter { $0.id != 0 } + named
        let what =
            options.legsOnly
            ? "both legs of the unft kernel module"
            : options.families.isEmpty
                ? "every netlink family" : "the families \(options.families.joined(separator: ", "))"
        let comment =
            "FlowTrace capture on \(options.device): \(what)"
            + (known.isEmpty ? "" : " (" + known.map { "\($0.name) id \($0.id)" }.joined(separator: ", ") + ")")
            + (options.commandLine.isEmpty ? "" : ", command: \(options.commandLine)")
        let recorder: Recorder
        do {
            recorder = try Recorder(
                path: path, families: known, recordsAPI: true, recordsOther: !options.legsOnly,
                sessionComment: comment)
        } catch {
            throw CaptureError("cannot write \(path): \(error)")
        }
        let state = LoopState(
            filter: CaptureFilter(
                flowTableID: fams.api.id, hairpinID: fams.hairpin.id, keep: keep,
                ownPort: lookup.port),
            recorder: recorder, limit: options.count, handle: handle, lookup: lookup,
            known: Set(known.map(\.id)), processes: options.processes ? ProcessMap() : nil)
        let start = MonotonicClock.now()
        let end = options.duration.map { start + MonotonicClock.nanoseconds($0) }
        let fd = pcap_get_selectable_fd(handle)
        var failure: String?
        let context = Unmanaged.passUnretained(state).toOpaque().assumingMemoryBound(to: UInt8.self)
        while !state.limitReached && !shouldStop() {
            if let end, MonotonicClock.now() >= end { break }
            if fd >= 0 {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let n = poll(&p, 1, 100)
                if n < 0 && errno != EINTR {
                    failure = "poll: \(Sys.errorText(errno))"
                    break
                }
                if n <= 0 { continue }
            } else {
                usleep(10_000)
            }
            let rc = pcap_dispatch(
                handle, -1,
                { user, header, bytes in
                    guard let user, let header, let bytes else { return }
                    let state = Unmanaged<LoopState>.fromOpaque(UnsafeRawPointer(user)).takeUnretainedValue()
                    state.packet(header.pointee, bytes)
                }, context)
            if rc == PCAP_ERROR {
                failure = pcap_geterr(handle).map { String(cString: $0) } ?? "pcap_dispatch failed"
                break
            }
        }
        var summary = Summary()
        var stats = pcap_stat()
        if pcap_stats(handle, &stats) == 0 { summary.droppedByKernel = Int(stats.ps_drop) }
        recorder.close()
        summary.filter = state.filter.statistics
        summary.recordsWritten = recorder.recordsWritten
        summary.writeError = recorder.lastError
        summary.seconds = Double(MonotonicClock.now() - start) / 1e9
        if let failure { throw CaptureError("capture on \(options.device) failed: \(failure)") }
        return summary
    }

    /// The per-packet work, reached from libpcap's C callback through its user pointer.
    final class LoopState {
        var filter: CaptureFilter
        let recorder: Recorder
        let limit: Int?
        let handle: OpaquePointer
        let lookup: GenlSocketTransport
        /// Generic family ids named in the file (or asked for in vain: asked once).
        var known: Set<UInt16>
        var lookupSequence: UInt32 = 1000
        var buffer: [UInt8] = []
        var limitReached = false
        /// Netlink ports to processes, for the records' comments; nil: not asked.
        let processes: ProcessMap?

        init(
            filter: CaptureFilter, recorder: Recorder, limit: Int?, handle: OpaquePointer, lookup: GenlSocketTransport,
            known: Set<UInt16>, processes: ProcessMap?
        ) {
            self.processes = processes
            self.filter = filter
            self.recorder = recorder
            self.limit = limit
            self.handle = handle
            self.lookup = lookup
            self.known = known
        }

        func packet(_ h: pcap_pkthdr, _ bytes: UnsafePointer<UInt8>) {
            guard !limitReached else { return }
            let data = UnsafeRawBufferPointer(start: bytes, count: Int(h.caplen))
            // Opened with nanosecond precision: tv_usec holds nanoseconds.
            let ts = UInt64(max(0, Int64(h.ts.tv_sec))) &* 1_000_000_000 &+ UInt64(max(0, Int64(h.ts.tv_usec)))
            let kept = filter.filter(packet: data, originalLength: Int(h.len))
            // The filter keeps nothing of a packet shorter than the pseudo-header.
            guard !kept.isEmpty, data.count >= NetlinkPseudoHeader.length else { return }
            let netlink = UnsafeRawBufferPointer(rebasing: data[NetlinkPseudoHeader.length...])
            for k in kept where k.range.upperBound <= netlink.count {
                let message = UnsafeRawBufferPointer(rebasing: netlink[k.range])
                if k.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric, message.count >= Netlink.headerLength {
                    let type = message.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
                    if type > Controller.familyID, !known.contains(type) { name(family: type, timestamp: ts) }
                }
                // The user-space end of the message: the sender's port toward the kernel, the
                // receiver's from it (0: the kernel, or a request sent without its port).
                var comment: String?
                if let processes, message.count >= Netlink.headerLength {
                    let port = message.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
                    if port != 0 {
                        comment =
                            processes.process(NetlinkPortKey(netlinkProtocol: k.netlinkProtocol, port: port))?
                            .description
                    }
                }
                recorder.record(
                    leg: k.leg, direction: k.direction, bytes: message, timestamp: ts, comment: comment,
                    netlinkProtocol: k.netlinkProtocol)
                if let limit, recorder.recordsWritten >= limit {
                    limitReached = true
                    pcap_breakloop(handle)
                    return
                }
            }
        }

        /// Asks nlctrl for a family first seen in the capture and records its NEWFAMILY (in the
        /// kernel's layout, as the preamble's) before the message. A family gone already (its
        /// module unloaded) stays a number; it is asked once.
        func name(family id: UInt16, timestamp: UInt64) {
            known.insert(id)
            lookupSequence &+= 1
            guard
                let f = try? FlowTableClient.lookupFamily(
                    id: id, over: lookup, sequence: lookupSequence, port: lookup.port,
                    timeout: 1, buffer: &buffer)
            else { return }
            recorder.recordFamily(f, timestamp: timestamp)
        }
    }

    static func text(_ errbuf: [CChar]) -> String {
        String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
