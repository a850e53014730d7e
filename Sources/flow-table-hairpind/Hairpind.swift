// flow-table-hairpind: the user-space backend of unft. Registers as the hairpin listener (the
// kernel family when the unft module is loaded, otherwise a running twin), answers discovery
// from a pipeline model, validates flows, and stores them in a backend, one state per device.
// With --twin it runs unft's user-space twin in the same process: the embedded default.

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import LiveCapture
import Posix

#if canImport(Glibc)
import Glibc
#endif

extension BackendKind: ExpressibleByArgument {}

@main
struct Hairpind: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow-table-hairpind",
        abstract: "The hairpin backend daemon of the unft loopback offload driver.",
        discussion: """
            Examples:
              flow-table-hairpind --twin                                  # no kernel module needed
              flow-table-hairpind --twin --listener-over-socket           # the listener on its own thread, via the hairpin socket
              flow-table-hairpind --twin --devices unft0,unft1 --backend tss --record session.pcapng
              flow-table-hairpind --twin --model models/default -C 100 -W 5 --record trace.pcapng
              flow-table-hairpind --hairpin-socket /run/flowtrace/hairpin.sock   # a twin started elsewhere
              flow-table-hairpind --record kernel.pcapng    # unft module loaded: serve the kernel, record the hairpin leg
              flow-table-hairpind --twin --inject set_flows:error=ENOSPC:when=3 --record faults.pcapng
              flow-table-hairpind --twin --inject get_flows:delay=50ms:when=2+ --inject-twin get_tables:error=EBUSY:when=1
            Faults (--inject, strace's syntax): COMMAND:error=ERRNO|delay=DURATION[:when=N|N+|N+STEP]; the
            calls they hit are marked in the trace, and `flowtrace replay` injects them again.
            Without --twin: the kernel module when it is loaded (/sys/module/unft), else the twin's sockets.
            Stop with Ctrl-C (SIGINT) or SIGTERM; the trace file is finished either way.
            """,
        version: FlowTraceInfo.version)

    @Flag(help: "Run unft's user-space twin in this process (no kernel module needed).")
    var twin = false

    @Flag(
        help:
            "With --twin: connect the embedded listener through the twin's hairpin socket, on a thread of its own (as a separate daemon is), instead of running it on the twin's thread with the ENCAP bytes handed over in memory (the default; same trace). --inject always uses the socket."
    )
    var listenerOverSocket = false

    @Option(
        help:
            "The twin's API socket (default: /run/flowtrace/unft.sock as root, else $XDG_RUNTIME_DIR/flowtrace/unft.sock)."
    )
    var socket: String?

    @Option(help: "The twin's hairpin socket (default: beside the API socket).")
    var hairpinSocket: String?

    @Option(help: "Twin devices, comma separated; ifindexes are given from 1000 in order.")
    var devices: String = "unft0"

    @Option(help: "Flow storage: dummy, hash, tss or tcam.")
    var backend: BackendKind = .hash

    @Option(
        help:
            "A pipeline model directory (libflow-table JSON: tables, headers, actions, header-graph, table-graph). Default: the built-in model (models/default)."
    )
    var model: String?

    @Option(help: "Record every NDO request and answer to this pcapng file ('-': stdout).")
    var record: String?

    @Option(
        name: .customShort("C"),
        help: "With --record: start a new file after this many MB (10^6 bytes, like tcpdump -C; fractions allowed).")
    var fileSize: Double?

    @Option(
        name: .customShort("W"), help: "With -C: keep at most this many files, reusing the oldest (like tcpdump -W).")
    var fileCount: Int?

    @Option(
        help:
            "Seconds the twin waits for an answer before failing the call with ETIMEDOUT (the kernel module: its timeout_ms parameter)."
    )
    var timeout: Double = 5

    @Flag(name: .shortAndLong, help: "Log every call.")
    var verbose = false

    @Option(
        name: .customLong("inject"),
        help: ArgumentHelp(
            "Inject a fault into the backend's calls (repeatable), strace style: COMMAND:error=ERRNO[:when=EXPR] or COMMAND:delay=DURATION[:when=EXPR]; a twin: prefix injects it in the twin (with --twin).",
            valueName: "spec"))
    var inject: [String] = []

    @Option(
        name: .customLong("inject-twin"),
        help: ArgumentHelp(
            "Inject a fault in the twin (with --twin): the API call fails before it is forwarded, or is held back (delay) before forwarding.",
            valueName: "spec"))
    var injectTwin: [String] = []

    func validate() throws {
        if fileCount != nil && fileSize == nil { throw ValidationError("-W needs -C") }
        if listenerOverSocket && !twin { throw ValidationError("--listener-over-socket needs --twin") }
        if (fileSize != nil) && record == nil { throw ValidationError("-C needs --record FILE") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        let faults = try faultInjector()
        if !twin, let f = faults, f.covers(.twin) {
            throw ValidationError(
                "twin faults (--inject-twin, --inject twin:…) need --twin; a twin started elsewhere takes them: flowtrace twin --inject SPEC"
            )
        }
    }

    /// The --inject and --inject-twin specs; nil when there are none.
    func faultInjector() throws -> FaultInjector? {
        do {
            let backendSide = try FaultInjector.parse(inject, option: "--inject", defaultSide: .backend)?.specs ?? []
            let twinSide = try FaultInjector.parse(injectTwin, option: "--inject-twin", defaultSide: .twin)?.specs ?? []
            let all = backendSide + twinSide
            return all.isEmpty ? nil : FaultInjector(specs: all)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let log: (String) -> Void = { line in fputs("flow-table-hairpind: \(line)\n", stderr) }
        var loadedModel = DefaultModel.model
        var modelText = "built-in default model"
        if let model {
            do { loadedModel = try ModelLoader.load(directory: model) } catch {
                throw DaemonError("cannot load the model from \(model):\n\(error)")
            }
            modelText = model
        }
        let paths = socketPaths()
        let signals = SignalWaiter()
        if twin {
            var o = LoopbackSession.Options()
            o.devices = LoopbackSession.devices(named: devices.split(separator: ",").map(String.init))
            o.backend = backend
            o.model = loadedModel
            o.modelDescription = modelText
            o.paths = paths
            o.timeout = timeout
            o.recordPath = record
            o.rotation = fileSize.map {
                PcapngRotation(maxFileBytes: UInt64(max($0, 0.001) * 1_000_000), maxFiles: fileCount)
            }
            o.commandLine = CommandLine.arguments.joined(separator: " ")
            o.log = verbose ? log : { _ in }
            o.faults = try faultInjector()
            o.listenerPath = listenerOverSocket ? .socket : .inProcess
            let session: LoopbackSession
            do {
                session = try LoopbackSession(o)
                try session.start()
            } catch {
                throw DaemonError("\(error)")
            }
            log(
                "twin listening on \(paths.api) (devices \(o.devices.map { "\($0.name)=\($0.ifindex)" }.joined(separator: ", "))), backend \(backend.rawValue), model: \(modelText), listener \(session.listenerPath == .inProcess ? "on the twin's thread" : "over the hairpin socket")\(record.map { ", recording to \($0)" } ?? "")"
            )
            let sig = signals.wait()
            log("\(sig == SIGINT ? "SIGINT" : "SIGTERM"): stopping")
            session.stop()
            if let f = o.faults { log("injected \(f.injectedCount) faults (\(f.specsText))") }
            if let rec = session.recorder {
                log(
                    "wrote \(rec.recordsWritten) records to \(rec.path)\(rec.lastError.map { " (last write error: \($0))" } ?? "")"
                )
            }
            if let failure = session.listenerFailure { throw DaemonError("the listener stopped: \(failure)") }
            return
        }
        // The kernel module when it is loaded (and no twin socket was named), else a twin
        // started elsewhere. Either way one ListenerLoop on one transport, recording the
        // hairpin leg when asked.
        let kernel = socket == nil && hairpinSocket == nil && GenlSocketTransport.moduleLoaded
        let transport: any MessageTransport
        let place: String
        if kernel {
            let genl: GenlSocketTransport
            do { genl = try GenlSocketTransport() } catch {
                throw DaemonError("cannot open a generic netlink socket for the unft module: \(error)")
            }
            transport = genl
            place = "the unft kernel module (netlink port \(genl.port))"
        } else {
            do { transport = try UnixSeqpacketConnection.connect(path: paths.hairpin) } catch {
                throw DaemonError("\(error)")
            }
            place = paths.hairpin
        }
        var runner = ListenerRunner(transport: transport, place: place, kernel: kernel)
        runner.model = loadedModel
        runner.modelDescription = modelText
        runner.backend = backend
        runner.record = record
        runner.rotation = fileSize.map {
            PcapngRotation(maxFileBytes: UInt64(max($0, 0.001) * 1_000_000), maxFiles: fileCount)
        }
        runner.verbose = verbose
        runner.faults = try faultInjector()
        runner.log = log
        try runner.run(signals: signals)
    }

    func socketPaths() -> TwinSocketPaths {
        var paths = TwinSocketPaths.default
        if let socket {
            paths = TwinSocketPaths(
                api: socket, hairpin: hairpinSocket ?? Self.sibling(of: socket, named: TwinSocketPaths.hairpinFileName))
        } else if let hairpinSocket {
            paths.hairpin = hairpinSocket
        }
        return paths
    }

    static func sibling(of path: String, named name: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return name }
        return String(path[...slash]) + name
    }
}

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
