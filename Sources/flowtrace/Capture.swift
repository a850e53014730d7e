// flowtrace capture: record both legs of the unft kernel module from an nlmon device.

import ArgumentParser
import FlowTrace
import LiveCapture

#if canImport(Glibc)
import Glibc
#endif

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture both netlink legs of the unft kernel module from an nlmon device into a trace.",
        discussion: """
        Keeps only net_flow_nl and nfl_hairpin messages and the ACKs, errors and DONEs that belong
        to them; the file starts with NEWFAMILY records naming both families (ids asked from nlctrl
        before capturing). Needs root, the unft module and an nlmon device:
          ip link add nlmon0 type nlmon && ip link set nlmon0 up
        Examples:
          flowtrace capture -i nlmon0 -w kernel.pcapng              # until Ctrl-C / SIGTERM
          flowtrace capture -i nlmon0 -w kernel.pcapng -c 100 --duration 30
        """)

    @Option(name: .shortAndLong, help: "The nlmon device to capture on.")
    var interface: String = "nlmon0"

    @Option(name: .customShort("w"), help: "The trace file to write (pcapng; '-': stdout).")
    var file: String

    @Option(name: .customShort("c"), help: "Stop after this many messages were kept.")
    var count: Int?

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("-c must be positive") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be positive") }
    }

    func run() throws {
        // SIGINT and SIGTERM are taken as requests to stop: blocked here and collected by the
        // capture loop between packets, so the file is always finished properly.
        var stopSet = sigset_t()
        sigemptyset(&stopSet)
        sigaddset(&stopSet, SIGINT)
        sigaddset(&stopSet, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSet, nil)
        var received: Int32 = 0
        let shouldStop: () -> Bool = {
            var zero = timespec(tv_sec: 0, tv_nsec: 0)
            var set = stopSet
            let sig = sigtimedwait(&set, nil, &zero)
            if sig > 0 { received = sig }
            return sig > 0
        }

        var o = NetlinkCapture.Options()
        o.device = interface
        o.count = count
        o.duration = duration
        o.commandLine = CommandLine.arguments.joined(separator: " ")
        let capture: NetlinkCapture
        do { capture = try NetlinkCapture(o) } catch { throw ToolError("\(error)") }
        let f = capture.families
        note("capturing on \(interface): \(f.api.name) id \(f.api.id), \(f.hairpin.name) id \(f.hairpin.id); writing \(file)")
        let s: NetlinkCapture.Summary
        do { s = try capture.run(path: file, shouldStop: shouldStop) } catch { throw ToolError("\(error)") }
        let why = received == SIGINT ? "SIGINT" : received == SIGTERM ? "SIGTERM"
            : (count.map { s.recordsWritten >= $0 } ?? false) ? "count reached" : duration != nil ? "duration over" : "stopped"
        let f2 = s.filter
        note("\(why) after \(String(format1: s.seconds)) s: \(f2.packets) packets captured (\(f2.messages) generic netlink messages), "
             + "\(f2.kept) kept (api \(f2.keptAPI), hairpin \(f2.keptHairpin)), \(s.recordsWritten) records written to \(file)"
             + (s.droppedByKernel > 0 ? ", \(s.droppedByKernel) dropped by the kernel" : "")
             + (f2.malformed > 0 ? ", \(f2.malformed) malformed" : "")
             + (f2.snapped > 0 ? ", \(f2.snapped) cut by the snap length" : ""))
        if let e = s.writeError { throw ToolError("writing \(file) failed: \(e)") }
    }

    func note(_ line: String) {
        fputs("flowtrace capture: \(line)\n", stderr)
    }
}

extension String {
    /// One decimal, without Foundation.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }
}
