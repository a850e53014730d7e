import Testing
@testable import LibFlowTable

struct PartsTests {
    /// The rule, on element sizes alone: the part a size would take past the budget starts a
    /// new one, unless the part is empty (an oversized element travels alone).
    @Test func partCutterOpensAPartOnlyPastTheBudgetAndNeverEmpty() {
        var c = PartCutter(budget: 100)
        #expect(!c.partHasElements)
        let opens = [40, 40, 20, 1, 200, 100, 1, 99].map { c.add($0) }
        #expect(opens == [false, false, false, true, true, true, true, false])
        #expect(c.partHasElements)
        var oversized = PartCutter(budget: 10)
        let first = oversized.add(500), second = oversized.add(1)
        #expect(!first)  // the first element never opens a part, whatever its size
        #expect(second)  // and the next one cannot join it
    }

    /// Parts.ranges is the same rule over each flow's encoded size.
    @Test func rangesFollowThePartCutter() {
        let flows = bigBatch(3000).attributes!.flows!
        let budget = 16 * 1024
        var writer = NetlinkWriter(capacity: 1024)
        var cutter = PartCutter(budget: budget)
        var starts: [Int] = [0]
        for (i, f) in flows.enumerated() {
            writer.reset()
            try? FlowTableCodec.encode(f, into: &writer)
            if cutter.add(writer.count) { starts.append(i) }
        }
        let ranges = Parts.ranges(of: flows, budget: budget)
        #expect(ranges.count > 2)
        #expect(ranges.map(\.lowerBound) == starts)
        #expect(ranges.last?.upperBound == flows.count)
    }

    func bigBatch(_ n: Int) -> HairpinEncap {
        var a = FlowTableAttributes.device(3)
        a.errorStrategy = .continueLog
        a.flows = (0..<n).map { i in
            var f = CodecGoldenTests.flow
            f.uid = UInt32(i + 1)
            return f
        }
        return HairpinEncap(command: 6, sequence: 77, attributes: a)
    }

    @Test func largeBatchSplitsUnderTheNestLimitAndReassembles() throws {
        let call = bigBatch(5000)
        let parts = call.parts()
        #expect(parts.count > 1)
        var assembler = EncapAssembler()
        var whole: HairpinEncap?
        for (k, p) in parts.enumerated() {
            #expect(p.part == UInt32(k))
            #expect(p.more == (k < parts.count - 1))
            #expect(p.attributes?.errorStrategy == .continueLog)  // repeats in every part
            // Every part encodes: no nest over 65535 bytes.
            let m = HairpinMessage(
                header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 0, port: 0), command: 3, encap: p)
            let bytes = try m.encoded()
            let back = try HairpinMessage.decode(bytes)
            whole = try assembler.add(try #require(back.encap))
            if k < parts.count - 1 { #expect(whole == nil) }
        }
        #expect(whole == call)
        #expect(assembler.pendingCount == 0)
        // The unsplit call cannot be encoded at all.
        let m = HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 0, port: 0), command: 3, encap: call)
        #expect(throws: EncodeError.self) { try m.encoded() }
    }

    @Test func resultsOnlyAnswerSplits() throws {
        var answer = HairpinEncap(command: 6, status: 0, sequence: 5, attributes: .device(3))
        answer.results = (0..<20000).map { FlowResult(index: UInt32($0), errno: UInt32($0 % 3)) }
        let parts = answer.parts()
        #expect(parts.count > 1)
        var a = EncapAssembler()
        var whole: HairpinEncap?
        for p in parts { whole = try a.add(p) }
        #expect(whole == answer)
    }

    @Test func outOfOrderAndMismatchedPartsFail() {
        let parts = bigBatch(3000).parts()
        #expect(parts.count >= 3)
        var a = EncapAssembler()
        #expect(throws: EncapAssembler.Failure.outOfOrder(sequence: 77, expected: 0, got: 1)) { try a.add(parts[1]) }
        _ = try? a.add(parts[0])
        #expect(throws: EncapAssembler.Failure.outOfOrder(sequence: 77, expected: 1, got: 2)) { try a.add(parts[2]) }
        #expect(a.pendingCount == 0)
        var b = EncapAssembler()
        _ = try? b.add(parts[0])
        var wrong = parts[1]
        wrong.command = 7
        #expect(throws: EncapAssembler.Failure.mismatch(sequence: 77, what: "CMD, CMD_TYPE or STATUS")) {
            try b.add(wrong)
        }
    }

    @Test func smallCallsStayWhole() throws {
        let call = bigBatch(3)
        #expect(call.parts() == [call])
        var a = EncapAssembler()
        #expect(try a.add(call) == call)
    }
}
