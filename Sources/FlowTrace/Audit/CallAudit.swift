// Checks that a recording holds every NDO call exactly once and in order, call by call (the
// call id of CallTracker, spec/trace-format.md "Calls"): one API request and one final API
// answer; when it was forwarded, the ENCAP request's parts 0..n in order (MORE on all but the
// last) and then the answer's parts the same way, before the API replies, NLMSG_DONE and the
// final answer (a dump's is its NLMSG_DONE); a GET_FLOWS' replies carry the flows its ENCAP
// answer did: a do's in one reply, a dump's in pages. A record lost shows
// as a missing member or a message matching no call, one written twice as a repeated part or
// an extra answer, one out of place by its order or a timestamp going back. Each finding names
// its frame (1-based, as Wireshark numbers them). For load and crash tests (`flowtrace audit`).

import LibFlowTable

#if canImport(Glibc)
import Glibc
#endif

public struct CallAudit: Sendable {
    public var files: [String] = []
    public var records = 0
    /// Records that belong to no call (nlctrl, registration, the snapshot).
    public var unpaired = 0
    public var calls = 0
    /// Calls that reached the listener.
    public var forwarded = 0
    /// Calls whose final API answer is in the trace (what the client was sent).
    public var answered = 0
    /// Calls whose final answer was ETIMEDOUT (their late ENCAP answer may be missing).
    public var timedOut = 0
    /// Calls the twin or the module answered itself, without forwarding.
    public var answeredByUnft = 0
    /// Calls per command, and their outcomes other than 0 by errno.
    public var callsByCommand: [String: Int] = [:]
    public var errorsByCommand: [String: [Int32: Int]] = [:]
    /// Findings: every one counts; the first ones are kept.
    public var anomalies = 0
    public var examples: [CallFinding] = []
    /// The reader's note when a file ends inside a block.
    public var truncation: String?

    /// No findings, and no file cut short (what followed the cut is unknown).
    public var clean: Bool { anomalies == 0 && truncation == nil }

    public init() {}

    public static func run(path: String) throws(TraceFileError) -> CallAudit {
        try run(paths: [path])
    }

    /// Audits one file, or the files of a rotated set read as one stream (calls go on across them).
    public static func run(paths: [String], keep: Int = 50) throws(TraceFileError) -> CallAudit {
        var log = CallLog()
        log.keepFindings = keep
        var audit = CallAudit()
        audit.files = paths
        for (index, path) in paths.enumerated() {
            let reader = try TraceReader(path: path)
            log.beginFile(index, name: paths.count > 1 ? path : nil)
            do {
                while let r = try reader.next() {
                    log.add(r, families: reader.families, frame: reader.frameNumber)
                }
            } catch {
                throw error.after(frame: reader.frameNumber)
            }
            if let t = reader.truncation {
                audit.truncation = (paths.count > 1 ? path + ": " : "") + "\(t), after frame \(reader.frameNumber)"
            }
        }
        audit.records = log.records
        audit.unpaired = log.outside
        audit.calls = log.calls.count
        var findings = log.findings
        var count = log.findingCount
        for c in log.calls {
            let name = c.commandName
            audit.callsByCommand[name, default: 0] += 1
            if let o = c.outcome, o != 0 { audit.errorsByCommand[name, default: [:]][o, default: 0] += 1 }
            if c.encapRequestFrame > 0 { audit.forwarded += 1 }
            if c.apiFinals > 0 { audit.answered += 1 }
            if c.status == Int32(Errno.ETIMEDOUT) { audit.timedOut += 1 }
            if c.apiRequests > 0 && c.encapRequestFrame == 0 && c.apiFinals > 0 { audit.answeredByUnft += 1 }
            for (frame, text) in problems(c, twoLegs: log.sawAPIRequest) {
                count += 1
                if findings.count < keep {
                    findings.append(
                        CallFinding(file: paths.count > 1 ? paths[c.file] : nil, frame: frame, call: c.id, text: text))
                }
            }
        }
        if audit.truncation == nil {
            for x in log.control.unanswered {
                count += 1
                if findings.count < keep {
                    findings.append(
                        CallFinding(
                            file: x.file, frame: x.frame, call: 0,
                            text: "\(x.what) request without its answer"))
                }
            }
        }
        findings.sort { ($0.file ?? "", $0.frame) < ($1.file ?? "", $1.frame) }
        audit.anomalies = count
        audit.examples = findings
        return audit
    }

    /// What a whole call lacks or has too much of, once the file is read, each at the frame of
    /// the request concerned.
    static func problems(_ c: CallInfo, twoLegs: Bool) -> [(Int, String)] {
        var texts: [(Int, String)] = []
        let api = c.apiRequestFrame > 0 ? c.apiRequestFrame : c.firstFrame
        let encap = c.encapRequestFrame > 0 ? c.encapRequestFrame : c.firstFrame
        func add(_ frame: Int, _ text: String) { texts.append((frame, text)) }
        let what = c.commandName
        if twoLegs && c.apiRequests == 0 {
            add(encap, "\(what) ENCAP request without an API request")
        }
        if c.apiRequests > 0 && c.apiFinals == 0 {
            add(api, "\(what) API request without a final answer (ACK, error, or a dump's NLMSG_DONE)")
        }
        if c.encapRequestFrame > 0 && !c.encapRequestDone {
            add(encap, "\(what) ENCAP request without its last part (\(c.encapRequestParts) part(s) seen)")
        }
        let timedOut = c.status.map { CallLog.answerMayBeMissing.contains($0) } ?? false
        if c.encapRequestFrame > 0 && !c.encapAnswerDone && !(timedOut && c.encapAnswerParts == 0) {
            add(
                encap,
                c.encapAnswerParts == 0
                    ? "\(what) ENCAP request without an ENCAP answer"
                    : "\(what) ENCAP answer without its last part (\(c.encapAnswerParts) part(s) seen)")
        }
        if c.acks != c.acksAsked {
            add(encap, "\(what): \(c.acksAsked) ENCAP answer part(s) asked for an ACK, \(c.acks) ACK(s) from unft")
        }
        // What the API leg must carry after an ENCAP answer the twin or module accepted.
        if c.apiFinals == 1, c.status == 0, c.encapAnswerDone, c.hairpinRefusal == nil {
            if c.command == NFL.Command.getFlows.rawValue && !c.dump && c.dones == 0 && c.multiReplies == 0 {
                // A do: one reply (no NLM_F_MULTI) with every flow, then the ACK.
                if c.replies != 1 { add(api, "\(what) (a do) answered with \(c.replies) API replies, not 1") }
                if c.replyFlows != c.answerFlows {
                    add(api, "\(what) API reply carries \(c.replyFlows) flow(s), its ENCAP answer \(c.answerFlows)")
                }
            } else if c.command == NFL.Command.getFlows.rawValue {
                // A dump (its DONE is final, an ACK after it matches no call), or a do answered
                // as older unft versions did: pages (NLM_F_MULTI), NLMSG_DONE, then the ACK.
                if c.dones != 1 { add(api, "\(what) answered with \(c.dones) NLMSG_DONE(s), not 1") }
                // The pages' cutting rule (spec/two-leg-contract.md "GET_FLOWS reply pages"): no
                // flows give exactly one page with an empty FLOWS; flows never an empty page.
                if c.answerFlows == 0 && c.replies != 1 {
                    add(api, "\(what) without flows answered with \(c.replies) API replies, not 1")
                } else if c.answerFlows > 0 && c.emptyReplies > 0 {
                    add(
                        api,
                        "\(what) answered with \(c.emptyReplies) empty reply page(s) among its \(c.answerFlows) flows")
                }
                if c.replyFlows != c.answerFlows {
                    add(api, "\(what) API replies carry \(c.replyFlows) flow(s), its ENCAP answer \(c.answerFlows)")
                }
            } else if c.command <= NFL.Command.getTableGraph.rawValue, c.replies != 1 {
                add(api, "\(what) answered with \(c.replies) API replies, not 1")
            }
        }
        // SET/DEL_FLOWS: the report of the *_LOG strategies (spec/two-leg-contract.md "Batches"),
        // fixed by the strategy and the ENCAP answer's results: ABORT_LOG the failed flow,
        // CONT_LOG every failed one (cut into messages only past a nest's size), else none.
        if c.command == NFL.Command.setFlows.rawValue || c.command == NFL.Command.delFlows.rawValue {
            var want = 0
            if c.apiFinals == 1, c.encapAnswerDone, c.hairpinRefusal == nil,
                !CallLog.answerMayBeMissing.contains(c.status ?? 0), c.failedFlows > 0
            {
                switch ErrorStrategy(rawValue: c.strategy ?? ErrorStrategy.abort.rawValue) {
                case .abortLog: want = 1
                case .continueLog: want = c.failedFlows
                default: break
                }
            }
            if c.replyFlows != want || (want == 0 && c.replies > 0) || (want > 0 && c.replies == 0)
                || c.emptyReplies > 0
            {
                add(
                    api,
                    "\(what) report of \(c.replyFlows) failed flow(s) in \(c.replies) message(s); "
                        + (want == 0 ? "no report is due" : "\(want) failed flow(s) are due"))
            }
        }
        return texts
    }

    public func text(path: String) -> String {
        var s =
            "audit \(path): \(records) records, \(calls) calls (\(answered) answered, \(forwarded) forwarded to the listener"
            + (answeredByUnft > 0 ? ", \(answeredByUnft) answered by unft itself" : "")
            + (timedOut > 0 ? ", \(timedOut) timed out" : "") + "), \(unpaired) records outside calls; "
            + (anomalies == 0
                ? "every call has exactly one request and one answer on each leg it used, in order"
                : "\(anomalies) finding(s): missing, duplicated or misplaced records")
        for e in examples { s += "\n  \(e)" }
        if anomalies > examples.count { s += "\n  … and \(anomalies - examples.count) more" }
        if !callsByCommand.isEmpty {
            s += "\ncalls by command:"
            for (name, n) in callsByCommand.sorted(by: { $0.key < $1.key }) {
                s += "\n  \(name) \(n)"
                if let errors = errorsByCommand[name], !errors.isEmpty {
                    s +=
                        " (errors: "
                        + errors.sorted { $0.key < $1.key }.map { "\(Errno.display($0.key)) \($0.value)" }
                        .joined(separator: ", ") + ")"
                }
            }
        }
        if let t = truncation { s += "\n  the file ends inside a block: \(t)" }
        return s
    }
}

extension TraceFileError {
    /// The error with the frame it followed, as Wireshark numbers frames.
    public func after(frame: Int) -> TraceFileError {
        var e = self
        e.message += " (after frame \(frame))"
        return e
    }
}
