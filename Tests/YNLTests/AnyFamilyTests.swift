import AnyFamily
import Foundation
import FlowTrace
import LibFlowTable
import Testing
@testable import YNL

/// Every family of an nlmon capture (issue 16): traces written by the capture's Recorder path
/// (other families on their own interface, the NEWFAMILY of a family met during the capture,
/// rtnetlink with its protocol), read back and named from specs loaded at run time.
@Suite struct AnyFamilyTests {
    static let toyID: UInt16 = 0x22
    static let unknownID: UInt16 = 0x30

    /// A generic family and a netlink-raw (NETLINK_ROUTE) one, in a spec folder of their own.
    static let specs: FamilyCatalog = {
        let dir = NSTemporaryDirectory() + "anyfamily-specs-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let toy = """
            name: toydev
            protocol: genetlink
            attribute-sets:
              - name: dev
                attributes:
                  - { name: id, type: u32 }
                  - { name: name, type: string }
                  - { name: count, type: u64 }
            operations:
              list:
                - name: get
                  value: 1
                  attribute-set: dev
                  do:
                    request: { attributes: [ id ] }
                    reply: { attributes: [ id, name, count ] }
            """
        let raw = """
            name: rt-toy
            protocol: netlink-raw
            protonum: 0
            definitions:
              - name: toymsg
                type: struct
                members:
                  - { name: family, type: u8 }
                  - { name: pad, type: pad, len: 3 }
                  - { name: index, type: s32 }
            attribute-sets:
              - name: link
                attributes:
                  - { name: ifname, type: string, value: 3 }
                  - { name: mtu, type: u32, value: 4 }
            operations:
              enum-model: directional
              fixed-header: toymsg
              list:
                - name: newlink
                  attribute-set: link
                  do:
                    request: { value: 16, attributes: [ ifname, mtu ] }
            """
        try? toy.write(toFile: dir + "/toydev.yaml", atomically: true, encoding: .utf8)
        try? raw.write(toFile: dir + "/rt-toy.yaml", atomically: true, encoding: .utf8)
        return FamilyCatalog(library: YNLSpecLibrary.load([YNLSpecDirectory(path: dir, origin: "--spec-dir")]))
    }()

    static func toyRequest(seq: UInt32, id: UInt32 = 7) -> [UInt8] {
        message(type: toyID, flags: Netlink.flagRequest | Netlink.flagAck, command: 1) { w in w.put(1, u32: id) }
            .withSequence(seq, port: 100)
    }

    /// NLMSG_ERROR, capped, with an extended ACK message when given.
    static func nlmsgerr(_ error: Int32, type: UInt16, seq: UInt32, port: UInt32, text: String? = nil) -> [UInt8] {
        var w = NetlinkWriter(capacity: 128)
        let start = w.beginMessage(
            type: Netlink.typeError, flags: Netlink.flagCapped | (text == nil ? 0 : Netlink.flagAckTLVs),
            sequence: seq, port: port)
        w.appendRaw(error)
        w.appendRaw(UInt32(20)); w.appendRaw(type); w.appendRaw(Netlink.flagRequest | Netlink.flagAck)
        w.appendRaw(seq); w.appendRaw(port)
        if let text { w.put(Netlink.extAckMessage, string: text) }
        w.endMessage(start)
        return w.bytes
    }

    /// The capture's file: frame by frame (numbers as Wireshark counts them).
    static func writeCapture() throws -> String {
        let path = NSTemporaryDirectory() + "anyfamily-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcapng"
        let r = try Recorder(path: path, families: [], recordsAPI: true, recordsOther: true, sessionComment: "test")
        var t: UInt64 = 1_000_000_000
        func put(_ bytes: [UInt8], _ dir: TraceDirection, proto: UInt16 = 16) {
            t += 1000
            bytes.withUnsafeBytes {
                r.record(leg: .unknown, direction: dir, bytes: $0, timestamp: t, netlinkProtocol: proto)
            }
        }
        // 1: toydev named during the capture (as the capture writes it after asking nlctrl).
        r.recordFamily(
            Controller.Family(id: toyID, name: "toydev", version: 1, maxAttr: 3, ops: [(1, 0)]), timestamp: t)
        // 2-4: get, its reply, its ACK.
        put(toyRequest(seq: 1), .toKernel)
        put(
            message(type: toyID, flags: 0, command: 1) { w in
                w.put(1, u32: 7); w.put(2, string: "eth0"); w.put(3, u64: 42)
            }.withSequence(1, port: 100), .toUser)
        put(nlmsgerr(0, type: toyID, seq: 1, port: 100), .toUser)
        // 5-6: a family no NEWFAMILY names and no spec knows, refused with an extended ACK.
        put(
            message(type: unknownID, flags: Netlink.flagRequest | Netlink.flagAck, command: 5) { w in w.put(1, u32: 1) }
                .withSequence(2, port: 200), .toKernel)
        put(nlmsgerr(-2, type: unknownID, seq: 2, port: 200, text: "no such thing"), .toUser)
        // 7-8: rtnetlink RTM_NEWLINK (16, which is nlctrl's id in generic netlink) and its ACK.
        put(
            message(type: 16, flags: Netlink.flagRequest | Netlink.flagAck) { w in
                w.appendRaw(UInt8(0)); w.appendRaw(UInt8(0)); w.appendRaw(UInt16(0)); w.appendRaw(Int32(3))
                w.put(3, string: "dummy0"); w.put(4, u32: 1500)
            }.withSequence(3, port: 300), .toKernel, proto: 0)
        put(nlmsgerr(-17, type: 16, seq: 3, port: 300, text: "link exists"), .toUser, proto: 0)
        // 9: a toydev get whose attribute runs past the message (nla_len 12, 8 bytes left).
        var bad = toyRequest(seq: 4)
        bad[20] = 12
        put(bad, .toKernel)
        // 10: a get that is never answered.
        put(toyRequest(seq: 5, id: 9), .toKernel)
        r.close()
        if let e = r.lastError { throw TraceFileError(.invalidArgument, e) }
        return path
    }

    struct Line {
        var frame: Int
        var text: String
        var json: [JSONMember]
        var call: CallEvent
        var record: StoredTraceRecord
    }

    static func read(_ path: String) throws -> [Line] {
        let reader = try TraceReader(path: path)
        let view = FamilyView(catalog: specs)
        var calls = CallTracker()
        var out: [Line] = []
        while let r = try reader.next() {
            let f = reader.families
            let s = SummaryDecoder.summarize(r.netlink, families: f, netlinkProtocol: r.netlinkProtocol)
            let e = calls.observe(
                s, families: f, timestamp: r.timestamp, frame: reader.frameNumber, synthetic: r.synthetic)
            let text = FamilyView.describes(s, e) ? view.lineText(r, s, e, families: f) : nil
            out.append(
                Line(
                    frame: reader.frameNumber,
                    text: TraceLine.format(s, record: r, leg: .unknown, latency: nil, call: e.call, familyText: text),
                    json: FamilyView.describes(s, e) ? view.jsonMembers(r, s, e, families: f) : [],
                    call: e, record: StoredTraceRecord(r)))
        }
        return out
    }

    @Test func showNamesEveryFamilyAndKeepsTheUnknown() throws {
        let path = try Self.writeCapture()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = try Self.read(path)
        #expect(lines.count == 10, "\(lines.map(\.text))")
        guard lines.count == 10 else { return }
        // The NEWFAMILY is synthetic, on the other families' interface.
        #expect(lines[0].record.synthetic && lines[0].record.interface == Recorder.otherInterface)
        #expect(lines[1].text.hasSuffix("#1     ?       >k toydev get req id=7 seq 1"), "\(lines[1].text)")
        #expect(lines[2].text.contains(">u toydev get rsp id=7 name=eth0 count=42 seq 1"), "\(lines[2].text)")
        #expect(
            lines[3].text.contains("#1     ?       >u ACK toydev get seq 1 OK")
                || lines[3].text.contains("ACK toydev get seq 1"),
            "\(lines[3].text)")
        // Shown by number, not dropped; its error by errno with the extended ACK text.
        #expect(lines[4].text.contains("#2") && lines[4].text.contains("family 0x30 cmd 5 seq 2"), "\(lines[4].text)")
        #expect(lines[5].text.contains("ERROR family 0x30 cmd 5 seq 2 ENOENT \"no such thing\""), "\(lines[5].text)")
        // rtnetlink by protocol and type: its fixed header and attributes.
        #expect(
            lines[6].text.contains("#3") && lines[6].text.contains("rt-toy newlink req index=3 ifname=dummy0 mtu=1500"),
            "\(lines[6].text)")
        #expect(lines[7].text.contains("ERROR rt-toy newlink seq 3 EEXIST \"link exists\""), "\(lines[7].text)")
        // Where the bad attribute is: byte 20, after the netlink and genl headers.
        #expect(
            lines[8].text.contains("toydev get (cannot decode: ") && lines[8].text.contains("at byte 20"),
            "\(lines[8].text)")
        #expect(lines[9].text.contains("toydev get req id=9 seq 5"), "\(lines[9].text)")
        // The call id pairs request and answers in every family.
        #expect(lines[1...3].map(\.call.call) == [1, 1, 1])
        #expect(lines[4...5].map(\.call.call) == [2, 2])
        #expect(lines[6...7].map(\.call.call) == [3, 3])
        #expect(lines[3].call.final && lines[5].call.final && lines[7].call.final)
        #expect(!lines[2].call.final, "the reply of a request that asked for an ACK is not the last answer")
    }

    @Test func jsonCarriesNamesValuesAndErrors() throws {
        let path = try Self.writeCapture()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = try Self.read(path)
        guard lines.count == 10 else { Issue.record("\(lines.count) lines"); return }
        let reply = JSONValue.object(lines[2].json)
        #expect(
            reply["family"] == .string("toydev") && reply["op"] == .string("get") && reply["request"] == .bool(false))
        #expect(reply["attrs"]?["name"] == .string("eth0"))
        #expect(reply["attrs"]?["count"]?.uint64Value == 42)
        let unknown = JSONValue.object(lines[4].json)
        #expect(unknown["family"] == .string("family 0x30") && unknown["spec"] == .bool(false))
        let err = JSONValue.object(lines[7].json)
        #expect(
            err["protocol"]?.uint64Value == 0 && err["call_family"] == .string("rt-toy")
                && err["call_op"] == .string("newlink"))
        #expect(err["errno"] == .string("EEXIST"))
        let link = JSONValue.object(lines[6].json)
        #expect(link["header"]?["index"]?.int64Value == 3)
        let bad = JSONValue.object(lines[8].json)
        #expect(bad["decode_error"]?.stringValue?.contains("at byte 20") == true)
    }

    @Test func statsCountPerFamilyAndListWhatFailed() throws {
        let path = try Self.writeCapture()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try TraceReader(path: path)
        var stats = TraceStats()
        stats.tracksFailures = true
        try stats.add(contentsOf: reader)
        var named: [String: FamilyOperationCounts] = [:]
        for (k, c) in stats.familyOperations {
            let n = Self.specs.names(k)
            named["\(n.family) \(n.operation)"] = c
        }
        #expect(Set(named.keys) == ["toydev get", "family 0x30 cmd 5", "rt-toy newlink"])
        // Three gets (one malformed, counted by its header), two answers of the first.
        #expect(named["toydev get"]?.requests == 3 && named["toydev get"]?.answers == 2)
        #expect(named["family 0x30 cmd 5"]?.errors == [2: 1])
        #expect(named["family 0x30 cmd 5"]?.errorTexts[2] == ["no such thing": 1])
        #expect(named["rt-toy newlink"]?.requests == 1 && named["rt-toy newlink"]?.errors == [17: 1])

        let failed = stats.failedRequests.map {
            (Self.specs.names($0.operation).operation, $0.requestFrame, $0.answerFrame, $0.errno, $0.message)
        }
        #expect(failed.count == 2)
        guard failed.count == 2 else { return }
        #expect(failed[0] == ("cmd 5", 5, 6, 2, "no such thing"))
        #expect(failed[1] == ("newlink", 7, 8, 17, "link exists"))
        // Frames 9 and 10 got no answer (the first one is malformed, still a request).
        #expect(stats.unansweredRequests.map(\.requestFrame) == [9, 10])
        #expect(stats.unansweredRequests.map { Self.specs.names($0.operation).family } == ["toydev", "toydev"])
    }

    @Test func familyByIdRequestAndNewFamilyRecord() throws {
        // What the capture asks nlctrl for a family first seen: CTRL_CMD_GETFAMILY with
        // CTRL_ATTR_FAMILY_ID (1), u16.
        var w = NetlinkWriter(capacity: 64)
        Controller.getFamily(id: 0x2a, sequence: 9, port: 4, into: &w)
        #expect(w.bytes == [28, 0, 0, 0, 0x10, 0, 5, 0, 9, 0, 0, 0, 4, 0, 0, 0, 3, 1, 0, 0, 6, 0, 1, 0, 0x2a, 0, 0, 0])
        // The NEWFAMILY the capture writes names the id for every reader of the file.
        let path = try Self.writeCapture()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try TraceReader(path: path)
        _ = try reader.next()
        #expect(reader.families.name(forID: Self.toyID) == "toydev")
        #expect(reader.families.name(forID: Self.unknownID) == nil)
    }
}

extension Array where Element == UInt8 {
    /// The message with nlmsg_seq and nlmsg_pid set.
    func withSequence(_ seq: UInt32, port: UInt32) -> [UInt8] {
        var b = self
        Swift.withUnsafeBytes(of: seq.littleEndian) { for i in 0..<4 { b[8 + i] = $0[i] } }
        Swift.withUnsafeBytes(of: port.littleEndian) { for i in 0..<4 { b[12 + i] = $0[i] } }
        return b
    }
}
