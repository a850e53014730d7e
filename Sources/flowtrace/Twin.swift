// flowtrace twin: unft's user-space twin alone, for setups where flow-table-hairpind runs as a
// separate process (`flow-table-hairpind --hairpin-socket …`): what the kernel module is on a
// machine that can load it.

import ArgumentParser
import FlowTrace
import Hairpin

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
        """)

    @Option(help: "Devices, comma separated; ifindexes are given from 1000 in order.")
    var devices: String = "unft0"

    @Option(help: "The API socket (default: /run/flowtrace/unft.sock as root, else $XDG_RUNTIME_DIR/flowtrace/unft.sock); the hairpin socket goes beside it.")
    var socket: String?

    @Option(help: "Seconds to wait for the daemon's answer before failing a call with ETIMEDOUT.")
    var timeout: Double = 5

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
            twin = try UnftTwin(UnftTwin.Configuration(devices: devs, timeout: timeout, paths: paths))
            try twin.start()
        } catch {
            throw ToolError("\(error)")
        }
        LoopbackSession.writeDevicesFile(devs, paths: paths)
        fputs("flowtrace twin: listening on \(paths.api) and \(paths.hairpin) (devices \(devs.map { "\($0.name)=\($0.ifindex)" }.joined(separator: ", ")))\n", stderr)
        _ = signals.wait()
        twin.stop()
        unlink(LoopbackSession.devicesFile(for: paths))
    }
}
