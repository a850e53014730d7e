import Testing
@testable import LibFlowTable

struct ControllerTests {
    @Test func newFamilyHasTheKernelLayoutWithoutNestedFlags() throws {
        var w = NetlinkWriter()
        Controller.newFamily(.flowTable(id: 0x1c), sequence: 1, port: 5, into: &w)
        let bytes = w.bytes
        // Header: type 0x10 (nlctrl), cmd 1 (NEWFAMILY) version 2.
        #expect(Array(bytes[4..<6]) == [0x10, 0x00])
        #expect(Array(bytes[16..<18]) == [1, 2])
        // First attribute: FAMILY_NAME "net_flow_nl\0" (16 bytes incl. header).
        #expect(Array(bytes[20..<24]) == [16, 0, 2, 0])
        // No attribute type anywhere carries NLA_F_NESTED (0x8000): the OPS nest starts with 0x0006.
        let family = try bytes.withUnsafeBytes { raw in try Controller.decodeFamily(try NetlinkMessageView.single(raw))
        }
        #expect(family == .flowTable(id: 0x1c))
        #expect(family.ops.count == 8)
        #expect(family.ops.allSatisfy { $0.flags == 0x0b })
        var nestedFlag = false
        bytes.withUnsafeBytes { raw in
            var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: raw[20...]), baseOffset: 20)
            while let a = try? it.next() { if a.isNestedFlagSet { nestedFlag = true } }
        }
        #expect(!nestedFlag)
    }

    @Test func getFamilyNamesTheFamily() throws {
        var w = NetlinkWriter()
        Controller.getFamily("nfl_hairpin", sequence: 9, port: 3, into: &w)
        let name = try w.bytes.withUnsafeBytes { raw in
            try Controller.decodeFamilyName(try NetlinkMessageView.single(raw))
        }
        #expect(name == "nfl_hairpin")
    }
}
