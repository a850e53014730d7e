// unft's user-space twin: the loopback offload driver without a kernel module. It speaks the
// bytes of spec/two-leg-contract.md over two Unix SOCK_SEQPACKET sockets instead of two
// generic netlink families, so clients (flow-table-ctl, the demo, replay) and the listener
// (flow-table-hairpind) cannot tell it from the module, and traces of both are
// interchangeable after normalisation.
//
// One thread runs a poll(2) loop over both listening sockets, their connections and a wake-up
// pipe; nothing blocks on a peer. Calls are independent: each client connection has at most one
// call in flight (as a netlink socket does, whose sendmsg blocks in the kernel until the NDO
// returns), many clients may have calls pending at once, and answers may come in any order.

#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Posix

public final class UnftTwin {
    /// A twin netdev: the ifindex that API requests name in their preamble.
    public struct Device: Hashable, Sendable {
        public var name: String
        public var ifindex: UInt32

        public init(name: String, ifindex: UInt32) {
            self.name = name
            self.ifindex = ifindex
        }

        /// `unft0` with ifindex 1000. Real ifindexes are small numbers handed out by the
        /// kernel; 1000 keeps the twin's device from looking like one of the host's (lo is 1,
        /// eth0 2, …) in traces.
        public static let `default` = Device(name: "unft0", ifindex: 1000)
    }

    public struct Configuration {
        /// The devices requests may name; an unknown ifindex is -EINVAL.
        public var devices: [Device] = [.default]
        /// How long a call waits for the listener's answer before the client gets -ETIMEDOUT
        /// (the module's `timeout_ms`), in seconds.
        public var timeout: Double = 5
        public var paths: TwinSocketPaths = .default
        /// File mode of both socket files: who may use the twin (the kernel's CAP_NET_ADMIN).
        public var socketMode: mode_t = 0o600
        /// Family ids the twin's nlctrl hands out (the kernel's are dynamic).
        public var flowTableFamilyID: UInt16 = 0x1c
        public var hairpinFamilyID: UInt16 = 0x1d
        /// Bytes a slow peer may leave unread before the twin drops its connection.
        public var maxQueuedBytes: Int = 64 << 20
        /// Connections accepted at most (both sockets together); more are closed at once.
        public var maxConnections: Int = 1024
        /// Called for every message received or sent on both legs; see `Hook`.
        public var onMessage: Hook?
        /// Diagnostics (a peer dropped, a system call failed), one line each.
        public var onLog: ((String) -> Void)?
        /// Faults to inject into API calls before they are forwarded (`twin:` specs); Faults/.
        public var faults: FaultInjector?

        public init(devices: [Device] = [.default], timeout: Double = 5, paths: TwinSocketPaths = .default) {
            self.devices = devices
            self.timeout = timeout
            self.paths = paths
        }
    }

    public enum Leg: Hashable, Sendable {
        /// Client ↔ unft: net_flow_nl (and nlctrl) on the API socket.
        case api
        /// unft ↔ listener: nfl_hairpin (and nlctrl) on the hairpin socket.
        case hairpin
    }

    public enum Direction: Hashable, Sendable {
        /// From user space to "the kernel" (the twin): requests, ENCAP answers.
        case toKernel
        /// From the twin to user space: replies, ACKs, errors, ENCAP requests.
        case toUser
    }

    /// Who a message belongs to, for a recorder that pairs the legs.
    public struct MessageInfo: Hashable, Sendable {
        public var leg: Leg
        public var direction: Direction
        /// The port id of the connection the message came in on or goes out to.
        public var port: UInt32
        /// The NDO call (its ENCAP SEQ) the message belongs to: the API request that started
        /// the call, every ENCAP part both ways, the twin's ACKs of the answer, and the API
        /// reply messages. nil for everything else (nlctrl, registration, requests refused
        /// before forwarding).
        public var call: UInt64?
    }

    /// `bytes` is one whole netlink message (or, for a packet whose framing is broken, what
    /// was left of it), valid only during the call. It runs on the twin's thread: keep it
    /// short, never block, never call back into the twin.
    public typealias Hook = (MessageInfo, UnsafeRawBufferPointer) -> Void

    /// What the twin has done so far; read it from any thread.
    public struct Counters: Hashable, Sendable {
        /// net_flow_nl requests received (nlctrl not counted).
        public var requests = 0
        /// Calls forwarded to the listener (one per call, however many parts).
        public var forwarded = 0
        /// Complete ENCAP answers matched to a pending call.
        public var answers = 0
        /// Calls that got -ETIMEDOUT.
        public var timeouts = 0
        /// Calls waiting for their answer now.
        public var pending = 0
        /// NLMSG_ERROR messages with a non-zero error sent, by positive errno, both legs.
        public var errors: [Int32: Int] = [:]
        /// Replies that had nobody to go to (the client left before its answer came).
        public var droppedReplies = 0
        /// Open connections, both sockets.
        public var connections = 0
        /// The registered listener's port.
        public var listenerPort: UInt32?

        public func errors(_ errno: Int32) -> Int { errors[errno] ?? 0 }
    }

    public let configuration: Configuration
    let counterState = PosixLocked(Counters())
    let control = PosixLocked(ControlState())
    let wake: WakePipe

    struct ControlState {
        var bound = false
        var running = false
        var stopped = false
        /// `detachInProcessListener` was called: the wake-up is not a stop.
        var detachRequested = false
        var thread: PosixThread?
    }

    // Loop state: touched only by the thread that runs the loop, so exclusivity(unchecked): the
    // runtime's access checks would be pure cost on every call (BENCHMARKS.md, "Exclusivity").
    @exclusivity(unchecked) var apiListener: UnixSeqpacketListener?
    @exclusivity(unchecked) var hairpinListener: UnixSeqpacketListener?
    @exclusivity(unchecked) var connections: [TwinConnection] = []
    @exclusivity(unchecked) var connectionsByID: [UInt64: TwinConnection] = [:]
    @exclusivity(unchecked) var nextConnectionID: UInt64 = 1
    @exclusivity(unchecked) var usedPorts: Set<UInt32> = []
    /// Like netlink autobind's rover: ports counted down from -4096 when the peer's pid is taken.
    @exclusivity(unchecked) var portRover: UInt32 = 0xFFFF_F000
    @exclusivity(unchecked) var listener: TwinConnection?
    /// The listener running on this thread, if one was attached (TwinInProcess.swift).
    @exclusivity(unchecked) var inProcessListener: TwinConnection?
    @exclusivity(unchecked) var inProcessSpare = PacketQueue()
    @exclusivity(unchecked) var pending: [UInt64: PendingCall] = [:]
    @exclusivity(unchecked) var nextSequence: UInt64 = 1
    @exclusivity(unchecked) var assembler = EncapAssembler()
    /// Every outgoing message is built here (reset between messages: no allocation once grown).
    @exclusivity(unchecked) var writer = NetlinkWriter(capacity: 64 * 1024)
    /// One flow at a time while paging a reply.
    @exclusivity(unchecked) var scratch = NetlinkWriter(capacity: 4096)
    /// The one receive buffer.
    let receiveBuffer: UnsafeMutableRawBufferPointer
    /// Its size: anything a peer can send in one packet with default sysctls (a sendmsg is
    /// capped by SO_SNDBUF, at most 2 × net.core.wmem_max ≈ 416 KiB), e.g. a listener that
    /// sends several 60 KiB parts at once. Larger packets get -EMSGSIZE.
    public static let receiveBufferSize = 1 << 20
    @exclusivity(unchecked) var expired: [UInt64] = []
    @exclusivity(unchecked) var acceptPausedUntil: UInt64 = 0
    let deviceIndexes: Set<UInt32>
    let timeoutNanoseconds: UInt64

    public init(_ configuration: Configuration = Configuration()) throws(TransportError) {
        self.configuration = configuration
        wake = try WakePipe()
        receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.receiveBufferSize, alignment: 8)
        deviceIndexes = Set(configuration.devices.map(\.ifindex))
        timeoutNanoseconds = MonotonicClock.nanoseconds(configuration.timeout)
    }

    deinit {
        stop()
        apiListener?.close()
        hairpinListener?.close()
        for c in connections { c.socket?.close() }
        receiveBuffer.deallocate()
    }

    /// The counters now.
    public var counters: Counters { counterState.withLock { $0 } }

    /// Creates the socket directories and binds both sockets. `start` and `run` call it; call
    /// it yourself to learn early that a path is taken. Idempotent.
    public func bind() throws(SocketError) {
        let already = control.withLock { $0.bound }
        if already { return }
        let paths = configuration.paths
        try TwinSocketPaths.prepareDirectory(TwinSocketPaths.directory(of: paths.api))
        try TwinSocketPaths.prepareDirectory(TwinSocketPaths.directory(of: paths.hairpin))
        let api = try UnixSeqpacketListener(path: paths.api, mode: configuration.socketMode)
        do {
            hairpinListener = try UnixSeqpacketListener(path: paths.hairpin, mode: configuration.socketMode)
        } catch {
            api.close()
            throw error
        }
        apiListener = api
        control.withLock { $0.bound = true }
    }

    /// Binds and runs the loop on a new thread; returns once the sockets accept connections.
    public func start() throws(SocketError) {
        try bind()
        let mayStart = control.withLock { s -> Bool in
            if s.running || s.stopped { return false }
            s.running = true
            return true
        }
        guard mayStart else { return }
        do {
            let t = try PosixThread { [self] in loop() }
            control.withLock { $0.thread = t }
        } catch {
            control.withLock { $0.running = false }
            if case let .system(_, e) = error {
                throw SocketError.system(call: "pthread_create", errno: e, path: configuration.paths.api)
            }
        }
    }

    /// Binds and runs the loop on the calling thread until `stop` is called (from another
    /// thread, or from a signal handler through `stopFileDescriptor`).
    public func run() throws(SocketError) {
        try bind()
        let mayRun = control.withLock { s -> Bool in
            if s.running || s.stopped { return false }
            s.running = true
            return true
        }
        if mayRun { loop() }
    }

    /// Ends the loop: connections are closed (clients with calls in flight see the connection
    /// close), both socket files removed. Waits for the loop's thread if `start` made one.
    /// A stopped twin does not start again.
    public func stop() {
        let thread = control.withLock { s -> PosixThread? in
            s.stopped = true
            let t = s.thread
            s.thread = nil
            return t
        }
        wake.wake()
        thread?.join()
    }

    /// Writing one byte here stops the loop: for signal handlers (write(2) is async-signal-safe).
    public var stopFileDescriptor: Int32 { wake.writeEnd }
}

/// One accepted connection. Touched only on the twin's loop thread (exclusivity(unchecked) as
/// the loop state).
final class TwinConnection {
    let id: UInt64
    let leg: UnftTwin.Leg
    let port: UInt32
    /// nil for the in-process listener, whose packets go through `link`.
    let socket: UnixSeqpacketConnection?
    @exclusivity(unchecked) var link: InProcessHairpinLink?
    /// Packets the peer had no room for yet, oldest first; sent when poll says POLLOUT.
    @exclusivity(unchecked) var outQueue: [[UInt8]] = []
    @exclusivity(unchecked) var outHead = 0
    @exclusivity(unchecked) var queuedBytes = 0
    /// To be closed at the end of this loop iteration (closing mid-iteration would pull the
    /// connection out from under the code that found it).
    @exclusivity(unchecked) var broken = false
    /// API leg: the call in flight. Input is not read meanwhile, as a netlink socket's next
    /// sendmsg waits in the kernel for the NDO to return.
    @exclusivity(unchecked) var busyCall: UInt64?
    /// The rest of a packet whose earlier message started a call: processed when it ends.
    @exclusivity(unchecked) var deferred: [UInt8] = []
    /// API leg: the bytes of the batch request in flight (reused; see `requestFlows`).
    @exclusivity(unchecked) var callRequest: [UInt8] = []
    /// GET_FLOWS in flight: the FLOW elements of the listener's answer so far (all parts, in
    /// PART order, each padded), copied into the reply pages verbatim (TwinReplyPages.swift).
    @exclusivity(unchecked) var answerFlows: [UInt8] = []
    @exclusivity(unchecked) var resume = false

    init(id: UInt64, leg: UnftTwin.Leg, port: UInt32, socket: UnixSeqpacketConnection?) {
        self.id = id
        self.leg = leg
        self.port = port
        self.socket = socket
    }
}

/// A call forwarded to the listener and not answered yet.
struct PendingCall {
    let sequence: UInt64
    /// The client connection's id (ports may be reused, ids never are).
    let client: UInt64
    /// The client's request header: replies echo its nlmsg_seq, errors echo all of it.
    let request: NetlinkHeader
    let command: UInt8
    let ifindex: UInt32
    let strategy: ErrorStrategy
    /// SET/DEL: how many flows the request has (RESULTS name them by index). The flows
    /// themselves, for the report of failed flows, are decoded from the client connection's
    /// `callRequest` only when one failed.
    let flowCount: Int
    let deadline: UInt64
}
