// (e) Files FlowTrace did not write: big-endian pcapng with several sections, interfaces,
// time resolutions and the older packet blocks; classic pcap in both byte orders and both
// precisions. Built byte by byte here, independently of the writer.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

/// Writes pcapng blocks in either byte order.
struct PcapngBuilder {
    var bigEndian: Bool
    var bytes: [UInt8] = []

    func u16(_ v: UInt16) -> [UInt8] {
        bigEndian ? [UInt8(v >> 8), UInt8(v & 0xff)] : [UInt8(v & 0xff), UInt8(v >> 8)]
    }
    func u32(_ v: UInt32) -> [UInt8] {
        let le = (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) }
        return bigEndian ? le.reversed() : le
    }
    func u64(_ v: UInt64) -> [UInt8] {
        let le = (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
        return bigEndian ? le.reversed() : le
    }
    func padded(_ b: [UInt8]) -> [UInt8] { b + [UInt8](repeating: 0, count: (4 - b.count % 4) % 4) }
    func option(_ code: UInt16, _ value: [UInt8]) -> [UInt8] { u16(code) + u16(UInt16(value.count)) + padded(value) }
    func option(_ code: UInt16, _ s: String) -> [UInt8] { option(code, Array(s.utf8)) }
    func options(_ list: [[UInt8]]) -> [UInt8] { list.isEmpty ? [] : list.flatMap { $0 } + [0, 0, 0, 0] }

    mutating func block(_ type: UInt32, _ body: [UInt8]) {
        let length = UInt32(12 + body.count)
        bytes += u32(type) + u32(length) + body + u32(length)
    }

    mutating func section(_ opts: [[UInt8]]) {
        block(0x0A0D_0D0A, u32(0x1A2B_3C4D) + u16(1) + u16(0) + u64(UInt64.max) + options(opts))
    }

    mutating func interface(linkType: UInt16 = 253, snap: UInt32 = 0, _ opts: [[UInt8]]) {
        block(1, u16(linkType) + u16(0) + u32(snap) + options(opts))
    }

    /// The FlowTrace metadata option in this byte order.
    func flowTrace(leg: UInt8, synthetic: Bool, pairing: UInt64?) -> [UInt8] {
        let flags: UInt8 = (synthetic ? 1 : 0) | (pairing != nil ? 2 : 0)
        return option(2989, u32(32473) + [0xF1, leg, flags, 0] + u64(pairing ?? 0))
    }

    static func pseudo(_ type: UInt16) -> [UInt8] {
        [UInt8(type >> 8), UInt8(type & 0xff), 0x03, 0x38] + [UInt8](repeating: 0, count: 10) + [0, 16]
    }

    mutating func enhanced(interface: UInt32, ts: UInt64, data: [UInt8], original: UInt32? = nil, _ opts: [[UInt8]]) {
        block(
            6,
            u32(interface) + u32(UInt32(ts >> 32)) + u32(UInt32(ts & 0xffff_ffff)) + u32(UInt32(data.count))
                + u32(original ?? UInt32(data.count)) + padded(data) + options(opts))
    }

    mutating func obsolete(interface: UInt16, ts: UInt64, data: [UInt8], _ opts: [[UInt8]]) {
        block(
            2,
            u16(interface) + u16(0) + u32(UInt32(ts >> 32)) + u32(UInt32(ts & 0xffff_ffff))
                + u32(UInt32(data.count)) + u32(UInt32(data.count)) + padded(data) + options(opts))
    }

    mutating func simple(data: [UInt8]) {
        block(3, u32(UInt32(data.count)) + padded(data))
    }
}

/// Classic pcap files in either byte order and precision.
struct ClassicPcapBuilder {
    var bigEndian: Bool
    var nanosecond: Bool

    func u32(_ v: UInt32) -> [UInt8] {
        let le = (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) }
        return bigEndian ? le.reversed() : le
    }

    func file(_ records: [StoredTraceRecord]) -> [UInt8] {
        var b = u32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        b += bigEndian ? [0, 2, 0, 4] : [2, 0, 4, 0]
        b += u32(0) + u32(0) + u32(262_144) + u32(253)
        for r in records {
            let data = PcapngBuilder.pseudo(r.direction == .toKernel ? 7 : 6) + r.netlink
            let frac = nanosecond ? r.timestamp % 1_000_000_000 : (r.timestamp % 1_000_000_000) / 1000
            b += u32(UInt32(r.timestamp / 1_000_000_000)) + u32(UInt32(frac))
            b += u32(UInt32(data.count)) + u32(UInt32(data.count)) + data
        }
        return b
    }
}

/// Netlink bytes in big-endian order, as a big-endian host would capture them. FlowTrace
/// passes packet bytes through untouched, whatever their order.
func bigEndianMessage(type: UInt16, seq: UInt32) -> [UInt8] {
    let b = PcapngBuilder(bigEndian: true)
    return b.u32(20) + b.u16(type) + b.u16(5) + b.u32(seq) + b.u32(99) + [1, 1, 0, 0]
}

struct ForeignFileTests {
    @Test func bigEndianPcapngWithSectionsInterfacesAndOldBlocks() throws {
        let msgA = bigEndianMessage(type: 0x1c, seq: 1)
        let msgB = bigEndianMessage(type: 0x1d, seq: 2)
        var be = PcapngBuilder(bigEndian: true)
        be.section([
            be.option(1, "big-endian section"), be.option(2, "s390x"), be.option(3, "Linux 6.1 s390x"),
            be.option(4, "handmade"),
        ])
        // Interface 0: 2^-20 s units; interface 1: default µs with a 10 s offset.
        be.interface([be.option(2, "api"), be.option(9, [0x80 | 20])])
        be.interface([be.option(2, "hairpin"), be.option(14, be.u64(10))])
        be.block(0x0000_0BAD, be.u32(32473) + [1, 2, 3, 4])  // a custom block: skipped
        be.block(0x8000_ABCD, [9, 9, 9, 9])  // local use: skipped
        be.block(5, be.u32(0) + be.u32(0) + be.u32(0) + [0, 0, 0, 0])  // ISB: skipped
        // 3 s and 2^19 units (0.5 s).
        be.enhanced(
            interface: 0, ts: 3 << 20 | 1 << 19, data: PcapngBuilder.pseudo(7) + msgA,
            [
                be.option(2, be.u32(2)), be.flowTrace(leg: 1, synthetic: false, pairing: 0x0102_0304_0506_0708),
                be.option(1, "first"), be.option(1, "second"),
            ])
        be.obsolete(
            interface: 1, ts: 1_500_000, data: PcapngBuilder.pseudo(6) + msgB,
            [be.option(2, be.u32(1)), be.flowTrace(leg: 2, synthetic: true, pairing: nil)])
        be.simple(data: PcapngBuilder.pseudo(7) + msgA)
        // A packet of another link type on a third interface: skipped by TraceReader.
        be.interface(linkType: 1, [])
        be.enhanced(interface: 2, ts: 0, data: [1, 2, 3], [])
        // A second, little-endian section with its own interface numbering.
        var le = PcapngBuilder(bigEndian: false)
        le.section([])
        le.interface([le.option(2, "second"), le.option(9, [9])])
        let leMsg = Sample.newFamily(.flowTable(id: 0x2a))
        le.enhanced(interface: 0, ts: 1_700_000_000_123_456_789, data: PcapngBuilder.pseudo(6) + leMsg, [])

        let dir = try TempDir()
        let path = dir.file("be.pcapng")
        try writeBytes(be.bytes + le.bytes, to: path)

        let r = readTrace(path)
        #expect(r.error == nil && r.truncation == nil)
        #expect(r.records.count == 4)
        guard r.records.count == 4 else { return }
        let a = r.records[0]
        #expect(a.timestamp == 3_500_000_000)
        #expect(a.direction == .toKernel && a.leg == .api && !a.synthetic && a.pairing == 0x0102_0304_0506_0708)
        #expect(a.comment == "first\nsecond")
        #expect(a.netlink == msgA && a.interface == 0 && a.section == 0)
        let b = r.records[1]
        #expect(b.timestamp == 11_500_000_000)  // 1.5 s in µs + if_tsoffset 10 s
        #expect(b.direction == .toUser && b.leg == .hairpin && b.synthetic && b.pairing == nil)
        #expect(b.netlink == msgB && b.interface == 1)
        let c = r.records[2]
        #expect(c.timestamp == 0 && c.direction == .toKernel && c.leg == .unknown && c.netlink == msgA)
        let d = r.records[3]
        #expect(d.section == 1 && d.interface == 0 && d.timestamp == 1_700_000_000_123_456_789 && d.netlink == leMsg)
        // The little-endian NEWFAMILY taught the id.
        #expect(r.families.flowTableID == 0x2a)

        // The raw reader sees the sections and block kinds.
        let raw = try PcapngReader(path: path)
        var kinds: [PcapngReader.PacketBlock] = []
        while let p = try raw.next() { kinds.append(p.block) }
        #expect(kinds == [.enhanced, .obsolete, .simple, .enhanced, .enhanced])
        #expect(raw.sections.count == 2)
        #expect(raw.sections[0].byteSwapped != raw.sections[1].byteSwapped)
        #expect(raw.sections[0].hardware == "s390x" && raw.sections[0].userApplication == "handmade")
        #expect(raw.sections[0].comments == ["big-endian section"])
        #expect(raw.interfaces.map(\.name) == ["second"])
        #expect(raw.skippedBlocks == 3)

        // TraceReader's view of the skipped foreign packet.
        let tr = try TraceReader(path: path)
        while try tr.next() != nil {}
        #expect(tr.skippedPackets == 1 && tr.recordCount == 4)
        #expect(tr.sections.count == 2)
    }

    @Test func classicPcapBothByteOrdersAndPrecisions() throws {
        let records = try Sample.conversation(calls: 2)
        let dir = try TempDir()
        for bigEndian in [false, true] {
            for nanosecond in [false, true] {
                let path = dir.file("c-\(bigEndian)-\(nanosecond).pcap")
                try writeBytes(ClassicPcapBuilder(bigEndian: bigEndian, nanosecond: nanosecond).file(records), to: path)
                let r = readTrace(path)
                #expect(r.error == nil && r.truncation == nil)
                #expect(r.format == .pcap(nanosecond: nanosecond, byteSwapped: bigEndian))
                #expect(r.records.map(\.netlink) == records.map(\.netlink))
                #expect(r.records.map(\.direction) == records.map(\.direction))
                #expect(
                    r.records.map(\.timestamp) == records.map { nanosecond ? $0.timestamp : $0.timestamp / 1000 * 1000 }
                )
                // Classic pcap has no options: leg, pairing and comments are gone.
                #expect(r.records.allSatisfy { $0.leg == .unknown && $0.pairing == nil && $0.comment == nil })
            }
        }
    }

    @Test func timestampResolutions() {
        let t: UInt64 = 1_700_000_000
        #expect(TimestampScale(tsresol: 9).nanoseconds(t) == t)
        #expect(TimestampScale(tsresol: 6).nanoseconds(t) == t * 1000)
        #expect(TimestampScale(tsresol: 0).nanoseconds(t) == t * 1_000_000_000)
        #expect(TimestampScale(tsresol: 12).nanoseconds(t) == t / 1000)
        #expect(TimestampScale(tsresol: 28).nanoseconds(UInt64.max) == UInt64.max / 10_000_000_000_000_000_000)
        #expect(TimestampScale(tsresol: 29).nanoseconds(t) == 0)
        #expect(TimestampScale(tsresol: 0x80).nanoseconds(3) == 3_000_000_000)
        #expect(TimestampScale(tsresol: 0x80 | 10).nanoseconds(1024 * 7 + 512) == 7_500_000_000)
        #expect(TimestampScale(tsresol: 0x80 | 64).nanoseconds(UInt64.max) == 999_999_999)
        #expect(TimestampScale(tsresol: 0x80 | 127).nanoseconds(UInt64.max) == 0)
        // Overflow saturates instead of trapping.
        #expect(TimestampScale(tsresol: 0).nanoseconds(UInt64.max) == UInt64.max)
        #expect(TimestampScale(tsresol: 0x80).nanoseconds(UInt64.max) == UInt64.max)
        #expect(TimestampScale(kind: .multiply(1), offsetSeconds: .max).nanoseconds(1) == UInt64.max)
        #expect(TimestampScale(kind: .multiply(1), offsetSeconds: .min).nanoseconds(1) == 0)
        #expect(TimestampScale(kind: .multiply(1), offsetSeconds: -1).nanoseconds(1_500_000_000) == 500_000_000)
    }
}

struct FamilyTableTests {
    @Test func learnsFromNewFamilyOnly() throws {
        var t = FamilyTable()
        StoredTraceRecord(timestamp: 0, direction: .toUser, netlink: Sample.newFamily(.flowTable(id: 0x1c))).withRecord
        {
            #expect(t.learn(from: $0) == 1)
        }
        // GETFAMILY requests and other families teach nothing.
        var w = NetlinkWriter()
        Controller.getFamily(NFLH.familyName, sequence: 1, port: 2, into: &w)
        StoredTraceRecord(timestamp: 0, direction: .toKernel, netlink: w.bytes).withRecord {
            #expect(t.learn(from: $0) == 0)
        }
        #expect(t.flowTableID == 0x1c && t.hairpinID == nil)
        #expect(t.name(forID: 0x1c) == NFL.familyName && t.name(forID: 0x10) == "nlctrl")
        #expect(t.kind(ofType: 0x1c) == .flowTable && t.kind(ofType: 2) == .control(2))
        #expect(t.kind(ofType: 0x10) == .controller && t.kind(ofType: 0x30) == .unknown(0x30))
    }

    @Test func aDumpOfFamiliesInOneRecord() throws {
        // NEWFAMILY × 2 with NLM_F_MULTI, then NLMSG_DONE, in one packet.
        var bytes = Sample.newFamily(.flowTable(id: 0x20)) + Sample.newFamily(.hairpin(id: 0x21))
        bytes += [20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        var t = FamilyTable()
        bytes.withUnsafeBytes { #expect(t.learn(fromNetlink: $0) == 2) }
        #expect(t.flowTableID == 0x20 && t.hairpinID == 0x21)
        // Garbage is ignored, never fatal.
        var junk = bytes
        junk[0] = 0xff
        junk.withUnsafeBytes { _ = t.learn(fromNetlink: $0) }
        [UInt8]([1, 2, 3]).withUnsafeBytes { #expect(t.learn(fromNetlink: $0) == 0) }
    }

    @Test func aReloadedModuleMovesTheId() {
        var t = FamilyTable([.flowTable(id: 0x1c), .hairpin(id: 0x1d)])
        t.insert(.flowTable(id: 0x22))
        #expect(t.flowTableID == 0x22 && t.kind(ofType: 0x1c) == .unknown(0x1c))
        t.insert(.hairpin(id: 0x22))
        #expect(t.hairpinID == 0x22 && t.flowTableID == nil)
        #expect(t.families.map(\.name) == [NFLH.familyName])
    }

    @Test func legFromTheFamilyWhenNotRecorded() throws {
        let t = FamilyTable([.flowTable(id: Sample.apiID), .hairpin(id: Sample.hairpinID)])
        for r in try Sample.conversation(calls: 2) {
            var plain = r
            plain.leg = .unknown
            let isAck = r.netlink[4] == 2
            plain.withRecord { #expect(t.leg(of: $0) == (isAck ? .unknown : r.leg)) }
            r.withRecord { #expect(t.leg(of: $0) == r.leg) }
        }
    }
}
