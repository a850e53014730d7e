// The one POSIX layer (Sources/Posix): its clocks, its lock and condition, its thread and its
// errno text, as the daemon, the twin, the recorder and replay rely on them.

#if canImport(Glibc)
import Glibc
#endif
import Testing
import Posix

struct PosixTests {
    @Test func monotonicClockNeverGoesBackAndTracksRealTime() {
        var last = MonotonicClock.now()
        for _ in 0..<10_000 {
            let t = MonotonicClock.now()
            #expect(t >= last)
            last = t
        }
        // Both clocks advance by the same amount over a short sleep (within 50 ms).
        let m0 = MonotonicClock.now(), r0 = RealtimeClock.now()
        usleep(20_000)
        let dm = Int64(MonotonicClock.now() &- m0), dr = Int64(RealtimeClock.now() &- r0)
        #expect(dm >= 20_000_000)
        #expect(abs(dm - dr) < 50_000_000, "monotonic \(dm) ns, realtime \(dr) ns")
        // Realtime is the Unix epoch's, as time(2) says.
        #expect(RealtimeClock.now() / 1_000_000_000 >= UInt64(time(nil)) - 1)
        #expect(MonotonicClock.nanoseconds(1.5) == 1_500_000_000)
        #expect(MonotonicClock.nanoseconds(-1) == 0 && MonotonicClock.nanoseconds(.nan) == 0)
    }

    @Test func sleepUntilAndTimedWaitEndAtTheirDeadlineNotBefore() {
        let deadline = MonotonicClock.now() &+ 30_000_000
        MonotonicClock.sleep(until: deadline)
        #expect(MonotonicClock.now() >= deadline)

        let mutex = PosixMutex()
        let condition = PosixCondition()
        let until = MonotonicClock.now() &+ 30_000_000
        var waits = 0
        mutex.lock()
        while MonotonicClock.now() < until {
            condition.wait(mutex, until: until)
            waits += 1
        }
        mutex.unlock()
        let late = MonotonicClock.now() &- until
        #expect(late < 1_000_000_000, "a timed wait on CLOCK_MONOTONIC ended \(late) ns late")
        // A deadline read on another clock would return at once, over and over.
        #expect(waits < 10, "\(waits) timed waits for one 30 ms deadline")
    }

    @Test func lockedCountsEveryIncrementFromManyThreads() throws {
        let counter = PosixLocked(0)
        let mutex = PosixMutex()
        nonisolated(unsafe) var plain = 0
        let threads = try (0..<4).map { _ in
            try PosixThread {
                for _ in 0..<20_000 {
                    counter.withLock { $0 += 1 }
                    mutex.withLock { plain += 1 }
                }
            }
        }
        for t in threads { t.join() }
        #expect(counter.withLock { $0 } == 80_000)
        #expect(mutex.withLock { plain } == 80_000)
    }

    @Test func conditionWakesAWaiter() throws {
        let mutex = PosixMutex()
        let condition = PosixCondition()
        nonisolated(unsafe) var ready = false
        let t = try PosixThread {
            mutex.lock()
            ready = true
            condition.broadcast()
            mutex.unlock()
        }
        let deadline = MonotonicClock.now() &+ 5_000_000_000
        mutex.lock()
        while !ready && MonotonicClock.now() < deadline { condition.wait(mutex, until: deadline) }
        let woke = ready
        mutex.unlock()
        t.join()
        #expect(woke)
    }

    @Test func errnoTextIsStrerrors() {
        #expect(Sys.errorText(ENOENT) == "No such file or directory")
        #expect(
            PosixError.system("pthread_create", EAGAIN).description
                == "pthread_create failed: Resource temporarily unavailable (errno 11)")
    }

    @Test func readAndWriteLoopsMoveEveryByte() throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { _ = Sys.close(fds[0]) }
        let bytes = (0..<40_000).map { UInt8(truncatingIfNeeded: $0) }
        let written = PosixLocked((written: 0, error: Int32(-1)))
        let writer = try PosixThread {
            let r = bytes.withUnsafeBytes { Sys.writeAll(fds[1], $0.baseAddress!, $0.count) }
            written.withLock { $0 = r }
            _ = Sys.close(fds[1])
        }
        var got: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Sys.readSome(fds[0], $0.baseAddress!, $0.count) }
            #expect(n >= 0)
            if n <= 0 { break }
            got += buffer[0..<n]
        }
        writer.join()
        #expect(got == bytes)
        #expect(written.withLock { $0.written == bytes.count && $0.error == 0 })
        #expect(Sys.readSome(-1, &buffer, 1) == -Int(EBADF))
    }
}
