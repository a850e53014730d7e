// unft's twin decodes a GET_FLOWS answer with its FLOWS checked, not decoded
// (HairpinMessage.decode(answerFlowsChecked: true)); the flows' bytes go verbatim into the
// reply pages. For valid and malformed answers both ways must give the same verdict and, on
// failure, the very same DecodeError (the text the listener gets back, the client's -EINVAL text).
import Testing
@testable import LibFlowTable

struct EncapAnswerCheckTests {
    static func answer(_ r: inout SplitMix64, flows: Int) throws -> [UInt8] {
        var a = FlowTableAttributes(identifierType: 1, identifier: 1000)
        a.flows = (0..<flows).map { _ in RandomModel.flow(&r) }
        let e = HairpinEncap(
            command: UInt32(NFL.Command.getFlows.rawValue), status: 0, sequence: r.next(),
            attributes: a, part: flows % 3 == 0 ? 1 : nil, more: flows % 4 == 0)
        return try HairpinMessage(
            header: NetlinkHeader(type: 0x1d, flags: 1, sequence: 3, port: 0),
            command: NFLH.Command.encap.rawValue, encap: e
        ).encoded()
    }

    static func both(_ bytes: [UInt8]) -> (Result<HairpinMessage, DecodeError>, Result<HairpinMessage, DecodeError>) {
        func run(_ checked: Bool) -> Result<HairpinMessage, DecodeError> {
            bytes.withUnsafeBytes { raw in
                do throws(DecodeError) {
                    return .success(
                        try HairpinMessage.decode(
                            try NetlinkMessageView.single(raw), familyID: 0x1d,
                            answerFlowsChecked: checked))
                } catch { return .failure(error) }
            }
        }
        return (run(false), run(true))
    }

    @Test func checkedAndDecodedAnswersAgree() throws {
        var r = SplitMix64(seed: 0xA45E)
        var ok = 0, refused = 0
        for i in 0..<800 {
            let bytes = try Self.answer(&r, flows: Int(r.next() % 6))
            for j in 0..<7 {
                let b = j == 0 ? bytes : FlowTableCheckTests.mutate(bytes, &r)
                switch Self.both(b) {
                case let (.failure(a), .failure(c)):
                    #expect(a == c && a.description == c.description, "answer \(i) mutation \(j): \(a) vs \(c)")
                    refused += 1
                case let (.success(m), .success(c)):
                    let x = m.encap, y = c.encap
                    #expect(
                        x?.sequence == y?.sequence && x?.status == y?.status && x?.part == y?.part
                            && x?.more == y?.more && x?.command == y?.command, "answer \(i) mutation \(j)")
                    #expect(
                        x?.attributes?.identifier == y?.attributes?.identifier
                            && (x?.attributes?.flows?.isEmpty ?? true) == (y?.attributes?.flows?.isEmpty ?? true)
                            && (x?.attributes?.flows == nil) == (y?.attributes?.flows == nil),
                        "answer \(i) mutation \(j)")
                    ok += 1
                case let (a, c):
                    Issue.record("answer \(i) mutation \(j): decoded \(a), checked \(c)")
                }
            }
        }
        #expect(ok > 800 && refused > 2000, "\(ok) accepted, \(refused) refused")
    }
}
