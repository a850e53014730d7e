// Why a flow of a SET_FLOWS / DEL_FLOWS batch failed, for flow-table-ctl's report lines.
//
// The wire carries one reason text per call at most: the extended ack of the final
// NLMSG_ERROR, which for ABORT / ABORT_LOG names the failed flow ("flow 3 (table 2 uid 17):
// duplicate uid", spec/two-leg-contract.md "Batches"). A CONT_LOG report carries each failed
// flow with its errno only and ends in a plain ACK, so there the reason is looked up on the
// device after the call: its flows of the table, its model. The texts are the daemon's.

import LibFlowTable

public enum FlowFailure {
    /// The flow an error text names and why: "flow I (table T uid U): REASON", without the
    /// "; N of M flows failed" the daemon appends. nil when the text is not of that form, or
    /// gives no reason beyond the errno (the twin's own "errno N" when the listener sent none).
    public static func parse(_ text: String) -> (index: Int, table: UInt32, uid: UInt32, reason: String)? {
        var s = Substring(text)
        func number<T: FixedWidthInteger>(_ type: T.Type) -> T? {
            let digits = s.prefix { $0.isASCII && $0.isNumber }
            s = s.dropFirst(digits.count)
            return T(digits)
        }
        func literal(_ l: String) -> Bool {
            guard s.hasPrefix(l) else { return false }
            s = s.dropFirst(l.count)
            return true
        }
        guard literal("flow "), let index = number(Int.self), literal(" (table "), let table = number(UInt32.self),
            literal(" uid "), let uid = number(UInt32.self), literal("): ")
        else { return nil }
        var reason = String(s)
        let pieces = reason.split(separator: ";", omittingEmptySubsequences: false)
        if pieces.count > 1, let tail = pieces.last, tail.hasPrefix(" "), tail.hasSuffix(" flows failed"),
            tail.split(separator: " ").contains("of")
        {
            reason = pieces.dropLast().joined(separator: ";")
        }
        if reason.isEmpty || (reason.hasPrefix("errno ") && reason.dropFirst(6).allSatisfy(\.isNumber)) { return nil }
        return (index, table, uid, reason)
    }

    /// What the device holds of a failed flow's table after the call.
    public enum TableState: Sendable {
        /// GET_FLOWS answered ENOENT.
        case missing
        case flows([Flow])
        /// Not looked up.
        case unknown
    }

    /// The reason `flow` failed with `errno`, from the device's state after the call: the
    /// flows of its table, its model (`validation`) and table size. nil when that state does
    /// not explain the errno (the device may have changed since, or the cause is elsewhere).
    public static func explain(
        _ op: FlowOperation, _ flow: Flow, errno: Int32, table: TableState,
        validation: ValidationIndex? = nil, tableSize: UInt32? = nil
    ) -> String? {
        if let validation, let e = validation.firstError(in: flow, for: op), e.errno == errno {
            return reason(e)
        }
        switch (op, UInt32(errno.magnitude), table) {
        case (_, Errno.ENOENT, .missing):
            return "table \(flow.table) does not exist"
        case (.set, Errno.EEXIST, .flows(let flows)):
            // The daemon's order: the uid first, then the match set at the same priority.
            if flows.contains(where: { $0.uid == flow.uid }) { return "duplicate uid" }
            let identity = MatchPriority(flow)
            if let other = flows.first(where: { $0.priority == flow.priority && MatchPriority($0) == identity }) {
                return "same matches and priority as flow uid \(other.uid)"
            }
            return nil
        case (.set, Errno.ENOSPC, _):
            guard let size = tableSize else { return nil }
            return "table \(flow.table) is full (\(size) flows)"
        case (.del, Errno.ENOENT, .flows(let flows)):
            return flows.contains(where: { $0.uid == flow.uid })
                ? nil : "no flow with uid \(flow.uid) in table \(flow.table)"
        default:
            return nil
        }
    }

    /// A validation error without the "flow table T uid U: " its description starts with.
    public static func reason(_ e: FlowValidationError) -> String {
        let text = e.description
        let prefix = "\(e.flow): "
        return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
    }
}
