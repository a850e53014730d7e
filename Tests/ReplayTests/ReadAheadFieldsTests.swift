// The reading thread's closure-free path (ReadAheadSource(path:dropping:), built on
// TraceReader.nextFields) hands on what the closure path (filter: Replayer.backendRecords)
// does: the same records, numbers, family tables, errors and truncation notes.

import Foundation
import FlowTrace
import LibFlowTable
import Testing
@testable import Replay

extension SkippingTests {
    static func drain(_ s: RecordSource) -> Outcome {
        var out = Outcome()
        do {
            while let r = try s.next() {
                out.kept.append(
                    "\(s.recordNumber) \(r.timestamp) \(r.leg) \(r.direction) \(r.pairing ?? 0) \(r.synthetic) "
                        + "\(r.netlinkProtocol) \(Hex.encode(Array(r.netlink))) \(s.families.hairpinID ?? 0) \(s.families.flowTableID ?? 0)"
                )
            }
            out.end = "end \(s.recordNumber) \(s.truncationNote ?? "-")"
        } catch {
            out.end = "error \(error)"
        }
        return out
    }

    @Test func droppingKeepsWhatTheFilterKeeps() throws {
        let dir = try TempDir()
        var kept = 0
        var errors = 0
        var truncations = 0
        // And one that certainly fails: a block length that is not a multiple of 4, mid-file
        // (the bit flips of `files` mostly land in data and options, which read without error).
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixtures.generated.get())))
        var off = 0
        while off + 8 <= whole.count && off < whole.count / 2 {
            let len =
                Int(whole[off + 4]) | Int(whole[off + 5]) << 8 | Int(whole[off + 6]) << 16 | Int(whole[off + 7]) << 24
            guard len >= 12 else { break }
            off += len
        }
        var bad = whole
        bad[off + 4] = 13
        let badPath = dir.file("bad-length.pcapng")
        try Data(bad).write(to: URL(fileURLWithPath: badPath))
        for f in try Self.files(in: dir) + [badPath] {
            // Small chunks: records cross chunk boundaries.
            let closure = Self.drain(
                try ReadAheadSource(path: f, filter: Replayer.backendRecords, chunkBytes: 64 * 1024, depth: 2))
            let fields = Self.drain(
                try ReadAheadSource(path: f, dropping: Replayer.backendSkip, chunkBytes: 64 * 1024, depth: 2))
            #expect(closure == fields, "\(f): \(closure.end) / \(fields.end)")
            kept += fields.kept.count
            if fields.end.hasPrefix("error") { errors += 1 } else if !fields.end.hasSuffix(" -") { truncations += 1 }
        }
        #expect(kept > 1000)
        // The damaged copies reach both ends: errors and truncation.
        #expect(errors > 0 && truncations > 0, "errors \(errors), truncations \(truncations)")
    }

    @Test func nextFieldsIsNextWithoutTheRecord() throws {
        let dir = try TempDir()
        var compared = 0
        for f in try Self.files(in: dir) {
            func read(_ fieldsOnly: Bool) -> [String] {
                var out: [String] = []
                do {
                    let reader = try TraceReader(path: f)
                    reader.skipping = Replayer.backendSkip
                    while true {
                        if fieldsOnly {
                            guard let r = try reader.nextFields() else { break }
                            out.append(
                                "\(reader.recordCount) \(r.timestamp) \(r.leg) \(r.direction) \(r.pairing ?? 0) \(r.synthetic) \(r.netlinkProtocol) \(Hex.encode(Array(r.netlink))) \(reader.families.hairpinID ?? 0)"
                            )
                        } else {
                            guard let r = try reader.next() else { break }
                            out.append(
                                "\(reader.recordCount) \(r.timestamp) \(r.leg) \(r.direction) \(r.pairing ?? 0) \(r.synthetic) \(r.netlinkProtocol) \(Hex.encode(Array(r.netlink))) \(reader.families.hairpinID ?? 0)"
                            )
                        }
                    }
                    out.append(
                        "end \(reader.recordCount) \(reader.truncation.map { "\($0)" } ?? "-") \(reader.skippedPackets)"
                    )
                } catch {
                    out.append("error \(error)")
                }
                return out
            }
            let plain = read(false)
            #expect(plain == read(true), "\(f)")
            compared += plain.count
        }
        #expect(compared > 1000)
    }
}
