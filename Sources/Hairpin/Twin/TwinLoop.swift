// The twin's event loop: poll(2) over the wake-up pipe, both listening sockets and every
// connection; accept, read, flush queued output, expire calls, close what broke.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Posix

extension UnftTwin {
    /// Packets read from one connection per wake-up before the others get their turn.
    static let packetsPerTurn = 16

    func loop() {
        var fds: [pollfd] = []
        var polled: [TwinConnection?] = []
        fds.reserveCapacity(64)
        polled.reserveCapacity(64)
        while true {
            fds.removeAll(keepingCapacity: true)
            polled.removeAll(keepingCapacity: true)
            let now = MonotonicClock.now()
            let accepting = now >= acceptPausedUntil
            fds.append(pollfd(fd: wake.readEnd, events: Int16(POLLIN), revents: 0))
            polled.append(nil)
            // A negative fd is skipped by poll(2): how accepting pauses.
            fds.append(
                pollfd(fd: accepting ? (apiListener?.fileDescriptor ?? -1) : -1, events: Int16(POLLIN), revents: 0))
            fds.append(
                pollfd(fd: accepting ? (hairpinListener?.fileDescriptor ?? -1) : -1, events: Int16(POLLIN), revents: 0))
            polled.append(nil)
            polled.append(nil)
            for c in connections {
                // The in-process listener has no socket: the loop drives it (pumpInProcess).
                guard let socket = c.socket else { continue }
                var events: Int16 = 0
                // A client with a call in flight is not read (see TwinConnection.busyCall);
                // poll still reports POLLHUP, so its going away is noticed.
                if c.busyCall == nil && c.deferred.isEmpty { events |= Int16(POLLIN) }
                if c.queuedBytes > 0 { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: socket.fileDescriptor, events: events, revents: 0))
                polled.append(c)
            }
            let timeout = pollTimeout(now: now, accepting: accepting)
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 {
                if errno != EINTR {
                    log("poll failed: \(Sys.errorText(errno))")
                    usleep(10_000)
                }
                continue
            }
            if fds[0].revents != 0 {
                // The pipe is only ever written to stop the loop: by `stop`, or by a signal
                // handler through `stopFileDescriptor`, which cannot take the lock.
                wake.drain()
                // A signal handler's byte sets no flag: anything but a detach request stops.
                let detachOnly = control.withLock { !$0.stopped && $0.detachRequested }
                if detachOnly {
                    detachRequestedListener()
                    sweep()
                    continue
                }
                control.withLock { $0.stopped = true }
                break
            }
            if fds[1].revents != 0, let l = apiListener { acceptAll(l, leg: .api) }
            if fds[2].revents != 0, let l = hairpinListener { acceptAll(l, leg: .hairpin) }
            for i in 3..<fds.count {
                guard let c = polled[i], !c.broken else { continue }
                let ev = Int32(fds[i].revents)
                if ev == 0 { continue }
                if ev & Int32(POLLOUT) != 0 { flush(c) }
                if ev & Int32(POLLIN) != 0 {
                    read(c)
                    pumpInProcess()
                } else if ev & Int32(POLLHUP | POLLERR | POLLNVAL) != 0 {
                    c.broken = true
                }
            }
            expireCalls(now: MonotonicClock.now())
            if configuration.faults != nil { releaseHeldCalls(now: MonotonicClock.now()) }
            resumeDeferred()
            pumpInProcess()
            sweep()
        }
        shutdown()
    }

    /// Until the nearest deadline (rounded up, so a call never times out a millisecond early
    /// and the loop never spins), forever if none.
    func pollTimeout(now: UInt64, accepting: Bool) -> Int32 {
        var nearest = UInt64.max
        for (_, p) in pending where p.deadline < nearest { nearest = p.deadline }
        if !accepting && acceptPausedUntil < nearest { nearest = acceptPausedUntil }
        if let due = configuration.faults?.nextHeldDue, due < nearest { nearest = due }
        if nearest == UInt64.max { return -1 }
        if nearest <= now { return 0 }
        let ms = (nearest - now + 999_999) / 1_000_000
        return ms > UInt64(Int32.max) ? Int32.max : Int32(ms)
    }

    func acceptAll(_ l: UnixSeqpacketListener, leg: Leg) {
        while true {
            let socket: UnixSeqpacketConnection?
            do { socket = try l.accept() } catch {
                // EMFILE and friends: the listener stays readable, so pause accepting briefly
                // instead of spinning.
                log("accept on \(l.path) failed: \(error)")
                acceptPausedUntil = MonotonicClock.now() + 100_000_000
                return
            }
            guard let socket else { return }
            guard connections.count < configuration.maxConnections else {
                log("too many connections: closing a new one on \(l.path)")
                socket.close()
                continue
            }
            let c = TwinConnection(
                id: nextConnectionID, leg: leg, port: allocatePort(socket.peerCredentials?.pid),
                socket: socket)
            nextConnectionID += 1
            connections.append(c)
            connectionsByID[c.id] = c
            counterState.withLock { $0.connections = connections.count }
        }
    }

    /// A port like netlink autobind's: the peer's pid when free, else a rover counting down
    /// from -4096. Unique over both sockets (they stand for one netlink bus), never 0.
    func allocatePort(_ peerPID: Int32?) -> UInt32 {
        if let pid = peerPID, pid > 0, !usedPorts.contains(UInt32(pid)) {
            usedPorts.insert(UInt32(pid))
            return UInt32(pid)
        }
        while true {
            let p = portRover
            portRover = portRover &- 1
            if portRover < 0x8000_0000 { portRover = 0xFFFF_F000 }
            if p != 0 && !usedPorts.contains(p) {
                usedPorts.insert(p)
                return p
            }
        }
    }

    func read(_ c: TwinConnection) {
        var turns = Self.packetsPerTurn
        guard let socket = c.socket else { return }
        while turns > 0 && !c.broken && c.busyCall == nil && c.deferred.isEmpty {
            turns -= 1
            switch socket.tryReceive(into: receiveBuffer) {
            case .done(let n):
                let packet = UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<n])
                switch c.leg {
                case .api: processAPIPacket(c, packet)
                case .hairpin: processHairpinPacket(c, packet)
                }
            case .wouldBlock:
                return
            case .truncated(let n):
                oversizedPacket(c, length: n)
            case .closed:
                c.broken = true
            case .failed(let e):
                log("recv from port \(c.port) failed: \(Sys.errorText(e))")
                c.broken = true
            }
        }
    }

    /// A packet larger than the receive buffer: its start is in the buffer, so the sender
    /// still gets an error that echoes its header (the kernel refuses such a sendmsg with
    /// EMSGSIZE).
    func oversizedPacket(_ c: TwinConnection, length: Int) {
        let head = UnsafeRawBufferPointer(receiveBuffer)
        note(c, head, .toKernel, call: nil)
        sendError(
            c, request: Self.header(at: 0, in: head), errno: Int32(Errno.EMSGSIZE),
            text: "a \(length)-byte packet exceeds the twin's \(receiveBuffer.count)-byte limit", call: nil)
    }

    /// The nlmsghdr at `offset`, or zeros where the bytes end.
    static func header(at offset: Int, in bytes: UnsafeRawBufferPointer) -> NetlinkHeader {
        guard offset >= 0, bytes.count - offset >= Netlink.headerLength else {
            return NetlinkHeader(length: 0, type: 0, flags: 0, sequence: 0, port: 0)
        }
        return NetlinkHeader(
            length: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self),
            type: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
            flags: bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self),
            sequence: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
            port: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
    }

    /// Runs the rest of packets whose calls have ended.
    func resumeDeferred() {
        for c in connections where c.resume {
            c.resume = false
            guard !c.broken, c.busyCall == nil, !c.deferred.isEmpty else { continue }
            let rest = c.deferred
            c.deferred = []
            rest.withUnsafeBytes { processAPIPacket(c, $0) }
        }
    }

    /// Closes broken connections. The listener's going away fails every pending call at once.
    func sweep() {
        guard connections.contains(where: { $0.broken }) else { return }
        var lostListener = false
        connections.removeAll { c in
            guard c.broken else { return false }
            if c === listener { lostListener = true }
            if c === inProcessListener { inProcessListener = nil }
            connectionsByID[c.id] = nil
            usedPorts.remove(c.port)
            c.socket?.close()
            c.link?.close()
            c.outQueue = []
            c.deferred = []
            return true
        }
        counterState.withLock { $0.connections = connections.count }
        if lostListener { listenerGone() }
    }

    func shutdown() {
        for c in connections {
            c.socket?.close()
            c.link?.close()
        }
        inProcessListener = nil
        connections.removeAll()
        connectionsByID.removeAll()
        usedPorts.removeAll()
        listener = nil
        pending.removeAll()
        apiListener?.close()
        hairpinListener?.close()
        counterState.withLock {
            $0.connections = 0
            $0.pending = 0
            $0.listenerPort = nil
        }
        control.withLock { $0.running = false }
    }

    // MARK: output

    /// Sends the writer's bytes (one or more whole messages) to `c` as one packet and tells the
    /// hook about each message. The writer is reset afterwards. A peer without room gets the
    /// packet queued; a connection that is gone drops it.
    func emit(_ c: TwinConnection, call: UInt64?) {
        defer { writer.reset() }
        guard !c.broken else {
            if c.leg == .api && call != nil { counterState.withLock { $0.droppedReplies += 1 } }
            return
        }
        writer.withUnsafeBytes { bytes in
            if configuration.onMessage != nil {
                var it = NetlinkMessageIterator(bytes)
                while let m = try? it.next() { note(c, m.bytes, .toUser, call: call) }
            }
            transmit(c, bytes)
        }
    }

    func transmit(_ c: TwinConnection, _ bytes: UnsafeRawBufferPointer) {
        guard let socket = c.socket else {
            // The in-process listener: served when the loop pumps (never inside this emit).
            if let link = c.link, !link.closed { link.toListener.append(bytes) } else { c.broken = true }
            return
        }
        if c.queuedBytes == 0 {
            switch socket.trySend(bytes) {
            case .done: return
            case .wouldBlock: break
            case .closed, .truncated:
                c.broken = true
                return
            case .failed(let e):
                log("send to port \(c.port) failed: \(Sys.errorText(e))")
                c.broken = true
                return
            }
        }
        guard c.queuedBytes + bytes.count <= configuration.maxQueuedBytes else {
            log("port \(c.port) does not read its messages (\(c.queuedBytes) bytes queued): dropping it")
            c.broken = true
            return
        }
        c.outQueue.append([UInt8](bytes))
        c.queuedBytes += bytes.count
    }

    func flush(_ c: TwinConnection) {
        guard let socket = c.socket else { return }
        while c.outHead < c.outQueue.count {
            let outcome = c.outQueue[c.outHead].withUnsafeBytes { socket.trySend($0) }
            switch outcome {
            case .done:
                c.queuedBytes -= c.outQueue[c.outHead].count
                c.outQueue[c.outHead] = []
                c.outHead += 1
            case .wouldBlock:
                return
            default:
                c.broken = true
                return
            }
        }
        c.outQueue.removeAll(keepingCapacity: true)
        c.outHead = 0
        c.queuedBytes = 0
    }

    @inline(__always)
    func note(_ c: TwinConnection, _ bytes: UnsafeRawBufferPointer, _ direction: Direction, call: UInt64?) {
        guard let hook = configuration.onMessage else { return }
        hook(MessageInfo(leg: c.leg, direction: direction, port: c.port, call: call), bytes)
    }

    func log(_ line: @autoclosure () -> String) {
        configuration.onLog?(line())
    }

    // MARK: ACKs and errors

    /// NLMSG_ERROR for `request`: an ACK when `errno` is 0, else -errno with the extended-ack
    /// text. The header echoes the request's nlmsg_seq; nlmsg_pid is the connection's port.
    /// `missingType` and `missingNest`: the missing-attribute extended ack, as the module's
    /// NL_SET_ERR_ATTR_MISS gives it.
    func sendError(
        _ c: TwinConnection, request: NetlinkHeader, errno: Int32, text: String?, call: UInt64?,
        missingType: UInt32? = nil, missingNest: UInt32? = nil
    ) {
        writer.reset()
        // The module's missing-attribute text names the nest as its bad attribute too.
        NetlinkAck(
            header: NetlinkHeader(type: Netlink.typeError, flags: 0, sequence: request.sequence, port: c.port),
            error: -errno, request: request, message: text, missingType: missingType,
            missingNest: missingNest, offset: missingNest
        ).encode(into: &writer)
        if errno != 0 { counterState.withLock { $0.errors[errno, default: 0] += 1 } }
        emit(c, call: call)
    }

    /// The ACK a request asked for with NLM_F_ACK (nothing otherwise).
    func ackIfAsked(_ c: TwinConnection, request: NetlinkHeader, call: UInt64?) {
        if request.flags & Netlink.flagAck != 0 { sendError(c, request: request, errno: 0, text: nil, call: call) }
    }
}
