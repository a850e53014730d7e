// The run-time model of one YNL spec (genetlink, genetlink-c, genetlink-legacy, netlink-raw), with
// every name resolved to an index when the spec is loaded, so decoding never looks a name up.
// Numbering follows the kernel's tools/net/ynl/lib/nlspec.py: attributes from 1, enum entries from
// value-start (flags: bit positions), operations from 1 (unified) or per direction (directional).

import Foundation
import LibFlowTable
import Yams

public enum YNLProtocol: String, Sendable, CaseIterable {
    case genetlink, genetlinkC = "genetlink-c", genetlinkLegacy = "genetlink-legacy", netlinkRaw = "netlink-raw"

    /// Whether messages carry a genlmsghdr before the fixed header.
    public var isGeneric: Bool { self != .netlinkRaw }
}

public enum YNLScalar: Sendable, Equatable {
    case u8, u16, u32, u64, s8, s16, s32, s64
    /// uint/sint: 4 or 8 bytes on the wire.
    case uint, sint

    init?(_ name: String) {
        switch name {
        case "u8": self = .u8
        case "u16": self = .u16
        case "u32": self = .u32
        case "u64": self = .u64
        case "s8": self = .s8
        case "s16": self = .s16
        case "s32": self = .s32
        case "s64": self = .s64
        case "uint": self = .uint
        case "sint": self = .sint
        default: return nil
        }
    }

    /// Fixed width in bytes; 0 for the variable uint/sint.
    public var width: Int {
        switch self {
        case .u8, .s8: return 1
        case .u16, .s16: return 2
        case .u32, .s32: return 4
        case .u64, .s64: return 8
        case .uint, .sint: return 0
        }
    }

    public var isSigned: Bool {
        switch self {
        case .s8, .s16, .s32, .s64, .sint: return true
        default: return false
        }
    }
}

/// An integer type with its byte order (big-endian: `byte-order: big-endian`).
public struct YNLInteger: Sendable, Equatable {
    public var scalar: YNLScalar
    public var bigEndian: Bool
    /// Index into `YNLFamily.enums` when the value names an enum or flags entry.
    public var enumIndex: Int?
    /// The value is a bit set of the enum's entries (`enum-as-flags`, or a flags definition).
    public var asFlags: Bool
}

public struct YNLEnum: Sendable {
    public var name: String
    public var isFlags: Bool
    /// (wire value, name): for flags the wire value is the bit (1 << position).
    public var entries: [(value: UInt64, name: String)]

    public func name(of value: UInt64) -> String? {
        for e in entries where e.value == value { return e.name }
        return nil
    }
}

public struct YNLStruct: Sendable {
    public enum Member: Sendable {
        case integer(YNLInteger)
        case pad(Int)
        case binary(Int)
        case structure(Int)
    }
    public var name: String
    public var members: [(name: String, member: Member)]
    public var size: Int
}

public struct YNLAttribute: Sendable {
    public enum Kind: Sendable {
        case unused, pad, flag, string
        case integer(YNLInteger)
        case binary
        /// A binary holding a struct (index into `structs`).
        case structure(Int)
        /// A binary holding a C array of fixed-width integers (`sub-type`).
        case array(YNLInteger)
        case nest(Int)
        /// Items numbered by their attribute type: each a nest of the set, or a scalar/binary.
        case indexedArray(IndexedItem)
        /// nlctrl's policy: the named levels are attribute types, then the nested set.
        case nestTypeValue(levels: [String], set: Int)
        case bitfield32(enumIndex: Int?)
        /// Its format is chosen by the value of the selector attribute (decoded before it, in
        /// this nest or an enclosing one).
        case subMessage(index: Int, selector: String)
    }
    public enum IndexedItem: Sendable {
        case nest(Int)
        case integer(YNLInteger)
        case binary
    }
    public var name: String
    public var value: UInt16
    public var kind: Kind
    public var multiAttr: Bool
    /// `display-hint` (mac, ipv4, ipv6, hex, uuid): how a tool should print the value.
    public var displayHint: String?
    /// The YNL type name as written (`u32`, `nest`, ...), for listings.
    public var typeName: String

    /// A binary's payload length from its `checks` (nil: any).
    public var length: ClosedRange<Int>? = nil

    /// The spec's `doc` (a subset's own, else its set's).
    public var doc: String? = nil
    /// From the project's generator hints: a binary that holds another family's attribute set
    /// (the hairpin's encap attr holds net_flow_nl's top level), which YNL cannot say. Decoding
    /// keeps the bytes; dissectors that know both families walk it as that nest.
    public var nestedFamily: (family: String, set: String)? = nil

    var isPad: Bool { if case .pad = kind { return true } else { return false } }
}

public struct YNLAttributeSet: Sendable {
    public var name: String
    public var doc: String? = nil
    public var attributes: [YNLAttribute]
    /// attribute type -> index into `attributes` (-1: none), for a decode without a search.
    var byType: [Int32]

    public func attribute(type: UInt16) -> YNLAttribute? {
        let t = Int(type)
        guard t < byType.count else { return nil }
        let i = byType[t]
        return i < 0 ? nil : attributes[Int(i)]
    }
    public func attribute(named name: String) -> YNLAttribute? { attributes.first { $0.name == name } }
}

public struct YNLSubMessage: Sendable {
    public struct Format: Sendable {
        public var value: String
        public var fixedHeader: Int?
        public var attributeSet: Int?
    }
    public var name: String
    public var formats: [Format]
}

public struct YNLOperation: Sendable {
    public var name: String
    /// The message type or genl command user space sends, and the one the kernel answers or
    /// notifies with (equal in the unified model).
    public var requestValue: UInt16?
    public var replyValue: UInt16?
    public var attributeSet: Int?
    public var fixedHeader: Int?
    /// From the project's generator hints (spec/hints/): top-level nest attributes whose request
    /// layout is another set (net_flow_nl's get-flows flows holds a selector), which YNL cannot say.
    public var requestNested: [UInt16: Int] = [:]
}

public final class YNLFamily: Sendable {
    public let name: String
    public let file: String
    public let proto: YNLProtocol
    /// netlink-raw: the netlink protocol number (NETLINK_ROUTE is 0).
    public let protonum: Int?
    public let enums: [YNLEnum]
    public let structs: [YNLStruct]
    public let attributeSets: [YNLAttributeSet]
    public let subMessages: [YNLSubMessage]
    public let operations: [YNLOperation]
    /// The spec's `doc` and `version` (default 1).
    public let doc: String?
    public let version: Int
    /// From the project's generator hints (`swift-name`): the family's short name (NFL), which
    /// tools show in a protocol column; nil: none given.
    public let shortName: String?
    let requestOps: [UInt16: Int]
    let replyOps: [UInt16: Int]

    func with(
        operations ops: [YNLOperation]? = nil, attributeSets sets: [YNLAttributeSet]? = nil,
        shortName short: String?? = nil
    ) -> YNLFamily {
        YNLFamily(
            name: name, file: file, proto: proto, protonum: protonum, enums: enums, structs: structs,
            attributeSets: sets ?? attributeSets, subMessages: subMessages, operations: ops ?? operations,
            doc: doc, version: version, shortName: short ?? shortName)
    }

    init(
        name: String, file: String, proto: YNLProtocol, protonum: Int?, enums: [YNLEnum], structs: [YNLStruct],
        attributeSets: [YNLAttributeSet], subMessages: [YNLSubMessage], operations: [YNLOperation],
        doc: String? = nil, version: Int = 1, shortName: String? = nil
    ) {
        self.doc = doc
        self.version = version
        self.shortName = shortName
        self.name = name
        self.file = file
        self.proto = proto
        self.protonum = protonum
        self.enums = enums
        self.structs = structs
        self.attributeSets = attributeSets
        self.subMessages = subMessages
        self.operations = operations
        var req: [UInt16: Int] = [:]
        var rsp: [UInt16: Int] = [:]
        for (i, op) in operations.enumerated() {
            if let v = op.requestValue, req[v] == nil { req[v] = i }
            if let v = op.replyValue, rsp[v] == nil { rsp[v] = i }
        }
        requestOps = req
        replyOps = rsp
    }

    public func attributeSet(named name: String) -> YNLAttributeSet? { attributeSets.first { $0.name == name } }
    public func operation(named name: String) -> YNLOperation? { operations.first { $0.name == name } }

    /// The operation a message carries: by the genl command or the netlink-raw message type,
    /// in the direction of the message.
    public func operation(value: UInt16, request: Bool) -> YNLOperation? {
        let table = request ? requestOps : replyOps
        return table[value].map { operations[$0] }
    }
}

// MARK: loading

/// Loads a YNL spec. Every reference is resolved and every key checked; errors name the file,
/// line and key path. Recursive attribute sets are allowed (the kernel's specs have them: the
/// decoder bounds the depth); cycles that can never end (a subset of itself, a struct holding
/// itself) are errors.
public enum YNLSpecLoader {
    static let hint = "not a YNL key the interpreter knows"

    public static func load(path: String) throws -> YNLFamily {
        guard let data = FileReader.read(path) else {
            throw SpecError(file: path, line: nil, path: "", message: "cannot read the file")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw SpecError(file: path, line: nil, path: "", message: "not UTF-8 text")
        }
        let family = try load(yaml: text, file: path)
        let url = URL(fileURLWithPath: path)
        let hints = url.deletingLastPathComponent().appendingPathComponent("hints").appendingPathComponent(
            url.lastPathComponent
        ).path
        guard let hintData = FileReader.read(hints), let hintText = String(validating: hintData, as: UTF8.self) else {
            return family
        }
        return try applyHints(yaml: hintText, file: hints, to: family)
    }

    /// Reads the one fact of ynl-gen's hints (spec/hints/<spec file>, see spec/README.md) that
    /// changes how messages decode: `operations.<op>.request.nested-attributes`. The rest of the
    /// hints are ynl-gen's (names, checks) and checked by it.
    public static func applyHints(yaml text: String, file: String, to family: YNLFamily) throws -> YNLFamily {
        guard let root = try composeYAML(text, file: file) else { return family }
        let top = try MapReader(file: file, path: "", node: root)
        let short = try top.optionalString("swift-name")
        var sets = family.attributeSets
        for (setName, r) in try top.keyedMappings("attribute-sets") {
            guard let si = sets.firstIndex(where: { $0.name == setName }) else {
                throw r.error(nil, "the spec \(family.file) has no attribute set '\(setName)'")
            }
            for (attrName, a) in try r.keyedMappings("attributes") {
                guard let ai = sets[si].attributes.firstIndex(where: { $0.name == attrName }) else {
                    throw a.error(nil, "the spec \(family.file) has no attribute '\(attrName)' in set '\(setName)'")
                }
                guard let other = try a.optionalString("nested-family") else { continue }
                guard let nested = try a.optionalString("nested-attributes") else {
                    throw a.error(nil, "nested-family and nested-attributes go together")
                }
                guard case .binary = sets[si].attributes[ai].kind else {
                    throw a.error(
                        "nested-family",
                        "nested-family applies to a binary attribute (this one is \(sets[si].attributes[ai].typeName))")
                }
                sets[si].attributes[ai].nestedFamily = (other, nested)
            }
        }
        var ops = family.operations
        for (name, r) in try top.keyedMappings("operations") {
            guard let request = try r.mapping("request") else { continue }
            guard let i = ops.firstIndex(where: { $0.name == name }),
                let owner = ops[i].attributeSet.map({ family.attributeSets[$0] })
            else {
                throw r.error(nil, "the spec \(family.file) has no operation '\(name)' with an attribute set")
            }
            for (attr, setName) in try request.keyedStrings("nested-attributes") {
                guard let a = owner.attribute(named: attr), case .nest = a.kind else {
                    throw request.error(
                        "nested-attributes", "'\(owner.name)' has no nest attribute '\(attr)' (the spec \(family.file))"
                    )
                }
                guard let set = family.attributeSets.firstIndex(where: { $0.name == setName }) else {
                    throw request.error("nested-attributes", "no attribute set '\(setName)' in the spec \(family.file)")
                }
                ops[i].requestNested[a.value] = set
            }
        }
        return family.with(operations: ops, attributeSets: sets, shortName: .some(short ?? family.shortName))
    }

    public static func load(yaml text: String, file: String) throws -> YNLFamily {
        var b = try Builder(file: file, root: try composeNonEmptyYAML(text, file: file))
        return try b.build()
    }

    struct Builder {
        let file: String
        let top: MapReader
        var enumIndex: [String: Int] = [:]
        var enums: [YNLEnum] = []
        var structIndex: [String: Int] = [:]
        var structReaders: [(MapReader, String)] = []
        var structs: [YNLStruct?] = []
        var consts: [String: Int] = [:]
        var setIndex: [String: Int] = [:]
        var subMessageIndex: [String: Int] = [:]

        init(file: String, root: Node) throws {
            self.file = file
            top = try MapReader(file: file, path: "", node: root)
        }

        mutating func build() throws -> YNLFamily {
            let name = try top.string("name")
            let protoName = try top.optionalString("protocol") ?? "genetlink"
            guard let proto = YNLProtocol(rawValue: protoName) else {
                throw top.error(
                    "protocol", "'\(protoName)' is not genetlink, genetlink-c, genetlink-legacy or netlink-raw")
            }
            let protonum = try top.optionalInt("protonum")
            if proto == .netlinkRaw && protonum == nil { throw top.error(nil, "a netlink-raw spec needs 'protonum'") }
            let doc = try top.optionalString("doc")
            let version = try top.optionalInt("version") ?? 1
            top.ignore([
                "uapi-header", "c-family-name", "c-version-name", "cmd-cnt-name", "cmd-max-name",
                "kernel-family", "kernel-policy", "max-by-define", "mcast-groups", "license",
            ])

            // Definitions: enums and consts first, then structs (which may name enums and each other).
            let defs = try top.mappings("definitions")
            for d in defs {
                let dname = try d.string("name")
                let type = try d.string("type")
                d.ignore(["doc", "name-prefix", "enum-name", "render-max", "header", "scope", "enum-cnt-name"])
                switch type {
                case "const":
                    // A const is an integer or a string (team's multicast group name).
                    guard let node = d.node("value"), case .scalar = node else {
                        throw d.error(nil, "a const needs a 'value'")
                    }
                    if let v = node.int { consts[dname] = v }
                case "enum", "flags":
                    enumIndex[dname] = enums.count
                    enums.append(
                        YNLEnum(name: dname, isFlags: type == "flags", entries: try entries(d, flags: type == "flags")))
                case "struct":
                    structIndex[dname] = structReaders.count
                    structReaders.append((d, dname))
                default:
                    throw d.error("type", "'\(type)' is not const, enum, flags or struct")
                }
                if type != "struct" { try d.finish(hint: YNLSpecLoader.hint) }
            }
            structs = Array(repeating: nil, count: structReaders.count)
            for i in structReaders.indices { _ = try structure(i, visiting: []) }

            let setReaders = try top.mappings("attribute-sets", required: true)
            var setNames: [String] = []
            for (i, s) in setReaders.enumerated() {
                let sname = try s.string("name")
                setNames.append(sname)
                if setIndex[sname] != nil { throw s.error("name", "attribute set '\(sname)' is defined twice") }
                setIndex[sname] = i
            }
            let subReaders = try top.mappings("sub-messages")
            for (i, s) in subReaders.enumerated() { subMessageIndex[try s.string("name")] = i }

            // Subsets take their parent's attributes: resolve parents first, refusing cycles.
            var sets: [YNLAttributeSet?] = Array(repeating: nil, count: setReaders.count)
            func resolve(_ i: Int, _ chain: [Int]) throws -> YNLAttributeSet {
                if let s = sets[i] { return s }
                let r = setReaders[i]
                if chain.contains(i) {
                    throw r.error(
                        "subset-of",
                        "subset-of forms a cycle: "
                            + (chain + [i]).map { "'\(setNames[$0])'" }.joined(separator: " -> "))
                }
                let s = try attributeSet(
                    r,
                    parent: { name in
                        guard let p = setIndex[name] else {
                            throw r.error("subset-of", "no attribute set '\(name)' to be a subset of")
                        }
                        return try resolve(p, chain + [i])
                    })
                sets[i] = s
                return s
            }
            let attributeSets = try setReaders.indices.map { try resolve($0, []) }

            let subMessages = try subReaders.map { r -> YNLSubMessage in
                let formats = try r.mappings("formats", required: true).map { f -> YNLSubMessage.Format in
                    let value = try f.string("value")
                    let fh = try f.optionalString("fixed-header").map { try structRef($0, f, "fixed-header") }
                    let set = try f.optionalString("attribute-set").map { try setRef($0, f, "attribute-set") }
                    try f.finish(hint: YNLSpecLoader.hint)
                    return .init(value: value, fixedHeader: fh, attributeSet: set)
                }
                let m = YNLSubMessage(name: try r.string("name"), formats: formats)
                try r.finish(hint: YNLSpecLoader.hint)
                return m
            }

            guard let ops = try top.mapping("operations") else { throw top.error(nil, "missing key 'operations'") }
            ops.ignore(["name-prefix", "enum-name", "async-prefix", "async-enum"])
            let model = try ops.optionalString("enum-model") ?? "unified"
            guard model == "unified" || model == "directional" else {
                throw ops.error("enum-model", "'\(model)' is not unified or directional")
            }
            let defaultHeader = try ops.optionalString("fixed-header").map { try structRef($0, ops, "fixed-header") }
            let operations = try self.operations(
                try ops.mappings("list", required: true), directional: model == "directional",
                fixedHeader: defaultHeader)
            try ops.finish(hint: YNLSpecLoader.hint)
            try top.finish(hint: YNLSpecLoader.hint)
            return YNLFamily(
                name: name, file: file, proto: proto, protonum: protonum, enums: enums,
                structs: structs.map { $0! }, attributeSets: attributeSets,
                subMessages: subMessages, operations: operations, doc: doc, version: version)
        }

        func entries(_ r: MapReader, flags: Bool) throws -> [(value: UInt64, name: String)] {
            guard let node = r.node("entries"), case .sequence(let items) = node else {
                throw r.error("entries", "an enum or flags needs a list of entries")
            }
            var next = try r.optionalInt("value-start") ?? 0
            var out: [(value: UInt64, name: String)] = []
            for item in items {
                var name: String
                var position = next
                if case .scalar(let scalar) = item {
                    name = scalar.string
                } else {
                    let e = try MapReader(
                        file: file, path: "\(r.childPath("entries"))[\(MapReader.label(of: item) ?? "?")]", node: item)
                    name = try e.string("name")
                    position = try e.optionalInt("value") ?? next
                    e.ignore(["doc"])
                    try e.finish(hint: YNLSpecLoader.hint)
                }
                // An entry number that leaves no room for the next one is hostile, not an enum.
                guard position < Int.max else {
                    throw r.error(
                        "entries", "entry '\(name)' has the value \(position), too large to number the next entry")
                }
                if flags {
                    guard (0..<64).contains(position) else {
                        throw r.error("entries", "flag '\(name)' is bit \(position), outside a u64")
                    }
                    out.append((1 << UInt64(position), name))
                } else {
                    guard position >= 0 else { throw r.error("entries", "entry '\(name)' has a negative value") }
                    out.append((UInt64(position), name))
                }
                next = position + 1
            }
            return out
        }

        func structRef(_ name: String, _ r: MapReader, _ key: String) throws -> Int {
            guard let i = structIndex[name] else { throw r.error(key, "no struct definition '\(name)'") }
            return i
        }

        func setRef(_ name: String, _ r: MapReader, _ key: String) throws -> Int {
            guard let i = setIndex[name] else { throw r.error(key, "no attribute set '\(name)'") }
            return i
        }

        func enumRef(_ r: MapReader) throws -> Int? {
            guard let name = try r.optionalString("enum") else { return nil }
            guard let i = enumIndex[name] else { throw r.error("enum", "no enum or flags definition '\(name)'") }
            return i
        }

        func integer(_ scalar: YNLScalar, _ r: MapReader) throws -> YNLInteger {
            let order = try r.optionalString("byte-order")
            guard order == nil || order == "big-endian" || order == "little-endian" else {
                throw r.error("byte-order", "expected big-endian or little-endian")
            }
            let e = try enumRef(r)
            let asFlags = try r.bool("enum-as-flags") || (e.map { enums[$0].isFlags } ?? false)
            return YNLInteger(scalar: scalar, bigEndian: order == "big-endian", enumIndex: e, asFlags: asFlags)
        }

        func length(_ r: MapReader, _ key: String) throws -> Int {
            guard let node = r.node(key) else { throw r.error(nil, "missing key '\(key)'") }
            if let v = node.int, v >= 0, v <= 65535 { return v }
            if let s = node.string, let v = consts[s], v >= 0, v <= 65535 { return v }
            throw r.error(key, "expected a byte count (an integer or a const's name)")
        }

        mutating func structure(_ i: Int, visiting: [Int]) throws -> YNLStruct {
            if let s = structs[i] { return s }
            let (r, name) = structReaders[i]
            if visiting.contains(i) {
                throw r.error("members", "struct '\(name)' contains itself")
            }
            var members: [(name: String, member: YNLStruct.Member)] = []
            var size = 0
            for m in try r.mappings("members", required: true) {
                let mname = try m.string("name")
                let type = try m.string("type")
                m.ignore(["doc", "display-hint"])
                let member: YNLStruct.Member
                if let scalar = YNLScalar(type), scalar.width > 0 {
                    member = .integer(try integer(scalar, m))
                    size += scalar.width
                } else if type == "pad" {
                    let n = try length(m, "len")
                    member = .pad(n)
                    size += n
                } else if type == "binary" {
                    if let sname = try m.optionalString("struct") {
                        let si = try structRef(sname, m, "struct")
                        let inner = try structure(si, visiting: visiting + [i])
                        member = .structure(si)
                        size += inner.size
                    } else {
                        let n = try length(m, "len")
                        _ = try m.optionalString("byte-order")
                        member = .binary(n)
                        size += n
                    }
                } else {
                    throw m.error("type", "'\(type)' is not a struct member type (u8..s64, pad, binary)")
                }
                try m.finish(hint: YNLSpecLoader.hint)
                members.append((mname, member))
            }
            try r.finish(hint: YNLSpecLoader.hint)
            let s = YNLStruct(name: name, members: members, size: size)
            structs[i] = s
            return s
        }

        func attributeSet(_ r: MapReader, parent: (String) throws -> YNLAttributeSet) throws -> YNLAttributeSet {
            let name = try r.string("name")
            let setDoc = try r.optionalString("doc")
            r.ignore(["name-prefix", "enum-name", "attr-cnt-name", "attr-max-name"])
            var attributes: [YNLAttribute] = []
            if let parentName = try r.optionalString("subset-of") {
                let p = try parent(parentName)
                for a in try r.mappings("attributes", required: true) {
                    let aname = try a.string("name")
                    guard var real = p.attribute(named: aname) else {
                        throw a.error("name", "'\(parentName)' has no attribute '\(aname)'")
                    }
                    // A subset re-lists its set's attributes; only the doc, checks and
                    // multi-attr may be said again.
                    if let doc = try a.optionalString("doc") { real.doc = doc }
                    a.ignore([
                        "checks", "type", "value", "nested-attributes", "enum", "display-hint", "byte-order", "struct",
                        "sub-type",
                    ])
                    real.multiAttr = try a.bool("multi-attr", default: real.multiAttr)
                    try a.finish(hint: YNLSpecLoader.hint)
                    // devlink's subsets list some attributes twice; YNL keeps one.
                    if let i = attributes.firstIndex(where: { $0.name == aname }) {
                        attributes[i].multiAttr = attributes[i].multiAttr || real.multiAttr
                    } else {
                        attributes.append(real)
                    }
                }
            } else {
                var next = 1
                for a in try r.mappings("attributes", required: true) {
                    let v = try a.optionalInt("value") ?? next
                    guard (0...Int(Netlink.attributeTypeMask)).contains(v) else {
                        throw a.error("value", "attribute value \(v) is outside 0...\(Netlink.attributeTypeMask)")
                    }
                    next = v + 1
                    attributes.append(try attribute(a, value: UInt16(v)))
                }
            }
            try r.finish(hint: YNLSpecLoader.hint)
            var byType: [Int32] = []
            for (i, a) in attributes.enumerated() {
                let t = Int(a.value)
                if t >= byType.count { byType += Array(repeating: -1, count: t + 1 - byType.count) }
                if byType[t] >= 0 {
                    throw r.error(
                        "attributes", "'\(attributes[Int(byType[t])].name)' and '\(a.name)' share the value \(t)")
                }
                byType[t] = Int32(i)
            }
            return YNLAttributeSet(name: name, doc: setDoc, attributes: attributes, byType: byType)
        }

        func attribute(_ a: MapReader, value: UInt16) throws -> YNLAttribute {
            let name = try a.string("name")
            let type = try a.string("type")
            let doc = try a.optionalString("doc")
            a.ignore(["checks", "name-prefix", "config-cond"])
            let multi = try a.bool("multi-attr")
            // ethtool's stats-grp.stat says type-value on a u64: it only documents the levels there.
            let typeValue = try a.strings("type-value")
            let hint = try a.optionalString("display-hint")
            let nested = try a.optionalString("nested-attributes").map { try setRef($0, a, "nested-attributes") }
            func needNested() throws -> Int {
                guard let nested else { throw a.error(nil, "a \(type) attribute needs 'nested-attributes'") }
                return nested
            }
            let kind: YNLAttribute.Kind
            switch type {
            case "unused": kind = .unused
            case "pad": kind = .pad
            case "flag": kind = .flag
            case "string": kind = .string
            case "nest": kind = .nest(try needNested())
            case "binary":
                if let s = try a.optionalString("struct") {
                    kind = .structure(try structRef(s, a, "struct"))
                } else if let sub = try a.optionalString("sub-type") {
                    guard let scalar = YNLScalar(sub), scalar.width > 0 else {
                        throw a.error("sub-type", "'\(sub)' is not a fixed-width integer type")
                    }
                    kind = .array(try integer(scalar, a))
                } else {
                    // Byte order of a binary (an IPv6 address) is only a display matter.
                    _ = try a.optionalString("byte-order")
                    kind = .binary
                }
            case "indexed-array":
                guard let sub = try a.optionalString("sub-type") else {
                    throw a.error(nil, "an indexed-array needs 'sub-type'")
                }
                if sub == "nest" {
                    kind = .indexedArray(.nest(try needNested()))
                } else if sub == "binary" {
                    kind = .indexedArray(.binary)
                } else if let scalar = YNLScalar(sub) {
                    kind = .indexedArray(.integer(try integer(scalar, a)))
                } else {
                    throw a.error("sub-type", "'\(sub)' is not nest, binary or an integer type")
                }
            case "nest-type-value":
                let levels = typeValue
                guard !levels.isEmpty else { throw a.error("type-value", "a nest-type-value needs at least one level") }
                kind = .nestTypeValue(levels: levels, set: try needNested())
            case "bitfield32":
                kind = .bitfield32(enumIndex: try enumRef(a))
                _ = try a.bool("enum-as-flags")
            case "sub-message":
                guard let sub = try a.optionalString("sub-message") else {
                    throw a.error(nil, "a sub-message attribute needs 'sub-message'")
                }
                guard let i = subMessageIndex[sub] else { throw a.error("sub-message", "no sub-message '\(sub)'") }
                guard let selector = try a.optionalString("selector") else {
                    throw a.error(nil, "a sub-message attribute needs 'selector'")
                }
                kind = .subMessage(index: i, selector: selector)
            default:
                guard let scalar = YNLScalar(type) else {
                    throw a.error("type", "'\(type)' is not a YNL attribute type")
                }
                kind = .integer(try integer(scalar, a))
            }
            // A binary's length checks bound its payload (net_flow_nl's field values: 1 to 8
            // bytes). A bound given by a const's name is not applied.
            var length: ClosedRange<Int>?
            if case .binary = kind, let checks = try a.mapping("checks") {
                let exact = (try? checks.optionalInt("exact-len")) ?? nil
                let low = exact ?? ((try? checks.optionalInt("min-len")) ?? nil) ?? 0
                let high = exact ?? ((try? checks.optionalInt("max-len")) ?? nil) ?? Int.max
                if low > 0 || high < Int.max {
                    guard low <= high else { throw a.error("checks", "min-len \(low) is above max-len \(high)") }
                    length = low...high
                }
            }
            try a.finish(hint: YNLSpecLoader.hint)
            return YNLAttribute(
                name: name, value: value, kind: kind, multiAttr: multi, displayHint: hint, typeName: type,
                length: length, doc: doc)
        }

        func operations(_ list: [MapReader], directional: Bool, fixedHeader: Int?) throws -> [YNLOperation] {
            var out: [YNLOperation] = []
            var names: [String: Int] = [:]
            var notifyRefs: [(Int, String, MapReader)] = []
            var val = 1
            var reqVal: Int? = 1
            var rspVal: Int? = 1
            for r in list {
                let name = try r.string("name")
                r.ignore(["doc", "flags", "dont-validate", "config-cond", "mcgrp"])
                let set = try r.optionalString("attribute-set").map { try setRef($0, r, "attribute-set") }
                let fh =
                    try r.optionalString("fixed-header").map { try structRef($0, r, "fixed-header") } ?? fixedHeader
                var modes: [String: MapReader] = [:]
                for key in ["do", "dump"] {
                    if let m = try r.mapping(key) {
                        m.ignore(["pre", "post"])
                        for part in ["request", "reply"] {
                            if let p = try m.mapping(part) {
                                _ = try p.strings("attributes")
                                _ = try p.optionalInt("value")
                                try p.finish(hint: YNLSpecLoader.hint)
                            }
                        }
                        try m.finish(hint: YNLSpecLoader.hint)
                        modes[key] = m
                    }
                }
                let notify = try r.optionalString("notify")
                let event = try r.mapping("event")
                if let event { _ = try event.strings("attributes"); try event.finish(hint: YNLSpecLoader.hint) }
                let explicit = try r.optionalInt("value")
                var op = YNLOperation(
                    name: name, requestValue: nil, replyValue: nil, attributeSet: set, fixedHeader: fh)
                if !directional {
                    if let explicit { val = explicit }
                    guard (0...65535).contains(val) else {
                        throw r.error("value", "operation value \(val) is out of range")
                    }
                    op.requestValue = UInt16(val)
                    op.replyValue = UInt16(val)
                    val += 1
                } else if notify != nil || event != nil {
                    if let explicit { rspVal = explicit }
                    guard let rv = rspVal, (0...65535).contains(rv) else {
                        throw r.error("value", "operation value out of range")
                    }
                    op.replyValue = UInt16(rv)
                    rspVal = rv + 1
                } else if let mode = modes["do"] ?? modes["dump"] {
                    func partValue(_ part: String) throws -> Int? {
                        guard let p = mode.has(part) ? try mode.mapping(part) : nil else { return nil }
                        return try p.optionalInt("value")
                    }
                    if let v = try partValue("request"), v != 0 { reqVal = v }
                    if let v = try partValue("reply"), v != 0 { rspVal = v }
                    let hasReply = mode.has("reply")
                    guard let rq = reqVal ?? Optional(1), let rs = rspVal, (0...65535).contains(rq),
                        (0...65535).contains(rs)
                    else {
                        throw r.error(nil, "operation value out of range")
                    }
                    op.requestValue = UInt16(rq)
                    op.replyValue = hasReply ? UInt16(rs) : nil
                    reqVal = rq + 1
                    rspVal = rs + (hasReply ? 1 : 0)
                } else {
                    throw r.error(nil, "a directional operation needs do, dump, notify or event")
                }
                try r.finish(hint: YNLSpecLoader.hint)
                if names[name] != nil { throw r.error("name", "operation '\(name)' is defined twice") }
                names[name] = out.count
                if let notify, set == nil { notifyRefs.append((out.count, notify, r)) }
                out.append(op)
            }
            // A notification without its own set uses the set of the operation it notifies about.
            for (i, target, r) in notifyRefs {
                guard let t = names[target] else { throw r.error("notify", "no operation '\(target)'") }
                out[i].attributeSet = out[t].attributeSet
                if out[i].fixedHeader == nil { out[i].fixedHeader = out[t].fixedHeader }
            }
            return out
        }
    }
}

enum FileReader {
    static func read(_ path: String) -> [UInt8]? {
        guard let d = FileManager.default.contents(atPath: path) else { return nil }
        return [UInt8](d)
    }
}
