import Foundation
import LibFlowTable
import Testing
@testable import YNL

/// Loads a kernel spec from the cache; nil (with a message) when the cache has no specs.
func kernelFamily(_ file: String) throws -> YNLFamily? {
    guard let dir = kernelSpecDir() else {
        print("YNLTests: no kernel specs (run scripts/install-deps.sh --specs); skipping \(file)")
        return nil
    }
    return try YNLSpecLoader.load(path: dir + "/" + file)
}

/// Builds a message: genl header when `command` is given, then `body` (fixed header, attributes).
func message(
    type: UInt16, flags: UInt16 = Netlink.flagRequest, command: UInt8? = nil,
    _ body: (inout NetlinkWriter) throws -> Void
) rethrows -> [UInt8] {
    var w = NetlinkWriter(capacity: 256)
    let start = w.beginMessage(type: type, flags: flags, sequence: 1, port: 0)
    if let command { w.genericHeader(command: command, version: 1) }
    try body(&w)
    w.endMessage(start)
    return w.bytes
}

func decode(_ f: YNLFamily, _ bytes: [UInt8], request: Bool? = nil) throws -> YNLMessage {
    try bytes.withUnsafeBytes { try YNLDecoder(f).decode($0, request: request) }
}

extension Array where Element == YNLField {
    subscript(_ name: String) -> YNLValue? { first { $0.name == name }?.value }
}

@Suite struct HandBuiltTests {
    @Test func devlinkGet() throws {
        guard let f = try kernelFamily("devlink.yaml") else { return }
        #expect(f.proto == .genetlinkLegacy)
        // DEVLINK_CMD_GET 1; DEVLINK_ATTR_BUS_NAME 1, DEV_NAME 2, PORT_INDEX 3.
        let m = try decode(
            f,
            message(type: 0x20, command: 1) { w in
                w.put(1, string: "netdevsim")
                w.put(2, string: "netdevsim1")
                w.put(3, u32: 7)
            })
        #expect(m.operation == "get")
        #expect(m.attributes.map(\.name) == ["bus-name", "dev-name", "port-index"])
        #expect(m.attributes["dev-name"] == .string("netdevsim1"))
        #expect(m.attributes["port-index"] == .unsigned(7))
        // Directional numbering: the kernel answers get with DEVLINK_CMD_NEW (3), and 3 as a
        // request is no operation (devlink numbers requests apart).
        let reply = try decode(f, message(type: 0x20, flags: 0, command: 3) { w in w.put(2, string: "x") })
        #expect(reply.operation == "get")
        #expect(reply.request == false)
        #expect(throws: DecodeError(.unknownCommand(3), at: 16)) {
            try decode(f, message(type: 0x20, command: 3) { w in w.put(2, string: "x") })
        }
    }

    @Test func ethtoolHeaderFlags() throws {
        guard let f = try kernelFamily("ethtool.yaml") else { return }
        // ETHTOOL_MSG_LINKINFO_GET 2; ETHTOOL_A_LINKINFO_HEADER 1 nests the header:
        // DEV_INDEX 1, DEV_NAME 2, FLAGS 3 (header-flags: compact-bitsets 1, omit-reply 2, stats 4).
        let m = try decode(
            f,
            message(type: 0x21, command: 2) { w in
                let n = w.beginNest(1)
                w.put(1, u32: 3)
                w.put(2, string: "eth0")
                w.put(3, u32: 5)
                try w.endNest(n)
            })
        #expect(m.operation == "linkinfo-get")
        let header = try #require(m.attributes["header"])
        #expect(header["dev-index"] == .unsigned(3))
        #expect(header["flags"] == .flags(5, ["compact-bitsets", "stats"]))
    }

    @Test func rtLinkFixedHeaderSubMessageByteOrder() throws {
        guard let f = try kernelFamily("rt_link.yaml") else { return }
        #expect(f.proto == .netlinkRaw)
        // RTM_NEWLINK 16, ifinfomsg; IFLA_IFNAME 3, IFLA_MTU 4, IFLA_LINKINFO 18 {INFO_KIND 1,
        // INFO_DATA 2 {IFLA_VLAN_ID 1, IFLA_VLAN_PROTOCOL 5 (big-endian)}}, IFLA_PROP_LIST 52
        // {IFLA_ALT_IFNAME 53 ...}.
        let m = try decode(
            f,
            message(type: 16) { w in
                w.appendRaw(UInt8(0)); w.appendRaw(UInt8(0)); w.appendRaw(UInt16(1))
                w.appendRaw(Int32(-2)); w.appendRaw(UInt32(0x1003)); w.appendRaw(UInt32(0xffffffff))
                w.put(3, string: "vlan5")
                w.put(4, u32: 1500)
                let li = w.beginNest(18)
                w.put(1, string: "vlan")
                let data = w.beginNest(2)
                w.put(1, u16: 5)
                w.put(5, u16: UInt16(0x8100).bigEndian)
                try w.endNest(data)
                try w.endNest(li)
                let props = w.beginNest(52)
                w.put(53, string: "a")
                w.put(53, string: "b")
                try w.endNest(props)
            })
        #expect(m.operation == "newlink")
        #expect(m.version == nil)
        #expect(m.header["ifi-index"] == .signed(-2))
        #expect(m.header["ifi-type"] == .unsigned(1))
        #expect(m.attributes["ifname"] == .string("vlan5"))
        let data = try #require(m.attributes["linkinfo"]?["data"])
        #expect(data["id"] == .unsigned(5))
        #expect(data["protocol"] == .enumerated(0x8100, "8021q"))
        guard case .fields(let alt)? = m.attributes["prop-list"] else { Issue.record("no prop-list"); return }
        #expect(alt == [YNLField("alt-ifname", .string("a")), YNLField("alt-ifname", .string("b"))])

        // A kind the sub-message has no format for is an error naming the attribute path.
        let bad = message(type: 16) { w in
            for _ in 0..<4 { w.appendRaw(UInt32(0)) }
            let li = w.beginNest(18)
            w.put(1, string: "nosuchkind")
            let d = w.beginNest(2)
            try? w.endNest(d)
            try? w.endNest(li)
        }
        #expect(throws: DecodeError.self) { try decode(f, bad) }
        do { _ = try decode(f, bad) } catch let e as DecodeError {
            #expect(e.pathString == "linkinfo.data")
            #expect(e.description.contains("nosuchkind"))
        }
    }

    @Test func bondIndexedArrayBigEndian() throws {
        guard let f = try kernelFamily("rt_link.yaml") else { return }
        // IFLA_BOND_MODE 1, IFLA_BOND_ARP_IP_TARGET 8: an indexed array of be32 addresses.
        let m = try decode(
            f,
            message(type: 16) { w in
                for _ in 0..<4 { w.appendRaw(UInt32(0)) }
                let li = w.beginNest(18)
                w.put(1, string: "bond")
                let d = w.beginNest(2)
                w.put(1, u8: 4)
                let a = w.beginNest(8)
                w.put(0, u32: UInt32(0x0a000001).bigEndian)
                w.put(1, u32: UInt32(0x0a000002).bigEndian)
                try w.endNest(a)
                try w.endNest(d)
                try w.endNest(li)
            })
        let data = try #require(m.attributes["linkinfo"]?["data"])
        #expect(data["mode"] == .unsigned(4))
        #expect(
            data["arp-ip-target"]
                == .items([YNLField("0", .unsigned(0x0a000001)), YNLField("1", .unsigned(0x0a000002))]))
    }

    @Test func nlctrlIndexedArrayOfNestsAndFlags() throws {
        guard let f = try kernelFamily("nlctrl.yaml") else { return }
        // CTRL_CMD_NEWFAMILY 1 (getfamily's reply); FAMILY_ID 1, FAMILY_NAME 2, OPS 6 [
        // {OP_ID 1, OP_FLAGS 2 (admin-perm 1, cmd-cap-do 2)} ].
        let m = try decode(
            f,
            message(type: 0x10, flags: 0, command: 1) { w in
                w.put(1, u16: 0x22)
                w.put(2, string: "devlink")
                let ops = w.beginNest(6)
                let op1 = w.beginNest(1)
                w.put(1, u32: 3)
                w.put(2, u32: 3)
                try w.endNest(op1)
                try w.endNest(ops)
            })
        #expect(m.operation == "getfamily")
        #expect(m.request == false)
        #expect(m.attributes["family-id"] == .unsigned(0x22))
        let ops = try #require(m.attributes["ops"])
        #expect(ops["1"]?["id"] == .unsigned(3))
        #expect(ops["1"]?["flags"] == .flags(3, ["admin-perm", "cmd-cap-do"]))
    }

    @Test func netdevFlagsU64() throws {
        guard let f = try kernelFamily("netdev.yaml") else { return }
        #expect(f.proto == .genetlink)
        // NETDEV_CMD_DEV_GET 1; NETDEV_A_DEV_IFINDEX 1, XDP_FEATURES 3 (u64, xdp-act flags).
        let m = try decode(
            f,
            message(type: 0x23, flags: 0, command: 1) { w in
                w.put(1, u32: 2)
                w.put(3, u64: 3)
            })
        #expect(m.operation == "dev-get")
        #expect(m.attributes["ifindex"] == .unsigned(2))
        #expect(m.attributes["xdp-features"] == .flags(3, ["basic", "redirect"]))
    }

    @Test func unknownAttributeIsAnErrorWithPath() throws {
        guard let f = try kernelFamily("ethtool.yaml") else { return }
        let bytes = message(type: 0x21, command: 2) { w in
            let n = w.beginNest(1)
            w.put(60, u32: 1)
            try? w.endNest(n)
        }
        // The tracing decode keeps it by number; the strict one (the codec's view) refuses it.
        let kept = try decode(f, bytes)
        #expect(kept.undefinedAttributes == ["header.60"])
        do {
            _ = try bytes.withUnsafeBytes { try YNLDecoder(f, strict: true).decode($0) }
            Issue.record("decoded an unknown attribute")
        } catch let e as DecodeError {
            #expect(e.reason == .unknownAttribute(60))
            #expect(e.pathString == "header")
            #expect(e.offset == 24)
        }
    }

    /// Every truncation and every single-bit flip of valid messages: an error or a decode,
    /// never a trap.
    @Test func malformedInputNeverTraps() throws {
        var samples: [(YNLFamily, [UInt8])] = []
        let own = YNLSpecLibrary.load([YNLSpecDirectory(path: projectSpecDir, origin: "project")])
        if let rt = try kernelFamily("rt_link.yaml") {
            samples.append(
                (
                    rt,
                    message(type: 16) { w in
                        for _ in 0..<4 { w.appendRaw(UInt32(0)) }
                        w.put(3, string: "x")
                        let li = w.beginNest(18)
                        w.put(1, string: "bond")
                        let d = w.beginNest(2)
                        let a = w.beginNest(8)
                        w.put(0, u32: 1)
                        try? w.endNest(a)
                        try? w.endNest(d)
                        try? w.endNest(li)
                    }
                ))
        }
        if let nl = try kernelFamily("nlctrl.yaml") {
            samples.append(
                (
                    nl,
                    message(type: 0x10, flags: 0, command: 1) { w in
                        w.put(2, string: "x")
                        let ops = w.beginNest(6)
                        let o = w.beginNest(1)
                        w.put(1, u32: 3)
                        try? w.endNest(o)
                        try? w.endNest(ops)
                    }
                ))
        }
        let flow = try #require(own.family(named: "net_flow_nl"))
        samples.append(
            (
                flow,
                message(type: 0x1c, command: 1) { w in
                    w.put(1, u32: 1); w.put(2, u32: 5)
                }
            ))
        var errors = 0
        for (f, good) in samples {
            for cut in 0..<good.count {
                if (try? decode(f, Array(good[..<cut]))) == nil { errors += 1 }
            }
            for i in 0..<good.count * 8 {
                var b = good
                b[i / 8] ^= 1 << UInt8(i % 8)
                if (try? decode(f, b)) == nil { errors += 1 }
            }
        }
        #expect(errors > 0)
    }
}
