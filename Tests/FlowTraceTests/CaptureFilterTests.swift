// What `flowtrace capture` keeps of nlmon packets, without a kernel: packets built as the
// kernel's netlink tap delivers them (LINKTYPE_NETLINK pseudo-header, then the messages).

import Testing
import LibFlowTable
@testable import LiveCapture
@testable import FlowTrace

@Suite("Capture filter (nlmon packets)")
struct CaptureFilterTests {
    static let api: UInt16 = 33
    static let hairpin: UInt16 = 32

    /// A generic netlink message with one u32 attribute.
    func message(type: UInt16, flags: UInt16, seq: UInt32, port: UInt32, command: UInt8 = 0) -> [UInt8] {
        var w = NetlinkWriter()
        let s = w.beginMessage(type: type, flags: flags, sequence: seq, port: port)
        w.genericHeader(command: command, version: 1)
        w.put(1, u32: 7)
        w.endMessage(s)
        return w.bytes
    }

    /// NLMSG_ERROR (capped) for a request of `requestType`.
    func ack(error: Int32 = 0, requestType: UInt16, seq: UInt32, port: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        u32(36); u16(Netlink.typeError); u16(Netlink.flagCapped); u32(seq); u32(port)
        u32(UInt32(bitPattern: error))
        u32(20); u16(requestType); u16(Netlink.flagRequest | Netlink.flagAck); u32(seq); u32(0)
        return out
    }

    func done(seq: UInt32, port: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        u32(20); u16(Netlink.typeDone); u16(Netlink.flagMulti); u32(seq); u32(port); u32(0)
        return out
    }

    /// The pseudo-header (big endian) before the messages.
    func packet(_ packetType: UInt16, _ messages: [UInt8]..., proto: UInt16 = 16) -> [UInt8] {
        var out: [UInt8] = [UInt8(packetType >> 8), UInt8(packetType & 0xff), 0x03, 0x38, 0, 0]
        out += [UInt8](repeating: 0, count: 8)
        out += [UInt8(proto >> 8), UInt8(proto & 0xff)]
        for m in messages { out += m }
        return out
    }

    func run(_ f: inout CaptureFilter, _ p: [UInt8]) -> [CaptureFilter.Kept] {
        p.withUnsafeBytes { f.filter(packet: $0) }
    }

    @Test func keepsBothFamiliesWithDirections() {
        var f = CaptureFilter(flowTableID: Self.api, hairpinID: Self.hairpin)
        let req = message(type: Self.api, flags: Netlink.flagRequest | Netlink.flagAck, seq: 5, port: 0)
        var k = run(&f, packet(7, req))
        #expect(k == [.init(range: 0..<req.count, leg: .api, direction: .toKernel)])
        let encap = message(type: Self.hairpin, flags: 0, seq: 0, port: 99)
        k = run(&f, packet(6, encap))
        #expect(k == [.init(range: 0..<encap.count, leg: .hairpin, direction: .toUser)])
        k = run(&f, packet(6, ack(requestType: Self.api, seq: 5, port: 1234)))
        #expect(k.map(\.leg) == [.api])
        k = run(&f, packet(6, ack(error: -2, requestType: Self.hairpin, seq: 3, port: 99)))
        #expect(k.map(\.leg) == [.hairpin])
        #expect(f.statistics.kept == 4 && f.statistics.keptAPI == 2 && f.statistics.keptHairpin == 2)
    }

    @Test func dropsOtherFamiliesAndProtocols() {
        var f = CaptureFilter(flowTableID: Self.api, hairpinID: Self.hairpin)
        #expect(run(&f, packet(7, message(type: 0x10, flags: 5, seq: 1, port: 0))).isEmpty)
        #expect(run(&f, packet(6, ack(requestType: 0x10, seq: 1, port: 5))).isEmpty)
        #expect(run(&f, packet(6, message(type: 40, flags: 0, seq: 1, port: 5))).isEmpty)
        #expect(run(&f, packet(6, message(type: Self.api, flags: 0, seq: 1, port: 5), proto: 0)).isEmpty)
        #expect(run(&f, packet(6, done(seq: 1, port: 5))).isEmpty, "a DONE of no dump we saw")
        #expect(f.statistics.otherProtocols == 1)
        #expect(f.statistics.kept == 0)
    }

    @Test func doneFollowsTheMultiPartReplyItEnds() {
        var f = CaptureFilter(flowTableID: Self.api, hairpinID: Self.hairpin)
        let page = message(type: Self.api, flags: Netlink.flagMulti, seq: 9, port: 4242, command: 5)
        let d = done(seq: 9, port: 4242)
        let a = ack(requestType: Self.api, seq: 9, port: 4242)
        // Two pages, DONE and ACK in one packet: every message kept, ranges back to back.
        let k = run(&f, packet(6, page, page, d, a))
        #expect(k.count == 4)
        #expect(k.map(\.range.lowerBound) == [0, page.count, 2 * page.count, 2 * page.count + d.count])
        #expect(k.allSatisfy { $0.leg == .api && $0.direction == .toUser })
        // That dump is over: another DONE for it is not ours.
        #expect(run(&f, packet(6, done(seq: 9, port: 4242))).isEmpty)
        // A DONE for another port or sequence is not ours either.
        _ = run(&f, packet(6, page))
        #expect(run(&f, packet(6, done(seq: 9, port: 1))).isEmpty)
        #expect(run(&f, packet(6, done(seq: 9, port: 4242))).count == 1)
    }

    @Test func directionFallsBackToTheRequestFlag() {
        var f = CaptureFilter(flowTableID: Self.api, hairpinID: Self.hairpin)
        #expect(
            run(&f, packet(0, message(type: Self.hairpin, flags: 5, seq: 1, port: 0))).first?.direction == .toKernel)
        #expect(run(&f, packet(0, message(type: Self.hairpin, flags: 0, seq: 0, port: 3))).first?.direction == .toUser)
    }

    @Test func hostileBytesNeverCrash() {
        var f = CaptureFilter(flowTableID: Self.api, hairpinID: Self.hairpin)
        #expect(run(&f, []).isEmpty)
        #expect(run(&f, [1, 2, 3]).isEmpty)
        // A message claiming more bytes than the packet has: the walk stops, nothing kept.
        var bad = message(type: Self.api, flags: 1, seq: 1, port: 0)
        bad[0] = 0xff
        #expect(run(&f, packet(7, bad)).isEmpty)
        // A good message, then garbage: the good one is kept.
        let good = message(type: Self.api, flags: 1, seq: 1, port: 0)
        #expect(run(&f, packet(7, good, [9, 9, 9])).count == 1)
        // An NLMSG_ERROR too short to hold the request's header.
        var shortAck = ack(requestType: Self.api, seq: 1, port: 1)
        shortAck = Array(shortAck[0..<20])
        shortAck[0] = 20
        #expect(run(&f, packet(6, shortAck)).isEmpty)
        #expect(f.statistics.malformed >= 3)
        // Random packets.
        var state: UInt64 = 0x1234_5678
        for _ in 0..<2000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let n = Int(state >> 56)
            var p = packet(6)
            for i in 0..<n { p.append(UInt8(truncatingIfNeeded: (state >> UInt64(i % 56)) &+ UInt64(i))) }
            for k in run(&f, p) { #expect(k.range.upperBound <= p.count - 16) }
        }
    }

    // Every family (issue 16): `flowtrace capture` without --family.

    @Test func keepsEveryFamilyAndProtocolWithItsProtocol() {
        var f = CaptureFilter(flowTableID: Self.api, hairpinID: Self.hairpin, keep: .all)
        let devlink = message(type: 40, flags: Netlink.flagRequest | Netlink.flagAck, seq: 3, port: 0)
        var k = run(&f, packet(7, devlink))
        #expect(k == [.init(range: 0..<devlink.count, leg: .unknown, direction: .toKernel, netlinkProtocol: 16)])
        // rtnetlink: the protocol travels with the message.
        let link = message(type: 16, flags: Netlink.flagRequest | Netlink.flagAck, seq: 4, port: 0)
        k = run(&f, packet(7, link, proto: 0))
        #expect(k == [.init(range: 0..<link.count, leg: .unknown, direction: .toKernel, netlinkProtocol: 0)])
        // Their ACKs and an unmatched DONE are kept too; our families keep their legs.
        #expect(run(&f, packet(6, ack(requestType: 40, seq: 3, port: 5))).map(\.leg) == [.unknown])
        #expect(run(&f, packet(6, done(seq: 1, port: 5))).count == 1)
        #expect(run(&f, packet(7, message(type: Self.api, flags: 5, seq: 1, port: 0))).map(\.leg) == [.api])
        #expect(f.statistics.kept == 5 && f.statistics.keptOther == 4 && f.statistics.otherProtocols == 1)
        // nlctrl is a family like the others.
        #expect(run(&f, packet(7, message(type: 0x10, flags: 5, seq: 1, port: 0))).count == 1)
    }

    @Test func dropsTheCapturesOwnLookups() {
        var f = CaptureFilter(flowTableID: Self.api, hairpinID: Self.hairpin, keep: .all, ownPort: 777)
        #expect(run(&f, packet(7, message(type: 0x10, flags: 5, seq: 1, port: 777))).isEmpty)
        #expect(run(&f, packet(6, message(type: 0x10, flags: 0, seq: 1, port: 777))).isEmpty)
        #expect(run(&f, packet(6, ack(requestType: 0x10, seq: 1, port: 777))).isEmpty)
        // Another protocol's socket may have the same port number.
        #expect(run(&f, packet(6, message(type: 16, flags: 0, seq: 1, port: 777), proto: 0)).count == 1)
    }

    @Test func keepsOnlyTheNamedFamilies() {
        var f = CaptureFilter(flowTableID: 0, hairpinID: 0, keep: .only(families: [40], protocols: [0]))
        #expect(run(&f, packet(7, message(type: 40, flags: 5, seq: 2, port: 0))).count == 1)
        #expect(run(&f, packet(7, message(type: 41, flags: 5, seq: 2, port: 0))).isEmpty)
        #expect(run(&f, packet(6, ack(requestType: 40, seq: 2, port: 9))).count == 1)
        #expect(run(&f, packet(6, ack(requestType: 41, seq: 2, port: 9))).isEmpty)
        // A dump of family 40 ends with a DONE that names no family: kept by its port and seq.
        _ = run(&f, packet(6, message(type: 40, flags: Netlink.flagMulti, seq: 8, port: 9)))
        #expect(run(&f, packet(6, done(seq: 8, port: 9))).count == 1)
        #expect(run(&f, packet(6, done(seq: 8, port: 10))).isEmpty)
        // A whole protocol.
        #expect(run(&f, packet(7, message(type: 16, flags: 5, seq: 2, port: 0), proto: 0)).count == 1)
        #expect(run(&f, packet(7, message(type: 16, flags: 5, seq: 2, port: 0), proto: 12)).isEmpty)
    }
}
