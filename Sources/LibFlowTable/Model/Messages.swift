// Whole messages of the two families.

/// The top-level attribute set of a Flow Table API message (NFL_*). The same set travels
/// inside a hairpin ENCAP (NFLH_ENCAP_ATTR), so one type serves both legs.
public struct FlowTableAttributes: Hashable, Sendable {
    public var identifierType: UInt32?
    /// The ifindex of the device (when identifierType is IFINDEX).
    public var identifier: UInt32?
    public var tables: [Table]?
    public var headers: [Header]?
    public var actions: [Action]?
    public var headerGraph: [HeaderGraphNode]?
    public var tableGraph: [TableGraphNode]?
    /// FLOWS in its list layout (everything except a GET_FLOWS request).
    public var flows: [Flow]?
    /// FLOWS in its selector layout (only a GET_FLOWS request).
    public var selector: FlowSelector?
    public var errorStrategy: ErrorStrategy?

    // Inlined: a call built the value aside and copied it whole into the caller's (the decoder
    // builds one per message).
    @inline(__always)
    public init(
        identifierType: UInt32? = nil, identifier: UInt32? = nil, tables: [Table]? = nil,
        headers: [Header]? = nil, actions: [Action]? = nil, headerGraph: [HeaderGraphNode]? = nil,
        tableGraph: [TableGraphNode]? = nil, flows: [Flow]? = nil, selector: FlowSelector? = nil,
        errorStrategy: ErrorStrategy? = nil
    ) {
        self.identifierType = identifierType
        self.identifier = identifier
        self.tables = tables
        self.headers = headers
        self.actions = actions
        self.headerGraph = headerGraph
        self.tableGraph = tableGraph
        self.flows = flows
        self.selector = selector
        self.errorStrategy = errorStrategy
    }

    /// Attributes that start with the identifier preamble for `ifindex`.
    public static func device(_ ifindex: UInt32) -> FlowTableAttributes {
        FlowTableAttributes(identifierType: NFL.IdentifierType.ifindex, identifier: ifindex)
    }

    /// The ifindex, when the preamble names one.
    public var ifindex: UInt32? {
        identifierType == NFL.IdentifierType.ifindex ? identifier : nil
    }
}

/// Which of FLOWS' two layouts a message uses. NFL_FLOW and NFL_TABLE_FLOWS_TABLE are both 1,
/// so the bytes cannot tell; the command and direction do.
public enum FlowsLayout: Sendable {
    case list
    case selector
    /// The list layout in a DEL_FLOWS message, whose flows need only TABLE and UID (the spec's
    /// del-flows rule); an absent PRIORITY decodes as 0, which a delete ignores.
    case deleteList

    public static func of(command: UInt8, isRequest: Bool) -> FlowsLayout {
        command == NFL.Command.getFlows.rawValue
            ? (isRequest ? .selector : .list)
            : command == NFL.Command.delFlows.rawValue ? .deleteList : .list
    }
}

/// A Flow Table API message: netlink header, genl command, top-level attributes.
public struct FlowTableMessage: Hashable, Sendable {
    public var header: NetlinkHeader
    /// The raw command byte; `knownCommand` maps it.
    public var command: UInt8
    public var version: UInt8
    public var attributes: FlowTableAttributes

    public init(
        header: NetlinkHeader, command: UInt8, version: UInt8 = NFL.version,
        attributes: FlowTableAttributes
    ) {
        self.header = header
        self.command = command
        self.version = version
        self.attributes = attributes
    }

    public init(
        familyID: UInt16, command: NFL.Command, isRequest: Bool, sequence: UInt32 = 0,
        port: UInt32 = 0, attributes: FlowTableAttributes
    ) {
        let flags = isRequest ? Netlink.flagRequest | Netlink.flagAck : 0
        self.init(
            header: NetlinkHeader(type: familyID, flags: flags, sequence: sequence, port: port),
            command: command.rawValue, attributes: attributes)
    }

    public var knownCommand: NFL.Command? { NFL.Command(rawValue: command) }
    public var isRequest: Bool { header.isRequest }
    public var flowsLayout: FlowsLayout { .of(command: command, isRequest: isRequest) }
}

// MARK: hairpin

/// The listener registration (NFLH_LISTENER_ATTR_*).
package struct HairpinListener: Hashable, Sendable {
    package var type: UInt32
    /// Only meaningful in GET_LISTENER replies: the registered port. SET_LISTENER ignores it and
    /// registers the sender's port.
    package var port: UInt32?

    package init(type: UInt32 = NFLH.ListenerType.encap, port: UInt32? = nil) {
        self.type = type
        self.port = port
    }
}

/// The outcome of one flow of a batched SET/DEL (NFLH_RESULT_*).
public struct FlowResult: Hashable, Sendable {
    /// Position of the flow in the request's FLOWS list (0-based, across all parts).
    public var index: UInt32
    /// 0 when the flow was applied, else a positive errno (ECANCELED: not applied because the
    /// request was aborted by an earlier failure).
    public var errno: UInt32

    public init(index: UInt32, errno: UInt32) {
        self.index = index
        self.errno = errno
    }
}

/// One NDO call or its answer (NFLH_ENCAP_*).
public struct HairpinEncap: Hashable, Sendable {
    public var commandType: UInt32
    /// The Flow Table API command (NFL.Command raw value).
    public var command: UInt32
    /// Present in answers only: 0 = OK, else a positive errno.
    public var status: UInt32?
    /// Correlates an answer with its request; chosen by the requester.
    public var sequence: UInt64
    public var attributes: FlowTableAttributes?
    public var results: [FlowResult]?
    /// For messages split in parts: the part number (0-based) and whether more parts follow.
    public var part: UInt32?
    public var more: Bool
    /// Human-readable error text, the hairpin's extended ack.
    public var errorMessage: String?

    public init(
        commandType: UInt32 = NFLH.EncapCmdType.nflCommand, command: UInt32, status: UInt32? = nil,
        sequence: UInt64, attributes: FlowTableAttributes? = nil, results: [FlowResult]? = nil,
        part: UInt32? = nil, more: Bool = false, errorMessage: String? = nil
    ) {
        self.commandType = commandType
        self.command = command
        self.status = status
        self.sequence = sequence
        self.attributes = attributes
        self.results = results
        self.part = part
        self.more = more
        self.errorMessage = errorMessage
    }

    /// Requests carry no STATUS; answers always do.
    public var isAnswer: Bool { status != nil }

    public var flowsLayout: FlowsLayout {
        command <= UInt32(UInt8.max) ? .of(command: UInt8(command), isRequest: !isAnswer) : .list
    }
}

/// A hairpin message: netlink header, genl command and its attributes.
package struct HairpinMessage: Hashable, Sendable {
    package var header: NetlinkHeader
    package var command: UInt8
    package var version: UInt8
    package var listener: HairpinListener?
    package var encap: HairpinEncap?

    package init(
        header: NetlinkHeader, command: UInt8, version: UInt8 = NFLH.version,
        listener: HairpinListener? = nil, encap: HairpinEncap? = nil
    ) {
        self.header = header
        self.command = command
        self.version = version
        self.listener = listener
        self.encap = encap
    }

    package var knownCommand: NFLH.Command? { NFLH.Command(rawValue: command) }
}

/// NLMSG_ERROR: an ACK (error 0) or an error, with the echoed request header and the extended
/// ack text when present.
public struct NetlinkAck: Hashable, Sendable {
    public var header: NetlinkHeader
    /// 0 for an ACK, else a negative errno as the kernel writes it.
    public var error: Int32
    public var request: NetlinkHeader
    public var message: String?
    /// The missing-attribute extended ack (NL_SET_ERR_ATTR_MISS): the type of the required
    /// attribute that is missing (NLMSGERR_ATTR_MISS_TYPE) and, when it is missing from a nest
    /// rather than the top level, that nest's offset in the request (NLMSGERR_ATTR_MISS_NEST).
    public var missingType: UInt32?
    public var missingNest: UInt32?
    /// The offset in the request of the attribute the error is about (NLMSGERR_ATTR_OFFS).
    public var offset: UInt32?

    public init(
        header: NetlinkHeader, error: Int32, request: NetlinkHeader, message: String? = nil,
        missingType: UInt32? = nil, missingNest: UInt32? = nil, offset: UInt32? = nil
    ) {
        self.header = header
        self.error = error
        self.request = request
        self.message = message
        self.missingType = missingType
        self.missingNest = missingNest
        self.offset = offset
    }
}

/// NLMSG_DONE: the end of a dump (NLM_F_MULTI), with its status: 0, or the negative errno of a
/// dump that failed, then with NLM_F_ACK_TLVS the extended-ack text (netlink_dump_done).
public struct NetlinkDone: Hashable, Sendable {
    public var header: NetlinkHeader
    public var error: Int32
    public var message: String?

    public init(header: NetlinkHeader, error: Int32 = 0, message: String? = nil) {
        self.header = header
        self.error = error
        self.message = message
    }
}
