import Testing
@testable import LibFlowTable

/// Golden bytes for each command of both families. Every expected byte string is spelled out
/// with literal numbers, those of the 2015 originals' wire format for net_flow_nl and those of
/// spec/nfl_hairpin.yaml, independently of the codec.
struct CodecGoldenTests {
    static let family: UInt16 = 0x1c
    static let reqFlags: UInt16 = 0x05  // NLM_F_REQUEST | NLM_F_ACK

    // ethertype == 0x0800 under an exact mask: header 1, field 3, instance 1.
    static let ethertypeRef = FieldRef(
        instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
        value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xffff, type: .u16))
    static let ethertypeWire = Wire.nest(
        1,
        [
            Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 3), Wire.u32(5, 1), Wire.u32(6, 2),
            Wire.nla(7, [0x00, 0x08]), Wire.nla(8, [0xff, 0xff]),  // native (LE) order
        ])
    static let outPort = Action(
        uid: 5, signature: [ActionArg(name: "port", type: .u32, value: FieldValue(2, type: .u32))])
    static let outPortWire = Wire.nest(
        1,
        [
            Wire.u32(2, 5),
            Wire.nest(3, [Wire.nest(1, [Wire.str(1, "port"), Wire.u32(2, 3), Wire.nla(3, [2, 0, 0, 0])])]),
        ])
    static let flow = Flow(table: 1, uid: 10, priority: 5, matches: [ethertypeRef], actions: [outPort])
    static let flowWire = Wire.nest(
        1,
        [
            Wire.u32(2, 1), Wire.u32(3, 10), Wire.u32(4, 5),
            Wire.nest(5, [ethertypeWire]),
            Wire.nest(6, [outPortWire]),
        ])
    static let preamble = [Wire.u32(1, 1), Wire.u32(2, 7)]

    func check(_ m: FlowTableMessage, _ expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = try m.encoded()
        #expect(Wire.hex(bytes) == Wire.hex(expected), sourceLocation: sourceLocation)
        let back = try FlowTableMessage.decode(expected, familyID: Self.family)
        #expect(back.command == m.command, sourceLocation: sourceLocation)
        #expect(back.attributes == m.attributes, sourceLocation: sourceLocation)
        #expect(back.header.length == UInt32(expected.count), sourceLocation: sourceLocation)
        #expect(try back.encoded() == expected, sourceLocation: sourceLocation)
    }

    func request(_ cmd: NFL.Command, _ a: FlowTableAttributes, seq: UInt32 = 1) -> FlowTableMessage {
        FlowTableMessage(familyID: Self.family, command: cmd, isRequest: true, sequence: seq, port: 4242, attributes: a)
    }

    func reply(_ cmd: NFL.Command, _ a: FlowTableAttributes, seq: UInt32 = 1) -> FlowTableMessage {
        FlowTableMessage(
            familyID: Self.family, command: cmd, isRequest: false, sequence: seq, port: 4242, attributes: a)
    }

    @Test func getTablesRequestIsPreambleOnly() throws {
        try check(
            request(.getTables, .device(7)),
            Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 4242, cmd: 0, Self.preamble))
        // Spelled out once by hand: nlmsg_len 0x24 = 16 + 4 + 2 * 8.
        #expect(
            Wire.hex(try request(.getTables, .device(7)).encoded()) == "24000000" + "1c00" + "0500" + "01000000"
                + "92100000" + "00010000" + "0800" + "0100" + "01000000" + "0800" + "0200" + "07000000")
    }

    @Test func discoveryRequestsCarryTheirCommandNumber() throws {
        for (cmd, n) in [(NFL.Command.getHeaders, 1), (.getActions, 2), (.getHeaderGraph, 3), (.getTableGraph, 4)] {
            try check(
                request(cmd, .device(7)),
                Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 4242, cmd: UInt8(n), Self.preamble))
        }
    }

    @Test func getTablesReply() throws {
        var a = FlowTableAttributes.device(7)
        a.tables = [
            Table(
                name: "l2", uid: 2, source: 1, apply: 3, size: 1024,
                matches: [FieldRef(instance: 1, header: 1, field: 2, maskType: .exact, type: .unspec)],
                actions: [5, 9])
        ]
        let wire =
            Self.preamble + [
                Wire.nest(
                    3,
                    [
                        Wire.nest(
                            1,
                            [
                                Wire.str(1, "l2"), Wire.u32(2, 2), Wire.u32(3, 1), Wire.u32(4, 3), Wire.u32(5, 1024),
                                Wire.nest(
                                    6,
                                    [
                                        Wire.nest(
                                            1,
                                            [
                                                Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 2), Wire.u32(5, 1),
                                                Wire.u32(6, 0),
                                            ])
                                    ]),
                                Wire.nest(7, [Wire.u32(2, 5), Wire.u32(2, 9)]),  // bare ACTION_ATTR_UID, not ACTION nests
                            ])
                    ])
            ]
        try check(reply(.getTables, a), Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 4242, cmd: 0, wire))
    }

    @Test func getHeadersReply() throws {
        var a = FlowTableAttributes.device(7)
        a.headers = [Header(name: "ethernet", uid: 1, fields: [Field(name: "ethertype", uid: 3, bitwidth: 16)])]
        let wire =
            Self.preamble + [
                Wire.nest(
                    4,
                    [
                        Wire.nest(
                            1,
                            [
                                Wire.str(1, "ethernet"), Wire.u32(2, 1),
                                Wire.nest(
                                    3, [Wire.nest(1, [Wire.str(1, "ethertype"), Wire.u32(2, 3), Wire.u32(3, 16)])]),
                            ])
                    ])
            ]
        try check(reply(.getHeaders, a), Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 4242, cmd: 1, wire))
    }

    @Test func getActionsReplyKeepsAbsentAndEmptySignatureApart() throws {
        var a = FlowTableAttributes.device(7)
        a.actions = [Self.outPort, Action(name: "drop", uid: 7, signature: []), Action(uid: 2)]
        let wire =
            Self.preamble + [
                Wire.nest(
                    5,
                    [
                        Self.outPortWire,
                        Wire.nest(1, [Wire.str(1, "drop"), Wire.u32(2, 7), Wire.nest(3, [])]),
                        Wire.nest(1, [Wire.u32(2, 2)]),
                    ])
            ]
        try check(reply(.getActions, a), Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 4242, cmd: 2, wire))
    }

    @Test func headerGraphReply() throws {
        var a = FlowTableAttributes.device(7)
        a.headerGraph = [
            HeaderGraphNode(
                name: "ethernet", uid: 1, headers: [1, 2],
                jumps: [JumpEntry(nextNode: 3, ref: Self.ethertypeRef)])
        ]
        let entry = Wire.nest(
            1,
            [
                Wire.u32(1, 3), Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 3), Wire.u32(5, 1),
                Wire.u32(6, 2), Wire.nla(7, [0x00, 0x08]), Wire.nla(8, [0xff, 0xff]),
            ])
        let wire =
            Self.preamble + [
                Wire.nest(
                    6,
                    [
                        Wire.nest(
                            1,
                            [
                                Wire.str(1, "ethernet"), Wire.u32(2, 1),
                                Wire.nest(3, [Wire.u32(1, 1), Wire.u32(1, 2)]),
                                Wire.nest(4, [entry]),
                            ])
                    ])
            ]
        try check(reply(.getHeaderGraph, a), Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 4242, cmd: 3, wire))
    }

    @Test func tableGraphReply() throws {
        var a = FlowTableAttributes.device(7)
        a.tableGraph = [
            TableGraphNode(
                uid: 1, flags: 2,
                jumps: [
                    JumpEntry(
                        nextNode: 2, ref: FieldRef(instance: 0, header: 0, field: 0, maskType: .unspec, type: .unspec))
                ])
        ]
        let wire =
            Self.preamble + [
                Wire.nest(
                    7,
                    [
                        Wire.nest(
                            1,
                            [
                                Wire.u32(1, 1), Wire.u32(2, 2),
                                Wire.nest(
                                    3,
                                    [
                                        Wire.nest(
                                            1,
                                            [
                                                Wire.u32(1, 2), Wire.u32(2, 0), Wire.u32(3, 0), Wire.u32(4, 0),
                                                Wire.u32(5, 0), Wire.u32(6, 0),
                                            ])
                                    ]),
                            ])
                    ])
            ]
        try check(reply(.getTableGraph, a), Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 4242, cmd: 4, wire))
    }

    @Test func getFlowsRequestUsesTheSelectorLayout() throws {
        var a = FlowTableAttributes.device(7)
        a.selector = FlowSelector(table: 1, minPriority: 2, maxPriority: 9)
        let wire = Self.preamble + [Wire.nest(8, [Wire.u32(1, 1), Wire.u32(2, 2), Wire.u32(3, 9)])]
        try check(request(.getFlows, a), Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 4242, cmd: 5, wire))
    }

    @Test func getFlowsReplyUsesTheListLayout() throws {
        var a = FlowTableAttributes.device(7)
        a.flows = [Self.flow]
        try check(
            reply(.getFlows, a),
            Wire.genl(type: 0x1c, flags: 0, seq: 1, pid: 4242, cmd: 5, Self.preamble + [Wire.nest(8, [Self.flowWire])]))
    }

    @Test func setFlowsRequestWithErrorStrategy() throws {
        var a = FlowTableAttributes.device(7)
        a.errorStrategy = .continueLog
        a.flows = [Self.flow]
        let wire = Self.preamble + [Wire.u32(9, 3), Wire.nest(8, [Self.flowWire])]
        try check(request(.setFlows, a, seq: 9), Wire.genl(type: 0x1c, flags: 5, seq: 9, pid: 4242, cmd: 6, wire))
    }

    @Test func delFlowsAndTheErrorReportWithPerFlowErrno() throws {
        var a = FlowTableAttributes.device(7)
        a.flows = [Flow(table: 1, uid: 10, priority: 5)]
        try check(
            request(.delFlows, a),
            Wire.genl(
                type: 0x1c, flags: 5, seq: 1, pid: 4242, cmd: 7,
                Self.preamble + [Wire.nest(8, [Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 10), Wire.u32(4, 5)])])]))
        // The report of failed flows (cmd = request cmd) carries NFL_ATTR_ERROR = errno.
        a.flows = [Flow(error: 2, table: 1, uid: 10, priority: 5)]
        try check(
            reply(.delFlows, a),
            Wire.genl(
                type: 0x1c, flags: 0, seq: 1, pid: 4242, cmd: 7,
                Self.preamble + [
                    Wire.nest(8, [Wire.nest(1, [Wire.u32(1, 2), Wire.u32(2, 1), Wire.u32(3, 10), Wire.u32(4, 5)])])
                ]))
    }

    @Test func reservedCommandsEncodeTheirNumbers() throws {
        var a = FlowTableAttributes.device(7)
        a.flows = [Flow(table: 1, uid: 10, priority: 5)]
        try check(
            request(.updateFlows, a),
            Wire.genl(
                type: 0x1c, flags: 5, seq: 1, pid: 4242, cmd: 8,
                Self.preamble + [Wire.nest(8, [Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 10), Wire.u32(4, 5)])])]))
        var t = FlowTableAttributes.device(7)
        t.tables = [Table(name: "t", uid: 4, source: 1, size: 16, matches: [], actions: [])]
        let tw =
            Self.preamble + [
                Wire.nest(
                    3,
                    [
                        Wire.nest(
                            1,
                            [
                                Wire.str(1, "t"), Wire.u32(2, 4), Wire.u32(3, 1),
                                Wire.u32(5, 16), Wire.nest(6, []), Wire.nest(7, []),
                            ])
                    ])
            ]
        try check(request(.createTable, t), Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 4242, cmd: 9, tw))
        try check(request(.destroyTable, t), Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 4242, cmd: 10, tw))
    }

    // MARK: hairpin

    func checkHairpin(_ m: HairpinMessage, _ expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        #expect(Wire.hex(try m.encoded()) == Wire.hex(expected), sourceLocation: sourceLocation)
        let back = try HairpinMessage.decode(expected)
        #expect(
            back
                == HairpinMessage(
                    header: NetlinkHeader(
                        length: UInt32(expected.count), type: m.header.type,
                        flags: m.header.flags, sequence: m.header.sequence,
                        port: m.header.port),
                    command: m.command, listener: m.listener, encap: m.encap),
            sourceLocation: sourceLocation)
    }

    @Test func setListenerCarriesNoPid() throws {
        let m = HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 5, sequence: 3, port: 0),
            command: NFLH.Command.setListener.rawValue, listener: HairpinListener())
        try checkHairpin(m, Wire.genl(type: 0x1d, flags: 5, seq: 3, pid: 0, cmd: 1, [Wire.nest(2, [Wire.u32(1, 1)])]))
        let get = HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 4, port: 77),
            command: NFLH.Command.getListener.rawValue, listener: HairpinListener(port: 77))
        try checkHairpin(
            get,
            Wire.genl(
                type: 0x1d, flags: 0, seq: 4, pid: 77, cmd: 2,
                [Wire.nest(2, [Wire.u32(1, 1), Wire.u32(2, 77)])]))
    }

    @Test func encapRequestAndAnswer() throws {
        var a = FlowTableAttributes.device(7)
        a.flows = [Self.flow]
        let req = HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 0, port: 0),
            command: NFLH.Command.encap.rawValue,
            encap: HairpinEncap(command: 6, sequence: 0x1_0000_0002, attributes: a))
        try checkHairpin(
            req,
            Wire.genl(
                type: 0x1d, flags: 0, seq: 0, pid: 0, cmd: 3,
                [
                    Wire.nest(
                        1,
                        [
                            Wire.u32(1, 1), Wire.u32(2, 6), Wire.u64(4, 0x1_0000_0002),
                            Wire.nest(5, Self.preamble + [Wire.nest(8, [Self.flowWire])]),
                        ])
                ]))
        let ans = HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 5, sequence: 8, port: 99),
            command: NFLH.Command.encap.rawValue,
            encap: HairpinEncap(
                command: 6, status: 17, sequence: 0x1_0000_0002,
                attributes: .device(7),
                results: [FlowResult(index: 0, errno: 17)],
                part: 0, more: true, errorMessage: "duplicate uid 10 in table 1"))
        try checkHairpin(
            ans,
            Wire.genl(
                type: 0x1d, flags: 5, seq: 8, pid: 99, cmd: 3,
                [
                    Wire.nest(
                        1,
                        [
                            Wire.u32(1, 1), Wire.u32(2, 6), Wire.u32(3, 17), Wire.u64(4, 0x1_0000_0002),
                            Wire.u32(7, 0), Wire.nla(8, []), Wire.str(9, "duplicate uid 10 in table 1"),
                            Wire.nest(6, [Wire.nest(1, [Wire.u32(1, 0), Wire.u32(2, 17)])]),
                            Wire.nest(5, Self.preamble),
                        ])
                ]))
    }

    @Test func encapGetFlowsRequestUsesTheSelectorAndItsAnswerTheList() throws {
        var sel = FlowTableAttributes.device(7)
        sel.selector = FlowSelector(table: 1)
        let req = HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 0, port: 0),
            command: 3, encap: HairpinEncap(command: 5, sequence: 1, attributes: sel))
        try checkHairpin(
            req,
            Wire.genl(
                type: 0x1d, flags: 0, seq: 0, pid: 0, cmd: 3,
                [
                    Wire.nest(
                        1,
                        [
                            Wire.u32(1, 1), Wire.u32(2, 5), Wire.u64(4, 1),
                            Wire.nest(5, Self.preamble + [Wire.nest(8, [Wire.u32(1, 1)])]),
                        ])
                ]))
        var list = FlowTableAttributes.device(7)
        list.flows = [Self.flow]
        let ans = HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 5, sequence: 0, port: 0),
            command: 3, encap: HairpinEncap(command: 5, status: 0, sequence: 1, attributes: list))
        try checkHairpin(
            ans,
            Wire.genl(
                type: 0x1d, flags: 5, seq: 0, pid: 0, cmd: 3,
                [
                    Wire.nest(
                        1,
                        [
                            Wire.u32(1, 1), Wire.u32(2, 5), Wire.u32(3, 0), Wire.u64(4, 1),
                            Wire.nest(5, Self.preamble + [Wire.nest(8, [Self.flowWire])]),
                        ])
                ]))
    }

    @Test func ackWithExtendedMessage() throws {
        let req = NetlinkHeader(length: 36, type: 0x1c, flags: 5, sequence: 9, port: 4242)
        let ack = NetlinkAck(
            header: NetlinkHeader(type: 2, flags: 0, sequence: 9, port: 4242), error: -17,
            request: req, message: "flow 10 exists")
        let bytes = ack.encoded()
        let expectedBody =
            Wire.le32(UInt32(bitPattern: -17)) + Wire.le32(36) + Wire.le16(0x1c) + Wire.le16(5) + Wire.le32(9)
            + Wire.le32(4242) + Wire.str(1, "flow 10 exists")
        let expected =
            Wire.le32(UInt32(16 + expectedBody.count)) + Wire.le16(2) + Wire.le16(0x300) + Wire.le32(9)
            + Wire.le32(4242) + expectedBody
        #expect(Wire.hex(bytes) == Wire.hex(expected))
        let back = try bytes.withUnsafeBytes { raw in try NetlinkAck.decode(try NetlinkMessageView.single(raw)) }
        #expect(back.error == -17)
        #expect(back.request == req)
        #expect(back.message == "flow 10 exists")
    }

    /// NL_SET_ERR_ATTR_MISS's attributes after the text, in the kernel's order
    /// (netlink_ack_tlv_fill): NLMSGERR_ATTR_MISS_TYPE (5), NLMSGERR_ATTR_MISS_NEST (6).
    @Test func ackWithMissingAttribute() throws {
        let req = NetlinkHeader(length: 48, type: 0x1c, flags: 5, sequence: 9, port: 4242)
        let ack = NetlinkAck(
            header: NetlinkHeader(type: 2, flags: 0, sequence: 9, port: 4242), error: -22,
            request: req, message: "FLOWS at byte 36: required attribute TABLE is missing",
            missingType: 1, missingNest: 36)
        let bytes = ack.encoded()
        let expectedBody =
            Wire.le32(UInt32(bitPattern: -22)) + Wire.le32(48) + Wire.le16(0x1c) + Wire.le16(5) + Wire.le32(9)
            + Wire.le32(4242) + Wire.str(1, "FLOWS at byte 36: required attribute TABLE is missing")
            + Wire.u32(5, 1) + Wire.u32(6, 36)
        let expected =
            Wire.le32(UInt32(16 + expectedBody.count)) + Wire.le16(2) + Wire.le16(0x300) + Wire.le32(9)
            + Wire.le32(4242) + expectedBody
        #expect(Wire.hex(bytes) == Wire.hex(expected))
        let back = try bytes.withUnsafeBytes { raw in try NetlinkAck.decode(try NetlinkMessageView.single(raw)) }
        #expect(back.error == -22 && back.request == req && back.message == ack.message)
        #expect(back.missingType == 1 && back.missingNest == 36)
        // At the top level: the type alone, and the ACK_TLVS flag even without a text.
        let top = NetlinkAck(
            header: NetlinkHeader(type: 2, flags: 0, sequence: 9, port: 4242), error: -22,
            request: req, missingType: 2)
        let topBytes = top.encoded()
        #expect(topBytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 6, as: UInt16.self) } == 0x300)
        #expect(Wire.hex(Array(topBytes.suffix(8))) == Wire.hex(Wire.u32(5, 2)))
        let topBack = try topBytes.withUnsafeBytes { raw in try NetlinkAck.decode(try NetlinkMessageView.single(raw)) }
        #expect(topBack.missingType == 2 && topBack.missingNest == nil && topBack.message == nil)
    }
}
