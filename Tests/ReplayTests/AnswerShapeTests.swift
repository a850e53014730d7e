// The backend replay's shortcut (AnswerShapes) must conclude exactly what the general path
// concludes: "equal" exactly when the normalised bytes are equal, and the same reports whether
// shapes are used or not. (ENCAP headers are read by LibFlowTable's EncapHeader, tested there.)

import Foundation
import Testing
import FlowTrace
import Hairpin
import LibFlowTable
@testable import Replay

/// Every hairpin ENCAP message of a trace, with the family table in force.
private func hairpinMessages(_ path: String, limit: Int = .max) throws -> [(bytes: [UInt8], families: FamilyTable)] {
    let reader = try TraceReader(path: path)
    var out: [(bytes: [UInt8], families: FamilyTable)] = []
    while let r = try reader.next(), out.count < limit {
        guard let id = reader.families.hairpinID, !r.synthetic else { continue }
        for m in Messages(r.netlink) where m.count >= 16 && m.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == id {
            out.append(([UInt8](m), reader.families))
        }
    }
    return out
}

@Suite("replay: answer shapes") struct AnswerShapeTests {
    /// A shape says "equal" exactly when the normaliser's copies are equal, for every single
    /// byte changed anywhere in the recorded answer or in the produced one.
    @Test func aShapeMatchesExactlyWhatNormalisesToIt() throws {
        let messages = try hairpinMessages(try Fixtures.generated.get())
        let answers = messages.filter { m in m.bytes.withUnsafeBytes { EncapHeader.peek($0)?.status != nil } }
        #expect(answers.count > 100)
        var shaped = 0, equalVerdicts = 0
        let produced = Normalizer(flowTableID: nil, hairpinID: Normalizer.canonicalHairpinID)
        for (i, (recorded, families)) in answers.prefix(80).enumerated() {
            guard let id = families.hairpinID else { continue }
            let recordedNormalizer = Normalizer(families: families)
            // The listener's answer: the canonical family id, other seq, port and ENCAP SEQ.
            var mine = recorded
            mine.withUnsafeMutableBytes { b in
                b.storeBytes(of: Normalizer.canonicalHairpinID, toByteOffset: 4, as: UInt16.self)
                b.storeBytes(of: UInt32(777), toByteOffset: 8, as: UInt32.self)
                b.storeBytes(of: UInt32(4242), toByteOffset: 12, as: UInt32.self)
                if let x = EncapHeader.peek(UnsafeRawBufferPointer(b))?.sequenceOffset {
                    b.storeBytes(of: UInt64(0xdead_beef), toByteOffset: x, as: UInt64.self)
                }
            }
            let shapes = AnswerShapes()
            let s = mine.withUnsafeBytes { shapes.learn(produced: $0, evicting: { _ in }) }
            let readable = mine.withUnsafeBytes { EncapHeader.peek($0) } != nil
            guard s >= 0 else {
                #expect(!readable || mine.count > AnswerShapes.maxBytes, "answer \(i) has a SEQ but no shape")
                continue
            }
            shaped += 1
            let shape = [UInt8](shapes.bytes(s))
            #expect(shape == produced.normalized(mine.withUnsafeBytes { $0 }))
            #expect(recorded.withUnsafeBytes { shapes.matches(recorded: $0, shape: s) })
            for k in recorded.indices {
                for flip: UInt8 in [0xff, 0x01] {
                    var q = recorded
                    q[k] ^= flip
                    let fast = q.withUnsafeBytes { b in
                        b.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == id
                            && shapes.matches(recorded: b, shape: s)
                    }
                    let slow = q.withUnsafeBytes { recordedNormalizer.normalized($0) } == shape
                    #expect(
                        fast == slow,
                        "answer \(i), recorded byte \(k) ^ \(flip): shape says \(fast), normaliser \(slow)")
                    if slow { equalVerdicts += 1 }
                    var p = mine
                    p[k] ^= flip
                    let matched = p.withUnsafeBytes { shapes.match(produced: $0) }
                    let same = p.withUnsafeBytes { produced.normalized($0) } == shape
                    #expect((matched == s) == same, "answer \(i), produced byte \(k) ^ \(flip)")
                }
            }
        }
        // Flips in nlmsg_seq, nlmsg_pid and the SEQ payload are equal; all others are not.
        #expect(shaped > 20 && equalVerdicts >= shaped * 2 * 16)
    }

    /// A trace whose recorded answers were altered in each way that matters: the report is the
    /// same with shapes and without.
    @Test(arguments: [BackendKind.hash, .dummy])
    func reportsAreTheSameWithAndWithoutShapes(_ backend: BackendKind) throws {
        let dir = try TempDir()
        let source = dir.file("single.pcapng")
        var o = GenOptions(flows: 400, seed: 5)
        o.batch = 1
        o.churn = 0.5
        o.reads = 0.1
        o.errors = 0.05
        o.devices = 2
        _ = try TraceGenerator.write(to: source, options: o)
        // Successful single-flow answers, changed: the 5th in nlmsg_seq (still equal), the 9th
        // in its ATTR (differs), the 14th in its SEQ (now answers no call), the 20th in status.
        let altered = dir.file("altered.pcapng")
        var seen = 0
        let n = try rewrite(source, to: altered) { r, families in
            guard !r.synthetic, r.direction == .toKernel, let id = families.hairpinID, r.netlink.count > 40,
                r.netlink.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: 4, as: UInt16.self) }) == id,
                let head = r.netlink.withUnsafeBytes({ EncapHeader.peek($0) }), head.status == 0
            else { return false }
            seen += 1
            switch seen {
            case 5: r.netlink[8] ^= 0x55
            case 9: r.netlink[r.netlink.count - 1] ^= 0x01
            case 14: r.netlink[head.sequenceOffset] ^= 0x01
            case 20:
                guard
                    let at = r.netlink.withUnsafeBytes({ b -> Int? in
                        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: b[20...]), baseOffset: 20)
                        while let a = try? it.next() {
                            guard a.type == NFLH.Attr.encap else { continue }
                            var inner = a.nested()
                            while let e = try? inner.next() {
                                if e.type == NFLH.EncapAttr.status { return e.payloadOffset }
                            }
                        }
                        return nil
                    })
                else { return false }
                r.netlink[at] = 17
            default: return false
            }
            return true
        }
        #expect(n == 4)
        for path in [source, altered, try Fixtures.generated.get(), try Fixtures.demo.get()] {
            for preload in [false, true] {
                let with = try replay(path, .backend(backend), preload: preload)
                let without = try replay(path, .backend(backend), preload: preload) { $0.answerShapes = false }
                #expect(
                    with.calls == without.calls && with.compared == without.compared
                        && with.divergent == without.divergent && with.unverified == without.unverified
                        && with.strayAnswers == without.strayAnswers && with.messages == without.messages, "\(path)")
                #expect(with.first?.text() == without.first?.text(), "\(path)")
                #expect(
                    with.later.map { "\($0.call) \($0.frame) \($0.reason)" }
                        == without.later.map { "\($0.call) \($0.frame) \($0.reason)" })
                #expect(with.notes == without.notes)
                if path == altered && backend == .hash {
                    // The nlmsg_seq change is normalised away; ATTR and status differ; the
                    // changed SEQ leaves its call unanswered and its answer stray.
                    #expect(with.divergent == 2 && with.strayAnswers == 1 && with.unverified == 1, "\(with.text())")
                }
                if path == source && backend == .hash { #expect(with.divergent == 0 && with.compared == with.calls) }
            }
        }
    }
}

/// TraceReader.skipping passes over exactly what Replayer.backendRecords drops, and nothing
/// else changes: the records kept, their numbers, the family ids, errors and truncation, on
/// whole files and on damaged copies of them.
@Suite("replay: skipping unread records") struct SkippingTests {
    struct Outcome: Equatable {
        var kept: [String] = []
        var end = ""
    }

    static func read(_ path: String, skipping: Bool) -> Outcome {
        var out = Outcome()
        do {
            let reader = try TraceReader(path: path)
            if skipping { reader.skipping = Replayer.backendSkip }
            while let r = try reader.next() {
                guard Replayer.backendRecords(r) else {
                    #expect(
                        !skipping || FamilyTableProbe.mayTeach(r),
                        "record \(reader.recordCount) should have been passed over")
                    continue
                }
                out.kept.append(
                    "\(reader.recordCount) \(r.timestamp) \(r.leg) \(r.direction) \(r.pairing ?? 0) \(r.synthetic) "
                        + "\(r.comment ?? "-") \(Hex.encode(Array(r.netlink))) \(reader.families.hairpinID ?? 0) \(reader.families.flowTableID ?? 0)"
                )
            }
            out.end = "end \(reader.recordCount) \(reader.truncation.map { "\($0)" } ?? "-") \(reader.skippedPackets)"
        } catch {
            out.end = "error \(error)"
        }
        return out
    }

    /// The fixtures, a classic pcap copy and 24 damaged copies (cut short, bits flipped).
    static func files(in dir: TempDir) throws -> [String] {
        var files = [try Fixtures.demo.get(), try Fixtures.generated.get()]
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for name in ["demo-session", "batched-session", "error-session", "error-session-acked-answers"] {
            files.append(root.appendingPathComponent("traces/\(name).pcapng").path)
        }
        // Classic pcap (no options, so no legs: only the ACK test applies), through the real editcap.
        let pcap = dir.file("demo.pcap")
        let converted = try run("/usr/bin/editcap", ["-F", "pcap", files[0], pcap])
        #expect(converted.status == 0, "\(converted.stderr)")
        files.append(pcap)
        // Damaged copies: cut short, and bytes changed in the packet blocks' headers and options.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: files[1])))
        var seed: UInt64 = 0x5eed
        func random(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        for k in 0..<24 {
            var b = bytes
            if k % 3 == 0 {
                b = Array(b.prefix(1000 + random(b.count - 1000)))
            } else {
                for _ in 0..<(1 + k % 4) { b[2000 + random(b.count - 2000)] ^= UInt8(1 << random(8)) }
            }
            let f = dir.file("damaged-\(k).pcapng")
            try Data(b).write(to: URL(fileURLWithPath: f))
            files.append(f)
        }
        return files
    }

    @Test func theSameRecordsNumbersAndErrors() throws {
        let dir = try TempDir()
        let files = try Self.files(in: dir)
        var kept = 0
        for f in files {
            let plain = Self.read(f, skipping: false)
            let skipped = Self.read(f, skipping: true)
            #expect(plain == skipped, "\(f): \(plain.end) / \(skipped.end)")
            kept += plain.kept.count
        }
        #expect(kept > 1000)
    }
}

/// FamilyTable.mayTeach is internal to FlowTrace: the same test, for the expectation above.
enum FamilyTableProbe {
    static func mayTeach(_ r: TraceRecord) -> Bool {
        guard r.netlinkProtocol == NetlinkPseudoHeader.protocolGeneric else { return false }
        guard r.netlink.count >= Netlink.headerLength else { return true }
        let length = Int(r.netlink.loadUnaligned(as: UInt32.self))
        let type = r.netlink.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        return type == Controller.familyID || Netlink.align(length) < r.netlink.count
    }
}
