// `flowtrace replay`: feeds a trace's requests to a target and compares each recorded answer
// with the target's. Two kinds of target:
//
// * a backend in this process (BackendReplayer): the recorded hairpin ENCAP requests go to a
//   fresh flow-table-hairpind core (ListenerLoop + HairpinService) exactly as unft sent them,
//   and its ENCAP answers are compared with the recorded ones — no sockets, the fastest;
// * anything that speaks the Flow Table API over a MessageTransport (APIReplayer): the
//   recorded API requests go to the twin (started here, or already running behind a socket)
//   or the kernel module, both legs run, and the replies are compared with the recorded ones.
//
// spec/replay.md is the user-facing description (targets, timing, normalisation, exit codes).

import FlowTrace
import Hairpin
import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

public enum ReplayTarget: Hashable, Sendable, CustomStringConvertible {
    /// A backend in this process, fed the hairpin leg.
    case backend(BackendKind)
    /// A twin (with a listener on `backend`) started in this process for the replay.
    case twin(backend: BackendKind)
    /// An already running twin's API socket.
    case socket(path: String)
    /// The unft kernel module, devices by name (the trace's devices map onto them in order).
    case kernel(devices: [String])

    public var description: String {
        switch self {
        case let .backend(b): return "backend:\(b.rawValue)"
        case let .twin(b): return b == .hash ? "twin" : "twin (\(b.rawValue) backend)"
        case let .socket(p): return "socket:\(p)"
        case let .kernel(d): return "kernel:\(d.joined(separator: ","))"
        }
    }

    /// Parses `backend:NAME`, `twin`, `socket:PATH`, `kernel:DEV[,DEV…]`.
    public static func parse(_ text: String, twinBackend: BackendKind = .hash) throws(ReplayError) -> ReplayTarget {
        if text == "twin" { return .twin(backend: twinBackend) }
        guard let colon = text.firstIndex(of: ":") else {
            throw .usage("unknown target \(text): use backend:dummy|hash|tss|tcam, twin, socket:PATH or kernel:DEV")
        }
        let kind = String(text[..<colon]), rest = String(text[text.index(after: colon)...])
        switch kind {
        case "backend":
            guard let b = BackendKind(rawValue: rest) else {
                throw .usage(
                    "unknown backend \(rest): one of \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return .backend(b)
        case "twin":
            guard let b = BackendKind(rawValue: rest) else { throw .usage("unknown backend \(rest) for the twin") }
            return .twin(backend: b)
        case "socket":
            guard !rest.isEmpty else { throw .usage("socket: needs the path of a twin's API socket") }
            return .socket(path: rest)
        case "kernel":
            let devs = rest.split(separator: ",").map(String.init).filter { !$0.isEmpty }
            guard !devs.isEmpty else { throw .usage("kernel: needs a device name, e.g. kernel:unft0") }
            return .kernel(devices: devs)
        default:
            throw .usage("unknown target \(text): use backend:NAME, twin, socket:PATH or kernel:DEV")
        }
    }

    /// Targets in this process replay at top speed by default; the others at recorded speed,
    /// because a bug report is reproduced against a real target with its timing.
    public var defaultTiming: Timing {
        if case .backend = self { return .topSpeed }
        return .recorded(multiplier: 1)
    }
}

public enum ReplayError: Error, CustomStringConvertible {
    case usage(String)
    case trace(TraceFileError)
    /// The target could not be set up or reached.
    case target(String)

    public var description: String {
        switch self {
        case let .usage(t): return t
        case let .trace(e): return "\(e)"
        case let .target(t): return t
        }
    }
}

/// Interaction of `--step`: shown a request, the user lets it go (or ends the replay).
public protocol StepControl: AnyObject {
    /// Called before a request goes out; false ends the replay.
    func before(request: String) -> Bool
    /// The target's answer, one line per message, and whether it matched the recorded one
    /// (nil: not known yet or nothing to compare).
    func after(answer: [String], matched: Bool?)
}

public struct ReplayOptions {
    public var timing: Timing
    /// How many times the trace is replayed, each from the starting state; 0: until SIGINT.
    public var loops = 1

    var loopCount: Int { loops == 0 ? Int.max : max(1, loops) }
    /// Backend targets: the listener answers through its service on bytes (ByteService), as
    /// flow-table-hairpind does (byte-identical answers; what it declines takes the typed path).
    /// Off: every call takes the typed path (for comparing the two).
    public var usesByteService = true
    /// Backend targets: compare repeated answers by shape (AnswerShapes) instead of normalising
    /// both each time. Off only in tests, which check that reports do not change.
    var answerShapes = true
    /// The model of devices the snapshot does not describe (and of all, without a snapshot).
    public var defaultModel: PipelineModel = DefaultModel.model
    public var step: StepControl?
    /// API targets: recorded ifindex → the target's (requests are sent with the target's, its
    /// answers are compared with it mapped back).
    public var ifindexMap: [UInt32: UInt32] = [:]
    /// API targets: how long one call may take before the replay gives up on the target.
    public var timeout: Double = 10
    /// API targets other than a fresh twin: keep what the target holds instead of replacing it
    /// by the trace's starting state.
    public var keepState = false
    /// Twin target: record the replay session to this pcapng file.
    public var recordPath: String?
    /// Each message the target answered, as sent (tests compare runs byte for byte).
    public var onAnswer: ((UnsafeRawBufferPointer) -> Void)?
    /// Warnings as they happen (default: stderr).
    public var log: (String) -> Void = { line in
        var text = "flowtrace: " + line + "\n"
        text.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    }
    /// Divergences listed beyond the first.
    public var listed = 100
    /// Accept an incomplete trace: calls without a recorded answer and answers without their
    /// request are counted but do not fail the replay.
    public var allowIncomplete = false
    /// Backend targets: times the backend's own operations (insert, delete, get) apart from
    /// the service around them; a fresh accumulator per run (bench; tests slow one call).
    public var backendTiming: (() -> BackendTiming)?
    /// Faults the trace recorded, injected again at the same calls (FaultReplay.swift).
    public var faultPlan: FaultPlan?
    /// Backend targets: the daemon core once each pass over the trace ends (the flows a trace
    /// leaves installed: InstalledFlows).
    public var onFinished: ((HairpinService) -> Void)?
    /// kernel:DEV — the ifindexes the trace's devices map onto, in ascending order (set by
    /// Replayer from the device names).
    var kernelDevices: [UInt32] = []

    public init(timing: Timing) {
        self.timing = timing
    }
}

/// The snapshot at the start of a trace, and the first live record (copied: the reader's view
/// of it ends with the next read).
struct Preamble {
    var state = StartingState()
    var firstLive: StoredTraceRecord?

    static func read(_ source: RecordSource) throws(TraceFileError) -> Preamble {
        var p = Preamble()
        while let r = try source.next() {
            if r.synthetic {
                p.state.add(r, families: source.families, frame: source.recordNumber)
                continue
            }
            p.firstLive = StoredTraceRecord(r)
            break
        }
        return p
    }
}

public final class Replayer {
    public let target: ReplayTarget
    public var options: ReplayOptions

    public init(target: ReplayTarget, options: ReplayOptions) {
        self.target = target
        self.options = options
    }

    /// Replays the API leg over any transport that speaks the Flow Table API (the kernel's
    /// generic netlink socket, a twin's Unix socket, a test's fake): what the socket and kernel
    /// targets use. The target's flows on the trace's devices are replaced by the starting
    /// state unless `options.keepState`; `ifindexMap` maps the trace's devices onto its own.
    public static func replayAPI(
        _ source: RecordSource, over transport: any MessageTransport, targetName: String,
        options: ReplayOptions
    ) throws(ReplayError) -> ReplayReport {
        try APIReplayer(transport: transport, options: options, freshTarget: false).run(source, target: targetName)
    }

    /// The records a backend target needs: everything but the API leg and the ACKs and DONEs
    /// (unft's ACKs of the listener's answers). For sources' filters: what is dropped there is
    /// never copied or looked at again.
    public static let backendRecords: @Sendable (TraceRecord) -> Bool = { r in
        if r.leg == .api { return false }
        guard r.netlink.count >= Netlink.headerLength else { return true }
        let type = r.netlink.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        return type != Netlink.typeError && type != Netlink.typeDone
    }

    /// What the reader can pass over unread for a backend target: exactly the records
    /// `backendRecords` drops (the API leg; NLMSG_ERROR and NLMSG_DONE), decided from the pcapng
    /// block before a record is built. `ReadAheadSource(path:dropping:)` takes it alone (and
    /// drops the rest without a closure); `ReadAheadSource(path:filter:skipping:)` takes both.
    public static let backendSkip = TraceReader.Skip(legs: [.api], messageTypes: [Netlink.typeError, Netlink.typeDone])

    /// Opens the kernel module's Flow Table API transport. Set by whoever links a generic
    /// netlink transport in (the kernel leg's GenlSocketTransport); nil in builds without it.
    nonisolated(unsafe) public static var kernelTransport: (() throws -> any MessageTransport)?

    /// Replays `source` into the target. Throws for what stops a replay before it starts
    /// (bad target, unreadable trace head); everything later is in the report.
    public func run(_ source: RecordSource) throws(ReplayError) -> ReplayReport {
        switch target {
        case .socket, .kernel:
            if let plan = options.faultPlan, !plan.isEmpty {
                options.log(
                    "the trace holds \(plan.count) injected faults, which \(target) cannot be made to inject again: their calls will diverge"
                )
            }
        default: break
        }
        switch target {
        case let .backend(kind):
            return try BackendReplayer(kind: kind, options: options).run(source, target: target.description)
        case let .twin(backend):
            return try APIReplayer.withTwin(
                backend: backend, source: source, options: options, name: target.description)
        case let .socket(path):
            let connection: UnixSeqpacketConnection
            do { connection = try UnixSeqpacketConnection.connect(path: path) } catch {
                throw .target("cannot connect to the twin at \(path): \(error)")
            }
            defer { connection.close() }
            return try Self.replayAPI(source, over: connection, targetName: target.description, options: options)
        case let .kernel(devices):
            guard let open = Self.kernelTransport else {
                throw .target(
                    """
                    kernel:\(devices.joined(separator: ",")) needs the unft module and a generic netlink transport \
                    (GenlSocketTransport), which this build does not have yet; replay into the twin meanwhile \
                    (--target twin), or into a twin started with `flow-table-hairpind --twin` (--target socket:PATH)
                    """)
            }
            let transport: any MessageTransport
            do { transport = try open() } catch {
                throw .target("cannot open the kernel's net_flow_nl socket: \(error)")
            }
            defer { transport.close() }
            var o = options
            // The trace's devices in ascending ifindex order map onto the named ones.
            var kernelIndexes: [UInt32] = []
            for name in devices {
                let i = if_nametoindex(name)
                guard i > 0 else { throw .target("no network device named \(name)") }
                kernelIndexes.append(UInt32(i))
            }
            o.kernelDevices = kernelIndexes
            return try Self.replayAPI(source, over: transport, targetName: target.description, options: o)
        }
    }
}

/// Peak resident set size so far, bytes (ru_maxrss is in KiB on Linux).
public func peakResidentBytes() -> Int {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Int(u.ru_maxrss) * 1024
}

/// Resident set size now, bytes (/proc/self/statm), or 0 when unreadable.
public func currentResidentBytes() -> Int {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 128)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return 0 }
    let fields = String(decoding: buf[0..<n], as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
