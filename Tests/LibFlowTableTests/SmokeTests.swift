import Testing
@testable import LibFlowTable

@Test func alignment() {
    #expect(Netlink.align(5) == 8)
}
