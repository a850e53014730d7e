// The embedded default: unft's twin and flow-table-hairpind in one process, connected through
// the twin's real hairpin socket (the same bytes as between two processes), optionally
// recording every message of both legs. Used by `flow-table-hairpind --twin`,
// `flowtrace record` and `flowtrace demo`.

import Hairpin
import LibFlowTable

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

        public init() {}
    }

    public let options: Options
    public let service: HairpinService
    public let twin: UnftTwin
    public private(set) var recorder: Recorder?
    var listener: ListenerLoop?
    var listenerThread: PosixThread?
    var listenerError: PosixLocked<String?> = PosixLocked(nil)
    var stopped = false

    /// Errors: socket setup, twin start, listener registration, trace file creation; each
    /// with its own clear message.
    public init(_ options: Options) throws {
        self.options = options
        service = HairpinService(devices: DeviceRegistry(model: options.model, backend: options.backend,
                                                         devices: options.devices.map(\.ifindex)))
        var config = UnftTwin.Configuration(devices: options.devices, timeout: options.timeout, paths: options.paths)
        config.onLog = options.log
        config.faults = options.faults
        service.faults = options.faults
        if let path = options.recordPath {
            let families = [Controller.Family.flowTable(id: config.flowTableFamilyID),
                            Controller.Family.hairpin(id: config.hairpinFamilyID)]
            let hairpinID = config.hairpinFamilyID
            let comment = "FlowTrace session: unft twin (devices \(options.devices.map { "\($0.name)=\($0.ifindex)" }.joined(separator: ",")))"
                + ", backend \(options.backend.rawValue), model \(options.modelDescription)"
                + (options.commandLine.isEmpty ? "" : ", command: \(options.commandLine)")
                + (options.faults.map { $0.specs.isEmpty ? "" : ", injected faults: \($0.specsText)" } ?? "")
            let service = self.service
            let rec = try Recorder(path: path, families: families, recordsAPI: true, sessionComment: comment,
                                   rotation: options.rotation,
                                   snapshot: {
                                       service.snapshot(familyID: hairpinID).map {
                                           (direction: $0.toUser ? TraceDirection.toUser : .toKernel, bytes: $0.bytes)
                                       }
                                   })
            recorder = rec
            // The twin sees both legs; it alone records, so nothing is written twice.
            let faults = options.faults
            config.onMessage = { info, bytes in
                rec.record(leg: info.leg == .api ? .api : .hairpin,
                           direction: info.direction == .toKernel ? .toKernel : .toUser,
                           bytes: bytes, pairing: info.call,
                           comment: faults.flatMap { Self.faultMark($0, info) })
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
        try twin.start()
        let transport = try UnixSeqpacketConnection.connect(path: options.paths.hairpin)
        let loop = ListenerLoop(transport: transport, familyID: twin.configuration.hairpinFamilyID, service: service,
                                log: options.log)
        try loop.register()
        listener = loop
        let errorBox = listenerError
        listenerThread = try PosixThread {
            do { _ = try loop.run() } catch { errorBox.withLock { $0 = "\(error)" } }
        }
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
    public static func devices(named names: [String], firstIfindex: UInt32 = UnftTwin.Device.default.ifindex) -> [UnftTwin.Device] {
        names.enumerated().map { UnftTwin.Device(name: $1, ifindex: firstIfindex + UInt32($0)) }
    }
}
