// Which top-level attributes each command's request and reply must and may carry
// (spec/net_flow_nl.yaml, "operations"). The attribute codec checks structure; this checks
// that a well-formed message is also a complete one, so a message cut at an attribute
// boundary is not mistaken for a shorter valid one.

extension FlowTableAttributes {
    /// The payload attribute a command carries besides the preamble (and FLOWS_ERROR).
    enum Payload { case none, tables, headers, actions, headerGraph, tableGraph, flows, selector }

    static func payload(command: NFL.Command, isRequest: Bool) -> Payload {
        switch (command, isRequest) {
        case (.getTables, false), (.createTable, true), (.destroyTable, true): return .tables
        case (.getHeaders, false): return .headers
        case (.getActions, false): return .actions
        case (.getHeaderGraph, false): return .headerGraph
        case (.getTableGraph, false): return .tableGraph
        case (.getFlows, true): return .selector
        case (.getFlows, false), (.setFlows, _), (.delFlows, _), (.updateFlows, _): return .flows
        default: return .none
        }
    }

    /// Throws when a required attribute is missing or an attribute does not belong to
    /// `command` in this direction. `offset` is where the error is reported (the message end).
    public func validateShape(command: UInt8, isRequest: Bool, offset: Int = 0) throws(DecodeError) {
        try Self.validateShape(presence, command: command, isRequest: isRequest, offset: offset)
    }

    /// Which attributes are set, each optional looked at in place (`Optional.isSome`).
    @inline(__always)
    var presence: Presence {
        var p = Presence(
            identifierType: identifierType.isSome, identifier: identifier.isSome,
            errorStrategy: errorStrategy.isSome, flowsEmpty: false)
        if tables.isSome { p.insert(.tables) }
        if headers.isSome { p.insert(.headers) }
        if actions.isSome { p.insert(.actions) }
        if headerGraph.isSome { p.insert(.headerGraph) }
        if tableGraph.isSome { p.insert(.tableGraph) }
        if case .some(let f) = flows {
            p.insert(.flows)
            p.flowsEmpty = f.isEmpty
        }
        if selector.isSome { p.insert(.selector) }
        return p
    }

    /// What the shape rules look at: which attributes a message has, not their values (the
    /// check-only walk has no model to build).
    struct Presence {
        var identifierType: Bool
        var identifier: Bool
        var errorStrategy: Bool
        /// FLOWS in the list layout with no element.
        var flowsEmpty: Bool
        var payloads: UInt8 = 0

        @inline(__always) mutating func insert(_ k: Payload) { payloads |= 1 << k.bit }
        @inline(__always) func has(_ k: Payload) -> Bool { payloads & (1 << k.bit) != 0 }
    }

    /// The shape rules, once, for the decoded model and the check-only walk alike.
    static func validateShape(_ p: Presence, command: UInt8, isRequest: Bool, offset: Int) throws(DecodeError) {
        guard let cmd = NFL.Command(rawValue: command) else {
            throw DecodeError(.unknownCommand(command), at: Netlink.headerLength)
        }
        if !p.identifierType { throw DecodeError(.missingAttribute("IDENTIFIER_TYPE"), at: offset) }
        if !p.identifier { throw DecodeError(.missingAttribute("IDENTIFIER"), at: offset) }
        let want = Self.payload(command: cmd, isRequest: isRequest)
        // Checked one by one (no table of tuples): this runs for every decoded message.
        try check(.tables, p.has(.tables), "TABLES", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.headers, p.has(.headers), "HEADERS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.actions, p.has(.actions), "ACTIONS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(
            .headerGraph, p.has(.headerGraph), "HEADER_GRAPH", want: want, cmd: cmd, isRequest: isRequest,
            offset: offset)
        try check(
            .tableGraph, p.has(.tableGraph), "TABLE_GRAPH", want: want, cmd: cmd, isRequest: isRequest,
            offset: offset)
        try check(.flows, p.has(.flows), "FLOWS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.selector, p.has(.selector), "FLOWS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        // A batch needs at least one flow; FLOWS_ERROR only makes sense on a batch request.
        if isRequest && want == .flows && p.flowsEmpty {
            throw DecodeError(.notAllowed("\(cmd.name) request carries no flows"), at: offset)
        }
        if p.errorStrategy && !(isRequest && want == .flows) {
            throw DecodeError(.notAllowed("FLOWS_ERROR only belongs in a SET/DEL/UPDATE_FLOWS request"), at: offset)
        }
    }
}

extension Optional {
    /// Whether a value is there, read in place (borrowing, no copy of the wrapped value).
    @inline(__always) fileprivate var isSome: Bool {
        switch self {
        case .some: true
        case .none: false
        }
    }
}

extension FlowTableAttributes.Payload {
    @inline(__always) var bit: UInt8 {
        switch self {
        case .none: 0
        case .tables: 1
        case .headers: 2
        case .actions: 3
        case .headerGraph: 4
        case .tableGraph: 5
        case .flows: 6
        case .selector: 7
        }
    }
}

@inline(__always)
private func check(
    _ kind: FlowTableAttributes.Payload, _ isSet: Bool, _ name: StaticString,
    want: FlowTableAttributes.Payload, cmd: NFL.Command, isRequest: Bool,
    offset: Int
) throws(DecodeError) {
    if kind == want && !isSet { throw DecodeError(.missingAttribute("\(name)"), at: offset) }
    if kind != want && isSet {
        throw DecodeError(
            .notAllowed("\(name) does not belong in a \(cmd.name) \(isRequest ? "request" : "reply")"),
            at: offset)
    }
}

extension FlowTableMessage {
    public func validateShape() throws(DecodeError) {
        try attributes.validateShape(command: command, isRequest: isRequest, offset: Int(header.length))
    }
}
