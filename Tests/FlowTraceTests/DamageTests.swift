// (c) Files cut short and files with hostile lengths: the reader returns every whole record
// before the damage, then a truncation notice or an error naming the byte; it never crashes
// or hangs.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

struct TruncationTests {
    @Test func everyCutPointOfAPcapngFile() throws {
        let dir = try TempDir()
        let path = dir.file("whole.pcapng")
        let (records, bytes, blocks) = try writeSmallTrace(path)
        #expect(blocks.count == 3 + records.count)
        #expect(blocks.last.map { $0.offset + $0.length } == bytes.count)
        let boundaries = Set(blocks.map { $0.offset + $0.length })
        let cutPath = dir.file("cut.pcapng")
        for cut in 0...bytes.count {
            try writeBytes(Array(bytes.prefix(cut)), to: cutPath)
            let r = readTrace(cutPath)
            if cut == 0 {
                #expect(r.error?.message.contains("empty") == true)
                continue
            }
            // Whole records before the cut, none after it.
            let whole = blocks.filter { $0.type == 6 && $0.offset + $0.length <= cut }.count
            #expect(r.error == nil, "cut \(cut): \(String(describing: r.error))")
            #expect(r.records == Array(records.prefix(whole)), "cut \(cut)")
            if boundaries.contains(cut) {
                #expect(r.truncation == nil, "cut \(cut) is at a block boundary")
            } else {
                let t = try #require(r.truncation, "cut \(cut)")
                #expect(t.fileEnd == UInt64(cut))
                let block = try #require(blocks.first { $0.offset < cut && cut < $0.offset + $0.length })
                #expect(t.blockOffset == UInt64(block.offset))
                // A section header's length can be read only with its byte-order magic (byte 8-11).
                if cut - block.offset >= (block.type == 0x0A0D_0D0A ? 12 : 8) {
                    #expect(t.declaredLength == UInt64(block.length))
                    #expect(
                        t.description.contains(
                            "truncated at byte \(cut) (block of type 0x\(String(block.type, radix: 16)) at byte \(block.offset) declared \(block.length) bytes"
                        ))
                }
                if cut - block.offset >= 4 { #expect(t.blockType == block.type) }
            }
        }
    }

    @Test func cutsOfAClassicPcapFile() throws {
        let dir = try TempDir()
        let path = dir.file("c.pcap")
        let records = try Sample.conversation(calls: 1)
        let bytes = ClassicPcapBuilder(bigEndian: false, nanosecond: true).file(records)
        try writeBytes(bytes, to: path)
        var ends: [Int] = []
        var o = 24
        for r in records { o += 16 + 16 + r.netlink.count; ends.append(o) }
        #expect(o == bytes.count)
        for cut in 1...bytes.count {
            try writeBytes(Array(bytes.prefix(cut)), to: path)
            let r = readTrace(path)
            #expect(r.error == nil, "cut \(cut)")
            let whole = ends.filter { $0 <= cut }.count
            #expect(r.records.count == whole, "cut \(cut)")
            #expect(r.records.map(\.netlink) == records.prefix(whole).map(\.netlink))
            #expect((r.truncation == nil) == (cut == 24 || ends.contains(cut)), "cut \(cut)")
            if let t = r.truncation { #expect(t.fileEnd == UInt64(cut)) }
        }
    }
}

struct HostileInputTests {
    /// A valid file and the offset of its 3rd EPB (the 1st after SHB, 2 IDBs and 2 EPBs).
    func sample() throws -> (
        bytes: [UInt8], records: [StoredTraceRecord], target: (offset: Int, type: UInt32, length: Int)
    ) {
        let dir = try TempDir()
        let path = dir.file("h.pcapng")
        let records = try Sample.conversation(calls: 2)
        try writeTrace(path, records)
        let bytes = try fileBytes(path)
        let blocks = blockLayout(bytes)
        return (bytes, records, blocks[5])
    }

    func patch32(_ b: inout [UInt8], at o: Int, _ v: UInt32) {
        for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    func read(_ bytes: [UInt8]) throws -> ReadResult {
        let dir = try TempDir()
        let path = dir.file("x.pcapng")
        try writeBytes(bytes, to: path)
        return readTrace(path)
    }

    /// Reads the damaged file: the 2 records before the damage, then an error at `offset`.
    func expectError(
        _ bytes: [UInt8], at offset: Int, containing text: String, before records: [StoredTraceRecord],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let r = try read(bytes)
        #expect(r.records == Array(records.prefix(2)), sourceLocation: sourceLocation)
        let e = try #require(r.error, sourceLocation: sourceLocation)
        #expect(e.offset == UInt64(offset), "\(e)", sourceLocation: sourceLocation)
        #expect(e.message.contains(text), "\(e)", sourceLocation: sourceLocation)
        #expect(e.description.contains("at byte \(offset)"), sourceLocation: sourceLocation)
    }

    @Test func blockLengthsBelowTwelveOrNotAMultipleOfFour() throws {
        let (bytes, records, t) = try sample()
        for bad: UInt32 in [0, 4, 8, 11] {
            var b = bytes
            patch32(&b, at: t.offset + 4, bad)
            try expectError(b, at: t.offset, containing: "less than a block's 12", before: records)
        }
        for bad: UInt32 in [13, 14, UInt32(t.length + 1), 0xffff_fffe] {
            var b = bytes
            patch32(&b, at: t.offset + 4, bad)
            try expectError(b, at: t.offset, containing: "not a multiple of 4", before: records)
        }
    }

    @Test func blockLengthBeyondTheLimit() throws {
        let (bytes, records, t) = try sample()
        var b = bytes
        patch32(&b, at: t.offset + 4, 0xffff_fff0)
        try expectError(b, at: t.offset, containing: "more than the", before: records)
    }

    @Test func blockLengthLargerThanTheFileIsACut() throws {
        // Indistinguishable from a file cut inside this block: both lose only this block
        // and the rest of the file, and the notice names where the block starts.
        let (bytes, records, t) = try sample()
        var b = bytes
        patch32(&b, at: t.offset + 4, UInt32(bytes.count * 2))
        let r = try read(b)
        #expect(r.records == Array(records.prefix(2)))
        let trunc = try #require(r.truncation)
        #expect(trunc.blockOffset == UInt64(t.offset))
        #expect(trunc.declaredLength == UInt64(bytes.count * 2))
    }

    @Test func trailingLengthMismatch() throws {
        let (bytes, records, t) = try sample()
        var b = bytes
        patch32(&b, at: t.offset + t.length - 4, UInt32(t.length + 4))
        try expectError(b, at: t.offset, containing: "trailing length says \(t.length + 4)", before: records)
        // A shorter leading length that lands on a different trailer word fails the same way.
        var c = bytes
        patch32(&c, at: t.offset + 4, UInt32(t.length - 4))
        try expectError(c, at: t.offset, containing: "trailing length", before: records)
    }

    @Test func capturedLengthOverflowingTheBlock() throws {
        let (bytes, records, t) = try sample()
        for bad: UInt32 in [UInt32(t.length), 0xffff_ffff, 0x8000_0000] {
            var b = bytes
            patch32(&b, at: t.offset + 20, bad)
            try expectError(b, at: t.offset + 20, containing: "captures \(bad) bytes", before: records)
        }
    }

    @Test func optionLengthOverflowingTheBlock() throws {
        let (bytes, records, t) = try sample()
        // The first option follows the padded packet data.
        let caplen = Int(bytes[t.offset + 20]) | Int(bytes[t.offset + 21]) << 8
        let optionAt = t.offset + 28 + ((caplen + 3) & ~3)
        #expect(bytes[optionAt] == 2 && bytes[optionAt + 2] == 4)  // epb_flags, 4 bytes
        var b = bytes
        b[optionAt + 2] = 0xf0
        b[optionAt + 3] = 0xff
        try expectError(b, at: optionAt, containing: "option 2 declares 65520 bytes", before: records)
        // A wrong-sized epb_flags is named too.
        var c = bytes
        c[optionAt + 2] = 2
        try expectError(c, at: optionAt, containing: "epb_flags is 2 bytes", before: records)
    }

    @Test func packetForAMissingInterface() throws {
        let (bytes, records, t) = try sample()
        var b = bytes
        patch32(&b, at: t.offset + 8, 7)
        try expectError(b, at: t.offset + 8, containing: "interface 7, but the section has 2", before: records)
    }

    @Test func badSectionHeaders() throws {
        let (bytes, _, _) = try sample()
        var magic = bytes
        patch32(&magic, at: 8, 0x1234_5678)
        var r = try read(magic)
        #expect(r.records.isEmpty && r.error?.offset == 8 && r.error?.message.contains("magic") == true)

        var version = bytes
        version[12] = 2
        r = try read(version)
        #expect(r.error?.kind == .unsupported && r.error?.message.contains("version 2.0") == true)

        // An IDB first: "not a pcapng file" at byte 0 (the sniffer already wants 0a0d0d0a).
        let idbFirst = Array(bytes[blockLayout(bytes)[1].offset...])
        r = try read(idbFirst)
        #expect(r.error?.offset == 0)

        // A section header too short for its fixed fields.
        var short: [UInt8] = [0x0a, 0x0d, 0x0d, 0x0a, 16, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 16, 0, 0, 0]
        r = try read(short)
        #expect(r.error?.message.contains("less than the 28") == true)
        short[4] = 12
        short[12] = 12
        r = try read(Array(short.prefix(12)) + [12, 0, 0, 0])
        #expect(r.error != nil)
    }

    @Test func hostileClassicPcap() throws {
        let records = try Sample.conversation(calls: 1)
        var bytes = ClassicPcapBuilder(bigEndian: false, nanosecond: false).file(records)
        let second = 24 + 16 + 16 + records[0].netlink.count
        patch32(&bytes, at: second + 8, 0xffff_fff0)
        let r = try read(bytes)
        #expect(r.records.count == 1)
        #expect(r.error?.offset == UInt64(second + 8))
        #expect(r.error?.message.contains("more than the") == true)

        var version = ClassicPcapBuilder(bigEndian: false, nanosecond: false).file(records)
        version[4] = 3
        #expect(try read(version).error?.kind == .unsupported)
    }

    /// Random damage: flipped bytes, stamped lengths, cuts. Whatever the result, the reader
    /// must come back (no trap, no endless loop) with records, a notice or an error.
    @Test func randomDamageNeverCrashes() throws {
        let (bytes, _, _) = try sample()
        var rng = SplitMix(seed: 0x5eed)
        let dir = try TempDir()
        let path = dir.file("fuzz.pcapng")
        var outcomes = [0, 0, 0]
        for round in 0..<1500 {
            var b = bytes
            let edits = 1 + Int(rng.next() % 4)
            for _ in 0..<edits where !b.isEmpty {
                let at = Int(rng.next() % UInt64(b.count))
                switch rng.next() % 3 {
                case 0: b[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                case 1:
                    // Stamp a hostile 32-bit value (lengths live on 4-byte boundaries).
                    let o = at & ~3
                    if o + 4 <= b.count {
                        let v = [0, 1, 12, 0xffff_ffff, 0x7fff_fffc, UInt32(b.count), 0x10000][Int(rng.next() % 7)]
                        patch32(&b, at: o, v)
                    }
                default: b = Array(b.prefix(at))
                }
            }
            if b.isEmpty { continue }
            try writeBytes(b, to: path)
            let r = readTrace(path, options: .init(chunkSize: 4096))
            if r.error != nil {
                outcomes[2] += 1
            } else if r.truncation != nil {
                outcomes[1] += 1
            } else {
                outcomes[0] += 1
            }
            _ = round
        }
        // All three outcomes occur, so the damage reached every path.
        #expect(outcomes.allSatisfy { $0 > 0 }, "\(outcomes)")
    }
}

/// A small deterministic generator (the tests must be repeatable).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
