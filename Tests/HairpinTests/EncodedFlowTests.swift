// The pieces of the byte-level path against their typed counterparts:
// * EncodedFlowReader + ValidationIndex.isValid against the decoder + firstError, over
//   generated flows and the same flows broken in every way validation knows;
// * every backend's storage from FlowViews (insert(_: FlowView) / remove / restore; the hash
//   backend's arena and its compaction) against the same flows stored typed.
import Testing
import LibFlowTable
@testable import Hairpin

@Suite("EncodedFlow") struct EncodedFlowTests {
    /// A FLOWS list holding `flow`, as a request carries it.
    static func encodedList(_ flow: Flow) throws -> [UInt8] {
        var a = FlowTableAttributes()
        a.flows = [flow]
        var w = NetlinkWriter(capacity: 1024)
        try FlowTableCodec.encode(a, layout: .list, into: &w)
        return w.withUnsafeBytes { Array($0) }
    }

    /// Reads the one FLOW element of `bytes` (a FLOWS attribute) with the reader.
    static func read(_ bytes: [UInt8], _ body: (inout EncodedFlowReader, Attribute) -> Void) {
        bytes.withUnsafeBytes { raw in
            var top = AttributeIterator(raw, baseOffset: 0)
            guard let flows = try? top.next(), flows.type == NFL.Attr.flows else { Issue.record("no FLOWS"); return }
            var it = flows.nested()
            guard let element = try? it.next() else { Issue.record("no FLOW"); return }
            var reader = EncodedFlowReader()
            defer { reader.deallocate() }
            body(&reader, element)
        }
    }

    /// One way of breaking a flow (most of them into a validation error of some kind).
    static func broken(_ flow: Flow, _ how: Int, _ draw: inout ByteServiceTests.Draw) -> Flow {
        var f = flow
        func someMatch(_ body: (inout FieldRef) -> Void) {
            guard var m = f.matches, !m.isEmpty else { return }
            let i = draw.next(m.count)
            body(&m[i])
            f.matches = m
        }
        func someAction(_ body: (inout Action) -> Void) {
            guard var a = f.actions, !a.isEmpty else { return }
            let i = draw.next(a.count)
            body(&a[i])
            f.actions = a
        }
        switch how {
        case 0: f.table = 0
        case 1: f.uid = 0
        case 2: f.table = 999
        case 3: f.matches = nil
        case 4: f.matches = []
        case 5: f.actions = nil
        case 6: someMatch { $0.instance = 0 }
        case 7: someMatch { $0.header = 77 }
        case 8: someMatch { $0.field = 99 }
        case 9: someMatch { $0.maskType = MaskType(rawValue: ($0.maskType.rawValue % 3) + 1) }
        case 10: someMatch { $0.value = nil }
        case 11: someMatch { $0.type = FieldType(rawValue: 9) }
        case 12: someMatch { $0.type = FieldType(rawValue: ($0.type.rawValue % 4) + 1) }
        case 13: someMatch { $0.value = FieldValue(rawBits: 1, byteCount: 3) }
        case 14: someMatch { $0.mask = FieldValue(rawBits: 1, byteCount: 3) }
        case 15:
            someMatch { m in  // every bit of the value's width: above a narrower field's bits
                let bytes = m.value?.byteCount ?? 8
                m.value = FieldValue(rawBits: bytes >= 8 ? ~0 : (1 << (8 * UInt64(bytes))) - 1, byteCount: bytes)
            }
        case 16: someMatch { $0.mask = FieldValue(rawBits: 0x5, byteCount: $0.value?.byteCount ?? 8) }
        case 17:  // the same field twice with another value: a conflict (or, rarely, compatible)
            if var m = f.matches, let first = m.first {
                var twin = first
                twin.value = FieldValue(
                    rawBits: (first.value?.rawBits ?? 0) ^ 1, byteCount: first.value?.byteCount ?? 4)
                m.append(twin)
                f.matches = m
            }
        case 18: someAction { $0.uid = 0 }
        case 19: someAction { $0.uid = 4242 }
        case 20:
            someAction {
                $0.signature =
                    ($0.signature ?? []) + [ActionArg(type: .u32, value: FieldValue(rawBits: 1, byteCount: 4))]
            }
        case 21:
            someAction { a in
                if var s = a.signature, !s.isEmpty {
                    s[0].type = FieldType(rawValue: (s[0].type.rawValue % 4) + 1); a.signature = s
                }
            }
        case 22:
            someAction { a in
                if var s = a.signature, !s.isEmpty {
                    s[0].value = FieldValue(rawBits: 1, byteCount: 3); a.signature = s
                }
            }
        case 23: f.actions = []
        case 24: someAction { $0.name = "a\u{e9}" }  // not ASCII: the reader declines, typed decodes
        case 25: f.error = 5  // ERROR in a request flow: declined
        default: someMatch { $0.mask = nil }
        }
        return f
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func readerAndValidationAgreeWithTheTypedPath(seed: UInt64) throws {
        let model = DefaultModelSource.model
        let index = ValidationIndex(model)
        var gen = FlowGenerator(model: model, seed: seed)
        var draw = ByteServiceTests.Draw(state: seed)
        var valid = 0, invalid = 0, declined = 0
        var kinds = Set<FlowValidationError.Kind>()
        for n in 0..<4000 {
            let original = gen.flows(count: 1)[0]
            let sent = n % 4 == 0 ? original : Self.broken(original, draw.next(28), &draw)
            let bytes = try Self.encodedList(sent)
            // The decoder's reading of the same bytes (what the typed path gets).
            let decoded = try bytes.withUnsafeBytes { raw in
                try FlowTableCodec.decode(AttributeIterator(raw, baseOffset: 0), layout: .list, depth: 2).flows?.first
            }
            let flow = try #require(decoded)
            for operation in [FlowOperation.set, .del] {
                let typedValid = index.firstError(in: flow, for: operation) == nil
                if let e = index.firstError(in: flow, for: operation) { kinds.insert(e.kind) }
                Self.read(bytes) { reader, element in
                    guard reader.read(element) else {
                        declined += 1
                        // Declined only for what the reader leaves to the typed path on purpose.
                        #expect(
                            flow.error != nil
                                || flow.actions?.contains { $0.name?.utf8.contains { $0 >= 0x80 } == true } == true,
                            "flow \(n) declined")
                        return
                    }
                    #expect(reader.table == flow.table && reader.uid == flow.uid && reader.priority == flow.priority)
                    #expect(Array(reader.matchBuffer) == (flow.matches ?? []), "flow \(n) matches")
                    #expect(reader.actionCount == (flow.actions?.count ?? 0))
                    let fast = index.isValid(
                        table: reader.table, uid: reader.uid, for: operation,
                        matches: reader.matchBuffer, actions: reader.actionBuffer, args: reader.argBuffer)
                    #expect(
                        fast == typedValid,
                        "flow \(n) \(operation): isValid \(fast), firstError \(String(describing: index.firstError(in: flow, for: operation)))"
                    )
                    if fast {
                        #expect(
                            FlowIdentity.fingerprint(reader.matchBuffer, priority: reader.priority)
                                == FlowIdentity.fingerprint(flow.matches, priority: flow.priority))
                    }
                    if operation == .set { if typedValid { valid += 1 } else { invalid += 1 } }
                }
            }
        }
        #expect(valid > 800 && invalid > 2000 && declined > 50)
        // The breakages reach most kinds of validation error.
        #expect(kinds.count >= 15, "\(kinds)")
    }

    @Test(arguments: BackendKind.allCases)
    func encodedStorageMatchesTypedStorage(kind: BackendKind) throws {
        let model = DefaultModelSource.model
        var gen = FlowGenerator(model: model, seed: 21)
        let sizes = FlowBackendTables.sizes(of: model.tables).mapValues { _ in Table.unbounded }
        let typed = kind.make(tables: sizes)
        let encoded = kind.make(tables: sizes)
        var reader = EncodedFlowReader()
        defer { reader.deallocate() }
        var live: [Flow] = []
        var draw = ByteServiceTests.Draw(state: 21)
        func storeEncoded(_ flow: Flow) throws -> Bool {
            let bytes = try Self.encodedList(flow)
            return bytes.withUnsafeBytes { raw -> Bool in
                var top = AttributeIterator(raw, baseOffset: 0)
                guard let list = try? top.next() else { return false }
                var it = list.nested()
                guard let e = try? it.next(), reader.read(e), let base = e.payload.baseAddress else { return false }
                return encoded.insert(
                    FlowView(
                        table: reader.table, uid: reader.uid, priority: reader.priority,
                        matches: reader.matchBuffer,
                        element: UnsafeRawBufferPointer(start: base - 4, count: e.payload.count + 4)))
            }
        }
        // Hash: enough churn for several compactions (each flow is ~150-300 bytes; > 64 KiB of
        // garbage). The others (dummy is O(n) per operation) need less to cover their paths.
        for step in 0..<(kind == .hash ? 12000 : 3000) {
            if live.isEmpty || draw.next(3) != 0 {
                let f = gen.flows(count: 1)[0]
                let t = typed.insert(f)
                if t.errno == 0 {
                    #expect(try storeEncoded(f), "step \(step)")
                    live.append(f)
                } else {
                    #expect(try !storeEncoded(f), "step \(step): the typed insert refused \(t)")
                }
            } else {
                let victim = live.remove(at: draw.next(live.count))
                #expect(typed.delete(table: victim.table, uid: victim.uid).errno == 0)
                if draw.next(2) == 0 {
                    // The typed delete of an encoded flow decodes it exactly.
                    #expect(try encoded.delete(table: victim.table, uid: victim.uid).get() == victim)
                } else {
                    let removed = encoded.remove(table: victim.table, uid: victim.uid)
                    #expect(removed != nil)
                    if let removed, draw.next(4) == 0 {
                        // A rollback puts it back; delete it again for real.
                        encoded.restore(removed)
                        #expect(encoded.remove(table: victim.table, uid: victim.uid) != nil)
                    }
                }
            }
        }
        for table in sizes.keys {
            #expect(typed.allFlows(table: table) == encoded.allFlows(table: table), "table \(table)")
            #expect(typed.count(table: table) == encoded.count(table: table))
        }
        // A flow stored typed collides with an encoded one exactly as two typed ones do.
        if let some = live.first {
            #expect(encoded.insert(some).errno == BackendError.exists.errno)
            var sameMatch = some
            sameMatch.uid = 0xFFFF_FF00
            #expect(encoded.insert(sameMatch).errno == typed.insert(sameMatch).errno)
        }
    }

    /// A stored element in the encoder's form answers GET_FLOWS as it is, and still does after a
    /// typed read decoded the flow (every backend).
    @Test(arguments: BackendKind.allCases)
    func elementsSurviveATypedRead(kind: BackendKind) throws {
        let model = DefaultModelSource.model
        var gen = FlowGenerator(model: model, seed: 5)
        let sizes = FlowBackendTables.sizes(of: model.tables).mapValues { _ in Table.unbounded }
        let backend = kind.make(tables: sizes)
        var reader = EncodedFlowReader()
        defer { reader.deallocate() }
        var sent: [UInt64: [UInt8]] = [:]  // table << 32 | uid → the element as sent
        for f in gen.flows(count: 200) {
            let bytes = try Self.encodedList(f)
            bytes.withUnsafeBytes { raw in
                var top = AttributeIterator(raw, baseOffset: 0)
                guard let list = try? top.next() else { return }
                var it = list.nested()
                guard let e = try? it.next(), reader.read(e), let base = e.payload.baseAddress else { return }
                let element = UnsafeRawBufferPointer(start: base - 4, count: e.payload.count + 4)
                if backend.insert(
                    FlowView(
                        table: reader.table, uid: reader.uid, priority: reader.priority,
                        matches: reader.matchBuffer, element: element))
                {
                    sent[UInt64(f.table) << 32 | UInt64(f.uid)] = Array(element)
                }
            }
        }
        #expect(sent.count > 100)
        for table in sizes.keys {
            let selector = FlowSelector(table: table)
            for round in 0..<2 {
                var elements: [[UInt8]] = []
                guard backend.flowElements(selector, into: { elements.append(Array($0)) }) else { continue }
                for e in elements {
                    // The element's UID (TABLE at 4, UID at 12, its payload at 16).
                    let uid = UInt32(e[16]) | UInt32(e[17]) << 8 | UInt32(e[18]) << 16 | UInt32(e[19]) << 24
                    #expect(
                        sent[UInt64(table) << 32 | UInt64(uid)] == e, "\(kind) table \(table) uid \(uid) round \(round)"
                    )
                }
                // A typed read decodes the flows (get-flows by the typed path, a lookup).
                _ = backend.allFlows(table: table)
            }
        }
    }

    /// The reader's encoder-form verdict (read along the walk, kept with a stored flow) against
    /// FlowTableCodec.isEncoderForm, the one definition: on elements as the encoder writes them,
    /// without NLA_F_NESTED, and with bytes changed anywhere; for every element the reader
    /// accepts, the two agree.
    @Test func encoderFormVerdictAgreesWithTheCodec() throws {
        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 41)
        var draw = ByteServiceTests.Draw(state: 41)
        var reader = EncodedFlowReader()
        defer { reader.deallocate() }
        var inForm = 0, notInForm = 0
        for n in 0..<1500 {
            let flow = gen.flows(count: 1)[0]
            var w = NetlinkWriter(capacity: 1024)
            w.markNests = n % 10 != 0
            try FlowTableCodec.encode(flow, into: &w)
            var element = w.withUnsafeBytes { Array($0) }
            if n % 3 != 0 {
                let at = draw.next(element.count - 4) + 4
                switch draw.next(4) {
                case 0: element[at] ^= 0x80
                case 1: element[at] = UInt8(truncatingIfNeeded: draw.next(256))
                case 2: element[at] = 0
                default: element[at] ^= UInt8(1 << draw.next(8))
                }
            }
            element.withUnsafeBytes { raw in
                let payload = UnsafeRawBufferPointer(rebasing: raw[4...])
                guard reader.read(payload: payload) else { return }
                let verdict = reader.isEncoderForm(element: raw)
                #expect(verdict == FlowTableCodec.isEncoderForm(flow: raw), "flow \(n): reader says \(verdict)")
                if verdict { inForm += 1 } else { notInForm += 1 }
            }
        }
        #expect(inForm > 300 && notInForm > 100, "\(inForm) in form, \(notInForm) not")
    }

    /// Field refs written in other layouts than the encoder's (attributes in another order, one
    /// missing, one repeated, an unknown one, bytes after the last): the reader's general walk
    /// must accept exactly what the decoder accepts, with the same values.
    @Test func otherLayoutsAreReadAsTheDecoderReadsThem() throws {
        var gen = FlowGenerator(model: DefaultModelSource.model, seed: 31)
        var draw = ByteServiceTests.Draw(state: 31)
        var accepted = 0, refused = 0
        for n in 0..<600 {
            let flow = gen.flows(count: 1)[0]
            let variant = draw.next(6)
            var w = NetlinkWriter(capacity: 2048)
            let flows = w.beginNest(NFL.Attr.flows)
            let element = w.beginNest(NFL.listElement)
            w.put(NFL.FlowAttr.table, u32: flow.table)
            w.put(NFL.FlowAttr.uid, u32: flow.uid)
            w.put(NFL.FlowAttr.priority, u32: flow.priority)
            let matches = w.beginNest(NFL.FlowAttr.matches)
            for r in flow.matches ?? [] {
                let m = w.beginNest(NFL.listElement)
                var parts: [(UInt16, (inout NetlinkWriter) -> Void)] = [
                    (NFL.FieldRefAttr.instance, { $0.put(NFL.FieldRefAttr.instance, u32: r.instance) }),
                    (NFL.FieldRefAttr.header, { $0.put(NFL.FieldRefAttr.header, u32: r.header) }),
                    (NFL.FieldRefAttr.field, { $0.put(NFL.FieldRefAttr.field, u32: r.field) }),
                    (NFL.FieldRefAttr.maskType, { $0.put(NFL.FieldRefAttr.maskType, u32: r.maskType.rawValue) }),
                    (NFL.FieldRefAttr.type, { $0.put(NFL.FieldRefAttr.type, u32: r.type.rawValue) }),
                ]
                if let v = r.value {
                    parts.append((NFL.FieldRefAttr.value, { $0.put(NFL.FieldRefAttr.value, value: v) }))
                }
                if let v = r.mask { parts.append((NFL.FieldRefAttr.mask, { $0.put(NFL.FieldRefAttr.mask, value: v) })) }
                switch variant {
                case 0: parts.reverse()
                case 1: parts.remove(at: draw.next(parts.count))
                case 2: parts.append(parts[draw.next(parts.count)])
                case 3: parts.insert((99, { $0.put(99, u32: 1) }), at: draw.next(parts.count + 1))
                case 4: parts.swapAt(0, parts.count - 1)
                default: break
                }
                for (_, put) in parts { put(&w) }
                try w.endNest(m)
            }
            try w.endNest(matches)
            try w.endNest(element)
            try w.endNest(flows)
            var bytes = w.withUnsafeBytes { Array($0) }
            if variant == 5, draw.next(2) == 0 { bytes += [0, 0] }  // leftover bytes after FLOWS
            let decoded = bytes.withUnsafeBytes { raw in
                try? FlowTableCodec.decode(AttributeIterator(raw, baseOffset: 0), layout: .list, depth: 2).flows?.first
            }
            var read: [FieldRef]?
            bytes.withUnsafeBytes { raw in
                var top = AttributeIterator(raw, baseOffset: 0)
                guard let list = try? top.next() else { return }
                var it = list.nested()
                guard let e = try? it.next() else { return }
                var reader = EncodedFlowReader()
                defer { reader.deallocate() }
                if reader.read(e) { read = Array(reader.matchBuffer) }
            }
            // Leftover bytes after FLOWS are the request's problem, not the element's.
            if variant == 5 { #expect(read == (flow.matches ?? []), "flow \(n)"); continue }
            #expect((read != nil) == (decoded != nil), "flow \(n) variant \(variant)")
            if let read, let decoded { #expect(read == (decoded.matches ?? []), "flow \(n)") }
            if read != nil { accepted += 1 } else { refused += 1 }
        }
        #expect(accepted > 150 && refused > 150)
    }
}
