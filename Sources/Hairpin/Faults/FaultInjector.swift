// Decides which calls get an injected fault, and remembers the ones that did so a recorder
// can mark their answer records (spec/trace-format.md, "Injected faults"). One injector serves
// both sides of a session: the twin asks for `.twin` faults before forwarding a call, the
// daemon's HairpinService for `.backend` faults before applying one.
//
// Three sources of faults, checked in this order:
// * a replay plan: faults a trace recorded, by the ENCAP SEQ of the call (backend replay);
// * armed faults: "the next call of this command on this side" (a replay into the twin arms
//   the recorded fault just before sending the call it hit; calls go out one at a time);
// * the user's specs (`--inject`), counting each spec's calls from 1 as strace does.

import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// One fault that hit one call.
public struct InjectedFault: Hashable, Sendable {
    public var side: FaultSpec.Side
    public var command: UInt8
    /// The call's number among the calls its spec counted (0 when re-injected from a trace).
    public var call: Int
    public var error: UInt32?
    public var delay: UInt64
    /// The call's id: the ENCAP SEQ (the trace's pairing id for the twin's records).
    public var sequence: UInt64

    public init(side: FaultSpec.Side, command: UInt8, call: Int, error: UInt32?, delay: UInt64, sequence: UInt64) {
        self.side = side
        self.command = command
        self.call = call
        self.error = error
        self.delay = delay
        self.sequence = sequence
    }

    static let prefix = "injected fault:"

    var commandName: String { NFL.Command(rawValue: command)?.name ?? "command \(command)" }

    /// The marker comment of the call's answer records:
    /// `injected fault: side=backend command=SET_FLOWS call=3 seq=17 error=ENOSPC delay=50ms`.
    public var comment: String {
        var s = "\(Self.prefix) side=\(side.rawValue) command=\(commandName) call=\(call) seq=\(sequence)"
        if let error { s += " error=\(Errno.name(error))" }
        if delay > 0 { s += " delay=\(FaultSpec.formatDuration(delay))" }
        return s
    }

    /// The fault a record's comment marks, if it carries a marker line.
    public static func parse(comment: String) -> InjectedFault? {
        for line in comment.split(separator: "\n") where line.hasPrefix(prefix) {
            var f = InjectedFault(side: .backend, command: 0xff, call: 0, error: nil, delay: 0, sequence: 0)
            var sawSide = false, sawSeq = false
            for token in line.dropFirst(prefix.count).split(separator: " ") {
                guard let eq = token.firstIndex(of: "=") else { continue }
                let key = token[..<eq], value = String(token[token.index(after: eq)...])
                switch key {
                case "side":
                    guard let s = FaultSpec.Side(rawValue: value) else { return nil }
                    f.side = s
                    sawSide = true
                case "command":
                    f.command =
                        (0...UInt8.max).lazy.compactMap(NFL.Command.init(rawValue:)).first { $0.name == value }?
                        .rawValue ?? 0xff
                case "call": f.call = Int(value) ?? 0
                case "seq":
                    guard let q = UInt64(value) else { return nil }
                    f.sequence = q
                    sawSeq = true
                case "error":
                    guard let e = Errno.number(value) else { return nil }
                    f.error = e
                case "delay": f.delay = FaultSpec.parseDuration(value) ?? 0
                default: break
                }
            }
            return sawSide && sawSeq ? f : nil
        }
        return nil
    }
}

// @unchecked: the only mutable state is `state`, behind its pthread mutex.
public final class FaultInjector: @unchecked Sendable {
    public let specs: [FaultSpec]
    struct State {
        var counts: [Int]
        var armed: [InjectedFault] = []
        var plan: [UInt64: InjectedFault] = [:]
        /// Faults injected lately, by call id, for the recorder's marks. Bounded: a mark is
        /// looked up within the call, so only calls in flight need one.
        var marks: [UInt64: InjectedFault] = [:]
        var injected = 0
    }
    let state: PosixLocked<State>
    /// Twin side only, touched only by the twin's thread: calls held back before forwarding.
    var held: [HeldCall] = []

    struct HeldCall {
        var due: UInt64
        var sequence: UInt64
        var messages: [UInt8]
        var error: UInt32?
    }

    public init(specs: [FaultSpec] = []) {
        self.specs = specs
        state = PosixLocked(State(counts: [Int](repeating: 0, count: specs.count)))
    }

    /// A replay's injector: the recorded backend faults, by ENCAP SEQ.
    public convenience init(plan: [UInt64: InjectedFault]) {
        self.init(specs: [])
        state.withLock { $0.plan = plan }
    }

    /// Faults injected so far (specs, arms and plans together).
    public var injectedCount: Int { state.withLock { $0.injected } }

    /// Whether any spec names this side (so the other side need not ask).
    public func covers(_ side: FaultSpec.Side) -> Bool { specs.contains { $0.side == side } }

    /// Injects `fault` into the next call of its command on its side.
    public func arm(_ fault: InjectedFault) {
        state.withLock { $0.armed.append(fault) }
    }

    /// The fault for this call, if any, counted and remembered for the recorder's marks.
    public func decide(side: FaultSpec.Side, command: UInt8, sequence: UInt64) -> InjectedFault? {
        state.withLock { s -> InjectedFault? in
            var hit: InjectedFault?
            if side == .backend, var f = s.plan.removeValue(forKey: sequence) {
                f.sequence = sequence
                hit = f
            }
            if hit == nil, let k = s.armed.firstIndex(where: { $0.side == side && $0.command == command }) {
                var f = s.armed.remove(at: k)
                f.sequence = sequence
                hit = f
            }
            for (i, spec) in specs.enumerated()
            where spec.side == side && (spec.command == nil || spec.command?.rawValue == command) {
                s.counts[i] += 1
                if hit == nil && spec.hits(call: s.counts[i]) {
                    hit = InjectedFault(
                        side: side, command: command, call: s.counts[i], error: spec.error,
                        delay: spec.delay, sequence: sequence)
                }
            }
            guard let f = hit else { return nil }
            s.injected += 1
            if s.marks.count >= 4096 { s.marks.removeAll(keepingCapacity: true) }
            s.marks[sequence] = f
            return f
        }
    }

    /// The fault that hit call `sequence`, for marking its answer records.
    public func mark(forCall sequence: UInt64) -> InjectedFault? {
        state.withLock { $0.marks.isEmpty ? nil : $0.marks[sequence] }
    }

    /// Whether faults are armed (a replay's), so a side without specs must still ask.
    public var hasArmed: Bool { state.withLock { !$0.armed.isEmpty } }

    /// Whether any call has been hit (a cheap test before decoding a message for its SEQ).
    public var hasMarks: Bool { state.withLock { !$0.marks.isEmpty } }

    /// The marker comment for a message the daemon sent (an ENCAP answer), found by its SEQ:
    /// for recorders that see no call ids (flow-table-hairpind without --twin).
    public func markComment(forAnswer bytes: UnsafeRawBufferPointer) -> String? {
        guard hasMarks else { return nil }
        var it = NetlinkMessageIterator(bytes)
        guard let view = try? it.next(), let seq = ListenerLoop.salvage(view)?.sequence else { return nil }
        return mark(forCall: seq)?.comment
    }

    /// The specs as one line, for the trace's section comment.
    public var specsText: String { specs.map(\.text).joined(separator: " ") }

    /// Parses every spec of a repeated option; `twin:`/`backend:` prefixes override `defaultSide`.
    public static func parse(
        _ texts: [String], option: String = "--inject",
        defaultSide: FaultSpec.Side
    ) throws(FaultSpecError) -> FaultInjector? {
        guard !texts.isEmpty else { return nil }
        var specs: [FaultSpec] = []
        for t in texts { specs.append(try FaultSpec.parse(t, option: option, defaultSide: defaultSide)) }
        return FaultInjector(specs: specs)
    }
}

// MARK: the backend side

extension HairpinService {
    /// The daemon's side of an injected fault: sleeps for the delay, then answers with the
    /// error instead of applying the call (nil: no error, the call goes on). A batch fails as
    /// an aborted one: its first flow gets the errno, the others ECANCELED, nothing applied.
    func injectedAnswer(_ faults: FaultInjector, to request: HairpinEncap) -> HairpinEncap? {
        guard !request.isAnswer, request.commandType == NFLH.EncapCmdType.nflCommand,
            let command = UInt8(exactly: request.command),
            let fault = faults.decide(side: .backend, command: command, sequence: request.sequence)
        else { return nil }
        if fault.delay > 0 { Self.sleep(nanoseconds: fault.delay) }
        guard let error = fault.error else { return nil }
        var answer = HairpinEncap(
            commandType: request.commandType, command: request.command, status: error,
            sequence: request.sequence, errorMessage: "injected fault: \(Errno.name(error))")
        if command == NFL.Command.setFlows.rawValue || command == NFL.Command.delFlows.rawValue {
            let n = request.attributes?.flows?.count ?? 0
            answer.results = (0..<n).map { FlowResult(index: UInt32($0), errno: $0 == 0 ? error : Errno.ECANCELED) }
            if let a = request.attributes, let t = a.identifierType, let i = a.identifier {
                answer.attributes = FlowTableAttributes(identifierType: t, identifier: i)
            }
        }
        return answer
    }

    static func sleep(nanoseconds ns: UInt64) {
        MonotonicClock.sleep(until: MonotonicClock.now() &+ ns)
    }
}
