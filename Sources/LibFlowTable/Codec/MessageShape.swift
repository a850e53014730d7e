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
        guard let cmd = NFL.Command(rawValue: command) else {
            throw DecodeError(.unknownCommand(command), at: Netlink.headerLength)
        }
        if identifierType == nil { throw DecodeError(.missingAttribute("IDENTIFIER_TYPE"), at: offset) }
        if identifier == nil { throw DecodeError(.missingAttribute("IDENTIFIER"), at: offset) }
        let want = Self.payload(command: cmd, isRequest: isRequest)
        // Checked one by one (no table of tuples): this runs for every decoded message.
        try check(.tables, tables != nil, "TABLES", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.headers, headers != nil, "HEADERS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.actions, actions != nil, "ACTIONS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.headerGraph, headerGraph != nil, "HEADER_GRAPH", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.tableGraph, tableGraph != nil, "TABLE_GRAPH", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.flows, flows != nil, "FLOWS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        try check(.selector, selector != nil, "FLOWS", want: want, cmd: cmd, isRequest: isRequest, offset: offset)
        // A batch needs at least one flow; FLOWS_ERROR only makes sense on a batch request.
        if isRequest && want == .flows && flows?.isEmpty == true {
            throw DecodeError(.notAllowed("\(cmd.name) request carries no flows"), at: offset)
        }
        if errorStrategy != nil && !(isRequest && want == .flows) {
            throw DecodeError(.notAllowed("FLOWS_ERROR only belongs in a SET/DEL/UPDATE_FLOWS request"), at: offset)
        }
    }
}

@inline(__always)
private func check(_ kind: FlowTableAttributes.Payload, _ isSet: Bool, _ name: StaticString,
                   want: FlowTableAttributes.Payload, cmd: NFL.Command, isRequest: Bool,
                   offset: Int) throws(DecodeError) {
    if kind == want && !isSet { throw DecodeError(.missingAttribute("\(name)"), at: offset) }
    if kind != want && isSet {
        throw DecodeError(.notAllowed("\(name) does not belong in a \(cmd.name) \(isRequest ? "request" : "reply")"),
                          at: offset)
    }
}

extension FlowTableMessage {
    public func validateShape() throws(DecodeError) {
        try attributes.validateShape(command: command, isRequest: isRequest, offset: Int(header.length))
    }
}
