// Who sent it: nlmon gives netlink port ids only. /proc/net/netlink maps each socket's
// (protocol, port id) to its inode, and /proc/PID/fd/* links name the inodes of the sockets a
// process holds ("socket:[INODE]"). The map is rebuilt when a port is not in it (a process that
// came since), at most every `refreshInterval`, so a busy unknown port does not rescan /proc
// per message; a port whose process is gone stays unknown.

import FlowTrace
import Foundation

public struct NetlinkPortKey: Hashable, Sendable {
    public var netlinkProtocol: UInt16
    public var port: UInt32
    public init(netlinkProtocol: UInt16, port: UInt32) {
        self.netlinkProtocol = netlinkProtocol
        self.port = port
    }
}

public final class ProcessMap {
    let procRoot: String
    let refreshInterval: TimeInterval
    var byPort: [NetlinkPortKey: NetlinkProcess] = [:]
    var lastRefresh: Date?

    public init(procRoot: String = "/proc", refreshInterval: TimeInterval = 0.1) {
        self.procRoot = procRoot
        self.refreshInterval = refreshInterval
    }

    /// The process holding the socket of this port, refreshing the map once when unknown.
    public func process(_ key: NetlinkPortKey, now: Date = Date()) -> NetlinkProcess? {
        if let p = byPort[key] { return p }
        if let last = lastRefresh, now.timeIntervalSince(last) < refreshInterval { return nil }
        refresh(now: now)
        return byPort[key]
    }

    public func refresh(now: Date = Date()) {
        lastRefresh = now
        let table =
            (try? String(contentsOfFile: procRoot + "/net/netlink", encoding: .utf8)).map(Self.parseNetlinkTable) ?? [:]
        let owners = Self.socketOwners(procRoot: procRoot)
        var map: [NetlinkPortKey: NetlinkProcess] = [:]
        for (key, inode) in table { if let p = owners[inode] { map[key] = p } }
        byPort = map
    }

    /// /proc/net/netlink: (protocol "Eth", port "Pid") → socket inode; port 0 (the kernel's own
    /// sockets, unbound ones) left out.
    public static func parseNetlinkTable(_ text: String) -> [NetlinkPortKey: UInt64] {
        var out: [NetlinkPortKey: UInt64] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 10, let proto = UInt16(f[1]), let port = UInt32(f[2]), port != 0,
                let inode = UInt64(f[9])
            else { continue }
            out[NetlinkPortKey(netlinkProtocol: proto, port: port)] = inode
        }
        return out
    }

    /// Every socket inode a process holds → that process (pid, comm).
    public static func socketOwners(procRoot: String) -> [UInt64: NetlinkProcess] {
        let fm = FileManager.default
        var out: [UInt64: NetlinkProcess] = [:]
        guard let entries = try? fm.contentsOfDirectory(atPath: procRoot) else { return out }
        for name in entries {
            guard let pid = Int32(name) else { continue }
            let dir = procRoot + "/" + name
            guard let fds = try? fm.contentsOfDirectory(atPath: dir + "/fd") else { continue }
            var comm: String?
            for fd in fds {
                guard let target = try? fm.destinationOfSymbolicLink(atPath: dir + "/fd/" + fd),
                    target.hasPrefix("socket:["), target.hasSuffix("]"),
                    let inode = UInt64(target.dropFirst(8).dropLast())
                else { continue }
                if comm == nil {
                    comm = ((try? String(contentsOfFile: dir + "/comm", encoding: .utf8)) ?? "?")
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                }
                if out[inode] == nil { out[inode] = NetlinkProcess(pid: pid, command: comm ?? "?") }
            }
        }
        return out
    }
}
