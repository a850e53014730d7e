// The generic netlink transport against the kernel's own nlctrl family, which every Linux
// kernel has: no unft module needed. Checks what the tools rely on: the port id, whole packets,
// capped errors with the extended-ack text (like the twin's), MSG_TRUNC detection, timeouts.
// Skipped, with the reason, where generic netlink sockets are not allowed.

#if canImport(Glibc)
import Glibc
#endif
import Testing
import LibFlowTable
@testable import Hairpin
import Posix

enum GenlAvailability {
    /// nil when a generic netlink socket can be opened here, else why not.
    static let problem: String? = {
        do {
            let t = try GenlSocketTransport()
            t.close()
            return nil
        } catch {
            let text = "generic netlink sockets are not available here (\(error)): GenlSocketTransport tests skipped"
            print(text)
            return text
        }
    }()
}

@Suite(
    "Generic netlink transport (nlctrl)",
    .enabled(
        if: GenlAvailability.problem == nil,
        "generic netlink sockets are not available on this host"))
struct GenlSocketTests {
    /// CTRL_CMD_GETFAMILY for `name` as raw bytes.
    func getFamily(_ name: String, sequence: UInt32) -> [UInt8] {
        var w = NetlinkWriter(capacity: 64)
        Controller.getFamily(name, sequence: sequence, port: 0, into: &w)
        return w.bytes
    }

    /// Every message of one received packet: (header, the packet's bytes of it).
    func messages(_ bytes: ArraySlice<UInt8>) throws -> [(NetlinkHeader, [UInt8])] {
        try Array(bytes).withUnsafeBytes { raw in
            var it = NetlinkMessageIterator(raw)
            var out: [(NetlinkHeader, [UInt8])] = []
            while let m = try it.next() { out.append((m.header, Array(m.bytes))) }
            return out
        }
    }

    @Test func resolvesNlctrlThroughTheClient() throws {
        let t = try GenlSocketTransport()
        defer { t.close() }
        #expect(t.port != 0)
        #expect(t.fileDescriptor >= 0)
        #expect(t.receiveBufferBytes > 0)
        var buffer: [UInt8] = []
        let f = try FlowTableClient.lookupFamily("nlctrl", over: t, sequence: 7, timeout: 5, buffer: &buffer)
        #expect(f.id == Controller.familyID)
        #expect(f.name == "nlctrl")
        #expect(!f.ops.isEmpty)
        // A family that does not exist: the client's own error, as with the twin.
        do {
            _ = try FlowTableClient.lookupFamily("flowtrace_none", over: t, sequence: 8, timeout: 5, buffer: &buffer)
            Issue.record("found a family that does not exist")
        } catch {
            guard case .familyNotFound("flowtrace_none") = error else {
                Issue.record("unexpected error \(error)")
                return
            }
        }
    }

    @Test func replyThenAckCarryOurPortAndSequence() throws {
        let t = try GenlSocketTransport()
        defer { t.close() }
        let request = getFamily("nlctrl", sequence: 4242)
        try request.withUnsafeBytes { try t.send($0) }
        var seen: [NetlinkHeader] = []
        var buffer: [UInt8] = []
        while !seen.contains(where: { $0.type == Netlink.typeError }) {
            let n = try t.receive(into: &buffer, timeout: 5)
            #expect(buffer.count >= GenlSocketTransport.receiveBufferSize)
            seen += try messages(buffer[0..<n]).map(\.0)
        }
        #expect(seen.count == 2)
        #expect(seen.allSatisfy { $0.sequence == 4242 && $0.port == t.port })
        #expect(seen.first?.type == Controller.familyID)
    }

    @Test func errorsAreCappedWithExtendedAckText() throws {
        let t = try GenlSocketTransport()
        defer { t.close() }
        // A family name longer than GENL_NAMSIZ fails nlctrl's policy: EINVAL with a text.
        let request = getFamily(String(repeating: "x", count: 40), sequence: 99)
        try request.withUnsafeBytes { try t.send($0) }
        var buffer: [UInt8] = []
        let n = try t.receive(into: &buffer, timeout: 5)
        let all = try messages(buffer[0..<n])
        #expect(all.count == 1)
        guard let (header, bytes) = all.first else { return }
        #expect(header.type == Netlink.typeError)
        #expect(header.flags & Netlink.flagCapped != 0, "NETLINK_CAP_ACK: the request is not echoed")
        #expect(header.flags & Netlink.flagAckTLVs != 0, "NETLINK_EXT_ACK: TLVs follow")
        // Capped: nlmsgerr is the error and the request's header only, so the TLVs start right
        // after it (uncapped, the request's genl header and attributes would be there).
        #expect(bytes.count > 40)
        if bytes.count > 40 {
            let tlvType = UInt16(bytes[38]) | UInt16(bytes[39]) << 8
            #expect((1...6).contains(tlvType & 0x3fff), "an extended-ack attribute at byte 36")
        }
        let ack = try bytes.withUnsafeBytes { raw -> NetlinkAck in
            var it = NetlinkMessageIterator(raw)
            guard let m = try it.next() else { throw TestFailure("no message") }
            return try NetlinkAck.decode(m)
        }
        #expect(ack.error == -EINVAL)
        #expect(ack.request.sequence == 99)
        #expect(ack.message?.isEmpty == false)

        // The same through the client: the errno and the text reach the caller.
        do {
            _ = try FlowTableClient.lookupFamily(
                String(repeating: "y", count: 40), over: t, sequence: 100,
                timeout: 5, buffer: &buffer)
            Issue.record("an over-long name was accepted")
        } catch {
            guard case let .familyLookupFailed(_, e, message) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(e == EINVAL)
            #expect(message?.isEmpty == false)
        }
    }

    @Test func withoutCapAckTheRequestIsEchoed() throws {
        let t = try GenlSocketTransport(capAck: false)
        defer { t.close() }
        let request = getFamily(String(repeating: "x", count: 40), sequence: 5)
        try request.withUnsafeBytes { try t.send($0) }
        var buffer: [UInt8] = []
        let n = try t.receive(into: &buffer, timeout: 5)
        let all = try messages(buffer[0..<n])
        guard let (header, bytes) = all.first else { Issue.record("no answer"); return }
        #expect(header.flags & Netlink.flagCapped == 0)
        #expect(bytes.count >= request.count + 20)
        // The decoder skips the echoed request and still finds the text.
        let ack = try bytes.withUnsafeBytes { raw -> NetlinkAck in
            var it = NetlinkMessageIterator(raw)
            guard let m = try it.next() else { throw TestFailure("no message") }
            return try NetlinkAck.decode(m)
        }
        #expect(ack.error == -EINVAL)
        #expect(ack.message?.isEmpty == false)
    }

    @Test func truncatedPacketIsReportedWithItsLength() throws {
        let t = try GenlSocketTransport()
        defer { t.close() }
        try getFamily("nlctrl", sequence: 1).withUnsafeBytes { try t.send($0) }
        var small = [UInt8](repeating: 0, count: 16)
        let outcome: Result<Int, TransportError> = small.withUnsafeMutableBytes { raw in
            do throws(TransportError) { return .success(try t.receive(into: raw, timeout: 5)) } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .success:
            Issue.record("a large reply fit 16 bytes")
        case let .failure(error):
            guard case let .truncated(n) = error else { Issue.record("unexpected error \(error)"); return }
            #expect(n > 16)
            // The first bytes are the reply's header.
            #expect(
                small.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt16.self) } == Controller.familyID)
        }
    }

    @Test func receiveTimesOutWhenNothingComes() throws {
        let t = try GenlSocketTransport()
        defer { t.close() }
        var buffer: [UInt8] = []
        let start = MonotonicClock.now()
        #expect(throws: TransportError.timedOut) { _ = try t.receive(into: &buffer, timeout: 0.05) }
        let elapsed = Double(MonotonicClock.now() - start) / 1e9
        #expect(elapsed >= 0.04 && elapsed < 2)
    }

    @Test func closedTransportRefusesToWork() throws {
        let t = try GenlSocketTransport()
        t.close()
        t.close()
        var buffer: [UInt8] = []
        #expect(throws: TransportError.closed) { _ = try t.receive(into: &buffer, timeout: 0) }
        #expect(throws: TransportError.closed) {
            try [UInt8](repeating: 0, count: 20).withUnsafeBytes { try t.send($0) }
        }
    }

    @Test func deviceNames() {
        #expect(GenlSocketTransport.ifindex(ofDevice: "lo") == 1)
        #expect(GenlSocketTransport.ifindex(ofDevice: "flowtrace-none0") == nil)
        #expect(GenlSocketTransport.ifindex(ofDevice: "") == nil)
        #expect(GenlSocketTransport.ifindex(ofDevice: String(repeating: "a", count: 40)) == nil)
        #expect(GenlSocketTransport.ifindex(ofDevice: "a/b") == nil)
        #expect(GenlSocketTransport.ifindex(ofDevice: "lo\u{0}x") == nil)
    }
}
