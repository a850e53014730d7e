// flow-table-ctl's text for people: values written from the model's field widths and names,
// the IPv6 halves joined, masks left out when whole, and the reasons of failed flows.
import Hairpin
import LibFlowTable
import Testing

@Suite("FlowText")
struct FlowTextTests {
    let text = FlowText(
        headers: DefaultModel.model.headers, actions: DefaultModel.model.actions,
        headerGraph: DefaultModel.model.headerGraph, tables: DefaultModel.model.tables)

    func ref(
        _ header: UInt32, _ field: UInt32, _ type: FieldType, _ value: UInt64, _ mask: UInt64? = nil,
        instance: UInt32? = nil
    ) -> FieldRef {
        FieldRef(
            instance: instance ?? header, header: header, field: field, maskType: mask == nil ? .exact : .mask,
            type: type,
            value: FieldValue(value, type: type), mask: mask.map { FieldValue($0, type: type) })
    }

    @Test func valuesFollowWidthAndName() {
        // 48 bits: MAC; a whole mask is left out, a partial one written as a MAC.
        #expect(text.match(ref(1, 2, .u64, 0x0200_0000_0001, 0xFFFF_FFFF_FFFF)) == "ethernet.dst_mac=02:00:00:00:00:01")
        #expect(
            text.match(ref(1, 1, .u64, 0x0011_2200_0000, 0xFFFF_FF00_0000))
                == "ethernet.src_mac=00:11:22:00:00:00/ff:ff:ff:00:00:00")
        // 32 bits named like an address: dotted quad, prefix length or dotted mask.
        #expect(text.match(ref(3, 13, .u32, 0x0A01_0200, 0xFFFF_FF00)) == "ipv4.dst_ip=10.1.2.0/24")
        #expect(text.match(ref(3, 12, .u32, 0x0A00_0001, 0xFF00_00FF)) == "ipv4.src_ip=10.0.0.1/255.0.0.255")
        #expect(text.match(ref(3, 12, .u32, 0, 0)) == "ipv4.src_ip=0.0.0.0/0")
        // 32 bits not named like an address: decimal.
        #expect(text.match(ref(7, 2, .u32, 7, 0xFFFF_FFFF)) == "metadata.inter_table=7")
        // The mask counts within the field's width: 0x0fff covers a 12-bit vid.
        #expect(text.match(ref(2, 3, .u16, 100, 0x0FFF)) == "vlan.vid=100")
        #expect(text.match(ref(2, 3, .u16, 100, 0x0FF0)) == "vlan.vid=100/0xff0")
        // type fields hex, with the width's digits; integers' masks hex.
        #expect(text.match(ref(1, 3, .u16, 0x0800)) == "ethernet.ethertype=0x0800")
        #expect(text.match(ref(5, 2, .u16, 1024, 0xFC00)) == "tcp.dst_port=1024/0xfc00")
        #expect(text.match(ref(3, 3, .u8, 40, 0x38)) == "ipv4.dscp=40/0x38")
        // No value (a table's descriptor): the name alone.
        #expect(text.match(FieldRef(instance: 3, header: 3, field: 10, maskType: .exact, type: .u8)) == "ipv4.protocol")
    }

    @Test func ipv6HalvesAreOneAddress() {
        let hi = ref(4, 9, .u64, 0x2001_0DB8_0001_0000, 0xFFFF_FFFF_FFFF_0000)
        #expect(text.matches([hi]) == ["ipv6.dst_ip=2001:db8:1::/48"])
        let lo = ref(4, 10, .u64, 1, ~0)
        let fullHi = ref(4, 9, .u64, 0x2001_0DB8_0000_0000, ~0)
        #expect(
            text.matches([lo, ref(7, 2, .u32, 0), fullHi]) == ["ipv6.dst_ip=2001:db8::1", "metadata.inter_table=0"])
        // Only the low half: the high half is not matched, so the mask is not a prefix.
        #expect(text.matches([lo]) == ["ipv6.dst_ip=::1/::ffff:ffff:ffff:ffff"])
        // The halves of different addresses stay apart.
        #expect(
            text.matches([ref(4, 7, .u64, 0xFE80_0000_0000_0000, ~0), fullHi]) == [
                "ipv6.src_ip=fe80::/64", "ipv6.dst_ip=2001:db8::/64",
            ])
    }

    @Test func ipv6TextIsRFC5952() {
        #expect(FlowText.ipv6(high: 0, low: 0) == "::")
        #expect(FlowText.ipv6(high: 0, low: 1) == "::1")
        #expect(FlowText.ipv6(high: 0x2001_0DB8_0000_0000, low: 0x0000_0000_0000_0001) == "2001:db8::1")
        // The longest zero run, the first of equal ones; a single zero group is not compressed.
        #expect(FlowText.ipv6(high: 0x2001_0DB8_0000_0001, low: 0x0000_0000_0001_0001) == "2001:db8:0:1::1:1")
        #expect(FlowText.ipv6(high: 0x2001_0000_0000_0001, low: 0x0001_0000_0000_0001) == "2001::1:1:0:0:1")
        #expect(FlowText.ipv6(high: 0x2001_0DB8_0001_0001, low: 0x0001_0001_0000_0001) == "2001:db8:1:1:1:1:0:1")
    }

    @Test func flowLineNamesFromTheModel() {
        // Actions and their arguments carry no names: the model's are used.
        let flow = Flow(
            table: 3, uid: 3, priority: 16,
            matches: [ref(7, 2, .u32, 0, 0xFFFF_FFFF), ref(3, 13, .u32, 0xC000_0200, 0xFFFF_FF00)],
            actions: [
                Action(uid: 4, signature: [ActionArg(type: .u64, value: FieldValue(0x0200_0000_0009, type: .u64))]),
                Action(uid: 5, signature: [ActionArg(type: .u32, value: FieldValue(9, type: .u32))]),
                Action(uid: 7),
            ])
        #expect(
            text.line(flow)
                == "table 3 uid 3 prio 16 metadata.inter_table=0 ipv4.dst_ip=192.0.2.0/24 action set_eth_dst eth_dst=02:00:00:00:00:09 action set_out_port port=9 action drop"
        )
        // Nothing known: numbers.
        let bare = FlowText()
        #expect(
            bare.line(Flow(table: 9, uid: 1, priority: 2, matches: [ref(40, 3, .u16, 5)], actions: [Action(uid: 77)]))
                == "table 9 uid 1 prio 2 header40.field3=5 action action77")
    }

    @Test func instancesNamedByTheHeaderGraph() {
        var t = text
        t.instances[42] = "inner_ipv4"
        #expect(t.match(ref(3, 13, .u32, 0x0A00_0001, instance: 42)) == "inner_ipv4.dst_ip=10.0.0.1")
        #expect(FlowText.needsHeaderGraph([ref(3, 13, .u32, 1, instance: 42)]))
        #expect(!FlowText.needsHeaderGraph([ref(3, 13, .u32, 1)]))
    }

    @Test func modelLines() {
        let m = DefaultModel.model
        #expect(FlowText.line(m.headers[0]) == "header 1 ethernet src_mac:48 dst_mac:48 ethertype:16")
        #expect(FlowText.line(m.actions.first { $0.uid == 5 }!) == "action 5 set_out_port port:u32")
        #expect(FlowText.line(m.actions.first { $0.uid == 2 }!) == "action 2 copy_to_cpu")
        #expect(
            text.line(m.tables.first { $0.uid == 2 }!)
                == "table 2 l2_fdb source 1 apply 2 size 4096 match vlan.vid(exact),ethernet.dst_mac(exact) actions set_out_port,drop,copy_to_cpu,pop_vlan,set_vlan_id"
        )
        #expect(
            text.line(m.tableGraph.first { $0.uid == 1 }!)
                == "table 1 ingress_acl ingress-root jump ethernet.ethertype=0x0800:ipv4_5tuple,ethernet.ethertype=0x86dd:ipv6_route,always:l2_fdb"
        )
        #expect(text.line(m.tableGraph.first { $0.uid == 2 }!) == "table 2 l2_fdb jump always:done")
        #expect(
            text.line(m.headerGraph.first { $0.uid == 3 }!)
                == "node 3 ipv4 headers ipv4 jump ipv4.protocol=6:tcp,ipv4.protocol=17:udp,always:done")
    }
}

@Suite("FlowFailure")
struct FlowFailureTests {
    let flow = Flow(
        table: 2, uid: 17, priority: 10,
        matches: [
            FieldRef(
                instance: 2, header: 2, field: 3, maskType: .exact, type: .u16,
                value: FieldValue(100, type: .u16), mask: FieldValue(0xFFF, type: .u16))
        ],
        actions: [Action(uid: 7)])

    @Test func parsesTheContractsText() {
        let p = FlowFailure.parse("flow 3 (table 2 uid 17): duplicate uid")
        #expect(p?.index == 3 && p?.table == 2 && p?.uid == 17 && p?.reason == "duplicate uid")
        // The count the daemon appends is not part of the reason; a reason's own ';' stays.
        #expect(
            FlowFailure.parse("flow 0 (table 2 uid 1): same matches and priority as flow uid 5; 3 of 6 flows failed")?
                .reason
                == "same matches and priority as flow uid 5")
        #expect(FlowFailure.parse("flow 0 (table 2 uid 1): a; b")?.reason == "a; b")
        // Not the form, or no reason beyond the errno (the twin's text when the listener gave none).
        #expect(FlowFailure.parse("injected fault: ENOSPC") == nil)
        #expect(FlowFailure.parse("flow 1 (table 2 uid 3): errno 17") == nil)
        #expect(FlowFailure.parse("flow x (table 2 uid 3): duplicate uid") == nil)
    }

    @Test func duplicateUIDAndDuplicateMatchSetDiffer() {
        var sameUID = flow
        sameUID.priority = 99
        var sameMatch = flow
        sameMatch.uid = 5
        #expect(FlowFailure.explain(.set, flow, errno: 17, table: .flows([sameUID])) == "duplicate uid")
        #expect(
            FlowFailure.explain(.set, flow, errno: 17, table: .flows([sameMatch]))
                == "same matches and priority as flow uid 5")
        // Same matches at another priority is no conflict: the state does not explain EEXIST.
        sameMatch.priority = 11
        #expect(FlowFailure.explain(.set, flow, errno: 17, table: .flows([sameMatch])) == nil)
        #expect(FlowFailure.explain(.set, flow, errno: 17, table: .unknown) == nil)
    }

    @Test func otherErrnos() {
        #expect(FlowFailure.explain(.set, flow, errno: 2, table: .missing) == "table 2 does not exist")
        #expect(FlowFailure.explain(.del, flow, errno: 2, table: .flows([])) == "no flow with uid 17 in table 2")
        #expect(FlowFailure.explain(.del, flow, errno: 2, table: .flows([flow])) == nil)
        #expect(
            FlowFailure.explain(.set, flow, errno: 28, table: .unknown, tableSize: 4096)
                == "table 2 is full (4096 flows)")
        // Validation against the model: the daemon's own text, without the flow's name.
        let v = ValidationIndex(DefaultModel.model)
        var bad = flow
        bad.actions = []
        let reason = FlowFailure.explain(.set, bad, errno: 22, table: .unknown, validation: v)
        #expect(reason != nil && !reason!.hasPrefix("flow table"))
        // A validation error with another errno than the device's does not explain it.
        #expect(FlowFailure.explain(.set, bad, errno: 5, table: .unknown, validation: v) == nil)
    }
}
