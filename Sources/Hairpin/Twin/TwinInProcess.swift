// The embedded listener without the socket hop: in `flow-table-hairpind --twin` (one process)
// the listener's ListenerLoop can run on the twin's own thread, the ENCAP bytes handed over in
// memory instead of through the hairpin socket. Each side still sees exactly the bytes it would
// have sent or received on the socket, one packet at a time, and the twin records both legs
// from the same place (`note`), so a trace is identical in content to the socket mode: the
// same messages, sequence numbers, ports and ACKs, in the same order. What goes away is the
// second thread and its wake-ups, the round trip's largest cost on a loaded machine
// (BENCHMARKS.md, "Loopback").
//
// The listener's connection is a TwinConnection without a socket: what the twin emits to it is
// queued in `InProcessHairpinLink.toListener`, what the listener sends is queued in `toTwin`,
// and the twin's loop drains both (`pumpInProcess`) at its top level, never inside an emit (the
// twin's one writer would otherwise be reused under itself). Calls still time out: a pending
// call whose deadline passed is failed before the next answer is looked at, as the socket
// mode's poll would have done.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Posix

/// Whole packets, oldest first, in one byte array (no allocation once grown).
struct PacketQueue {
    var bytes: [UInt8] = []
    var ends: [Int] = []
    var head = 0

    var isEmpty: Bool { head == ends.count }

    mutating func append(_ packet: UnsafeRawBufferPointer) {
        // Typed, so the append is one memcpy (a raw buffer is appended byte by byte).
        bytes.append(contentsOf: packet.assumingMemoryBound(to: UInt8.self))
        ends.append(bytes.count)
    }

    /// Calls `body` with the oldest packet and removes it; false when there is none.
    mutating func popFirst(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard head < ends.count else { return false }
        let start = head == 0 ? 0 : ends[head - 1]
        let end = ends[head]
        head += 1
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        if head == ends.count { removeAll() }
        return true
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        head = 0
    }
}

/// The listener's transport when it runs on the twin's thread. Used from one thread at a time:
/// the thread that registers the listener (before the twin starts), then the twin's.
public final class InProcessHairpinLink: MessageTransport {
    /// Listener → twin (SET_LISTENER, ENCAP answers).
    var toTwin = PacketQueue()
    /// Twin → listener (ENCAP requests, ACKs).
    var toListener = PacketQueue()
    /// Set when either side is gone: sends fail with `.closed`, receives report it.
    var closed = false
    /// Registration only (before the twin's loop runs): lets a receive that finds nothing make
    /// the twin process what the listener sent.
    var driveTwin: (() -> Void)?
    /// Serves the packets waiting in `toListener` (the session sets it to its ListenerLoop).
    public var serveListener: (() -> Void)?
    /// A client's link (`attachInProcessClient`): `receive` grows the caller's buffer to the
    /// packet, as a socket transport does, instead of reporting it truncated.
    var growsBuffer = false

    init() {}

    public func send(_ packet: UnsafeRawBufferPointer) throws(TransportError) {
        guard !closed else { throw .closed }
        toTwin.append(packet)
    }

    public func receive(into buffer: inout [UInt8], timeout: Double?) throws(TransportError) -> Int {
        if toListener.isEmpty, let drive = driveTwin { drive() }
        if toListener.isEmpty {
            if closed { throw .closed }
            throw .timedOut
        }
        var n = 0
        var tooLarge = 0
        _ = toListener.popFirst { packet in
            if growsBuffer && packet.count > buffer.count {
                buffer = [UInt8](repeating: 0, count: max(packet.count, 65536))
            }
            guard packet.count <= buffer.count else {
                tooLarge = packet.count
                return
            }
            buffer.withUnsafeMutableBytes { $0.copyMemory(from: packet) }
            n = packet.count
        }
        if tooLarge > 0 { throw .truncated(tooLarge) }
        return n
    }

    /// Never readable: nothing polls this transport (the twin drives it).
    public var fileDescriptor: Int32 { -1 }

    public func close() { closed = true }
}

extension UnftTwin {
    /// Connects a listener in this process without a socket; call before `start`. The listener
    /// registers as usual (SET_LISTENER over the returned transport, e.g. `ListenerLoop.register`)
    /// before `start`; afterwards the twin's thread serves it through `serveListener`. Its port
    /// is chosen as a socket peer's would be (this process's pid when free), so traces match.
    public func attachInProcessListener() -> InProcessHairpinLink {
        let link = InProcessHairpinLink()
        let pid = UInt32(getpid())
        let port: UInt32
        if !usedPorts.contains(pid) {
            usedPorts.insert(pid)
            port = pid
        } else {
            port = allocatePort(nil)
        }
        let c = TwinConnection(id: nextConnectionID, leg: .hairpin, port: port, socket: nil)
        c.link = link
        nextConnectionID += 1
        connections.append(c)
        connectionsByID[c.id] = c
        counterState.withLock { $0.connections = connections.count }
        inProcessListener = c
        link.driveTwin = { [unowned self, unowned link] in
            // Only what the listener sent: its own receive is what is running.
            guard let c = self.inProcessListener else { return }
            var spare = PacketQueue()
            swap(&spare, &link.toTwin)
            while spare.popFirst({ self.processHairpinPacket(c, $0) }) {}
            self.sweep()
        }
        return link
    }

    /// Connects a client in this process on the API leg, without a socket and without the
    /// twin's thread: the client's `receive` runs the twin on the client's thread (what the
    /// client sent, the in-process listener's answers, expiries) until nothing is left to do,
    /// then returns the twin's next packet to it, or `.timedOut` at once when there is none.
    /// Every message goes through the same handlers and hook as over the API socket, in the
    /// same order; what goes away is the thread hand-off each way of every call. For one
    /// client that waits for each answer (`flowtrace gen`); the twin must then never be
    /// started, or its loop would share this state with the client's thread.
    public func attachInProcessClient() -> InProcessHairpinLink {
        let link = InProcessHairpinLink()
        link.growsBuffer = true
        let c = TwinConnection(id: nextConnectionID, leg: .api, port: allocatePort(getpid()), socket: nil)
        c.link = link
        nextConnectionID += 1
        connections.append(c)
        connectionsByID[c.id] = c
        counterState.withLock { $0.connections = connections.count }
        link.driveTwin = { [unowned self, unowned link, weak c] in
            // What the loop does when woken: a detach asked from another thread.
            self.detachRequestedListener()
            while let c, !c.broken {
                // As the loop reads a socket: not while a call of this client is in flight.
                var packet: [UInt8]?
                if c.busyCall == nil && c.deferred.isEmpty { _ = link.toTwin.popFirst { packet = Array($0) } }
                if let packet { packet.withUnsafeBytes { self.processAPIPacket(c, $0) } }
                self.pumpInProcess()
                self.expireCalls(now: MonotonicClock.now())
                self.resumeDeferred()
                self.pumpInProcess()
                self.sweep()
                if packet == nil { return }
            }
        }
        return link
    }

    /// The registration is over: from now on only the twin's loop drives the link.
    public func finishInProcessRegistration(_ link: InProcessHairpinLink) {
        link.driveTwin = nil
    }

    /// Closes the in-process listener's connection from another thread (as a listener process
    /// dying closes its socket): pending calls fail with ENOTCONN.
    /// Returns once the twin's thread has closed it (at once if the loop is not running).
    public func detachInProcessListener() {
        control.withLock { $0.detachRequested = true }
        wake.wake()
        // Synchronous like closing a socket: a request sent after this returns finds no listener.
        while control.withLock({ $0.detachRequested && $0.running && !$0.stopped }) { usleep(1000) }
    }

    /// Hands the queued packets between the twin and the in-process listener until both
    /// queues are empty. Called by the loop at its top level only.
    func pumpInProcess() {
        guard let c = inProcessListener, let link = c.link else { return }
        while !c.broken {
            if !link.toTwin.isEmpty {
                // Late answers behave as over the socket: the call expired first.
                expireCalls(now: MonotonicClock.now())
                swap(&inProcessSpare, &link.toTwin)
                while !c.broken, inProcessSpare.popFirst({ processHairpinPacket(c, $0) }) {}
                inProcessSpare.removeAll()
                continue
            }
            if !link.toListener.isEmpty {
                if let serve = link.serveListener { serve() } else { link.toListener.removeAll() }
                if link.closed { c.broken = true }
                continue
            }
            return
        }
    }

    /// `detachInProcessListener` asked for it: the listener's connection closes now.
    func detachRequestedListener() {
        let asked = control.withLock { s -> Bool in
            let a = s.detachRequested
            s.detachRequested = false
            return a
        }
        guard asked, let c = inProcessListener else { return }
        c.link?.close()
        c.broken = true
    }
}
