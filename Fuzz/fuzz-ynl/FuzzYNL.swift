// fuzz-ynl: arbitrary bytes as a netlink packet; every message is decoded by the YNL interpreter
// (Sources/YNL) as a message of each family loaded: our two (spec/, found from the package root)
// and, when `scripts/install-deps.sh --specs` has filled the cache, the kernel's devlink,
// ethtool, netdev and rt-link. Both directions are tried. Decoding must end in a value or a
// DecodeError whose offset lies inside the message, never a trap. The oracle: for net_flow_nl
// and nfl_hairpin the interpreter's verdict (decodes or errors) must be LibFlowTable's typed
// decoder's (FlowTableMessage.decode, HairpinMessage.decode), except where the typed decoder
// does not look (docs/fuzzing.md).
import FuzzSupport
import LibFlowTable
import YNL

@main
enum YNLFuzz: FuzzTarget {
    static let name = "fuzz-ynl"
    /// A packet holds at most this many messages worth looking at (bounds the work per input).
    static let maxMessages = 64
    /// The kernel families decoded when their specs are in the cache.
    static let kernelSpecs = ["devlink.yaml", "ethtool.yaml", "netdev.yaml", "rt_link.yaml"]

    struct Families {
        var flow: YNLDecoder
        var hairpin: YNLDecoder
        var all: [YNLDecoder]
    }

    /// Loaded once. Our specs must load (a fuzzer that silently decodes nothing proves nothing);
    /// the kernel's are optional.
    static let families: Families = {
        guard let dir = projectSpecDirectory() else {
            Fuzz.fail("fuzz-ynl: the project's spec/ was not found above the binary or the source")
        }
        func load(_ path: String) -> YNLFamily {
            do { return try YNLSpecLoader.load(path: path) } catch { Fuzz.fail("fuzz-ynl: \(path): \(error)") }
        }
        // Strict for our two: the typed codec they are compared with refuses an attribute its
        // spec does not define. The kernel's are decoded as `flowtrace show` does.
        let flow = YNLDecoder(load(dir + "/net_flow_nl.yaml"), strict: true)
        let hairpin = YNLDecoder(load(dir + "/nfl_hairpin.yaml"), strict: true)
        var all = [flow, hairpin]
        if let k = YNLSpecLibrary.kernelSpecDirectory(environment: Fuzz.environment) {
            for name in kernelSpecs where Fuzz.exists(k + "/" + name) {
                all.append(YNLDecoder(load(k + "/" + name)))
            }
        }
        return Families(flow: flow, hairpin: hairpin, all: all)
    }()

    /// spec/ of the build tree the binary sits in (.build or .build-fuzz), else of the source
    /// tree this file was compiled from.
    static func projectSpecDirectory() -> String? {
        if let p = YNLSpecLibrary.projectSpecDirectory(executable: YNLSpecLibrary.currentExecutable) { return p }
        let spec = Fuzz.packageRoot(ofSource: #filePath) + "/spec"
        return Fuzz.exists(spec + "/net_flow_nl.yaml") ? spec : nil
    }

    static func run(_ packet: UnsafeRawBufferPointer) {
        let f = families
        var messages = NetlinkMessageIterator(packet)
        var n = 0
        while n < maxMessages, let m = try? messages.next() {
            n += 1
            for d in f.all {
                _ = decode(d, m, request: nil)
                _ = decode(d, m, request: !m.header.isRequest)
            }
            agree(
                f.flow, m, typed: { m throws(DecodeError) in _ = try FlowTableMessage.decode(m, requireShape: false) })
            agree(f.hairpin, m, inner: f.flow, typed: { m throws(DecodeError) in _ = try HairpinMessage.decode(m) })
        }
    }

    /// One decode: a message whose values can be walked, or an error inside the message.
    static func decode(_ d: YNLDecoder, _ m: NetlinkMessageView, request: Bool?) -> Result<YNLMessage, DecodeError> {
        do throws(DecodeError) {
            let y = try d.decode(m, request: request)
            Fuzz.check(y.family == d.family.name, "\(d.family.name): decoded as family \(y.family)")
            var count = 0
            for field in y.header + y.attributes { walk(field.value, &count) }
            return .success(y)
        } catch {
            Fuzz.check(
                error.offset >= 0 && error.offset <= m.bytes.count,
                "\(d.family.name): error offset \(error.offset) outside the message of \(m.bytes.count) bytes: \(error)"
            )
            Fuzz.check(!error.description.isEmpty, "\(d.family.name): an error without a description")
            return .failure(error)
        }
    }

    /// The typed decoders also enforce the hints' `required` and `rejected` attributes
    /// (spec/hints: a flow needs its uid, NEXT_NODE only in a jump entry), which YNL cannot say
    /// and the interpreter does not apply (docs/ynl.md): their errors are not disagreements.
    static func hintRule(_ e: DecodeError) -> Bool {
        switch e.reason {
        case .missingAttribute, .notAllowed: return true
        default: return false
        }
    }

    /// ENCAP.ATTR is a binary in nfl_hairpin's spec (YNL has no nest of another family's set);
    /// spec/hints/nfl_hairpin.yaml says it holds net_flow_nl's top-level set, and the typed
    /// decoder reads it so. The interpreter keeps its bytes, so the oracle decodes them with the
    /// net_flow_nl interpreter, FLOWS as the typed decoder lays it out (HairpinEncap.flowsLayout:
    /// the selector in a get-flows call, the list otherwise). The error, if any.
    static func encapAttributes(_ x: YNLMessage, _ flow: YNLDecoder) -> DecodeError? {
        guard case .fields(let encap)? = x.attributes.first(where: { $0.name == "encap" })?.value,
            case .bytes(let attr)? = encap.first(where: { $0.name == "attr" })?.value
        else { return nil }
        var command: UInt64?
        switch encap.first(where: { $0.name == "cmd" })?.value {
        case .unsigned(let v)?, .enumerated(let v, _)?: command = v
        default: break
        }
        let answer = encap.contains { $0.name == "status" }
        let getFlows = UInt8(NFL.Command.getFlows.rawValue)
        if command == UInt64(getFlows), !answer {
            // A get-flows request of net_flow_nl around the bytes: the interpreter's hints give
            // its FLOWS the selector layout.
            var w = NetlinkWriter(capacity: attr.count + 20)
            let start = w.beginMessage(type: 0, flags: Netlink.flagRequest, sequence: 0, port: 0)
            w.genericHeader(command: getFlows, version: 1)
            attr.withUnsafeBytes { w.appendRaw(bytes: $0) }
            w.endMessage(start)
            return w.bytes.withUnsafeBytes { raw -> DecodeError? in
                do throws(DecodeError) { _ = try flow.decode(raw, request: true) } catch { return error }
                return nil
            }
        }
        return attr.withUnsafeBytes { raw -> DecodeError? in
            do throws(DecodeError) { _ = try flow.decodeAttributes(set: "nfl-attrs", raw) } catch { return error }
            return nil
        }
    }

    static func walk(_ v: YNLValue, _ count: inout Int) {
        count += 1
        switch v {
        case .fields(let f), .items(let f): for x in f { walk(x.value, &count) }
        case .string(let s): count += s.utf8.count
        case .undefined(_, let b): count += b.count
        default: break
        }
    }

    /// The interpreter and the typed decoder agree on whether the message decodes. The typed
    /// decoders do not check the command against the spec's operations (nor its direction), so a
    /// message the interpreter rejects for its command alone is not compared.
    static func agree(
        _ d: YNLDecoder, _ m: NetlinkMessageView, inner: YNLDecoder? = nil,
        typed: (NetlinkMessageView) throws(DecodeError) -> Void
    ) {
        var y = decode(d, m, request: nil)
        if case .failure(let e) = y, case .unknownCommand = e.reason { return }
        if let inner, case .success(let x) = y, let e = encapAttributes(x, inner) { y = .failure(e) }
        var typedError: DecodeError?
        do throws(DecodeError) { try typed(m) } catch { typedError = error }
        switch (y, typedError) {
        case (.success, nil), (.failure, .some): return
        case (.success, .some(let e)) where hintRule(e):
            return
        case (.success(let x), .some(let e)):
            Fuzz.fail("\(d.family.name): the interpreter decodes what the typed decoder rejects (\(e))\n\(x)")
        case (.failure(let e), nil):
            Fuzz.fail("\(d.family.name): the typed decoder decodes what the interpreter rejects (\(e))")
        }
    }
}
