// The daemon as a listener only (no twin in this process): on the unft kernel module's
// nfl_hairpin family, or on the hairpin socket of a twin started elsewhere. Resolves the
// families through nlctrl (both answer it), registers, serves until SIGINT/SIGTERM or until
// the other side goes away, and with --record writes the hairpin leg as this process sees it:
// what it sends goes toward the kernel side, what it receives toward user space. The API leg
// never passes through the daemon; `flowtrace capture` on nlmon0 records both legs.

import FlowTrace
import Hairpin
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct ListenerRunner {
    let transport: any MessageTransport
    /// Where the listener is connected, for messages.
    let place: String
    let kernel: Bool
    var model: PipelineModel = DefaultModel.model
    var modelDescription = "built-in default model"
    var backend: BackendKind = .hash
    var record: String?
    var rotation: PcapngRotation?
    var verbose = false
    var faults: FaultInjector?
    var log: (String) -> Void = { _ in }

    init(transport: any MessageTransport, place: String, kernel: Bool) {
        self.transport = transport
        self.place = place
        self.kernel = kernel
    }

    func run(signals: SignalWaiter) throws {
        defer { transport.close() }
        let service = HairpinService(devices: DeviceRegistry(model: model, backend: backend))
        service.faults = faults
        let port = (transport as? GenlSocketTransport)?.port ?? 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        let hairpin: Controller.Family
        do {
            hairpin = try FlowTableClient.lookupFamily(
                NFLH.familyName, over: transport, sequence: 1, port: port,
                timeout: 5, buffer: &buffer)
        } catch {
            throw DaemonError("cannot resolve \(NFLH.familyName) at \(place): \(error)")
        }
        // net_flow_nl only names the family in the trace; a daemon serves without it.
        let api = try? FlowTableClient.lookupFamily(
            NFL.familyName, over: transport, sequence: 2, port: port,
            timeout: 5, buffer: &buffer)

        let loop = ListenerLoop(transport: transport, familyID: hairpin.id, service: service, log: log)
        loop.verbose = verbose
        var recorder: Recorder?
        if let record {
            let hairpinID = hairpin.id
            let comment =
                "FlowTrace session: flow-table-hairpind on \(place), hairpin leg as the listener sees it"
                + ", backend \(backend.rawValue), model \(modelDescription)"
                + ", command: \(CommandLine.arguments.joined(separator: " "))"
                + (faults.map { ", injected faults: \($0.specsText)" } ?? "")
            do {
                recorder = try Recorder(
                    path: record, families: [api, hairpin].compactMap { $0 }, recordsAPI: false,
                    sessionComment: comment, rotation: rotation,
                    snapshot: {
                        service.snapshot(familyID: hairpinID).map {
                            (direction: $0.toUser ? TraceDirection.toUser : .toKernel, bytes: $0.bytes)
                        }
                    })
            } catch {
                throw DaemonError("cannot record to \(record): \(error)")
            }
            if let rec = recorder {
                let faults = self.faults
                loop.onMessage = { direction, bytes in
                    // An answer to a call that got an injected fault carries its marker.
                    let mark = direction == .sent ? faults?.markComment(forAnswer: bytes) : nil
                    rec.record(
                        leg: .hairpin, direction: direction == .sent ? .toKernel : .toUser, bytes: bytes,
                        comment: mark)
                }
            }
        }
        defer {
            if let f = faults { log("injected \(f.injectedCount) faults (\(f.specsText))") }
            if let rec = recorder {
                rec.close()
                log(
                    "wrote \(rec.recordsWritten) records to \(rec.path)\(rec.lastError.map { " (last write error: \($0))" } ?? "")"
                )
            }
        }

        do { try loop.register() } catch { throw DaemonError("\(error)") }
        log(
            "registered as the hairpin listener on \(place) (\(NFLH.familyName) id \(hairpin.id)), backend \(backend.rawValue), model: \(modelDescription)\(record.map { ", recording to \($0)" } ?? "")"
        )
        let errorBox = PosixLocked<String?>(nil)
        let closedBox = PosixLocked(false)
        let thread = try PosixThread {
            do {
                if try loop.run() == .closed { closedBox.withLock { $0 = true } }
            } catch { errorBox.withLock { $0 = "\(error)" } }
            // The other side went away or the loop failed: wake the main thread.
            kill(getpid(), SIGTERM)
        }
        // Nothing tells a listener that the module went away (its socket stays open): look
        // for it once a second, so an rmmod does not leave a daemon serving nobody.
        var sig: Int32 = 0
        var moduleGone = false
        while true {
            if let s = signals.wait(seconds: 1) { sig = s; break }
            if kernel && !GenlSocketTransport.moduleLoaded { moduleGone = true; break }
        }
        loop.stop()
        thread.join()
        if let e = errorBox.withLock({ $0 }) { throw DaemonError("the listener stopped: \(e)") }
        if moduleGone {
            log("the unft module was unloaded: stopping")
        } else if closedBox.withLock({ $0 }) {
            log("\(place) closed the connection: stopping")
        } else {
            log("\(sig == SIGINT ? "SIGINT" : "SIGTERM"): stopping")
        }
        if let genl = transport as? GenlSocketTransport, genl.overruns > 0 {
            log("the kernel dropped \(genl.overruns) messages for this socket (receive buffer full)")
        }
    }
}
