// The twin's side of fault injection (`twin:` specs), as unft itself would misbehave: an
// API call fails with the errno before it is forwarded (the NDO returns an error without
// asking the listener), or is held back before forwarding, its timeout already running, so a
// delay longer than --timeout fails it with ETIMEDOUT. Runs on the twin's thread only.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Posix

extension FaultInjector {
    /// When the earliest held call is due (for the twin's poll timeout); nil if none.
    var nextHeldDue: UInt64? { held.lazy.map(\.due).min() }
}

extension UnftTwin {
    /// nil: no fault for this call, forward it as usual.
    func injectFault(
        _ faults: FaultInjector, _ message: FlowTableMessage, bytes: UnsafeRawBufferPointer,
        from c: TwinConnection, to l: TwinConnection
    ) -> Step? {
        guard faults.covers(.twin) || faults.hasArmed else { return nil }
        let seq = nextSequence
        guard let fault = faults.decide(side: .twin, command: message.command, sequence: seq) else { return nil }
        nextSequence &+= 1
        note(c, bytes, .toKernel, call: seq)
        if let error = fault.error, fault.delay == 0 {
            sendError(
                c, request: message.header, errno: Int32(error), text: "injected fault: \(Errno.name(error))", call: seq
            )
            return .next
        }
        // Held back: pending from now (its timeout runs), sent to the listener when due.
        var a = message.attributes
        let batch = Self.isBatch(message.command)
        if batch && a.errorStrategy == nil { a.errorStrategy = .abort }
        do {
            try encodeEncap(HairpinEncap(command: UInt32(message.command), sequence: seq, attributes: a))
        } catch {
            writer.reset()
            sendError(
                c, request: message.header, errno: Int32(Errno.EMSGSIZE),
                text: "the call cannot be forwarded: \(error)", call: seq)
            return .next
        }
        let messages = fault.error == nil ? writer.withUnsafeBytes { [UInt8]($0) } : []
        writer.reset()
        pending[seq] = PendingCall(
            sequence: seq, client: c.id, request: message.header, command: message.command,
            ifindex: a.identifier ?? 0, strategy: a.errorStrategy ?? .abort,
            flowCount: batch ? (a.flows?.count ?? 0) : 0,
            deadline: MonotonicClock.now() &+ timeoutNanoseconds)
        c.callRequest.removeAll(keepingCapacity: true)
        if batch { c.callRequest.append(contentsOf: bytes) }
        c.busyCall = seq
        counterState.withLock {
            $0.forwarded += 1
            $0.pending = pending.count
        }
        faults.held.append(
            FaultInjector.HeldCall(
                due: MonotonicClock.now() &+ fault.delay, sequence: seq,
                messages: messages, error: fault.error))
        return .suspend
    }

    /// Forwards (or fails) the held calls that are due. A call that timed out meanwhile, or
    /// whose client left, is no longer pending and is dropped.
    func releaseHeldCalls(now: UInt64) {
        guard let faults = configuration.faults, !faults.held.isEmpty else { return }
        var k = 0
        while k < faults.held.count {
            let h = faults.held[k]
            guard h.due <= now else {
                k += 1
                continue
            }
            faults.held.remove(at: k)
            guard pending[h.sequence] != nil else { continue }
            if let e = h.error {
                failCall(h.sequence, errno: Int32(e), text: "injected fault: \(Errno.name(e))")
                continue
            }
            guard let l = listener, !l.broken else {
                failCall(
                    h.sequence, errno: Int32(Errno.ENOTCONN),
                    text: "no hairpin listener is registered: start flow-table-hairpind")
                continue
            }
            h.messages.withUnsafeBytes { all in
                var it = NetlinkMessageIterator(all)
                while let m = try? it.next(), !l.broken {
                    note(l, m.bytes, .toUser, call: h.sequence)
                    transmit(l, m.bytes)
                }
            }
        }
    }
}
