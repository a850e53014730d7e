// The twin copies the request's nests into the ENCAP instead of re-encoding the decoded model
// (TwinVerbatim.swift). For any request this project's encoder writes, the two must give the
// same bytes: the hairpin leg of a trace must not depend on which path built it.
#if canImport(Glibc)
import Glibc
#endif
import LibFlowTable
import Testing
@testable import Hairpin

@Suite("Twin ENCAP built verbatim")
struct TwinVerbatimTests {
    func requests() -> [FlowTableMessage] {
        let flows = (1...40).map { testFlow(uid: $0, priority: $0 % 3) }
        var out: [FlowTableMessage] = []
        for strategy in [nil, ErrorStrategy.abort, .continueLog] {
            for command in [NFL.Command.setFlows, .delFlows] {
                var a = FlowTableAttributes.device(ifindex)
                a.errorStrategy = strategy
                a.flows = command == .setFlows ? flows : flows.map { Flow(table: $0.table, uid: $0.uid, priority: 0) }
                out.append(FlowTableMessage(familyID: 0x1c, command: command, isRequest: true, attributes: a))
            }
        }
        // Batches that need parts (the module's cut, PART/MORE), and one filled by its sender
        // up to the budget (its ENCAP then passes it, but its flows make one part).
        var gen = FlowGenerator(model: DefaultModel.model, seed: 3)
        let many = gen.flows(count: 700)
        let firstRange = Parts.ranges(of: many)[0]
        // (An API request's FLOWS nest itself stays within 64 KiB, so two parts at most.)
        for (strategy, batch) in [
            (ErrorStrategy.continueLog, Array(many[0..<(firstRange.count + 6)])),
            (nil, Array(many[firstRange])), (.abort, Array(many[0..<(firstRange.count + 1)])),
        ] {
            var a = FlowTableAttributes.device(ifindex)
            a.errorStrategy = strategy
            a.flows = batch
            out.append(FlowTableMessage(familyID: 0x1c, command: .setFlows, isRequest: true, attributes: a))
        }
        var get = FlowTableAttributes.device(ifindex)
        get.selector = FlowSelector(table: 3, minPriority: 2, maxPriority: 9)
        out.append(FlowTableMessage(familyID: 0x1c, command: .getFlows, isRequest: true, attributes: get))
        for command in [NFL.Command.getTables, .getHeaders, .getTableGraph] {
            out.append(
                FlowTableMessage(familyID: 0x1c, command: command, isRequest: true, attributes: .device(ifindex)))
        }
        return out
    }

    /// Flows in the first part of the 700-flow batch.
    var firstBatchSize: Int {
        var gen = FlowGenerator(model: DefaultModel.model, seed: 3)
        return Parts.ranges(of: gen.flows(count: 700))[0].count
    }

    /// A twin that is not started (its encoders are what is tested), in a fresh directory;
    /// `cleanUp` stops it and removes its files.
    func idleTwin() throws -> (UnftTwin, cleanUp: () -> Void) {
        let dir = try tempDirectory("ftv")
        let paths = TwinSocketPaths(directory: dir)
        let twin: UnftTwin
        do { twin = try UnftTwin(UnftTwin.Configuration(paths: paths)) } catch {
            rmdir(dir)
            throw error
        }
        let cleanUp = {
            twin.stop()
            unlink(paths.api)
            unlink(paths.hairpin)
            rmdir(dir)
        }
        return (twin, cleanUp)
    }

    @Test func verbatimEqualsReencoding() throws {
        let (twin, cleanUp) = try idleTwin()
        defer { cleanUp() }
        for (k, message) in requests().enumerated() {
            let bytes = try message.encoded()
            var a = try FlowTableMessage.decode(bytes).attributes
            if UnftTwin.isBatch(message.command) && a.errorStrategy == nil { a.errorStrategy = .abort }
            let built = bytes.withUnsafeBytes {
                twin.encodeEncapVerbatim(
                    command: message.command, sequence: UInt64(k + 1), identifierType: a.identifierType,
                    identifier: a.identifier, errorStrategy: a.errorStrategy, request: $0)
            }
            #expect(built, "request \(k) fell back to re-encoding")
            let verbatim = twin.writer.bytes
            try twin.encodeEncap(HairpinEncap(command: UInt32(message.command), sequence: UInt64(k + 1), attributes: a))
            #expect(verbatim == twin.writer.bytes, "request \(k) (command \(message.command))")
            #expect(!verbatim.isEmpty)
            let messages = try netlinkMessages(verbatim)
            let parts = message.attributes.flows.map { Parts.ranges(of: $0).count } ?? 1
            #expect(messages.count == parts, "request \(k): \(messages.count) messages, \(parts) parts")
            if message.attributes.flows?.count ?? 0 > firstBatchSize { #expect(messages.count == 2) }
        }
    }

    func netlinkMessages(_ bytes: [UInt8]) throws -> [[UInt8]] {
        try bytes.withUnsafeBytes { raw in
            var it = NetlinkMessageIterator(raw)
            var out: [[UInt8]] = []
            while let m = try it.next() { out.append([UInt8](m.bytes)) }
            return out
        }
    }

    @Test func unalignedNestFallsBackToTheModel() throws {
        // A GET_FLOWS whose FLOWS nest ends in an unpadded 2-byte attribute: legal netlink, but
        // copying it would misalign what follows, so the twin must refuse the verbatim path.
        var w = NetlinkWriter(capacity: 128)
        let start = w.beginMessage(type: 0x1c, flags: 1, sequence: 1, port: 0)
        w.genericHeader(command: NFL.Command.getFlows.rawValue, version: NFL.version)
        w.put(NFL.Attr.identifierType, u32: NFL.IdentifierType.ifindex)
        w.put(NFL.Attr.identifier, u32: ifindex)
        w.endMessage(start)
        var bytes = w.bytes
        // FLOWS{TABLE u32, 2 odd bytes}: nla_len 4 + 8 + 6 = 18, payload 14 bytes.
        bytes += [18, 0, 8, 0x80, 8, 0, 1, 0, 3, 0, 0, 0, 6, 0, 9, 0, 1, 2, 0, 0]
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32($0.count), toByteOffset: 0, as: UInt32.self) }
        let (twin, cleanUp) = try idleTwin()
        defer { cleanUp() }
        let built = bytes.withUnsafeBytes {
            twin.encodeEncapVerbatim(
                command: NFL.Command.getFlows.rawValue, sequence: 1,
                identifierType: NFL.IdentifierType.ifindex, identifier: ifindex,
                errorStrategy: nil, request: $0)
        }
        #expect(!built)
        #expect(twin.writer.count == 0)
    }
}
