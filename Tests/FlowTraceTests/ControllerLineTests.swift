// What show prints for nlctrl's messages: GETFAMILY and NEWFAMILY by name, as the audit's
// control exchanges name them (one naming for both).

import Testing
import LibFlowTable
@testable import FlowTrace

@Suite struct ControllerLineTests {
    static func line(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { b in
            let s = SummaryDecoder.summarize(b, families: FamilyTable())
            let r = TraceRecord(timestamp: 1, direction: .toKernel, netlink: b)
            return TraceLine.format(s, record: r, leg: .unknown, latency: nil)
        }
    }

    @Test func getFamilyAndNewFamilyByName() {
        var w = NetlinkWriter()
        Controller.getFamily("devlink", sequence: 1, port: 0, into: &w)
        let get = Self.line(w.bytes)
        #expect(get.contains("nlctrl GETFAMILY"), "\(get)")
        var n = NetlinkWriter()
        Controller.newFamily(.flowTable(id: 0x20), sequence: 1, port: 7, into: &n)
        let new = Self.line(n.bytes)
        #expect(new.contains("nlctrl NEWFAMILY"), "\(new)")
        var o = NetlinkWriter()
        let s = o.beginMessage(type: Controller.familyID, flags: Netlink.flagRequest, sequence: 2, port: 0)
        o.genericHeader(command: 10, version: 2)
        o.endMessage(s)
        let other = Self.line(o.bytes)
        #expect(other.contains("nlctrl cmd 10"), "\(other)")
    }
}
