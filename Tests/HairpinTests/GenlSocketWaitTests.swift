// How GenlSocketTransport waits: in recv(2) itself, bounded by SO_RCVTIMEO, which it changes
// only when a wait needs another bound (GenlSocket.swift, `receive`). These check that every
// timeout is still honoured whatever bound the socket was left with, that a packet arriving
// during a wait is received, and that a ListenerLoop on the socket still stops within its poll
// interval. A second generic netlink socket plays the sender (a unicast to our port).

import Foundation
import Testing
import LibFlowTable
@testable import Hairpin

@Suite(
    "Generic netlink transport: waits",
    .enabled(
        if: GenlAvailability.problem == nil,
        "generic netlink sockets are not available on this host"))
struct GenlSocketWaitTests: TransportWaitChecks {
    /// A NLMSG_NOOP with `tag` in its sequence number, sent from `from` to `port` after `delay`
    /// seconds, on a thread (GenlSocketTransport is used from two threads here: the sender
    /// only sends, the test's thread only receives).
    func sendLater(from: GenlSocketTransport, to port: UInt32, tag: UInt32, delay: Double) -> Thread {
        let thread = Thread {
            usleep(useconds_t(delay * 1e6))
            var w = NetlinkWriter(capacity: 32)
            let start = w.beginMessage(type: Netlink.typeNoop, flags: 0, sequence: tag, port: 0)
            w.put(1, u32: tag)
            w.endMessage(start)
            let bytes = w.bytes
            bytes.withUnsafeBytes { raw in
                do throws(TransportError) { try from.send(raw, toPort: port) } catch {
                    Issue.record("sending to port \(port): \(error)")
                }
            }
        }
        thread.start()
        return thread
    }

    func sequence(_ bytes: [UInt8]) -> UInt32? {
        guard bytes.count >= 16 else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
    }

    @Test func everyTimeoutIsHonouredWhateverBoundTheSocketHas() throws {
        let t = try GenlSocketTransport()
        defer { t.close() }
        // Twice the same bound: the second wait uses the SO_RCVTIMEO the first one set.
        for _ in 0..<2 {
            let (r, elapsed) = receive(t, timeout: 0.3)
            #expect(r == .failure(.timedOut))
            #expect(elapsed >= 0.29 && elapsed < 5)
        }
        // A shorter wait than the socket's bound: not the 0.3 s.
        let (short, shortElapsed) = receive(t, timeout: 0.05)
        #expect(short == .failure(.timedOut))
        #expect(shortElapsed >= 0.049 && shortElapsed < 0.29)
        // No wait at all.
        let (none, noneElapsed) = receive(t, timeout: 0)
        #expect(none == .failure(.timedOut))
        #expect(noneElapsed < 0.049)
    }

    @Test func aPacketArrivingDuringAWaitIsReceived() throws {
        let t = try GenlSocketTransport(), peer = try GenlSocketTransport()
        defer { t.close(); peer.close() }
        // Leave the socket with a short bound, then wait longer than it, then forever.
        #expect(receive(t, timeout: 0.05).0 == .failure(.timedOut))
        _ = sendLater(from: peer, to: t.port, tag: 0xA1, delay: 0.3)
        let (timed, elapsed) = receive(t, timeout: 10)
        #expect((try? timed.get()).flatMap(sequence) == 0xA1)
        #expect(elapsed >= 0.25)
        _ = sendLater(from: peer, to: t.port, tag: 0xA2, delay: 0.3)
        let (forever, _) = receive(t, timeout: nil)
        #expect((try? forever.get()).flatMap(sequence) == 0xA2)
        // A packet already queued: returned at once whatever the bound (here: none).
        _ = sendLater(from: peer, to: t.port, tag: 0xA3, delay: 0)
        usleep(300_000)
        let (queued, _) = receive(t, timeout: 0)
        #expect((try? queued.get()).flatMap(sequence) == 0xA3)
    }

    @Test func aListenerOnTheSocketStopsWithinItsPollInterval() throws {
        let t = try GenlSocketTransport()
        defer { t.close() }
        // No registration: nothing is sent to the loop; it only waits and looks at the flag.
        let (returned, elapsed, reason) = runAndStopListener(on: t)
        #expect(returned, "run() did not return after stop()")
        #expect(elapsed < 1.5)
        #expect(reason == .stopped)
    }
}
