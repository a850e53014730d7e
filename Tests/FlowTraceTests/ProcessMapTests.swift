// Who sent it (issue 16): netlink ports to processes from a /proc tree built here, and the
// record comment that carries the answer through the file.

import Foundation
import Testing
import LibFlowTable
@testable import LiveCapture
@testable import FlowTrace

@Suite("Process attribution (netlink ports)")
struct ProcessMapTests {
    static let table = """
        sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
        000000007ffe4d52 0   0          00000000 0        0        0     2        0        4
        00000000aaaaaaaa 16  4321       00000000 0        0        0     2        0        555
        00000000bbbbbbbb 0   4321       00000000 0        0        0     2        0        777
        00000000cccccccc 16  99         00000000 0        0        0     2        0        888
        """

    func makeProc() throws -> String {
        let root = NSTemporaryDirectory() + "procmap-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/net", withIntermediateDirectories: true)
        try Self.table.write(toFile: root + "/net/netlink", atomically: true, encoding: .utf8)
        try fm.createDirectory(atPath: root + "/1234/fd", withIntermediateDirectories: true)
        try "devlink\n".write(toFile: root + "/1234/comm", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: root + "/1234/fd/3", withDestinationPath: "socket:[555]")
        try fm.createSymbolicLink(atPath: root + "/1234/fd/4", withDestinationPath: "/dev/null")
        try fm.createDirectory(atPath: root + "/77/fd", withIntermediateDirectories: true)
        try "ip\n".write(toFile: root + "/77/comm", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: root + "/77/fd/5", withDestinationPath: "socket:[777]")
        return root
    }

    @Test func parsesTheNetlinkTable() {
        let t = ProcessMap.parseNetlinkTable(Self.table)
        #expect(
            t == [
                NetlinkPortKey(netlinkProtocol: 16, port: 4321): 555,
                NetlinkPortKey(netlinkProtocol: 0, port: 4321): 777,
                NetlinkPortKey(netlinkProtocol: 16, port: 99): 888,
            ])
    }

    @Test func portsToProcessesPerProtocol() throws {
        let root = try makeProc()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let map = ProcessMap(procRoot: root, refreshInterval: 3600)
        let t0 = Date()
        #expect(
            map.process(NetlinkPortKey(netlinkProtocol: 16, port: 4321), now: t0)
                == NetlinkProcess(pid: 1234, command: "devlink"))
        // The same port number in another protocol is another socket.
        #expect(
            map.process(NetlinkPortKey(netlinkProtocol: 0, port: 4321), now: t0)
                == NetlinkProcess(pid: 77, command: "ip"))
        // A socket no process holds, and a port no socket has.
        #expect(map.process(NetlinkPortKey(netlinkProtocol: 16, port: 99), now: t0) == nil)
        #expect(map.process(NetlinkPortKey(netlinkProtocol: 16, port: 5), now: t0) == nil)
        // A process that comes later: found at the next refresh, not before the interval.
        try FileManager.default.createDirectory(atPath: root + "/500/fd", withIntermediateDirectories: true)
        try "ethtool\n".write(toFile: root + "/500/comm", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/500/fd/3", withDestinationPath: "socket:[888]")
        #expect(map.process(NetlinkPortKey(netlinkProtocol: 16, port: 99), now: t0.addingTimeInterval(1)) == nil)
        #expect(
            map.process(NetlinkPortKey(netlinkProtocol: 16, port: 99), now: t0.addingTimeInterval(3601))
                == NetlinkProcess(pid: 500, command: "ethtool"))
    }

    @Test func theCommentCarriesTheProcessThroughTheFile() throws {
        let p = NetlinkProcess(pid: 1234, command: "kworker/0:1 x")
        #expect(p.description == "pid 1234 (kworker/0:1 x)")
        #expect(NetlinkProcess(comment: p.description) == p)
        #expect(NetlinkProcess(comment: "family devlink is id 20") == nil)
        #expect(NetlinkProcess(comment: "pid x (y)") == nil)
        let path = NSTemporaryDirectory() + "procmap-\(getpid()).pcapng"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Recorder(path: path, families: [], recordsAPI: true, recordsOther: true, sessionComment: "t")
        var w = NetlinkWriter()
        let s = w.beginMessage(type: 0x20, flags: 5, sequence: 1, port: 1234)
        w.genericHeader(command: 1, version: 1)
        w.endMessage(s)
        w.withUnsafeBytes { r.record(leg: .unknown, direction: .toKernel, bytes: $0, comment: p.description) }
        r.close()
        let reader = try TraceReader(path: path)
        let rec = try #require(try reader.next())
        #expect(rec.comment.flatMap(NetlinkProcess.init(comment:)) == p)
        #expect(rec.interface == Recorder.otherInterface)
    }
}
