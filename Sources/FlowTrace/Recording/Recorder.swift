// The recorder: every message the twin or the daemon sends or receives becomes one pcapng
// record. Thread-safe (the twin and the listener run on their own threads); a record costs a
// lock and a copy into the writer's buffer. Every file, rotated ones included, starts with
// NEWFAMILY records for the families and a snapshot of the devices' state, so one file is a
// complete bug report (spec/trace-format.md).

import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

public final class Recorder: @unchecked Sendable {
    /// Interface ids in the files: the hairpin leg always, the API leg when recorded.
    public static let hairpinInterface: UInt32 = 0
    public static let apiInterface: UInt32 = 1

    /// Messages (whole netlink messages, encoded) that rebuild the devices' state: synthetic
    /// discovery and GET_FLOWS exchanges. Called at the start of every file, with the
    /// daemon's state held still by the caller.
    public typealias SnapshotProvider = () -> [(direction: TraceDirection, bytes: [UInt8])]

    let writer: PcapngWriter
    // Every mutable field below is touched only with `lock` held (the lock itself is the
    // exception, being what serialises), so the runtime's exclusivity checks add nothing but
    // cost on the NDO path: they were a quarter of a recorded message's instructions.
    @exclusivity(unchecked) var lock = pthread_mutex_t()
    let families: [Controller.Family]
    @exclusivity(unchecked) public private(set) var recordsWritten = 0
    @exclusivity(unchecked) public private(set) var lastError: String?
    @exclusivity(unchecked) var flusher: pthread_t?
    @exclusivity(unchecked) var stopping = false

    /// - Parameters:
    ///   - families: the family ids used in this session (NEWFAMILY records in every file).
    ///   - recordsAPI: whether the API leg is recorded too (the twin sees both legs).
    public init(path: String, families: [Controller.Family], recordsAPI: Bool, sessionComment: String,
                rotation: PcapngRotation? = nil, flush: PcapngFlushPolicy = .default,
                snapshot: SnapshotProvider? = nil) throws {
        self.families = families
        var interfaces = [PcapngInterfaceInfo(name: "hairpin", description: "nfl_hairpin: unft <-> flow-table-hairpind")]
        if recordsAPI {
            interfaces.append(PcapngInterfaceInfo(name: "api", description: "net_flow_nl: application <-> unft"))
        }
        let fams = families
        writer = try PcapngWriter(
            path: path,
            section: .thisHost(comment: sessionComment),
            interfaces: interfaces, flush: flush, rotation: rotation,
            preamble: { w in
                var nl = NetlinkWriter(capacity: 512)
                let t = PcapngWriter.now()
                for f in fams {
                    nl.reset()
                    Controller.newFamily(f, sequence: 0, port: 0, into: &nl)
                    try nl.withUnsafeBytes { raw in
                        try w.append(TraceRecord(timestamp: t, leg: .hairpin, direction: .toUser, interface: Recorder.hairpinInterface,
                                                 netlink: raw, synthetic: true, comment: "family \(f.name) is id \(f.id)"))
                    }
                }
                for m in snapshot?() ?? [] {
                    try m.bytes.withUnsafeBytes { raw in
                        try w.append(TraceRecord(timestamp: t, leg: .hairpin, direction: m.direction,
                                                 interface: Recorder.hairpinInterface, netlink: raw, synthetic: true))
                    }
                }
            })
        pthread_mutex_init(&lock, nil)
        startFlusher()
    }

    /// Records one message. Never throws into the caller's NDO path: a write error is kept in
    /// `lastError` (and the writer keeps the unwritten blocks to retry on the next flush).
    public func record(leg: TraceLeg, direction: TraceDirection, bytes: UnsafeRawBufferPointer,
                       pairing: UInt64? = nil, timestamp: UInt64 = PcapngWriter.now(), comment: String? = nil) {
        let iface = leg == .api ? Recorder.apiInterface : Recorder.hairpinInterface
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        do {
            try writer.append(TraceRecord(timestamp: timestamp, leg: leg, direction: direction, interface: iface,
                                          netlink: bytes, pairing: pairing, comment: comment))
            recordsWritten += 1
        } catch {
            lastError = "\(error)"
        }
    }

    /// Flushes what is buffered (also done every 100 ms by a background thread).
    public func flush() {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        do { try writer.flush() } catch { lastError = "\(error)" }
    }

    /// Finishes the file. Idempotent.
    public func close() {
        pthread_mutex_lock(&lock)
        let wasStopping = stopping
        stopping = true
        pthread_mutex_unlock(&lock)
        if wasStopping { return }
        if let flusher { pthread_join(flusher, nil) }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        do { try writer.close() } catch { lastError = "\(error)" }
    }

    public var path: String { writer.path }

    deinit { close() }

    /// The writer flushes by count and size on append; this thread adds the time bound, so a
    /// quiet session still reaches the disk within ~100 ms.
    func startFlusher() {
        let box = Unmanaged.passUnretained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            guard let arg else { return nil }
            let r = Unmanaged<Recorder>.fromOpaque(arg).takeUnretainedValue()
            while true {
                usleep(50_000)
                pthread_mutex_lock(&r.lock)
                let stop = r.stopping
                if !stop { do { try r.writer.flushIfDue() } catch { r.lastError = "\(error)" } }
                pthread_mutex_unlock(&r.lock)
                if stop { return nil }
            }
        }, box)
        if rc == 0 { flusher = thread }
    }
}
