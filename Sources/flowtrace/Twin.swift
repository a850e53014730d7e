// flowtrace twin: unft's user-space twin alone, for setups where flow-table-hairpind runs as a
// separate process (`flow-table-hairpind --hairpin-socket …`): what the kernel module is on a
// machine that can load it.

import ArgumentParser
import FlowTrace
import Hairpin
import LiveCapture
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct Twin: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run unft's user-space twin alone (the daemon connects to it separately).",
        discussion: """
            Example (two processes, like module + daemon):
              flowtrace twin --devices unft0,unft1 &
              flow-table-hairpind          # finds the twin's hairpin socket at the default path
              flow-table-ctl get-tables unft0
              flowtrace twin --inject set_flows:error=ENOSPC:when=2 --inject get_flows:delay=6s   # the 2nd SET_FLOWS fails, GET_FLOWS time out
            """)

    @Option(help: "Devices, comma separated; ifindexes are given from 1000 in order.")
    var devices: String = "unft0"

    @Option(
        help:
            "The API socket (default: /run/flowtrace/unft.sock as root, else $XDG_RUNTIME_DIR/flowtrace/unft.sock); the hairpin socket goes beside it."
    )
    var socket: String?

    @Option(help: "Seconds to wait for the daemon's answer before failing a call with ETIMEDOUT.")
    var timeout: Double = 5

    @Option(
        name: .customLong("inject"),
        help: ArgumentHelp(
            "Inject a fault (repeatable), strace style: COMMAND:error=ERRNO[:when=EXPR] fails the API call before it is forwarded, COMMAND:delay=DURATION[:when=EXPR] holds it back (past --timeout: ETIMEDOUT).",
            valueName: "spec"))
    var inject: [String] = []

    func validate() throws {
        _ = try faults()
    }

    func faults() throws -> FaultInjector? {
        let f: FaultInjector?
        do { f = try FaultInjector.parse(inject, option: "--inject", defaultSide: .twin) } catch {
            throw ValidationError(error.description)
        }
        if let f, f.covers(.backend) {
            throw ValidationError(
                "backend faults belong to the daemon: flow-table-hairpind --inject SPEC (the twin takes COMMAND:… or twin:COMMAND:…)"
            )
        }
        return f
    }

    func run() throws {
        var paths = TwinSocketPaths.default
        if let socket {
            let dir = socket.lastIndex(of: "/").map { String(socket[...$0]) } ?? ""
            paths = TwinSocketPaths(api: socket, hairpin: dir + TwinSocketPaths.hairpinFileName)
        }
        let devs = LoopbackSession.devices(named: devices.split(separator: ",").map(String.init))
        let signals = SignalWaiter()
        let twin: UnftTwin
        do {
            var config = UnftTwin.Configuration(devices: devs, timeout: timeout, paths: paths)
            config.faults = try faults()
            twin = try UnftTwin(config)
            try twin.start()
        } catch {
            throw ToolError("\(error)")
        }
        LoopbackSession.writeDevicesFile(devs, paths: paths)
        fputs(
            "flowtrace twin: listening on \(paths.api) and \(paths.hairpin) (devices \(devs.map { "\($0.name)=\($0.ifindex)" }.joined(separator: ", ")))\n",
            stderr)
        _ = signals.wait()
        twin.stop()
        unlink(LoopbackSession.devicesFile(for: paths))
    }
}
