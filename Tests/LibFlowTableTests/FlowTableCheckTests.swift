// The check-only walk (FlowTableMessage.check, used by unft's twin) against the typed decoder
// it replaces there: for generated valid messages of every command and direction, and for
// many malformed ones made from them, both must give the same verdict, and on failure the
// very same DecodeError (reason, byte offset, attribute path: the extended-ack text).
import Testing
@testable import LibFlowTable

struct FlowTableCheckTests {
    enum Verdict: Equatable {
        case ok
        case error(DecodeError)
    }

    struct Tally {
        var ok = 0
        var errors = 0
        var kinds: Set<String> = []
    }

    /// Both ways over `bytes`; records a mismatch; returns the verdict.
    @discardableResult
    static func compare(
        _ bytes: [UInt8], familyID: UInt16?, requireShape: Bool, tally: inout Tally,
        _ what: @autoclosure () -> String
    ) -> Verdict {
        let decoded: Result<FlowTableMessage, DecodeError> = bytes.withUnsafeBytes { raw in
            do throws(DecodeError) {
                return .success(try FlowTableMessage.decode(raw, familyID: familyID, requireShape: requireShape))
            } catch { return .failure(error) }
        }
        let checked: Result<FlowTableMessageSummary, DecodeError> = bytes.withUnsafeBytes { raw in
            do throws(DecodeError) {
                return .success(try FlowTableMessage.check(raw, familyID: familyID, requireShape: requireShape))
            } catch { return .failure(error) }
        }
        switch (decoded, checked) {
        case let (.failure(a), .failure(b)):
            #expect(a == b, "\(what()): decoder says \(a), walk says \(b)")
            #expect(a.description == b.description)
            tally.errors += 1
            tally.kinds.insert("\(a.reason)".prefix { $0 != "(" }.description)
            return .error(a)
        case let (.success(m), .success(s)):
            let a = m.attributes
            #expect(s.header == m.header && s.command == m.command && s.version == m.version, "\(what())")
            #expect(s.identifierType == a.identifierType && s.identifier == a.identifier, "\(what())")
            #expect(s.errorStrategy == a.errorStrategy, "\(what())")
            #expect(s.hasFlows == (a.flows != nil) && s.flowCount == (a.flows?.count ?? 0), "\(what())")
            #expect(s.selector == a.selector, "\(what())")
            tally.ok += 1
            return .ok
        case let (.failure(a), .success):
            Issue.record("\(what()): decoder fails (\(a)), the walk accepts")
        case let (.success, .failure(b)):
            Issue.record("\(what()): decoder accepts, the walk fails (\(b))")
        }
        return .ok
    }

    static func randomMessage(_ r: inout SplitMix64) -> FlowTableMessage {
        let cmd = NFL.Command.allCases[Int(r.next() % UInt64(NFL.Command.allCases.count))]
        let isRequest = r.next() % 4 != 0
        let layout = FlowsLayout.of(command: cmd.rawValue, isRequest: isRequest)
        var a: FlowTableAttributes
        if r.next() % 3 == 0 {
            a = RandomModel.attributes(&r, layout: layout)
        } else {
            // Shaped like real traffic: a preamble and the command's payload only, so many
            // pass the shape rules (and their mutations go deep into flows).
            a = FlowTableAttributes(identifierType: 1, identifier: RandomModel.u32(&r))
            switch FlowTableAttributes.payload(command: cmd, isRequest: isRequest) {
            case .flows: a.flows = (0..<Int(1 + r.next() % 6)).map { _ in RandomModel.flow(&r) }
            case .selector:
                a.selector = FlowSelector(
                    table: RandomModel.u32(&r), minPriority: RandomModel.maybe(&r, RandomModel.u32))
            case .tables: a.tables = RandomModel.list(&r, max: 2, RandomModel.table)
            case .headers: a.headers = RandomModel.list(&r, max: 2, RandomModel.header)
            case .actions: a.actions = RandomModel.list(&r, max: 2, RandomModel.action)
            case .headerGraph: a.headerGraph = RandomModel.list(&r, max: 2, RandomModel.headerNode)
            case .tableGraph: a.tableGraph = RandomModel.list(&r, max: 2, RandomModel.tableNode)
            case .none: break
            }
            if isRequest && (cmd == .setFlows || cmd == .delFlows) && r.next() % 2 == 0 {
                a.errorStrategy = ErrorStrategy(rawValue: UInt32(r.next() % 6))
            }
        }
        return FlowTableMessage(
            familyID: 0x1c, command: cmd, isRequest: isRequest,
            sequence: UInt32(truncatingIfNeeded: r.next()), attributes: a)
    }

    /// One malformation of a valid message.
    static func mutate(_ bytes: [UInt8], _ r: inout SplitMix64) -> [UInt8] {
        var b = bytes
        let attrs = AttributeIterator.headerOffsets(ofGenericMessage: b)
        func fixLength() {
            let n = UInt32(b.count)
            for i in 0..<4 { b[i] = UInt8(truncatingIfNeeded: n >> (8 * UInt32(i))) }
        }
        guard let at = attrs.isEmpty ? nil : attrs[Int(r.next() % UInt64(attrs.count))] else {
            b[Int(r.next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: r.next() | 1)
            return b
        }
        let len = Int(b[at]) | Int(b[at + 1]) << 8
        switch r.next() % 9 {
        case 0:  // another type: unknown, repeated, missing, NEXT_NODE in a match…
            b[at + 2] = UInt8(r.next() % 12)
        case 1:  // a length a little off
            let d = [-5, -4, -1, 1, 3, 4, 8][Int(r.next() % 7)]
            let n = max(0, min(0xFFFF, len + d))
            b[at] = UInt8(n & 0xFF)
            b[at + 1] = UInt8(n >> 8)
        case 2:  // a payload byte: a NUL or non-UTF-8 in a string, another value
            if len > 4 { b[at + 4 + Int(r.next() % UInt64(len - 4))] = [0, 0xC3, 0xFF, 0x80, 1][Int(r.next() % 5)] }
        case 3:  // truncated here, nlmsg_len kept consistent (or not)
            b.removeSubrange((at + Int(r.next() % UInt64(len)))...)
            if r.next() % 4 != 0 { fixLength() }
        case 4:  // the attribute removed, its parents not told
            b.removeSubrange(at..<min(b.count, at + ((len + 3) & ~3)))
            fixLength()
        case 5:  // the attribute twice in a row, parents not told
            let copy = Array(b[at..<min(b.count, at + ((len + 3) & ~3))])
            b.insert(contentsOf: copy, at: at)
            fixLength()
        case 6:  // a value of another width
            if len == 8 {
                b[at] = UInt8([5, 6, 12, 13][Int(r.next() % 4)])
            } else {
                b[at + 3] ^= 0x40  // NLA_F_NET_BYTEORDER: masked off, must change nothing
            }
        case 7:  // trailing bytes at the end
            b += [UInt8](repeating: 0, count: Int(1 + r.next() % 3))
            if r.next() % 2 == 0 { fixLength() }
        default:  // any byte at all
            b[Int(r.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: r.next())
        }
        return b
    }

    @Test func walkAndDecoderAgreeOnGeneratedMessages() throws {
        var r = SplitMix64(seed: 0x5EED_C4EC)
        var tally = Tally()
        for i in 0..<3000 {
            let m = Self.randomMessage(&r)
            let bytes = try m.encoded()
            let shape = r.next() % 8 != 0
            Self.compare(bytes, familyID: 0x1c, requireShape: shape, tally: &tally, "message \(i)")
            for j in 0..<6 {
                let bad = Self.mutate(bytes, &r)
                Self.compare(
                    bad, familyID: r.next() % 16 == 0 ? 0x1d : 0x1c, requireShape: shape, tally: &tally,
                    "message \(i) mutation \(j)")
            }
        }
        // Both verdicts are common, and the errors are of many kinds: the test can fail.
        #expect(tally.ok > 2000, "\(tally.ok) accepted")
        #expect(tally.errors > 8000, "\(tally.errors) refused")
        #expect(tally.kinds.count >= 10, "error kinds seen: \(tally.kinds.sorted())")
    }

    /// The yes/no pass (`StrictWalk.Verdict`) and the exact pass (`StrictWalk.Exact`) are one
    /// walk specialised twice: on every list of generated and mutated messages they give the same
    /// verdict and count. (`check` runs the exact pass after a no, so a verdict that refused a
    /// valid list would not show in its errors.)
    @Test func verdictAndExactPassAgree() throws {
        var r = SplitMix64(seed: 0x0E_4D1C)
        var accepted = 0, refused = 0
        for i in 0..<2000 {
            let bytes = try Self.randomMessage(&r).encoded()
            for j in 0..<4 {
                let b = j == 0 ? bytes : Self.mutate(bytes, &r)
                b.withUnsafeBytes { raw in
                    guard let view = try? NetlinkMessageView.single(raw), let (g, attrs) = try? view.generic() else {
                        return
                    }
                    let layout = FlowsLayout.of(command: g.command, isRequest: view.header.isRequest)
                    var it = attrs
                    while let a = it.nextIfWellFormed() {
                        guard let d = AttributeSetID.nflAttrs.attribute(a.type), d.kind == .nest, var list = d.nested
                        else { continue }
                        if a.type == NFL.Attr.flows {
                            if layout == .selector { continue }
                            if layout == .deleteList { list = .nflFlowListInDelFlows }
                        }
                        let verdict = try? FlowTableCodec.checkList(
                            a, list, in: .nflAttrs, depth: 1, StrictWalk.Verdict.self)
                        var exact: Int?
                        do throws(DecodeError) {
                            exact = try FlowTableCodec.checkList(
                                a, list, in: .nflAttrs, depth: 1, StrictWalk.Exact.self)
                        } catch {}
                        #expect(
                            verdict == exact,
                            "message \(i) variant \(j), \(list): \(String(describing: verdict)) \(String(describing: exact))"
                        )
                        if exact != nil { accepted += 1 } else { refused += 1 }
                    }
                }
            }
        }
        // Both verdicts are common: the test can fail.
        #expect(accepted > 1000, "\(accepted) accepted")
        #expect(refused > 1000, "\(refused) refused")
    }

    @Test func walkAndDecoderAgreeOnEveryTruncation() throws {
        var r = SplitMix64(seed: 7)
        var tally = Tally()
        var a = FlowTableAttributes(identifierType: 1, identifier: 5)
        a.errorStrategy = .continueLog
        a.flows = (0..<3).map { _ in RandomModel.flow(&r) }
        let bytes = try FlowTableMessage(familyID: 0x1c, command: .setFlows, isRequest: true, attributes: a).encoded()
        for n in 0...bytes.count {
            var cut = Array(bytes[0..<n])
            if n >= 4 { cut.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(n), toByteOffset: 0, as: UInt32.self) } }
            Self.compare(cut, familyID: 0x1c, requireShape: true, tally: &tally, "cut at \(n)")
        }
        #expect(tally.ok == 1)
    }
}
