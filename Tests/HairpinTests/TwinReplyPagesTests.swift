// GET_FLOWS reply pages are cut from the listener's FLOW elements copied verbatim, by the
// module's rule (kmod/unft_parts.c unft_reply_pages: at most UNFT_PAGE_FLOWS = 4096 bytes of
// padded FLOW elements per page, a larger flow alone, no flows = one empty page). For our
// daemon's answers every page must be byte-identical to the page the old path (decode, then
// FlowTableCodec.encode of the same flows: UnftTwin.putFlowsPage) writes for those flows.
import Foundation
import LibFlowTable
import Testing
@testable import Hairpin

@Suite("Twin GET_FLOWS reply pages, verbatim")
struct TwinReplyPagesTests {
    let header = NetlinkHeader(type: 0x1c, flags: 0, sequence: 77, port: 4242)

    /// UNFT_PAGE_FLOWS as kmod/unft.h defines it: the cut is checked against the module's
    /// number, not the twin's copy of it.
    static let modulePageFlows: Int = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let header = (try? String(contentsOf: root.appendingPathComponent("kmod/unft.h"), encoding: .utf8)) ?? ""
        for line in header.split(separator: "\n") where line.hasPrefix("#define UNFT_PAGE_FLOWS") {
            if let n = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap({ Int($0) }) { return n }
        }
        return -1
    }()

    @Test func twinUsesTheModulesPageSize() {
        #expect(Self.modulePageFlows == 4096 && UnftTwin.pageFlowBytes == Self.modulePageFlows)
    }

    /// ENCAP answer messages as the daemon writes them, `split` flows per part.
    func answers(_ flows: [Flow], split: Int) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = 0
        let parts = flows.isEmpty ? 1 : (flows.count + split - 1) / split
        for k in 0..<parts {
            var a = FlowTableAttributes.device(ifindex)
            a.flows = Array(flows[start..<min(start + split, flows.count)])
            start += split
            let e = HairpinEncap(
                command: UInt32(NFL.Command.getFlows.rawValue), status: 0, sequence: 9, attributes: a,
                part: parts > 1 ? UInt32(k) : nil, more: k < parts - 1)
            let m = HairpinMessage(
                header: NetlinkHeader(type: 0x1d, flags: 0, sequence: 1, port: 0),
                command: NFLH.Command.encap.rawValue, encap: e)
            out.append(try m.encoded())
        }
        return out
    }

    /// The FLOW elements' padded sizes in a page's FLOWS.
    func elementSizes(_ page: [UInt8]) -> [Int] {
        page.withUnsafeBytes { b in
            let top = Netlink.headerLength + Netlink.genericHeaderLength
            guard let r = UnftTwin.child(b, top..<b.count, NFL.Attr.flows) else { return [-1] }
            var sizes: [Int] = []
            var off = r.lowerBound
            while r.upperBound - off >= 4 {
                let n = Netlink.align(Int(b.loadUnaligned(fromByteOffset: off, as: UInt16.self)))
                sizes.append(n)
                off += n
            }
            return sizes
        }
    }

    func check(_ flows: [Flow], split: Int) throws {
        var collected: [UInt8] = []
        for m in try answers(flows, split: split) {
            try m.withUnsafeBytes { b in
                let r = try #require(UnftTwin.answerFlowsRange(b) ?? (flows.isEmpty ? 0..<0 : nil))
                #expect(UnftTwin.appendFlowElements(b, r, to: &collected))
            }
        }
        var pages: [[UInt8]] = []
        try collected.withUnsafeBytes { b in
            var i = 0
            repeat {
                var w = NetlinkWriter()
                i = try UnftTwin.putVerbatimFlowsPage(
                    b, from: i, into: &w, header: header,
                    command: NFL.Command.getFlows.rawValue, ifindex: ifindex)
                pages.append(w.bytes)
            } while i < b.count
        }
        // Same bytes as the old path for the same flows, page by page.
        var next = 0
        for (k, page) in pages.enumerated() {
            let sizes = elementSizes(page)
            let inPage = flows.isEmpty ? 0 : sizes.count
            var w = NetlinkWriter(), scratch = NetlinkWriter()
            let end = try UnftTwin.putFlowsPage(
                Array(flows[next..<(next + inPage)]), from: 0, into: &w,
                scratch: &scratch, header: header,
                command: NFL.Command.getFlows.rawValue, ifindex: ifindex,
                flags: Netlink.flagMulti, budget: Int.max)
            #expect(end == inPage)
            #expect(w.bytes == page, "page \(k) differs from the re-encoded one")
            // The module's cut: within 4096 bytes unless one flow alone; the next flow did not fit.
            let used = sizes.reduce(0, +)
            #expect(used <= Self.modulePageFlows || sizes.count == 1)
            if next + inPage < flows.count, let following = elementSizes(pages[k + 1]).first {
                #expect(used + following > Self.modulePageFlows)
            }
            next += inPage
        }
        #expect(next == flows.count)
        #expect(pages.count >= 1)
    }

    @Test func smallFlowsManyPages() throws {
        try check((1...300).map { testFlow(uid: $0, priority: $0 % 5) }, split: 300)
    }

    @Test func generatedFlowsInParts() throws {
        var gen = FlowGenerator(model: DefaultModel.model, seed: 11)
        try check(gen.flows(count: 700), split: 150)
    }

    @Test func noFlowsGiveOneEmptyPage() throws {
        try check([], split: 1)
    }

    @Test func aFlowBiggerThanAPageGetsItsOwn() throws {
        var big = testFlow(uid: 5)
        var gen = FlowGenerator(model: DefaultModel.model, seed: 5)
        // Many matches make one flow larger than 4096 bytes.
        let donors = gen.flows(count: 100)
        big.matches = donors.flatMap { $0.matches ?? [] }
        try check([testFlow(uid: 1), big, testFlow(uid: 9)], split: 3)
    }

    @Test func malformedElementsAreRefused() {
        // A FLOW element whose length runs past its nest: not copied (no trap).
        let bytes: [UInt8] = [8, 0, 1, 0, 0, 0, 0, 0, 40, 0, 1, 0]
        var out: [UInt8] = []
        bytes.withUnsafeBytes { b in
            #expect(!UnftTwin.appendFlowElements(b, 0..<b.count, to: &out))
            #expect(UnftTwin.answerFlowsRange(b) == nil)
        }
    }
}
