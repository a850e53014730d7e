// The generic netlink controller (nlctrl, family 0x10): how a family name becomes an id.
// The twin answers CTRL_CMD_GETFAMILY like the kernel does, and the recorder writes a
// CTRL_CMD_NEWFAMILY per family at the start of every trace so Wireshark can name them. Bytes
// follow the kernel's exactly: nests without NLA_F_NESTED (Wireshark 4.0 depends on it).

public enum Controller {
    public static let familyID: UInt16 = Netlink.controllerFamilyID
    public static let version: UInt8 = 2

    public enum Command {
        public static let newFamily: UInt8 = 1
        public static let getFamily: UInt8 = 3
    }

    public enum Attr {
        public static let familyID: UInt16 = 1
        public static let familyName: UInt16 = 2
        public static let version: UInt16 = 3
        public static let hdrSize: UInt16 = 4
        public static let maxAttr: UInt16 = 5
        public static let ops: UInt16 = 6
        public static let mcastGroups: UInt16 = 7
    }

    public enum OpAttr {
        public static let id: UInt16 = 1
        public static let flags: UInt16 = 2
    }

    /// GENL_ADMIN_PERM | GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL, what our ops advertise.
    public static let adminDoWithPolicy: UInt32 = 0x01 | 0x02 | 0x08

    /// What NEWFAMILY says about a family.
    public struct Family: Hashable, Sendable {
        public var id: UInt16
        public var name: String
        public var version: UInt32
        public var maxAttr: UInt32
        /// Operation ids and their GENL_* flags.
        public var ops: [(id: UInt32, flags: UInt32)]

        public init(id: UInt16, name: String, version: UInt32, maxAttr: UInt32, ops: [(id: UInt32, flags: UInt32)]) {
            self.id = id
            self.name = name
            self.version = version
            self.maxAttr = maxAttr
            self.ops = ops
        }

        public static func == (a: Family, b: Family) -> Bool {
            a.id == b.id && a.name == b.name && a.version == b.version && a.maxAttr == b.maxAttr
                && a.ops.map(\.id) == b.ops.map(\.id) && a.ops.map(\.flags) == b.ops.map(\.flags)
        }

        public func hash(into h: inout Hasher) { h.combine(id); h.combine(name) }

        /// Our two families as the module registers them, at the given ids.
        public static func flowTable(id: UInt16) -> Family {
            Family(
                id: id, name: NFL.familyName, version: UInt32(NFL.version), maxAttr: 9,
                ops: NFL.Command.allCases.prefix(8).map { (UInt32($0.rawValue), adminDoWithPolicy) })
        }

        public static func hairpin(id: UInt16) -> Family {
            Family(
                id: id, name: NFLH.familyName, version: UInt32(NFLH.version), maxAttr: 2,
                ops: NFLH.Command.allCases.map { (UInt32($0.rawValue), adminDoWithPolicy) })
        }
    }

    /// CTRL_CMD_GETFAMILY by name.
    public static func getFamily(_ name: String, sequence: UInt32, port: UInt32, into w: inout NetlinkWriter) {
        let start = w.beginMessage(
            type: familyID, flags: Netlink.flagRequest | Netlink.flagAck,
            sequence: sequence, port: port)
        w.genericHeader(command: Command.getFamily, version: 1)
        w.put(Attr.familyName, string: name)
        w.endMessage(start)
    }

    /// CTRL_CMD_GETFAMILY by id (a capture naming the families it sees).
    public static func getFamily(id: UInt16, sequence: UInt32, port: UInt32, into w: inout NetlinkWriter) {
        let start = w.beginMessage(
            type: familyID, flags: Netlink.flagRequest | Netlink.flagAck,
            sequence: sequence, port: port)
        w.genericHeader(command: Command.getFamily, version: 1)
        w.put(Attr.familyID, u16: id)
        w.endMessage(start)
    }

    /// CTRL_CMD_NEWFAMILY, the controller's answer, in the kernel's layout.
    public static func newFamily(_ f: Family, sequence: UInt32, port: UInt32, into w: inout NetlinkWriter) {
        let marked = w.markNests
        w.markNests = false
        defer { w.markNests = marked }
        let start = w.beginMessage(type: familyID, flags: 0, sequence: sequence, port: port)
        w.genericHeader(command: Command.newFamily, version: version)
        w.put(Attr.familyName, string: f.name)
        w.put(Attr.familyID, u16: f.id)
        w.put(Attr.version, u32: f.version)
        w.put(Attr.hdrSize, u32: 0)
        w.put(Attr.maxAttr, u32: f.maxAttr)
        let ops = w.beginNest(Attr.ops)
        for (i, op) in f.ops.enumerated() {
            let e = w.beginNest(UInt16(i + 1))
            w.put(OpAttr.id, u32: op.id)
            w.put(OpAttr.flags, u32: op.flags)
            try? w.endNest(e)
        }
        try? w.endNest(ops)
        w.endMessage(start)
    }

    /// Reads a GETFAMILY request's name, or a NEWFAMILY reply's family.
    public static func decodeFamilyName(_ m: NetlinkMessageView) throws(DecodeError) -> String {
        let (g, attrs) = try m.generic()
        guard g.command == Command.getFamily || g.command == Command.newFamily else {
            throw DecodeError(.unknownCommand(g.command), at: Netlink.headerLength)
        }
        var it = attrs
        while let a = try it.next() {
            if a.type == Attr.familyName { return try a.string() }
        }
        throw DecodeError(.missingAttribute("CTRL_ATTR_FAMILY_NAME"), at: m.offset)
    }

    public static func decodeFamily(_ m: NetlinkMessageView) throws(DecodeError) -> Family {
        let (g, attrs) = try m.generic()
        guard g.command == Command.newFamily else {
            throw DecodeError(.unknownCommand(g.command), at: Netlink.headerLength)
        }
        var it = attrs
        var id: UInt16?, name: String?, version: UInt32 = 0, maxAttr: UInt32 = 0
        var ops: [(id: UInt32, flags: UInt32)] = []
        while let a = try it.next() {
            switch a.type {
            case Attr.familyID: id = try a.u16()
            case Attr.familyName: name = try a.string()
            case Attr.version: version = try a.u32()
            case Attr.maxAttr: maxAttr = try a.u32()
            case Attr.ops:
                var list = a.nested()
                while let e = try list.next() {
                    var fields = e.nested()
                    var opID: UInt32 = 0, flags: UInt32 = 0
                    while let f = try fields.next() {
                        if f.type == OpAttr.id { opID = try f.u32() }
                        if f.type == OpAttr.flags { flags = try f.u32() }
                    }
                    ops.append((opID, flags))
                }
            default: break  // HDRSIZE, MCAST_GROUPS, POLICY: not needed here
            }
        }
        guard let id else { throw DecodeError(.missingAttribute("CTRL_ATTR_FAMILY_ID"), at: m.offset) }
        guard let name else { throw DecodeError(.missingAttribute("CTRL_ATTR_FAMILY_NAME"), at: m.offset) }
        return Family(id: id, name: name, version: version, maxAttr: maxAttr, ops: ops)
    }
}
