// The SEQPACKET transport on its own: setup errors with their advice, stale socket files,
// packet boundaries, truncation, EOF and timeouts.

#if canImport(Glibc)
import Glibc
#endif
import Testing
import LibFlowTable
@testable import Hairpin
import Posix

@Suite("Unix SEQPACKET transport") struct UnixSocketTests {
    @Test func connectErrorsSayWhatToDo() throws {
        let dir = try tempDirectory("ftu")
        defer { rmdir(dir) }
        let path = dir + "/unft.sock"
        do {
            _ = try UnixSeqpacketConnection.connect(path: path)
            Issue.record("connected to nothing")
        } catch {
            #expect(error == .noListener(path: path))
            #expect(error.description == "no twin listening at \(path): start it with `flow-table-hairpind --twin`")
        }
        // A socket file nobody listens on: refused.
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0)
        var (addr, len) = try UnixSocketSupport.address(path)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        #expect(rc == 0)
        close(fd)
        #expect(throws: SocketError.refused(path: path)) { try UnixSeqpacketConnection.connect(path: path) }
        // ...and such a stale file is replaced by a new listener.
        let l = try UnixSeqpacketListener(path: path)
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        // A second listener on a live path is refused, and the live one keeps working.
        #expect(throws: SocketError.addressInUse(path: path)) { try UnixSeqpacketListener(path: path) }
        let c = try UnixSeqpacketConnection.connect(path: path)
        #expect(c.peerCredentials?.pid == getpid())
        c.close()
        l.close()
        #expect(lstat(path, &st) != 0)  // removed on close
        // Something that is not a socket is never deleted.
        let file = open(path, O_CREAT | O_WRONLY, 0o600)
        close(file)
        defer { unlink(path) }
        #expect(throws: SocketError.notASocket(path: path)) { try UnixSeqpacketListener(path: path) }
        let long = String(repeating: "x", count: 200)
        #expect(throws: SocketError.self) { try UnixSeqpacketListener(path: "/tmp/" + long) }
    }

    @Test func defaultPathsFollowTheContract() throws {
        let none: (String) -> String? = { _ in nil }
        #expect(TwinSocketPaths.defaultDirectory(environment: none, euid: 0) == "/run/flowtrace")
        #expect(TwinSocketPaths.defaultDirectory(environment: none, euid: 1234) == "/tmp/flowtrace-1234")
        let xdg: (String) -> String? = { $0 == "XDG_RUNTIME_DIR" ? "/run/user/1234" : nil }
        #expect(TwinSocketPaths.defaultDirectory(environment: xdg, euid: 1234) == "/run/user/1234/flowtrace")
        #expect(TwinSocketPaths.defaultDirectory(environment: xdg, euid: 0) == "/run/flowtrace")
        let overridden: (String) -> String? = { $0 == TwinSocketPaths.directoryVariable ? "/tmp/elsewhere" : "/x" }
        #expect(TwinSocketPaths.defaultDirectory(environment: overridden, euid: 0) == "/tmp/elsewhere")
        #expect(
            TwinSocketPaths(directory: "/tmp/elsewhere/")
                == TwinSocketPaths(
                    api: "/tmp/elsewhere/unft.sock",
                    hairpin: "/tmp/elsewhere/hairpin.sock"))
        // prepareDirectory creates a private directory, and refuses one others may write.
        let base = try tempDirectory("ftu")
        let mine = base + "/flowtrace"
        defer { rmdir(mine); rmdir(base) }
        try TwinSocketPaths.prepareDirectory(mine)
        var st = stat()
        #expect(lstat(mine, &st) == 0 && st.st_mode & 0o777 == 0o700)
        chmod(mine, 0o777)
        #expect(throws: SocketError.self) { try TwinSocketPaths.prepareDirectory(mine) }
    }

    @Test func packetsKeepTheirBoundaries() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        defer { a.close(); b.close() }
        try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try a.send($0) }
        try [UInt8](repeating: 2, count: 70_000).withUnsafeBytes { try a.send($0) }
        var buffer: [UInt8] = []
        #expect(try b.receive(into: &buffer, timeout: 1) == 10)
        #expect(buffer.count >= UnixSeqpacketConnection.receiveBufferSize)
        #expect(try b.receive(into: &buffer, timeout: 1) == 70_000 && buffer[69_999] == 2)
        // Nothing waiting: timed out, quickly.
        let t = MonotonicClock.now()
        #expect(throws: TransportError.timedOut) { try b.receive(into: &buffer, timeout: 0.05) }
        #expect(Double(MonotonicClock.now() - t) / 1e9 < 1)
    }

    @Test func oversizedPacketIsReportedTruncated() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        defer { a.close(); b.close() }
        let big = UnixSeqpacketConnection.receiveBufferSize + 4096
        try [UInt8](repeating: 7, count: big).withUnsafeBytes { try a.send($0) }
        try [UInt8](repeating: 8, count: 4).withUnsafeBytes { try a.send($0) }
        var buffer: [UInt8] = []
        #expect(throws: TransportError.truncated(big)) { try b.receive(into: &buffer, timeout: 1) }
        // The next packet is intact.
        #expect(try b.receive(into: &buffer, timeout: 1) == 4 && buffer[0] == 8)
    }

    @Test func endOfConnectionIsClosed() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        try [UInt8](repeating: 1, count: 3).withUnsafeBytes { try a.send($0) }
        a.close()
        var buffer: [UInt8] = []
        #expect(try b.receive(into: &buffer, timeout: 1) == 3)  // what was sent before is still read
        #expect(throws: TransportError.closed) { try b.receive(into: &buffer, timeout: 1) }
        // Sending to a closed peer is an error, not SIGPIPE.
        #expect(throws: TransportError.closed) {
            try [UInt8](repeating: 1, count: 3).withUnsafeBytes { try b.send($0) }
        }
        b.close()
    }

    @Test func clientReportsADeadTwin() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        let client = FlowTableClient(transport: a, timeout: 1, familyID: 0x1c)
        b.close()
        do {
            _ = try client.get(.getTables, ifindex: 1000)
            Issue.record("a call on a dead connection succeeded")
        } catch {
            #expect(error.description == "the twin closed the connection")
        }
        // A peer that never answers: the call's timeout, not a hang.
        let (c, d) = try UnixSeqpacketConnection.pair()
        defer { c.close(); d.close() }
        let quiet = FlowTableClient(transport: c, timeout: 0.1, familyID: 0x1c)
        let t = MonotonicClock.now()
        do {
            _ = try quiet.get(.getTables, ifindex: 1000)
            Issue.record("a call without an answer succeeded")
        } catch {
            guard case .timedOut = error else { Issue.record("expected a timeout, got \(error)"); return }
        }
        #expect(Double(MonotonicClock.now() - t) / 1e9 < 1)
    }
}
