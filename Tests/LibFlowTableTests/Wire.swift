// An independent spelling of netlink bytes for golden tests. It uses literal numbers from the
// protocol reference (not the NFL constants) and its own padding logic, so a wrong constant or
// a wrong alignment in the codec makes the golden tests fail.

enum Wire {
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xff) } }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xff) } }

    static func padded(_ b: [UInt8]) -> [UInt8] { b + [UInt8](repeating: 0, count: (4 - b.count % 4) % 4) }

    /// One attribute: nla_len (header + payload, unpadded), nla_type, payload, padding.
    static func nla(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        padded(le16(UInt16(4 + payload.count)) + le16(type) + payload)
    }
    static func u32(_ type: UInt16, _ v: UInt32) -> [UInt8] { nla(type, le32(v)) }
    static func u64(_ type: UInt16, _ v: UInt64) -> [UInt8] { nla(type, le64(v)) }
    static func str(_ type: UInt16, _ s: String) -> [UInt8] { nla(type, Array(s.utf8) + [0]) }
    /// A nest with NLA_F_NESTED (0x8000) set, as our encoder writes it.
    static func nest(_ type: UInt16, _ children: [[UInt8]]) -> [UInt8] { nla(type | 0x8000, children.flatMap { $0 }) }

    /// nlmsghdr + genlmsghdr(cmd, version 1) + attributes.
    static func genl(
        type: UInt16, flags: UInt16, seq: UInt32, pid: UInt32, cmd: UInt8,
        _ attrs: [[UInt8]]
    ) -> [UInt8] {
        var body: [UInt8] = [cmd, 1, 0, 0]
        for a in attrs { body += a }
        var out = le32(UInt32(16 + body.count))
        out += le16(type)
        out += le16(flags)
        out += le32(seq)
        out += le32(pid)
        return out + body
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
}

import Foundation
