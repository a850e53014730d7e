// TraceStats.otherFamilyRecord, stats' per-family coverage: each record of another family is
// handed on with its 1-based frame number, so what stats says of it (a message its spec cannot
// decode) names where it is.

import Testing
import LibFlowTable
@testable import FlowTrace

@Suite struct OtherFamilyRecordTests {
    @Test func recordsComeWithTheirFrames() throws {
        let dir = try TempDir()
        let path = dir.file("other.pcapng")
        let r = try Recorder(path: path, families: [], recordsAPI: true, recordsOther: true, sessionComment: "t")
        var t: UInt64 = 1_000_000_000
        for seq: UInt32 in [7, 8] {
            t += 1000
            ProcessCallTests.request(seq: seq, port: 100).withUnsafeBytes {
                r.record(leg: .unknown, direction: .toKernel, bytes: $0, timestamp: t, comment: nil)
            }
        }
        r.close()
        // The frames as the reader numbers them (the preamble comes first).
        var frames: [Int] = []
        let again = try TraceReader(path: path)
        while let rec = try again.next() { if !rec.synthetic { frames.append(again.frameNumber) } }
        var stats = TraceStats()
        var seen: [(frame: Int, seq: UInt32)] = []
        stats.otherFamilyRecord = { netlink, _, _, frame in
            seen.append((frame, netlink.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        }
        try stats.add(contentsOf: TraceReader(path: path))
        #expect(frames.count == 2)
        #expect(seen.map(\.seq) == [7, 8])
        #expect(seen.map(\.frame) == frames)
    }
}
