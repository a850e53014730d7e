// How UnixSeqpacketConnection waits: in recv(2) itself, bounded by SO_RCVTIMEO, which it sets a
// little under the wait asked for and changes only when a wait no longer fits; the rest of a
// wait longer than the bound is a poll(2) (UnixSocket.swift, `receive`). These check that every
// timeout is still honoured whatever bound the socket was left with, that a packet arriving
// during a wait (also in its poll part) is received, that a peer going away ends a wait at once,
// that the twin's non-blocking primitives still never block on the now blocking descriptor, and
// that a ListenerLoop on the socket still stops within its poll interval. The peer is the other
// end of a socketpair, sending from a thread.

import Foundation
import Testing
import LibFlowTable
@testable import Hairpin
import Posix

@Suite("Unix SEQPACKET transport: waits") struct UnixSocketWaitTests: TransportWaitChecks {
    /// Sends the one byte `tag` from `from` after `delay` seconds, on a thread (the test's
    /// thread only receives on the other end).
    @discardableResult
    func sendLater(from: UnixSeqpacketConnection, tag: UInt8, delay: Double) throws -> PosixThread {
        try PosixThread {
            usleep(useconds_t(delay * 1e6))
            [tag].withUnsafeBytes { raw in
                do throws(TransportError) { try from.send(raw) } catch { Issue.record("sending \(tag): \(error)") }
            }
        }
    }

    /// The socket's SO_RCVTIMEO in seconds (0: none).
    func receiveTimeout(_ c: UnixSeqpacketConnection) -> Double? {
        var tv = timeval()
        var len = socklen_t(MemoryLayout<timeval>.size)
        guard getsockopt(c.fileDescriptor, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0 else { return nil }
        return Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6
    }

    @Test func everyTimeoutIsHonouredWhateverBoundTheSocketHas() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        defer { a.close(); b.close() }
        // Twice the same timeout: the second wait uses the SO_RCVTIMEO the first one set.
        for _ in 0..<2 {
            let (r, elapsed) = receive(b, timeout: 0.3)
            #expect(r == .failure(.timedOut))
            #expect(elapsed >= 0.29 && elapsed < 5)
        }
        // A shorter wait than the socket's bound: not the 0.3 s.
        let (short, shortElapsed) = receive(b, timeout: 0.05)
        #expect(short == .failure(.timedOut))
        #expect(shortElapsed >= 0.049 && shortElapsed < 0.26)
        // A longer wait than the bound: the bound runs out first, the rest is waited for too.
        let (long, longElapsed) = receive(b, timeout: 0.5)
        #expect(long == .failure(.timedOut))
        #expect(longElapsed >= 0.49 && longElapsed < 5)
        // One that fits the bound left by the last (0.5 × 0.875) but is longer: the poll part.
        let (fitting, fittingElapsed) = receive(b, timeout: 0.7)
        #expect(fitting == .failure(.timedOut))
        #expect(fittingElapsed >= 0.69 && fittingElapsed < 5)
        // No wait at all, whatever the bound.
        let (none, noneElapsed) = receive(b, timeout: 0)
        #expect(none == .failure(.timedOut))
        #expect(noneElapsed < 0.049)
        // Nothing was lost or made up on the way: a packet sent now is the next one received.
        try sendLater(from: a, tag: 0x51, delay: 0)
        #expect((try? receive(b, timeout: 5).0.get()) == [0x51])
    }

    @Test func aClientsPerCallTimeoutKeepsTheSameBound() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        defer { a.close(); b.close() }
        #expect(receiveTimeout(b) == 0)  // a new socket has none
        // A client waits for each answer with what is left of its call's timeout: slightly
        // less every time. The bound set for the first wait must serve them all.
        try sendLater(from: a, tag: 1, delay: 0.05)
        #expect((try? receive(b, timeout: 30).0.get()) == [1])
        let bound = try #require(receiveTimeout(b))
        #expect(bound > 15 && bound <= 30)
        for (i, timeout) in [29.99, 29.5, 28.0, 2 * bound - 0.1].enumerated() {
            try sendLater(from: a, tag: UInt8(2 + i), delay: 0.01)
            #expect((try? receive(b, timeout: timeout).0.get()) == [UInt8(2 + i)])
            #expect(receiveTimeout(b) == bound, "the bound changed for a \(timeout) s wait")
        }
        // A timeout of 0 and waits forever leave it alone or clear it, as they need.
        #expect(receive(b, timeout: 0).0 == .failure(.timedOut))
        #expect(receiveTimeout(b) == bound)
        try sendLater(from: a, tag: 9, delay: 0.05)
        #expect((try? receive(b, timeout: nil).0.get()) == [9])
        #expect(receiveTimeout(b) == 0)
    }

    @Test func aPacketArrivingDuringAWaitIsReceived() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        defer { a.close(); b.close() }
        // Leave the socket with a short bound, then wait longer than it, then forever.
        #expect(receive(b, timeout: 0.05).0 == .failure(.timedOut))
        try sendLater(from: a, tag: 0xA1, delay: 0.3)
        let (timed, elapsed) = receive(b, timeout: 10)
        #expect((try? timed.get()) == [0xA1])
        #expect(elapsed >= 0.25 && elapsed < 5)
        try sendLater(from: a, tag: 0xA2, delay: 0.3)
        let (forever, _) = receive(b, timeout: nil)
        #expect((try? forever.get()) == [0xA2])
        // A bound of 0.875 s, then a 1.7 s wait: the packet comes after the bound ran out, in
        // the poll part of the wait.
        #expect(receive(b, timeout: 1).0 == .failure(.timedOut))
        let lateSender = try sendLater(from: a, tag: 0xA3, delay: 1.1)
        let (late, lateElapsed) = receive(b, timeout: 1.7)
        lateSender.join()
        #expect((try? late.get()) == [0xA3])
        #expect(lateElapsed >= 1.0 && lateElapsed < 1.7)
        // A packet already queued: returned at once whatever the bound.
        try [UInt8(0xA4)].withUnsafeBytes { try a.send($0) }
        let (queued, queuedElapsed) = receive(b, timeout: 0)
        #expect((try? queued.get()) == [0xA4])
        #expect(queuedElapsed < 0.049)
    }

    @Test func aPeerGoingAwayEndsAWaitAtOnce() throws {
        // In the blocking recv...
        let (a, b) = try UnixSeqpacketConnection.pair()
        defer { b.close() }
        let closer = try PosixThread {
            usleep(300_000); a.close()
        }
        let (r, elapsed) = receive(b, timeout: 10)
        closer.join()
        #expect(r == .failure(.closed))
        #expect(elapsed >= 0.25 && elapsed < 5)
        // ...and in the poll after the bound ran out.
        let (c, d) = try UnixSeqpacketConnection.pair()
        defer { d.close() }
        #expect(receive(d, timeout: 1).0 == .failure(.timedOut))  // bound 0.875 s
        let lateCloser = try PosixThread {
            usleep(1_100_000); c.close()
        }
        let (late, lateElapsed) = receive(d, timeout: 1.7)
        lateCloser.join()
        #expect(late == .failure(.closed))
        #expect(lateElapsed >= 1.0 && lateElapsed < 1.7)
        // Sending to it is the same error, not SIGPIPE.
        #expect(throws: TransportError.closed) {
            try [UInt8](repeating: 1, count: 3).withUnsafeBytes { try d.send($0) }
        }
    }

    @Test func theTwinsPrimitivesNeverBlock() throws {
        // An accepted connection, as the twin's loop has them, and a connected client.
        let dir = try tempDirectory("ftw")
        defer { rmdir(dir) }
        let listener = try UnixSeqpacketListener(path: dir + "/unft.sock")
        defer { listener.close() }
        let client = try UnixSeqpacketConnection.connect(path: listener.path)
        defer { client.close() }
        let served = try #require(try listener.accept())
        defer { served.close() }
        for c in [client, served] {
            // The descriptor is blocking (its waits are in recv), ...
            #expect(fcntl(c.fileDescriptor, F_GETFL) & O_NONBLOCK == 0)
            // ...yet nothing to read is .wouldBlock at once, even with a long SO_RCVTIMEO set.
            #expect(receive(c, timeout: 0.05).0 == .failure(.timedOut))
            var scratch = [UInt8](repeating: 0, count: 16)
            let start = MonotonicClock.now()
            let outcome = scratch.withUnsafeMutableBytes { c.tryReceive(into: $0) }
            #expect(outcome == .wouldBlock)
            #expect(seconds(since: start) < 0.049)
        }
        // A peer that does not read: trySend says .wouldBlock once the buffers are full, and
        // `send` gives up after its sendTimeout.
        let chunk = [UInt8](repeating: 3, count: 60_000)
        var sent = 0
        while sent < 10_000 {
            let outcome = chunk.withUnsafeBytes { served.trySend($0) }
            if outcome == .wouldBlock { break }
            #expect(outcome == .done(chunk.count))
            sent += 1
        }
        #expect(sent > 0 && sent < 10_000)
        served.sendTimeout = 0.2
        let start = MonotonicClock.now()
        #expect(throws: TransportError.timedOut) { try chunk.withUnsafeBytes { try served.send($0) } }
        #expect(seconds(since: start) >= 0.19 && seconds(since: start) < 5)
        // Everything sent arrives whole.
        var buffer: [UInt8] = []
        for _ in 0..<sent { #expect(try client.receive(into: &buffer, timeout: 5) == chunk.count) }
        #expect(throws: TransportError.timedOut) { try client.receive(into: &buffer, timeout: 0) }
    }

    @Test func aListenerOnTheSocketStopsWithinItsPollInterval() throws {
        let (a, b) = try UnixSeqpacketConnection.pair()
        defer { a.close(); b.close() }
        // Nothing is sent to the loop; it only waits and looks at the flag.
        let (returned, elapsed, reason) = runAndStopListener(on: b)
        #expect(returned, "run() did not return after stop()")
        #expect(elapsed < 1)
        #expect(reason == .stopped)
        // The loop's waits fit one bound: set once for the first, under the poll interval.
        let bound = try #require(receiveTimeout(b))
        #expect(bound > 0.1 && bound <= 0.2)
    }
}
