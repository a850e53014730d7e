// Fault injection specs, in the spirit of strace's `-e inject=SET:error=E:when=EXPR` and
// netdevsim's debugfs knobs: "fail the Nth SET_FLOWS with ENOSPC", "delay every GET_FLOWS
// from the 2nd on by 50 ms".
//
//   [twin:|backend:]COMMAND:error=ERRNO[:delay=DURATION][:when=EXPR]
//   [twin:|backend:]COMMAND:delay=DURATION[:when=EXPR]
//
// COMMAND is a Flow Table API command (set_flows, GET_FLOWS, get_tables, …) or `all`.
// ERRNO is a name (ENOSPC) or a number (28). DURATION is 50ms, 2s, 100us or a bare number of
// milliseconds. EXPR counts the calls of COMMAND from 1, as strace does:
//   N      only the Nth call          N+     the Nth and every later one
//   N+S    the Nth and every Sth after      (default: every call, 1+)
// The side: `backend:` (the daemon's backend fails or is slow; the default for
// flow-table-hairpind --inject) or `twin:` (unft's twin fails the call before forwarding it,
// or holds it back before forwarding, which can run the call into its timeout).

import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

public struct FaultSpec: Hashable, Sendable, CustomStringConvertible {
    public enum Side: String, Hashable, Sendable {
        /// The twin (unft's role): fails the API call itself, or delays forwarding it.
        case twin
        /// The daemon's backend: the ENCAP answer fails, or comes late.
        case backend
    }

    public var side: Side
    /// nil: every command.
    public var command: NFL.Command?
    /// Positive errno the call fails with; nil: no error (a pure delay).
    public var error: UInt32?
    /// Nanoseconds the call is held back.
    public var delay: UInt64 = 0
    /// Calls counted from 1: the first one hit, and the step after it (0: only `first`).
    public var first = 1
    public var step = 1
    /// The text as given (for the trace's section comment and messages).
    public var text: String

    /// Whether the `n`th call (1-based) of the command is hit.
    public func hits(call n: Int) -> Bool {
        guard n >= first else { return false }
        if step == 0 { return n == first }
        return (n - first) % step == 0
    }

    public var description: String { text }

    /// What the fault does, for comments and logs: `error=ENOSPC`, `delay=50ms`, both.
    public var actionText: String { Self.actionText(error: error, delay: delay) }

    public static func actionText(error: UInt32?, delay: UInt64) -> String {
        var parts: [String] = []
        if let error { parts.append("error=\(Errno.name(error))") }
        if delay > 0 { parts.append("delay=\(formatDuration(delay))") }
        return parts.joined(separator: ":")
    }

    /// Parses one spec. `option` names the command-line option for messages (`--inject`);
    /// `defaultSide` is the side without a `twin:`/`backend:` prefix.
    public static func parse(_ text: String, option: String = "--inject", defaultSide: Side) throws(FaultSpecError)
        -> FaultSpec
    {
        func fail(_ why: String) -> FaultSpecError { FaultSpecError("\(option) \(text): \(why)") }
        var fields = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var side = defaultSide
        if let head = fields.first, let s = Side(rawValue: head.lowercased()) {
            side = s
            fields.removeFirst()
        }
        guard let commandField = fields.first, !commandField.isEmpty else {
            throw fail(
                "no command: write COMMAND:error=ERRNO[:when=N] or COMMAND:delay=50ms, e.g. set_flows:error=ENOSPC:when=3"
            )
        }
        var spec = FaultSpec(side: side, command: nil, text: text)
        if commandField.lowercased() != "all" {
            let wanted = commandField.uppercased()
            guard
                let c = (0...UInt8.max).lazy.compactMap(NFL.Command.init(rawValue:)).first(where: { $0.name == wanted })
            else {
                let known = (0...UInt8.max).compactMap(NFL.Command.init(rawValue:)).map { $0.name.lowercased() }
                throw fail("unknown command \(commandField): one of \(known.joined(separator: ", ")) or all")
            }
            spec.command = c
        }
        var sawAction = false
        for field in fields.dropFirst() {
            guard let eq = field.firstIndex(of: "=") else {
                throw fail("\(field.isEmpty ? "an empty field" : field) is not KEY=VALUE (keys: error, delay, when)")
            }
            let key = field[..<eq].lowercased(), value = String(field[field.index(after: eq)...])
            switch key {
            case "error":
                guard let e = Errno.number(value) else {
                    throw fail(
                        "unknown errno \(value) (use a name such as ENOSPC, EBUSY, ETIMEDOUT or a number 1-4095)")
                }
                spec.error = e
                sawAction = true
            case "delay":
                guard let d = parseDuration(value) else {
                    throw fail("bad delay \(value) (use 50ms, 2s, 100us, or a number of milliseconds)")
                }
                spec.delay = d
                sawAction = true
            case "when":
                guard let (first, step) = parseWhen(value) else {
                    throw fail(
                        "bad when=\(value) (use N, N+ or N+STEP with N ≥ 1, as strace: when=3, when=2+, when=1+10)")
                }
                spec.first = first
                spec.step = step
            default:
                throw fail("unknown key \(key) (keys: error, delay, when)")
            }
        }
        guard sawAction else { throw fail("nothing to inject: add error=ERRNO or delay=DURATION") }
        return spec
    }

    /// `N`, `N+`, `N+S` → (first, step); step 0 means only N.
    static func parseWhen(_ s: String) -> (Int, Int)? {
        if let plus = s.firstIndex(of: "+") {
            guard let n = Int(s[..<plus]), n >= 1 else { return nil }
            let rest = s[s.index(after: plus)...]
            if rest.isEmpty { return (n, 1) }
            guard let step = Int(rest), step >= 1 else { return nil }
            return (n, step)
        }
        guard let n = Int(s), n >= 1 else { return nil }
        return (n, 0)
    }

    /// `50ms`, `2s`, `100us`, `1.5s`, `20` (ms) → nanoseconds; at most an hour.
    public static func parseDuration(_ s: String) -> UInt64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("ms", 1e6), ("s", 1e9)]
        var number = Substring(s), scale = 1e6
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            number = s.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let v = Double(number), v.isFinite, v >= 0, v * scale <= 3600e9 else { return nil }
        return UInt64(v * scale)
    }

    public static func formatDuration(_ ns: UInt64) -> String {
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
        if ns % 1_000 == 0 { return "\(ns / 1_000)us" }
        return "\(ns)ns"
    }
}

public struct FaultSpecError: Error, CustomStringConvertible {
    public var description: String
    public init(_ text: String) { description = text }
}
