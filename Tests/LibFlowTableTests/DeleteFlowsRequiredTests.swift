import Testing
@testable import LibFlowTable

/// A DEL_FLOWS request names a flow by TABLE and UID alone (the spec's hints,
/// operations.del-flows.required); every other message's FLOW still needs PRIORITY.
struct DeleteFlowsRequiredTests {
    let preamble = [Wire.u32(1, 1), Wire.u32(2, 7)]
    let full = Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 1), Wire.u32(4, 9)])
    let noPriority = Wire.nest(1, [Wire.u32(2, 1), Wire.u32(3, 2)])

    func request(cmd: UInt8) -> [UInt8] {
        Wire.genl(type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: cmd, preamble + [Wire.nest(8, [full, noPriority])])
    }

    @Test func deleteWithoutPriorityDecodesAndChecks() throws {
        let bytes = request(cmd: NFL.Command.delFlows.rawValue)
        let m = try FlowTableMessage.decode(bytes)
        #expect(m.attributes.flows?.map(\.uid) == [1, 2])
        #expect(m.attributes.flows?.map(\.priority) == [9, 0])
        let s = try bytes.withUnsafeBytes { b throws(DecodeError) in try FlowTableMessage.check(b) }
        #expect(s.flowCount == 2)
        // Still required on delete: UID.
        let noUID = Wire.genl(
            type: 0x1c, flags: 5, seq: 1, pid: 1, cmd: NFL.Command.delFlows.rawValue,
            preamble + [Wire.nest(8, [Wire.nest(1, [Wire.u32(2, 1)])])])
        #expect(throws: DecodeError(.missingAttribute("UID"), at: 40, path: ["FLOWS", "FLOW[0]"])) {
            try FlowTableMessage.decode(noUID)
        }
    }

    @Test func setWithoutPriorityFails() {
        let bytes = request(cmd: NFL.Command.setFlows.rawValue)
        let offset = 20 + 16 + 4 + full.count
        let text = "FLOWS.FLOW[1] at byte \(offset): required attribute PRIORITY is missing"
        do {
            _ = try FlowTableMessage.decode(bytes)
            Issue.record("decoded")
        } catch { #expect("\(error)" == text) }
        do {
            _ = try bytes.withUnsafeBytes { b throws(DecodeError) in try FlowTableMessage.check(b) }
            Issue.record("checked")
        } catch { #expect("\(error)" == text) }
    }
}
