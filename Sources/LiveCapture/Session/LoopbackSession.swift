// The embedded default: unft's twin and flow-table-hairpind in one process, optionally
// recording every message of both legs. The listener runs on the twin's own thread and gets the
// ENCAP bytes in memory (`.inProcess`, the default: no socket hop, no thread hand-off), or on a
// thread of its own connected through the twin's real hairpin socket (`.socket`: the same bytes
// as between two processes). Both give the same trace after normalisation (a test diffs them). Used by `flow-table-hairpind --twin`,
// `flowtrace record` and `flowtrace demo`.

import Hairpin
import FlowTrace
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

public final class LoopbackSession {
    public struct Options {
        public var devices: [UnftTwin.Device] = [.default]
        public var backend: BackendKind = .hash
        public var model: PipelineModel = DefaultModel.model
        public var modelDescription = "built-in default model"
        public var paths: TwinSocketPaths = .default
        public var timeout: Double = 5
        /// Record to this file (pcapng), with optional rotation.
        public var recordPath: String?
        public var rotation: PcapngRotation?
        /// How the session was started, for the trace's section comment.
        public var commandLine = ""
        public var log: (String) -> Void = { _ in }
        /// Faults to inject, both sides (the twin's and the backend's); their calls' answer
        /// records are marked in the trace (InjectedFault.comment).
        public var faults: FaultInjector?
        /// How the listener reaches the twin. With faults the socket is always used: an
        /// injected delay must stall the listener, not the twin's thread (which also serves
        /// other clients and times calls out).
        public var listenerPath: ListenerPath = .inProcess
        /// Told about every message of both legs (after the recorder): a replay compares the
        /// hairpin leg with the recorded one.
        public var onMessage: UnftTwin.Hook?

        public init() {}
    }

    public enum ListenerPath: String, Sendable {
        /// On the twin's thread, the ENCAP bytes handed over in memory.
        case inProcess = "in-process"
        /// On its own thread, through the twin's hairpin socket.
        case socket
    }

    /// The path this session uses (see `Options.listenerPath`).
    public var listenerPath: ListenerPath { options.faults == nil ? options.listenerPath : .socket }

    public let options: Options
    public let service: HairpinService
    public let twin: UnftTwin
    public private(set) var recorder: Recorder?
    /// The daemon's listener (its statistics), once started.
    public private(set) var listener: ListenerLoop?
    var listenerThread: PosixThread?
    var listenerError: PosixLocked<String?> = PosixLocked(nil)
    var stopped = false

    /// Errors: socket setup, twin start, listener registration, trace file creation; each
    /// with its own clear message.
    public init(_ options: Options) throws {
        self.options = options
        service = HairpinService(
            devices: DeviceRegistry(
                model: options.model, backend: options.backend,
                devices: options.devices.map(\.ifindex)))
        var config = UnftTwin.Configuration(devices: options.devices, timeout: options.timeout, paths: options.paths)
        config.onLog = options.log
        config.faults = options.faults
        service.faults = options.faults
        if let path = options.recordPath {
            let families = [
                Controller.Family.flowTable(id: config.flowTableFamilyID),
                Controller.Family.hairpin(id: config.hairpinFamilyID),
            ]
            let hairpinID = config.hairpinFamilyID
            let comment =
                "FlowTrace session: unft twin (devices \(options.devices.map { "\($0.name)=\($0.ifindex)" }.joined(separator: ",")))"
                + ", backend \(options.backend.rawValue), model \(options.modelDescription)"
                + (options.commandLine.isEmpty ? "" : ", command: \(options.commandLine)")
                + (options.faults.map { $0.specs.isEmpty ? "" : ", injected faults: \($0.specsText)" } ?? "")
            let service = self.service
            let rec = try Recorder(
                path: path, families: families, recordsAPI: true, sessionComment: comment,
                rotation: options.rotation,
                snapshot: {
                    service.snapshot(familyID: hairpinID).map {
                        (direction: $0.toUser ? TraceDirection.toUser : .toKernel, bytes: $0.bytes)
                    }
                })
            recorder = rec
            // The twin sees both legs; it alone records, so nothing is written twice. The fields
            // go to the recorder as they are (no record value is built per message); only a
            // session with faults looks for a marker.
            if let faults = options.faults {
                config.onMessage = { info, bytes in
                    rec.record(
                        leg: info.leg == .api ? .api : .hairpin,
                        direction: info.direction == .toKernel ? .toKernel : .toUser,
                        bytes: bytes, pairing: info.call, comment: Self.faultMark(faults, info))
                }
            } else {
                config.onMessage = { info, bytes in
                    rec.record(
                        leg: info.leg == .api ? .api : .hairpin,
                        direction: info.direction == .toKernel ? .toKernel : .toUser,
                        bytes: bytes, pairing: info.call)
                }
            }
        }
        if let extra = options.onMessage {
            if let recording = config.onMessage {
                config.onMessage = { info, bytes in
                    recording(info, bytes)
                    extra(info, bytes)
                }
            } else {
                config.onMessage = extra
            }
        }
        twin = try UnftTwin(config)
    }

    /// The marker of an answer record (the listener's ENCAP answer, the twin's API reply) of a
    /// call that got an injected fault; nil for every other record.
    static func faultMark(_ faults: FaultInjector, _ info: UnftTwin.MessageInfo) -> String? {
        guard let call = info.call,
            (info.leg == .hairpin && info.direction == .toKernel) || (info.leg == .api && info.direction == .toUser)
        else { return nil }
        return faults.mark(forCall: call)?.comment
    }

    /// Starts the twin, connects the listener to the twin's hairpin socket and registers it.
    public func start() throws {
        if listenerPath == .inProcess {
            try startInProcess()
            return
        }
        try twin.start()
        let transport = try UnixSeqpacketConnection.connect(path: options.paths.hairpin)
        let loop = ListenerLoop(
            transport: transport, familyID: twin.configuration.hairpinFamilyID, service: service,
            log: options.log)
        try loop.register()
        listener = loop
        let errorBox = listenerError
        listenerThread = try PosixThread {
            do { _ = try loop.run() } catch { errorBox.withLock { $0 = "\(error)" } }
        }
        writeDevicesFile()
    }

    /// Registers the listener over an in-memory link before the twin's thread starts; from then
    /// on the twin's thread serves it.
    func startInProcess() throws {
        try twin.bind()
        let link = twin.attachInProcessListener()
        let loop = ListenerLoop(
            transport: link, familyID: twin.configuration.hairpinFamilyID, service: service,
            log: options.log)
        try loop.register()
        twin.finishInProcessRegistration(link)
        let errorBox = listenerError
        link.serveListener = { [unowned loop] in
            do { _ = try loop.serveWaiting() } catch { errorBox.withLock { $0 = "\(error)" } }
        }
        listener = loop
        try twin.start()
        writeDevicesFile()
    }

    /// Stops the listener and the twin and finishes the trace file. Idempotent.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        listener?.stop()
        listenerThread?.join()
        twin.stop()
        recorder?.close()
        unlink(Self.devicesFile(for: options.paths))
    }

    deinit { stop() }

    /// Stops only the daemon's listener (its socket closes, as when the daemon dies): the
    /// twin then fails calls with ENOTCONN. For the demo and tests.
    public func stopListenerForDemo() {
        if listenerPath == .inProcess {
            twin.detachInProcessListener()
            return
        }
        listener?.stop()
        listenerThread?.join()
        listener?.transport.close()
    }

    /// Why the listener stopped, if it failed.
    public var listenerFailure: String? { listenerError.withLock { $0 } }

    // MARK: device names

    /// Where the twin's device names are published for clients (`flow-table-ctl DEV`): a
    /// kernel device is found by name through the kernel; a twin device through this file.
    public static func devicesFile(for paths: TwinSocketPaths) -> String { paths.api + ".devices" }

    func writeDevicesFile() { Self.writeDevicesFile(options.devices, paths: options.paths) }

    /// Publishes device names beside the API socket (see `devicesFile`).
    public static func writeDevicesFile(_ devices: [UnftTwin.Device], paths: TwinSocketPaths) {
        let path = devicesFile(for: paths)
        let text = devices.map { "\($0.name) \($0.ifindex)\n" }.joined()
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// Reads the names a running twin published: name → ifindex.
    public static func readDevices(paths: TwinSocketPaths) -> [String: UInt32] {
        let fd = open(devicesFile(for: paths), O_RDONLY)
        guard fd >= 0 else { return [:] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0 else { return [:] }
        var out: [String: UInt32] = [:]
        for line in String(decoding: bytes[0..<n], as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let i = UInt32(parts[1]) { out[String(parts[0])] = i }
        }
        return out
    }

    /// Devices "unft0,unft1" → ifindex 1000, 1001, … (the twin's numbering).
    public static func devices(named names: [String], firstIfindex: UInt32 = UnftTwin.Device.default.ifindex)
        -> [UnftTwin.Device]
    {
        names.enumerated().map { UnftTwin.Device(name: $1, ifindex: firstIfindex + UInt32($0)) }
    }
}
