// The request/answer exchanges outside NDO calls: nlctrl (GETFAMILY and the rest) and the
// hairpin's SET_LISTENER / GET_LISTENER. A request (NLM_F_REQUEST) opens an exchange keyed as
// API calls are (nlmsg_pid, nlmsg_seq; answers to a request sent with pid 0 carry the port it
// was given), its replies and its ACK or error close it (spec/trace-format.md "Calls").
// Anything matching no open exchange, a second request on an open key, a wrong number of
// replies, or an exchange left open is a finding: that is how `flowtrace audit` sees these
// records removed or written twice. The recorder's synthetic preamble is never fed here.

import LibFlowTable

struct ControlExchanges {
    struct Exchange {
        var file: String?
        var frame: Int
        var what: String
        /// Replies an answer with error 0 must have carried; nil: any number (a dump, or a
        /// command whose answer the contract does not fix).
        var expected: Int?
        var replies = 0
        var ackAsked: Bool
        var dump: Bool
    }

    var open: [UInt64: Exchange] = [:]
    /// The file being read, for a rotated set.
    var fileName: String?

    static func key(port: UInt32, seq: UInt32) -> UInt64 { UInt64(port) << 32 | UInt64(seq) }

    func slot(port: UInt32, seq: UInt32) -> UInt64? {
        let k = Self.key(port: port, seq: seq)
        if open[k] != nil { return k }
        if port != 0, open[Self.key(port: 0, seq: seq)] != nil { return Self.key(port: 0, seq: seq) }
        return nil
    }

    static func name(_ s: MessageSummary) -> String {
        if s.kind == .controller { return TraceLine.controllerName(s.command) }
        return NFLH.Command(rawValue: s.command)?.name ?? "nfl_hairpin cmd \(s.command)"
    }

    /// Looks at one non-synthetic message the call tracker placed (`e`). Returns true when it is
    /// part of a control exchange (then it is no call's, and no orphan); findings go to `report`.
    mutating func observe(
        _ s: MessageSummary, _ e: CallEvent, flags: UInt16, families: FamilyTable, frame: Int,
        report: (Int, String) -> Void
    ) -> Bool {
        switch s.kind {
        case .controller:
            if s.isRequest {
                request(
                    s, flags: flags, expected: s.command == Controller.Command.getFamily ? 1 : nil, frame: frame,
                    report: report)
            } else if s.port == 0 && s.netlinkSeq == 0 {
                // A multicast notification (the kernel's NEWFAMILY/DELFAMILY on the notify group).
                return true
            } else {
                reply(s, frame: frame, report: report)
            }
            return true
        case .hairpin where s.command != NFLH.Command.encap.rawValue:
            if s.isRequest {
                let expected =
                    s.command == NFLH.Command.setListener.rawValue
                    ? 0
                    : s.command == NFLH.Command.getListener.rawValue ? 1 : nil
                request(s, flags: flags, expected: expected, frame: frame, report: report)
            } else {
                reply(s, frame: frame, report: report)
            }
            return true
        case .done:
            // An NLMSG_DONE no API call took: the end of a dump, if one is open on its key.
            guard e.call == 0 || e.role == .familyAnswer, let k = slot(port: s.port, seq: s.netlinkSeq),
                open[k]?.dump == true
            else {
                return false
            }
            open[k] = nil
            return true
        case .ack, .error:
            let family = families.fastKind(ofType: s.familyID)
            let seq = s.ackedSeq ?? s.netlinkSeq
            if family == .hairpin, slot(port: s.port, seq: seq) == nil {
                // Not a listener exchange: unft's ACK or refusal of an ENCAP answer, when the
                // tracker placed it.
                guard e.call == 0 else { return false }
                report(
                    frame,
                    "\(s.kind == .ack ? "an ACK" : "an error") on the hairpin leg (seq \(seq)) matches no open request or ENCAP answer: its request is missing or it is written twice"
                )
                return true
            }
            guard family == .controller || family == .hairpin else { return false }
            guard let k = slot(port: s.port, seq: seq), let x = open[k] else {
                report(
                    frame,
                    "\(s.kind == .ack ? "an ACK" : "an error") of nlctrl (seq \(seq)) matches no open request: its request is missing or it is written twice"
                )
                return true
            }
            open[k] = nil
            if s.kind == .ack {
                if !x.ackAsked && !x.dump {
                    report(frame, "an ACK of the \(x.what) request of frame \(x.frame), which asked for none")
                }
                if let want = x.expected, x.replies != want {
                    report(
                        x.frame,
                        "\(x.what) answered with error 0 after \(x.replies) repl\(x.replies == 1 ? "y" : "ies"), not \(want)"
                    )
                }
            }
            return true
        default:
            return false
        }
    }

    mutating func request(_ s: MessageSummary, flags: UInt16, expected: Int?, frame: Int, report: (Int, String) -> Void)
    {
        let k = Self.key(port: s.port, seq: s.netlinkSeq)
        let what = Self.name(s)
        if let old = open[k], old.ackAsked || old.expected.map({ old.replies < $0 }) ?? true {
            report(
                frame,
                "a second \(what) request with port \(s.port) seq \(s.netlinkSeq) while the one of frame \(old.frame) is open (duplicated record?)"
            )
        }
        let dump = flags & Netlink.flagDump == Netlink.flagDump
        open[k] = Exchange(
            file: fileName, frame: frame, what: what, expected: dump ? nil : expected,
            ackAsked: flags & Netlink.flagAck != 0, dump: dump)
    }

    mutating func reply(_ s: MessageSummary, frame: Int, report: (Int, String) -> Void) {
        guard let k = slot(port: s.port, seq: s.netlinkSeq), var x = open[k] else {
            report(
                frame,
                "a \(Self.name(s)) reply (seq \(s.netlinkSeq)) matches no open request: its request is missing or it is written twice"
            )
            return
        }
        x.replies += 1
        if let want = x.expected, x.replies > want {
            report(
                frame,
                "\(x.what) reply \(x.replies) to the request of frame \(x.frame), which has \(want) (duplicated record?)"
            )
        }
        // Without an ACK asked, the last reply due ends the exchange.
        if !x.ackAsked, !x.dump, let want = x.expected, x.replies >= want {
            open[k] = nil
        } else {
            open[k] = x
        }
    }

    /// Exchanges still waiting for an answer at the end of the file(s).
    var unanswered: [Exchange] {
        open.values.filter { x in x.ackAsked || x.dump || x.expected.map { x.replies < $0 } ?? false }
            .sorted { $0.frame < $1.frame }
    }
}
