// The call id and the process (issue 16, spec/trace-format.md "Calls" rule 6): a netlink port is
// reused once its process exits, so the process `flowtrace capture` names in each record's
// comment keeps two processes' calls apart; `stats --by-process` counts from the same call ids.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

@Suite struct ProcessCallTests {
    static let family: UInt16 = 0x30
    static let port: UInt32 = 100

    static func request(seq: UInt32, port: UInt32, dump: Bool = false) -> [UInt8] {
        var w = NetlinkWriter()
        let flags = Netlink.flagRequest | (dump ? Netlink.flagDump : Netlink.flagAck)
        let s = w.beginMessage(type: family, flags: flags, sequence: seq, port: port)
        w.genericHeader(command: 1, version: 1)
        w.put(1, u32: 7)
        w.endMessage(s)
        return w.bytes
    }

    static func reply(seq: UInt32, multi: Bool) -> [UInt8] {
        var w = NetlinkWriter()
        let s = w.beginMessage(type: family, flags: multi ? Netlink.flagMulti : 0, sequence: seq, port: port)
        w.genericHeader(command: 1, version: 1)
        w.put(1, u32: 8)
        w.endMessage(s)
        return w.bytes
    }

    static func ack(seq: UInt32, error: Int32 = 0) -> [UInt8] {
        var w = NetlinkWriter()
        let s = w.beginMessage(type: Netlink.typeError, flags: Netlink.flagCapped, sequence: seq, port: port)
        w.appendRaw(error)
        w.appendRaw(UInt32(20)); w.appendRaw(family); w.appendRaw(Netlink.flagRequest | Netlink.flagAck)
        w.appendRaw(seq); w.appendRaw(UInt32(0))
        w.endMessage(s)
        return w.bytes
    }

    static func done(seq: UInt32) -> [UInt8] {
        var w = NetlinkWriter()
        let s = w.beginMessage(type: Netlink.typeDone, flags: Netlink.flagMulti, sequence: seq, port: port)
        w.appendRaw(Int32(0))
        w.endMessage(s)
        return w.bytes
    }

    static let a = "pid 10 (old-tool)", b = "pid 20 (new-tool)"

    /// An nlmon capture, frame by frame: process A on port 100 asks (seq 7) and exits
    /// unanswered; process B is given port 100, asks with nlmsg_pid 0 and the same seq, and is
    /// answered on port 100; then B dumps (seq 8: two replies and NLMSG_DONE) and gets an
    /// error (seq 9). Requests sent with nlmsg_pid 0 carry no port, so no process.
    static func capture(comments: Bool, dir: TempDir) throws -> String {
        let path = dir.file(comments ? "named.pcapng" : "bare.pcapng")
        let r = try Recorder(path: path, families: [], recordsAPI: true, recordsOther: true, sessionComment: "t")
        var t: UInt64 = 1_000_000_000
        func put(_ bytes: [UInt8], _ dir: TraceDirection, _ comment: String?) {
            t += 1000
            bytes.withUnsafeBytes {
                r.record(leg: .unknown, direction: dir, bytes: $0, timestamp: t, comment: comments ? comment : nil)
            }
        }
        put(request(seq: 7, port: port), .toKernel, a)  // 1: A, never answered
        put(request(seq: 7, port: 0), .toKernel, nil)  // 2: B
        put(ack(seq: 7), .toUser, b)  // 3: B's ACK
        put(request(seq: 8, port: 0, dump: true), .toKernel, nil)  // 4: B's dump
        put(reply(seq: 8, multi: true), .toUser, b)  // 5
        put(reply(seq: 8, multi: true), .toUser, b)  // 6
        put(done(seq: 8), .toUser, b)  // 7
        put(request(seq: 9, port: port), .toKernel, b)  // 8: B, refused
        put(ack(seq: 9, error: -22), .toUser, b)  // 9
        r.close()
        if let e = r.lastError { throw TraceFileError(.invalidArgument, e) }
        return path
    }

    /// The call id of each record, as `flowtrace show` gives it.
    static func calls(_ path: String) throws -> [Int] {
        let reader = try TraceReader(path: path)
        var tracker = CallTracker()
        var out: [Int] = []
        while let r = try reader.next() {
            let s = SummaryDecoder.summarize(r.netlink, families: reader.families, netlinkProtocol: r.netlinkProtocol)
            let e = tracker.observe(
                s, families: reader.families, timestamp: r.timestamp, frame: reader.frameNumber,
                synthetic: r.synthetic, process: r.comment.flatMap(NetlinkProcess.init(comment:))?.pid)
            out.append(e.call)
        }
        return out
    }

    @Test func aReusedPortDoesNotPairWithTheGoneProcess() throws {
        let dir = try TempDir()
        let path = try Self.capture(comments: true, dir: dir)
        #expect(try Self.calls(path) == [1, 2, 2, 3, 3, 3, 3, 4, 4])

        // stats (the same pass --failed and --by-process use): A's request got no answer.
        let reader = try TraceReader(path: path)
        var stats = TraceStats()
        stats.tracksFailures = true
        try stats.add(contentsOf: reader)
        #expect(stats.unansweredRequests.map(\.requestFrame) == [1])
        #expect(stats.failedRequests.map { [$0.requestFrame, $0.answerFrame, Int($0.errno ?? 0)] } == [[8, 9, 22]])
    }

    @Test func withoutCommentsTheIdsAreAsBefore() throws {
        let dir = try TempDir()
        // No process known: B's ACK takes the open call of port 100, A's.
        #expect(try Self.calls(Self.capture(comments: false, dir: dir)) == [1, 2, 1, 3, 3, 3, 3, 4, 4])
    }

    @Test func byProcessCountsEachRequestForItsProcess() throws {
        let dir = try TempDir()
        let path = try Self.capture(comments: true, dir: dir)
        var fast = TraceStats()
        fast.tracksProcesses = true
        try fast.add(contentsOf: TraceReader(path: path))
        // The record-by-record entry gives the same counts and hands back each call event.
        var each = TraceStats()
        each.tracksProcesses = true
        let reader = try TraceReader(path: path)
        var ids: [Int] = []
        while let r = try reader.next() {
            ids.append(each.add(r, families: reader.families, frame: reader.frameNumber).call)
        }
        #expect(ids == [1, 2, 2, 3, 3, 3, 3, 4, 4])
        var want = [NetlinkProcess: ProcessCounts]()
        want[NetlinkProcess(pid: 10, command: "old-tool")] = ProcessCounts(messages: 1, requests: 1, errors: 0)
        want[NetlinkProcess(pid: 20, command: "new-tool")] = ProcessCounts(messages: 8, requests: 3, errors: 1)
        #expect(fast.processes == want)
        #expect(each.processes == want)
    }

    /// `genl` asks nlctrl with nlmsg_pid 0, so only the answers name it: its GETFAMILY, the
    /// NEWFAMILY reply and the ACK are one call, as any family's, and count for it.
    @Test func nlctrlRequestsAreCallsOfTheirProcess() throws {
        let dir = try TempDir()
        let path = dir.file("genl.pcapng")
        let r = try Recorder(path: path, families: [], recordsAPI: true, recordsOther: true, sessionComment: "t")
        var t: UInt64 = 1_000_000_000
        func put(_ bytes: [UInt8], _ dir: TraceDirection, _ comment: String?) {
            t += 1000
            bytes.withUnsafeBytes { r.record(leg: .unknown, direction: dir, bytes: $0, timestamp: t, comment: comment) }
        }
        func newFamily(seq: UInt32, port: UInt32) -> [UInt8] {
            var w = NetlinkWriter()
            let s = w.beginMessage(type: Controller.familyID, flags: 0, sequence: seq, port: port)
            w.genericHeader(command: 1, version: 2)
            w.put(2, string: "toy")
            w.endMessage(s)
            return w.bytes
        }
        var w = NetlinkWriter(capacity: 64)
        Controller.getFamily(id: Self.family, sequence: 1, port: 0, into: &w)
        let genl = "pid 30 (genl)"
        put(w.bytes, .toKernel, nil)  // 1: GETFAMILY, nlmsg_pid 0
        put(newFamily(seq: 1, port: Self.port), .toUser, genl)  // 2
        var ack = Self.ack(seq: 1)
        ack[24] = UInt8(Controller.familyID)  // the echoed header's type
        put(ack, .toUser, genl)  // 3
        put(newFamily(seq: 0, port: 0), .toUser, nil)  // 4: the kernel's notification
        put(Self.request(seq: 2, port: Self.port), .toKernel, genl)  // 5
        put(Self.ack(seq: 2), .toUser, genl)  // 6
        r.close()
        #expect(try Self.calls(path) == [1, 1, 1, 0, 2, 2])

        var stats = TraceStats()
        stats.tracksProcesses = true
        try stats.add(contentsOf: TraceReader(path: path))
        #expect(stats.processes == [NetlinkProcess(pid: 30, command: "genl"): ProcessCounts(messages: 5, requests: 2)])
        let nlctrl = stats.familyOperations.filter { $0.key.family == "nlctrl" }
        #expect(nlctrl.count == 1 && nlctrl.first?.value.requests == 1 && nlctrl.first?.value.answers == 2)
        #expect(nlctrl.first?.key.command == Controller.Command.getFamily)
    }
}
