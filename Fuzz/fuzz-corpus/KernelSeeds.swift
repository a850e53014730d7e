// Hand-built messages of the kernel families fuzz-ynl decodes when their specs are in the cache
// (devlink, ethtool, netdev, rt-link): our traces hold none. Numbers are the kernel's uapi
// values, as Tests/YNLTests/HandBuiltTests.swift decodes them; nlmsg_type of the generic ones
// is arbitrary (the fuzzer tries every family on every message).
import LibFlowTable

enum KernelSeeds {
    static func message(
        type: UInt16, flags: UInt16 = Netlink.flagRequest, command: UInt8? = nil,
        _ body: (inout NetlinkWriter) -> Void
    ) -> [UInt8] {
        var w = NetlinkWriter(capacity: 256)
        let start = w.beginMessage(type: type, flags: flags, sequence: 1, port: 0)
        if let command { w.genericHeader(command: command, version: 1) }
        body(&w)
        w.endMessage(start)
        return w.bytes
    }

    static func nest(_ w: inout NetlinkWriter, _ type: UInt16, _ body: (inout NetlinkWriter) -> Void) {
        let n = w.beginNest(type)
        body(&w)
        try? w.endNest(n)
    }

    /// ifinfomsg: family, pad, type, index, flags, change.
    static func ifinfo(_ w: inout NetlinkWriter, index: Int32) {
        w.appendRaw(UInt8(0)); w.appendRaw(UInt8(0)); w.appendRaw(UInt16(1))
        w.appendRaw(index); w.appendRaw(UInt32(0x1003)); w.appendRaw(UInt32(0xffff_ffff))
    }

    static var messages: [[UInt8]] {
        [
            // devlink: DEVLINK_CMD_GET 1 (BUS_NAME 1, DEV_NAME 2, PORT_INDEX 3); its reply is
            // DEVLINK_CMD_NEW 3.
            message(type: 0x20, command: 1) { w in
                w.put(1, string: "netdevsim"); w.put(2, string: "netdevsim1"); w.put(3, u32: 7)
            },
            message(type: 0x20, flags: 0, command: 3) { w in
                w.put(1, string: "netdevsim"); w.put(2, string: "netdevsim1")
            },
            // ethtool: ETHTOOL_MSG_LINKINFO_GET 2, HEADER 1 {DEV_INDEX 1, DEV_NAME 2, FLAGS 3}.
            message(type: 0x21, command: 2) { w in
                nest(&w, 1) { w in
                    w.put(1, u32: 3); w.put(2, string: "eth0"); w.put(3, u32: 5)
                }
            },
            // netdev: NETDEV_CMD_DEV_GET 1 reply, IFINDEX 1, XDP_FEATURES 3 (u64 flags).
            message(type: 0x23, flags: 0, command: 1) { w in
                w.put(1, u32: 2); w.put(3, u64: 3)
            },
            // rt-link: RTM_NEWLINK 16, ifinfomsg, IFNAME 3, MTU 4, LINKINFO 18 {KIND 1 "vlan",
            // DATA 2 {ID 1, PROTOCOL 5 (big-endian)}}, PROP_LIST 52 {ALT_IFNAME 53 twice}.
            message(type: 16) { w in
                ifinfo(&w, index: -2)
                w.put(3, string: "vlan5"); w.put(4, u32: 1500)
                nest(&w, 18) { w in
                    w.put(1, string: "vlan")
                    nest(&w, 2) { w in
                        w.put(1, u16: 5); w.put(5, u16: UInt16(0x8100).bigEndian)
                    }
                }
                nest(&w, 52) { w in
                    w.put(53, string: "a"); w.put(53, string: "b")
                }
            },
            // A bond: DATA {MODE 1, ARP_IP_TARGET 8 (indexed array of be32)}.
            message(type: 16) { w in
                ifinfo(&w, index: 4)
                nest(&w, 18) { w in
                    w.put(1, string: "bond")
                    nest(&w, 2) { w in
                        w.put(1, u8: 4)
                        nest(&w, 8) { w in
                            w.put(0, u32: UInt32(0x0a00_0001).bigEndian); w.put(1, u32: UInt32(0x0a00_0002).bigEndian)
                        }
                    }
                }
            },
            // RTM_GETLINK 18 request and RTM_DELLINK 17 by name.
            message(type: 18) { w in
                ifinfo(&w, index: 1); w.put(3, string: "lo")
            },
            message(type: 17) { w in
                ifinfo(&w, index: 0); w.put(3, string: "dummy0")
            },
        ]
    }
}
