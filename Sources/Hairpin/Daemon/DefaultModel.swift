// The default pipeline model, built in code so field widths and cross references are written
// once and checked by the compiler and PipelineModel.validate(). It is compiled into the tools
// (the daemon needs no files to start) and written out as models/default/*.json, which must
// equal it (DaemonModelTests.defaultModelFilesMatchTheirSource); to change the model, edit this
// file and regenerate the files with
//   FLOWTRACE_WRITE_DEFAULT_MODEL=1 swift test --filter DaemonModelTests
import LibFlowTable

public enum DefaultModel {

    // MARK: headers (uids are also the header-graph instances of the same name)

    static let ethernet: UInt32 = 1, vlan: UInt32 = 2, ipv4: UInt32 = 3, ipv6: UInt32 = 4
    static let tcp: UInt32 = 5, udp: UInt32 = 6, metadata: UInt32 = 7

    static func fields(_ list: [(String, UInt32)]) -> [Field] {
        list.enumerated().map { Field(name: $1.0, uid: UInt32($0 + 1), bitwidth: $1.1) }
    }

    /// Widths as on the wire (the originals had ipv4 length/identification/csum at 8 and ttl at 1).
    /// 128-bit IPv6 addresses are two 64-bit halves: a VALUE holds at most 64 bits.
    static let headers: [Header] = [
        Header(
            name: "ethernet", uid: ethernet,
            fields: fields([
                ("src_mac", 48), ("dst_mac", 48), ("ethertype", 16),
            ])),
        Header(
            name: "vlan", uid: vlan,
            fields: fields([
                ("pcp", 3), ("cfi", 1), ("vid", 12), ("ethertype", 16),
            ])),
        Header(
            name: "ipv4", uid: ipv4,
            fields: fields([
                ("version", 4), ("ihl", 4), ("dscp", 6), ("ecn", 2), ("length", 16), ("identification", 16),
                ("flags", 3), ("fragment_offset", 13), ("ttl", 8), ("protocol", 8), ("csum", 16),
                ("src_ip", 32), ("dst_ip", 32), ("options", 0),
            ])),
        Header(
            name: "ipv6", uid: ipv6,
            fields: fields([
                ("version", 4), ("traffic_class", 8), ("flow_label", 20), ("payload_length", 16),
                ("next_header", 8), ("hop_limit", 8), ("src_ip_hi", 64), ("src_ip_lo", 64),
                ("dst_ip_hi", 64), ("dst_ip_lo", 64),
            ])),
        Header(
            name: "tcp", uid: tcp,
            fields: fields([
                ("src_port", 16), ("dst_port", 16), ("seq", 32), ("ack", 32), ("data_offset", 4),
                ("reserved", 3), ("flags", 9), ("window", 16), ("csum", 16), ("urgent_ptr", 16),
            ])),
        Header(
            name: "udp", uid: udp,
            fields: fields([
                ("src_port", 16), ("dst_port", 16), ("length", 16), ("csum", 16),
            ])),
        Header(
            name: "metadata", uid: metadata,
            fields: fields([
                ("ingress_port", 32), ("inter_table", 32),
            ])),
    ]

    /// A field by header and name; a typo gives 0, which validation rejects as a reserved id.
    static func field(_ header: UInt32, _ name: String) -> UInt32 {
        headers.first { $0.uid == header }?.fields.first { $0.name == name }?.uid ?? 0
    }

    // MARK: actions (1…7 are the late kernel's common uids)

    static let setVlanID: UInt32 = 1, copyToCPU: UInt32 = 2, setEthSrc: UInt32 = 3, setEthDst: UInt32 = 4
    static let setOutPort: UInt32 = 5, checkTTLDrop: UInt32 = 6, drop: UInt32 = 7, popVlan: UInt32 = 8
    static let setMetadata: UInt32 = 9, gotoTable: UInt32 = 10

    static func arg(_ name: String, _ type: FieldType) -> ActionArg {
        ActionArg(name: name, type: type, value: FieldValue(0, type: type))
    }

    static let actions: [Action] = [
        Action(name: "set_vlan_id", uid: setVlanID, signature: [arg("vlan_id", .u16)]),
        Action(name: "copy_to_cpu", uid: copyToCPU, signature: []),
        Action(name: "set_eth_src", uid: setEthSrc, signature: [arg("eth_src", .u64)]),
        Action(name: "set_eth_dst", uid: setEthDst, signature: [arg("eth_dst", .u64)]),
        Action(name: "set_out_port", uid: setOutPort, signature: [arg("port", .u32)]),
        Action(name: "check_ttl_drop", uid: checkTTLDrop, signature: []),
        Action(name: "drop", uid: drop, signature: []),
        Action(name: "pop_vlan", uid: popVlan, signature: []),
        Action(name: "set_metadata", uid: setMetadata, signature: [arg("metadata", .u32)]),
        Action(name: "goto_table", uid: gotoTable, signature: [arg("table", .u32)]),
    ]

    // MARK: tables

    static func match(_ header: UInt32, _ name: String, _ maskType: MaskType, _ type: FieldType) -> FieldRef {
        FieldRef(instance: header, header: header, field: field(header, name), maskType: maskType, type: type)
    }

    static let aclTable: UInt32 = 1, l2Table: UInt32 = 2, routeV4Table: UInt32 = 3
    static let fiveTupleTable: UInt32 = 4, routeV6Table: UInt32 = 5

    static let tables: [Table] = [
        // A TCAM-style ACL: any mix of masks over L2-L4, the first table of the pipeline.
        Table(
            name: "ingress_acl", uid: aclTable, source: 1, apply: 1, size: 1024,
            matches: [
                match(metadata, "ingress_port", .exact, .u32),
                match(ethernet, "src_mac", .mask, .u64),
                match(ethernet, "dst_mac", .mask, .u64),
                match(ethernet, "ethertype", .exact, .u16),
                match(vlan, "vid", .mask, .u16),
                match(ipv4, "src_ip", .mask, .u32),
                match(ipv4, "dst_ip", .mask, .u32),
                match(ipv4, "protocol", .mask, .u8),
                match(ipv4, "dscp", .mask, .u8),
                match(tcp, "src_port", .mask, .u16),
                match(tcp, "dst_port", .mask, .u16),
                match(udp, "src_port", .mask, .u16),
                match(udp, "dst_port", .mask, .u16),
            ], actions: [drop, copyToCPU, setOutPort, setVlanID, setMetadata, gotoTable]),
        // MAC learning table: exact (vlan, dst mac).
        Table(
            name: "l2_fdb", uid: l2Table, source: 1, apply: 2, size: 4096,
            matches: [
                match(vlan, "vid", .exact, .u16),
                match(ethernet, "dst_mac", .exact, .u64),
            ], actions: [setOutPort, drop, copyToCPU, popVlan, setVlanID]),
        // IPv4 routes: longest prefix on the destination, per VRF (inter-table metadata).
        Table(
            name: "ipv4_route", uid: routeV4Table, source: 1, apply: 3, size: 65536,
            matches: [
                match(metadata, "inter_table", .exact, .u32),
                match(ipv4, "dst_ip", .lpm, .u32),
            ], actions: [setEthSrc, setEthDst, setOutPort, checkTTLDrop, drop, copyToCPU]),
        // Connection table: exact 5-tuple.
        Table(
            name: "ipv4_5tuple", uid: fiveTupleTable, source: 1, apply: 4, size: 16384,
            matches: [
                match(ipv4, "src_ip", .exact, .u32),
                match(ipv4, "dst_ip", .exact, .u32),
                match(ipv4, "protocol", .exact, .u8),
                match(tcp, "src_port", .exact, .u16),
                match(tcp, "dst_port", .exact, .u16),
                match(udp, "src_port", .exact, .u16),
                match(udp, "dst_port", .exact, .u16),
            ], actions: [setOutPort, drop, copyToCPU, setMetadata, gotoTable]),
        // IPv6 routes up to /64 (the upper half of the address), per VRF.
        Table(
            name: "ipv6_route", uid: routeV6Table, source: 1, apply: 5, size: 8192,
            matches: [
                match(metadata, "inter_table", .exact, .u32),
                match(ipv6, "dst_ip_hi", .lpm, .u64),
            ], actions: [setEthSrc, setEthDst, setOutPort, checkTTLDrop, drop, copyToCPU]),
    ]

    // MARK: graphs

    /// A jump taken when (instance, header, field) equals `value`.
    static func jump(to next: UInt32, on header: UInt32, _ name: String, _ type: FieldType, _ value: UInt64)
        -> JumpEntry
    {
        JumpEntry(
            nextNode: next,
            ref: FieldRef(
                instance: header, header: header, field: field(header, name),
                maskType: .exact, type: type, value: FieldValue(value, type: type),
                mask: FieldValue(FieldValue(0, type: type).widthMask, type: type)))
    }

    /// An unconditional jump (header 0); next 0 is DONE.
    static func always(to next: UInt32) -> JumpEntry {
        JumpEntry(nextNode: next, ref: FieldRef(instance: 0, header: 0, field: 0, maskType: .unspec, type: .unspec))
    }

    static let done = NFL.jumpTableDone

    static let headerGraph: [HeaderGraphNode] = [
        HeaderGraphNode(
            name: "ethernet", uid: ethernet, headers: [ethernet],
            jumps: [
                jump(to: vlan, on: ethernet, "ethertype", .u16, 0x8100),
                jump(to: ipv4, on: ethernet, "ethertype", .u16, 0x0800),
                jump(to: ipv6, on: ethernet, "ethertype", .u16, 0x86DD),
                always(to: done),
            ]),
        HeaderGraphNode(
            name: "vlan", uid: vlan, headers: [vlan],
            jumps: [
                jump(to: ipv4, on: vlan, "ethertype", .u16, 0x0800),
                jump(to: ipv6, on: vlan, "ethertype", .u16, 0x86DD),
                always(to: done),
            ]),
        HeaderGraphNode(
            name: "ipv4", uid: ipv4, headers: [ipv4],
            jumps: [
                jump(to: tcp, on: ipv4, "protocol", .u8, 6),
                jump(to: udp, on: ipv4, "protocol", .u8, 17),
                always(to: done),
            ]),
        HeaderGraphNode(
            name: "ipv6", uid: ipv6, headers: [ipv6],
            jumps: [
                jump(to: tcp, on: ipv6, "next_header", .u8, 6),
                jump(to: udp, on: ipv6, "next_header", .u8, 17),
                always(to: done),
            ]),
        HeaderGraphNode(name: "tcp", uid: tcp, headers: [tcp], jumps: [always(to: done)]),
        HeaderGraphNode(name: "udp", uid: udp, headers: [udp], jumps: [always(to: done)]),
        // Not parsed from the packet: set by the port and by earlier tables. A node all the
        // same, so table matches have an instance to name.
        HeaderGraphNode(name: "metadata", uid: metadata, headers: [metadata], jumps: []),
    ]

    static let ingressRoot: UInt32 = 2

    static let tableGraph: [TableGraphNode] = [
        TableGraphNode(
            uid: aclTable, flags: ingressRoot,
            jumps: [
                jump(to: fiveTupleTable, on: ethernet, "ethertype", .u16, 0x0800),
                jump(to: routeV6Table, on: ethernet, "ethertype", .u16, 0x86DD),
                always(to: l2Table),
            ]),
        TableGraphNode(uid: fiveTupleTable, flags: 0, jumps: [always(to: routeV4Table)]),
        TableGraphNode(uid: routeV4Table, flags: 0, jumps: [always(to: l2Table)]),
        TableGraphNode(uid: routeV6Table, flags: 0, jumps: [always(to: l2Table)]),
        TableGraphNode(uid: l2Table, flags: 0, jumps: [always(to: done)]),
    ]

    public static let model = PipelineModel(
        headers: headers, actions: actions, tables: tables,
        headerGraph: headerGraph, tableGraph: tableGraph)
}
