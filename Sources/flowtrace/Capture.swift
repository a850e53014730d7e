// flowtrace capture: record the netlink traffic of every family (or the named ones, or both legs
// of the unft kernel module) from an nlmon device.

import ArgumentParser
import FlowTrace
import LiveCapture

#if canImport(Glibc)
import Glibc
#endif

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture netlink traffic from an nlmon device into a trace: every family, or the named ones.",
        discussion: """
            Keeps every message of every netlink family and protocol (generic netlink, rtnetlink…),
            or only those of the families named with --family (and their ACKs, errors and DONEs).
            The file names each generic family it holds with a NEWFAMILY record (asked from nlctrl
            when the family is first seen), so `flowtrace show` names them without the live kernel.
            Each message's process (from its netlink port, /proc/net/netlink and /proc/PID/fd) is
            in its comment, "pid 1234 (devlink)", which tshark shows as frame.comment.
            Our two families (net_flow_nl, nfl_hairpin) keep their legs when unft is loaded; --legs
            keeps only those two and needs the module. Needs root and an nlmon device:
              ip link add nlmon0 type nlmon && ip link set nlmon0 up
            Examples:
              flowtrace capture -i nlmon0 -w all.pcapng                 # until Ctrl-C / SIGTERM
              flowtrace capture -i nlmon0 -w dl.pcapng --family devlink --family rt-link
              flowtrace capture -i nlmon0 -w kernel.pcapng --legs -c 100 --duration 30
            """)

    @Option(name: .shortAndLong, help: "The nlmon device to capture on.")
    var interface: String = "nlmon0"

    @Option(name: .customShort("w"), help: "The trace file to write (pcapng; '-': stdout).")
    var file: String

    @Option(name: .customShort("c"), help: "Stop after this many messages were kept.")
    var count: Int?

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    @Option(
        name: .customLong("family"),
        help:
            "Keep only this family (repeatable): a generic netlink family name, or rtnetlink / rt-link for NETLINK_ROUTE."
    )
    var families: [String] = []

    @Flag(help: "Keep only both legs of the unft kernel module (net_flow_nl and nfl_hairpin).")
    var legs = false

    @Flag(name: .customLong("no-process"), help: "Do not name each message's process (pid and command) in its comment.")
    var noProcess = false

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("-c must be positive") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be positive") }
        if legs && !families.isEmpty { throw ValidationError("--legs and --family exclude each other") }
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
        o.families = families
        o.legsOnly = legs
        o.processes = !noProcess
        let capture: NetlinkCapture
        do { capture = try NetlinkCapture(o) } catch { throw ToolError("\(error)") }
        let f = capture.families
        let named = ([f.api, f.hairpin].filter { $0.id != 0 } + capture.named).map { "\($0.name) id \($0.id)" }
        let what = legs ? "both legs" : families.isEmpty ? "every family" : families.joined(separator: ", ")
        note(
            "capturing on \(interface) (\(what))" + (named.isEmpty ? "" : ": " + named.joined(separator: ", "))
                + "; writing \(file)")
        let s: NetlinkCapture.Summary
        do { s = try capture.run(path: file, shouldStop: shouldStop) } catch { throw ToolError("\(error)") }
        let why =
            received == SIGINT
            ? "SIGINT"
            : received == SIGTERM
                ? "SIGTERM"
                : (count.map { s.recordsWritten >= $0 } ?? false)
                    ? "count reached" : duration != nil ? "duration over" : "stopped"
        let f2 = s.filter
        note(
            "\(why) after \(String(format1: s.seconds)) s: \(f2.packets) packets captured (\(f2.messages) messages), "
                + "\(f2.kept) kept (api \(f2.keptAPI), hairpin \(f2.keptHairpin), other \(f2.keptOther)), \(s.recordsWritten) records written to \(file)"
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
