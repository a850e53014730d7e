// What the socket transports' wait tests (GenlSocketWaitTests, UnixSocketWaitTests) share:
// timing one receive, and running a ListenerLoop on a transport until it is stopped. A
// protocol with an extension, so the helpers stay members of those suites (no free functions
// named `receive` or `seconds` in the test target).

import Foundation
import LibFlowTable
@testable import Hairpin
import Posix

protocol TransportWaitChecks {}

extension TransportWaitChecks {
    func seconds(since start: UInt64) -> Double { Double(MonotonicClock.now() - start) / 1e9 }

    /// One receive on `t` with `timeout`: the packet or the error, and the seconds it took.
    func receive(_ t: some MessageTransport, timeout: Double?) -> (Result<[UInt8], TransportError>, Double) {
        var buffer: [UInt8] = []
        let start = MonotonicClock.now()
        do {
            let n = try t.receive(into: &buffer, timeout: timeout)
            return (.success(Array(buffer[0..<n])), seconds(since: start))
        } catch {
            return (.failure(error), seconds(since: start))
        }
    }

    /// Runs a ListenerLoop (hash backend, poll interval 0.2 s) on `transport` on a thread,
    /// with nothing sent to it, so it only waits and looks at its flag; stops it after 0.5 s.
    /// Returns whether run() returned within 5 s of stop(), the seconds from stop() until
    /// then, and the reason run() gave.
    func runAndStopListener(on transport: any MessageTransport)
        -> (returned: Bool, elapsed: Double, reason: ListenerLoop.StopReason?)
    {
        let loop = ListenerLoop(
            transport: transport, familyID: 0x7ff0,
            service: HairpinService(model: DefaultModelSource.model, backend: .hash),
            log: { _ in })
        loop.pollInterval = 0.2
        let done = DispatchSemaphore(value: 0)
        let reason = Locked<ListenerLoop.StopReason?>(nil)
        let thread = Thread {
            let r = try? loop.run()
            reason.with { $0 = r }
            done.signal()
        }
        thread.start()
        usleep(500_000)
        let start = MonotonicClock.now()
        loop.stop()
        let returned = done.wait(timeout: .now() + 5) == .success
        return (returned, seconds(since: start), reason.get)
    }
}
