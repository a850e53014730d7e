// One line per message, like tcpdump: time, call id, leg, direction, family, command, device, seq,
// status, a summary, and the latency on answers.

import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

public enum TraceLine {
    /// "17:03:34.123456789" in local time (UTC when TZ is unset), like `tcpdump --nano`.
    public static func time(_ ns: UInt64) -> String {
        var t = time_t(ns / 1_000_000_000)
        var tm = tm()
        localtime_r(&t, &tm)
        let frac = String(ns % 1_000_000_000)
        return
            "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)).\(String(repeating: "0", count: 9 - frac.count))\(frac)"
    }

    static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }

    public static func latency(_ ns: UInt64) -> String {
        if ns < 1_000 { return "\(ns)ns" }
        if ns < 1_000_000 { return "\(Double(ns / 100) / 10)µs" }
        if ns < 1_000_000_000 { return "\(Double(ns / 10_000) / 100)ms" }
        return "\(Double(ns / 10_000_000) / 100)s"
    }

    /// The text of one line (without the time and leg columns' padding decisions left to the
    /// caller: it is already aligned).
    /// `call`, when given, is printed as a column after the time: "#7", or "-" for a message
    /// of no call (0).
    /// `familyText`, for another family's message, replaces "family 0x… cmd N" (its name and
    /// operation from the specs), and follows ACK/ERROR/DONE (the family and operation answered).
    /// An nlctrl message by its command, as show and the audit's control exchanges name it.
    static func controllerName(_ command: UInt8) -> String {
        switch command {
        case Controller.Command.getFamily: return "nlctrl GETFAMILY"
        case Controller.Command.newFamily: return "nlctrl NEWFAMILY"
        default: return "nlctrl cmd \(command)"
        }
    }

    public static func format(
        _ s: MessageSummary, record: TraceRecord, leg: TraceLeg, latency: UInt64?,
        call: Int? = nil, familyText: String? = nil
    ) -> String {
        var out = time(record.timestamp)
        if let call { out += " " + (call > 0 ? "#\(call)" : "-").col(6) }
        out += " " + (leg == .unknown ? "?" : leg.description).col(7)
        out += record.direction == .toKernel ? " >k " : record.direction == .toUser ? " >u " : " ?? "
        if record.synthetic { out += "[snapshot] " }
        switch s.kind {
        case .flowTable:
            out += "NFL  \(s.apiCommandName ?? "?") \(s.isRequest ? "req" : "rsp")"
        case .hairpin:
            let cmd = NFLH.Command(rawValue: s.command)?.name ?? "cmd \(s.command)"
            out += "NFLH \(cmd)"
            if let api = s.apiCommandName { out += " \(api)" }
            if s.kind == .hairpin && s.command == NFLH.Command.encap.rawValue {
                out += s.status == nil ? " req" : " ans"
            }
        case .ack:
            out += "ACK"
            if let familyText { out += " " + familyText }
        case .error:
            out += "ERROR"
            if let familyText { out += " " + familyText }
        case .done:
            out += "DONE"
            if let familyText { out += " " + familyText }
        case .controller:
            out += Self.controllerName(s.command)
        case .other:
            out += familyText ?? "family 0x\(String(s.familyID, radix: 16)) cmd \(s.command)"
        case .malformed:
            out += "MALFORMED \(s.malformedReason ?? "")"
        }
        if let i = s.ifindex { out += " dev \(i)" }
        if let e = s.encapSeq {
            out += " seq \(e)"
        } else if s.kind == .ack || s.kind == .error {
            out += " seq \(s.ackedSeq ?? s.netlinkSeq)"
        } else {
            out += " seq \(s.netlinkSeq)"
        }
        if let st = s.status { out += " \(Errno.display(st))" }
        let d = s.detail
        if !d.isEmpty { out += " " + d }
        if let text = s.text(in: record.netlink) { out += " \"\(text)\"" }
        if let m = s.missingText { out += " [\(m)]" }
        if let l = latency { out += "  +\(TraceLine.latency(l))" }
        return out
    }
}

extension String {
    /// Left-aligned in a column of `width` characters.
    public func col(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
