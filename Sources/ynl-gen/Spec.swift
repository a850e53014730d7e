// The YNL model: the part of the kernel's genetlink-legacy spec format that our families use, plus
// the facts of the family's generator hints (spec/hints/<spec file>: Swift names, required and
// rejected attributes, the cross-family nest; see spec/README.md). Values are resolved here with
// YNL's numbering rules and the hints merged in, so the emitters only print.

import Yams
import YNL

struct Family {
    var file: String
    /// The generator hints file read for this family, if there is one.
    var hintsFile: String?
    var name: String
    var version: Int
    var doc: String
    var uapiHeader: String
    var cFamilyName: String
    var cVersionName: String
    var cmdMaxName: String
    var cmdCntName: String
    /// The Swift namespace (enum) and file name; nil: no Swift output.
    var swiftName: String?
    /// Hints `swift-access`: the generated Swift's access level, `public` (the default: part of
    /// LibFlowTable's API) or `package` (used only inside this package).
    var swiftAccess = "public"
    /// Hints `kernel.doit`: the kernel module's one handler of every operation, or
    /// `kernel.doit-prefix`: each operation's handler is the prefix + its C name (`unft_hp_encap`).
    var kernelDoit: String?
    var kernelDoitPrefix: String?
    /// Hints `kernel.dumpit`: the handler of the operations that are also dumps.
    var kernelDumpit: String?
    var definitions: [Definition]
    var attributeSets: [AttributeSet]
    var operations: Operations

    func attributeSet(_ name: String) -> AttributeSet? { attributeSets.first { $0.name == name } }
    func definition(_ name: String) -> Definition? { definitions.first { $0.name == name } }
    func operation(_ name: String) -> Operation? { operations.list.first { $0.name == name } }

    /// The names of the attributes `set` must carry at one place: nested by `via` (nil: the top
    /// level or no particular place) in a message of `operation` (nil: outside any operation's
    /// rules). The operation's rule wins over the place's, which wins over the set's.
    func requiredAttributes(of set: AttributeSet, via: Attribute? = nil, operation: Operation? = nil) -> [String] {
        if let rule = operation?.required[set.name] { return rule }
        if let rule = via?.nestedRequired { return rule }
        return set.required
    }

    /// The attributes of `set` refused at one place (nested by `via`), with the reason: the
    /// set's own rejections and the place's.
    func rejectedAttributes(of set: AttributeSet, via: Attribute? = nil) -> [Rejection] {
        set.rejected + (via?.nestedRejected ?? [])
    }

    /// The set a nest attribute of the operation's attribute set holds in the operation's request
    /// (get-flows' flows holds the selector) or reply; the attribute's own set otherwise.
    func nestedSet(of attribute: Attribute, request: Bool, operation: Operation?) -> String? {
        if request, let name = operation?.requestNested[attribute.name] { return name }
        return attribute.nestedAttributes
    }
}

/// An attribute that a set declares but a place refuses ("NEXT_NODE is only allowed in a jump
/// entry": the reason is the text after the attribute's name).
struct Rejection: Equatable {
    var attribute: String
    var reason: String
}

struct Definition {
    enum Kind: String { case const, `enum`, flags }

    var name: String
    var kind: Kind
    var doc: String?
    /// Prefix of the C names: of the entries for enum/flags, of the define for const.
    var namePrefix: String
    /// nil: anonymous C enum.
    var enumName: String?
    var entries: [Entry]
    var constValue: Int
    var swiftName: String?
    var swiftType: String
    var line: Int?
}

struct Entry {
    var name: String
    /// The value on the wire: for flags already the bit (1 << position), as YNL's user_value().
    var value: Int
    var doc: String?
    var swiftName: String?
}

struct AttributeSet {
    var name: String
    var namePrefix: String
    var enumName: String?
    var doc: String?
    /// A subset only re-lists attributes of another set: no C enum, no Swift enum of its own.
    var subsetOf: String?
    var attrCntName: String
    var attrMaxName: String
    var swiftName: String?
    var attributes: [Attribute]
    /// Hints: the attributes every instance of the set carries (names, in attribute order).
    var required: [String] = []
    /// Hints: attributes the set declares but never accepts.
    var rejected: [Rejection] = []
    var line: Int?
}

struct Attribute {
    var name: String
    var type: String
    var value: Int
    var doc: String?
    var multiAttr: Bool
    var nestedAttributes: String?
    /// For a nest that holds another family's set (hairpin's encap attr holds net_flow_nl's top level).
    var nestedFamily: String?
    var enumRef: String?
    /// `enum-as-flags`: the value is a bit set of the enum's (flags) entries, not one of them.
    var enumAsFlags: Bool = false
    /// `checks: max-len` of a binary: the Lua dissector shows short binaries as integers.
    var maxLen: Int?
    /// `checks: min-len`: with max-len, the kernel policy's length range.
    var minLen: Int?
    var swiftName: String?
    /// Hints, nest attributes only: the required attributes of the nested set at this place
    /// (a jump entry's field-ref needs next-node); nil: the set's own list.
    var nestedRequired: [String]?
    /// Hints, nest attributes only: attributes of the nested set refused at this place.
    var nestedRejected: [Rejection] = []
    /// Hints: a receiver refuses a value that is not an entry of `enumRef` (flows-error).
    var checkEnum: Bool = false
    var line: Int?
}

struct Operations {
    var namePrefix: String
    var enumName: String?
    var list: [Operation]
}

struct Operation {
    var name: String
    var value: Int
    var doc: String
    var attributeSet: String
    var request: [String]?
    var reply: [String]?
    /// `dump`: the operation is also a dump (NLM_F_DUMP); its `pre` and `post` name the kernel's
    /// start and done callbacks (YNL's keys), in C with '-' as '_'.
    var dump = false
    var dumpPre: String?
    var dumpPost: String?
    /// `flags` (admin-perm, uns-admin-perm): the genl op flags.
    var flags: [String] = []
    var swiftName: String?
    /// Hints: required attributes per set name inside this operation's messages, replacing the
    /// set's list (del-flows: a flow needs table and uid only).
    var required: [String: [String]] = [:]
    /// Hints: nest attributes whose request layout is another set (get-flows' flows).
    var requestNested: [String: String] = [:]
    var line: Int?
}

// MARK: loading

enum SpecLoader {
    static let attributeTypes: Set<String> = [
        "unused", "pad", "flag", "binary", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "string", "nest",
    ]

    /// Reads and checks one spec. `file` is the path printed in errors and generated headers.
    static func load(yaml text: String, file: String) throws -> Family {
        // tools/net/ynl refuses a spec whose first line is not the SPDX tag.
        guard text.hasPrefix("# SPDX-License-Identifier: ") else {
            throw SpecError(
                file: file, line: 1, path: "",
                message: "the first line must be the SPDX tag ('# SPDX-License-Identifier: ...'), as YNL requires")
        }
        let top = try MapReader(file: file, path: "", node: try composeNonEmptyYAML(text, file: file))
        let name = try top.string("name")
        let protocolName = try top.optionalString("protocol") ?? "genetlink"
        guard protocolName == "genetlink-legacy" else {
            throw top.error("protocol", "ynl-gen only handles genetlink-legacy specs")
        }
        guard let uapiHeader = try top.optionalString("uapi-header") else {
            throw top.error(nil, "missing key 'uapi-header' (it names the generated C header)")
        }
        let operations = try top.mapping("operations")
        guard let operations else { throw top.error(nil, "missing key 'operations'") }
        let opsPrefix = try operations.optionalString("name-prefix") ?? "\(name)-cmd-"
        let family = Family(
            file: file,
            hintsFile: nil,
            name: name,
            version: try top.optionalInt("version") ?? 1,
            doc: try top.string("doc"),
            uapiHeader: uapiHeader,
            cFamilyName: try top.optionalString("c-family-name") ?? "\(name)-family-name",
            cVersionName: try top.optionalString("c-version-name") ?? "\(name)-family-version",
            cmdMaxName: try top.optionalString("cmd-max-name") ?? "\(opsPrefix)max",
            cmdCntName: try top.optionalString("cmd-cnt-name") ?? "__\(opsPrefix)max",
            swiftName: nil,
            kernelDoit: nil,
            kernelDoitPrefix: nil,
            kernelDumpit: nil,
            definitions: try top.mappings("definitions").map { try definition($0, family: name) },
            attributeSets: try top.mappings("attribute-sets", required: true).map {
                try attributeSet($0, family: name)
            },
            operations: Operations(
                namePrefix: opsPrefix,
                enumName: try operations.optionalString("enum-name"),
                list: try operations.mappings("list", required: true).map(operation)))
        try operations.finish()
        try top.finish()
        return try resolveSubsets(family)
    }

    static func definition(_ r: MapReader, family: String) throws -> Definition {
        let name = try r.string("name")
        guard let kind = Definition.Kind(rawValue: try r.string("type")) else {
            throw r.error("type", "expected const, enum or flags")
        }
        var entries: [Entry] = []
        var constValue = 0
        switch kind {
        case .const:
            guard let value = try r.optionalInt("value") else { throw r.error(nil, "a const needs an integer 'value'") }
            constValue = value
        case .enum, .flags:
            entries = try self.entries(r, flags: kind == .flags)
        }
        let definition = Definition(
            name: name, kind: kind, doc: try r.optionalString("doc"),
            namePrefix: try r.optionalString("name-prefix") ?? (kind == .const ? "\(family)-" : "\(family)-\(name)-"),
            enumName: try r.optionalString("enum-name"),
            entries: entries, constValue: constValue,
            swiftName: nil,
            swiftType: "UInt32", line: r.line)
        try r.finish()
        return definition
    }

    /// YNL's numbering: value-start (default 0), then previous + 1 unless an entry gives `value`.
    /// For flags the number is a bit position.
    static func entries(_ r: MapReader, flags: Bool) throws -> [Entry] {
        guard let node = r.node("entries"), case .sequence(let items) = node else {
            throw r.error("entries", "an enum or flags needs a list of entries")
        }
        var next = try r.optionalInt("value-start") ?? 0
        var entries: [Entry] = []
        for item in items {
            var entry: Entry
            var position = next
            if case .scalar(let scalar) = item {
                entry = Entry(name: scalar.string, value: 0, doc: nil, swiftName: nil)
            } else {
                let e = try MapReader(
                    file: r.file, path: "\(r.childPath("entries"))[\(MapReader.label(of: item) ?? "?")]",
                    node: item)
                entry = Entry(
                    name: try e.string("name"), value: 0, doc: try e.optionalString("doc"),
                    swiftName: nil)
                position = try e.optionalInt("value") ?? next
                try e.finish()
            }
            guard !flags || (0..<32).contains(position) else {
                throw r.error("entries", "flag '\(entry.name)' is bit \(position), outside a u32")
            }
            entry.value = flags ? 1 << position : position
            entries.append(entry)
            next = position + 1
        }
        return entries
    }

    static func attributeSet(_ r: MapReader, family: String) throws -> AttributeSet {
        let name = try r.string("name")
        let subsetOf = try r.optionalString("subset-of")
        let prefix = try r.optionalString("name-prefix") ?? "\(family)-a-\(name)-"
        if subsetOf != nil && r.has("name-prefix") {
            throw r.error("name-prefix", "a subset takes its names from its set")
        }
        // YNL's numbering: 1 for the first attribute, then previous + 1 unless `value` is given.
        var next = 1
        var attributes: [Attribute] = []
        for a in try r.mappings("attributes", required: true) {
            let attrName = try a.string("name")
            let type: String
            if subsetOf != nil {
                for key in ["type", "value"] where a.has(key) {
                    throw a.error(key, "a subset's attribute takes its \(key) from its set")
                }
                type = ""  // filled in by resolveSubsets
            } else {
                type = try a.string("type")
                guard attributeTypes.contains(type) else {
                    throw a.error("type", "'\(type)' is not an attribute type ynl-gen knows")
                }
            }
            var maxLen: Int?
            var minLen: Int?
            if let checks = try a.mapping("checks") {
                // Kernel policy hints (the module's policies are generated from them). max-len also
                // tells the Lua dissector that a binary is a short integer (a field reference's value).
                maxLen = try checks.optionalInt("max-len")
                minLen = try checks.optionalInt("min-len")
                try checks.finish()
            }
            let value = try a.optionalInt("value") ?? next
            next = value + 1
            attributes.append(
                Attribute(
                    name: attrName, type: type, value: value, doc: try a.optionalString("doc"),
                    multiAttr: try a.bool("multi-attr"),
                    nestedAttributes: try a.optionalString("nested-attributes"),
                    nestedFamily: nil,
                    enumRef: try a.optionalString("enum"),
                    enumAsFlags: try a.bool("enum-as-flags"),
                    maxLen: maxLen,
                    minLen: minLen,
                    swiftName: nil, line: a.line))
            try a.finish()
        }
        let set = AttributeSet(
            name: name, namePrefix: prefix, enumName: try r.optionalString("enum-name"),
            doc: try r.optionalString("doc"), subsetOf: subsetOf,
            attrCntName: try r.optionalString("attr-cnt-name") ?? "__\(prefix)max",
            attrMaxName: try r.optionalString("attr-max-name") ?? "\(prefix)max",
            swiftName: nil, attributes: attributes, line: r.line)
        try r.finish()
        return set
    }

    static func operation(_ r: MapReader) throws -> Operation {
        // YNL would number operations from 1; this family starts at 0, so ynl-gen wants every
        // value spelled out rather than trusting a default that differs between families.
        guard let value = try r.optionalInt("value") else {
            throw r.error(nil, "every operation needs an explicit 'value' (see spec/README.md)")
        }
        var request: [String]?
        var reply: [String]?
        if let mode = try r.mapping("do") {
            if let m = try mode.mapping("request") { request = try m.strings("attributes"); try m.finish() }
            if let m = try mode.mapping("reply") { reply = try m.strings("attributes"); try m.finish() }
            try mode.finish()
        }
        var dump = false
        var dumpPre: String?
        var dumpPost: String?
        if let mode = try r.mapping("dump") {
            dump = true
            if let m = try mode.mapping("request") { _ = try m.strings("attributes"); try m.finish() }
            if let m = try mode.mapping("reply") { _ = try m.strings("attributes"); try m.finish() }
            dumpPre = try mode.optionalString("pre").map { $0.replacingOccurrences(of: "-", with: "_") }
            dumpPost = try mode.optionalString("post").map { $0.replacingOccurrences(of: "-", with: "_") }
            for name in [dumpPre, dumpPost].compactMap({ $0 }) where !Naming.isCIdentifier(name) {
                throw mode.error(nil, "'\(name)' is not a C identifier")
            }
            try mode.finish()
        }
        let flags = try r.strings("flags")
        for flag in flags where !["admin-perm", "uns-admin-perm"].contains(flag) {
            throw r.error("flags", "'\(flag)': ynl-gen knows admin-perm and uns-admin-perm")
        }
        var op = Operation(
            name: try r.string("name"), value: value, doc: try r.string("doc"),
            attributeSet: try r.string("attribute-set"), request: request, reply: reply,
            flags: flags, swiftName: nil, line: r.line)
        op.dump = dump
        op.dumpPre = dumpPre
        op.dumpPost = dumpPost
        try r.finish()
        return op
    }

    /// A subset's attributes are its set's attributes (number, type, nest); the subset may only add
    /// a doc and mark them multi-attr (a table's action list repeats the action uid attribute).
    static func resolveSubsets(_ family: Family) throws -> Family {
        var family = family
        for index in family.attributeSets.indices {
            let set = family.attributeSets[index]
            guard let parentName = set.subsetOf else { continue }
            let path = "attribute-sets[\(set.name)]"
            guard let parent = family.attributeSet(parentName), parent.subsetOf == nil else {
                throw SpecError(
                    file: family.file, line: nil, path: path + ".subset-of",
                    message: "no attribute set '\(parentName)' to be a subset of")
            }
            family.attributeSets[index].attributes = try set.attributes.map { attr in
                guard var real = parent.attributes.first(where: { $0.name == attr.name }) else {
                    throw SpecError(
                        file: family.file, line: nil, path: "\(path).attributes[\(attr.name)]",
                        message: "'\(parentName)' has no attribute '\(attr.name)'")
                }
                real.multiAttr = real.multiAttr || attr.multiAttr
                real.doc = attr.doc ?? real.doc
                real.line = attr.line
                return real
            }
        }
        return family
    }
}

// MARK: generator hints

/// Reads a family's generator hints (spec/hints/<spec file>) into its model. Every key and every
/// name is checked: a hint for a set, attribute, definition or operation the spec does not have
/// (renamed in the spec, or mistyped) is an error naming the hints file, line and path.
enum HintsLoader {
    static let swiftTypes: Set<String> = ["UInt8", "UInt16", "UInt32", "UInt64", "Int"]

    static func apply(yaml text: String, file: String, to family: Family) throws -> Family {
        var family = family
        family.hintsFile = file
        guard let root = try composeYAML(text, file: file) else { return family }
        let top = try MapReader(file: file, path: "", node: root)
        family.swiftName = try top.optionalString("swift-name")
        if let access = try top.optionalString("swift-access") {
            guard ["public", "package"].contains(access) else {
                throw top.error("swift-access", "expected public or package")
            }
            family.swiftAccess = access
        }
        if let kernel = try top.mapping("kernel") {
            family.kernelDoit = try kernel.optionalString("doit")
            family.kernelDoitPrefix = try kernel.optionalString("doit-prefix")
            family.kernelDumpit = try kernel.optionalString("dumpit")
            if (family.kernelDoit == nil) == (family.kernelDoitPrefix == nil) {
                throw kernel.error(nil, "give either doit (one handler) or doit-prefix (one per operation)")
            }
            for name in [family.kernelDoit, family.kernelDoitPrefix, family.kernelDumpit].compactMap({ $0 })
            where !Naming.isCIdentifier(name) {
                throw kernel.error(nil, "'\(name)' is not a C identifier")
            }
            try kernel.finish()
        }

        for (name, r) in try top.keyedMappings("definitions") {
            guard let index = family.definitions.firstIndex(where: { $0.name == name }) else {
                throw missing(r, "definition '\(name)'", family)
            }
            family.definitions[index].swiftName = try r.optionalString("swift-name")
            if let type = try r.optionalString("swift-type") {
                guard family.definitions[index].kind == .const else {
                    throw r.error("swift-type", "only a const definition has a Swift type")
                }
                guard swiftTypes.contains(type) else {
                    throw r.error("swift-type", "expected UInt8, UInt16, UInt32, UInt64 or Int")
                }
                family.definitions[index].swiftType = type
            }
            for (entryName, e) in try r.keyedMappings("entries") {
                guard let entry = family.definitions[index].entries.firstIndex(where: { $0.name == entryName }) else {
                    throw missing(e, "entry '\(entryName)' in definition '\(name)'", family)
                }
                family.definitions[index].entries[entry].swiftName = try e.optionalString("swift-name")
                try e.finish()
            }
            try r.finish()
        }

        for (name, r) in try top.keyedMappings("attribute-sets") {
            guard let index = family.attributeSets.firstIndex(where: { $0.name == name }) else {
                throw missing(r, "attribute set '\(name)'", family)
            }
            var set = family.attributeSets[index]
            if let swiftName = try r.optionalString("swift-name") {
                if set.subsetOf != nil { throw r.error("swift-name", "a subset has no Swift enum of its own") }
                set.swiftName = swiftName
            }
            set.required = try attributeNames(r, "required", in: set, family)
            set.rejected = try rejections(r, in: set, family)
            for (attrName, a) in try r.keyedMappings("attributes") {
                guard let attrIndex = set.attributes.firstIndex(where: { $0.name == attrName }) else {
                    throw missing(a, "attribute '\(attrName)' in set '\(name)'", family)
                }
                if set.subsetOf != nil {
                    throw a.error(nil, "a subset's attributes take their facts from its set '\(set.subsetOf!)'")
                }
                set.attributes[attrIndex] = try attribute(a, set.attributes[attrIndex], family)
            }
            try r.finish()
            family.attributeSets[index] = set
        }

        for (name, r) in try top.keyedMappings("operations") {
            guard let index = family.operations.list.firstIndex(where: { $0.name == name }) else {
                throw missing(r, "operation '\(name)'", family)
            }
            var op = family.operations.list[index]
            op.swiftName = try r.optionalString("swift-name")
            for (setName, attrs) in try r.keyedStringLists("required") {
                guard let set = family.attributeSet(setName) else {
                    throw missing(
                        r, "attribute set '\(setName)' (operations.\(name).required)", family, key: "required")
                }
                for attr in attrs where !set.attributes.contains(where: { $0.name == attr }) {
                    throw r.error("required", "'\(setName)' has no attribute '\(attr)' (the spec \(family.file))")
                }
                op.required[setName] = set.attributes.map(\.name).filter(attrs.contains)
            }
            if let request = try r.mapping("request") {
                guard let owner = family.attributeSet(op.attributeSet) else {
                    throw request.error(nil, "operation '\(name)' has no attribute set")
                }
                for (attrName, setName) in try request.keyedStrings("nested-attributes") {
                    guard let attr = owner.attributes.first(where: { $0.name == attrName }), attr.type == "nest" else {
                        throw request.error(
                            "nested-attributes",
                            "'\(owner.name)' has no nest attribute '\(attrName)' (the spec \(family.file))")
                    }
                    guard family.attributeSet(setName) != nil else {
                        throw request.error(
                            "nested-attributes", "no attribute set '\(setName)' in the spec \(family.file)")
                    }
                    op.requestNested[attrName] = setName
                }
                try request.finish()
            }
            try r.finish()
            family.operations.list[index] = op
        }
        try top.finish()
        return family
    }

    static func missing(_ r: MapReader, _ what: String, _ family: Family, key: String? = nil) -> SpecError {
        r.error(key, "the spec \(family.file) has no \(what)")
    }

    /// A list of attribute names of `set`, returned in the set's order (so emitters print stably).
    static func attributeNames(_ r: MapReader, _ key: String, in set: AttributeSet, _ family: Family) throws -> [String]
    {
        let names = try r.strings(key)
        for name in names where !set.attributes.contains(where: { $0.name == name }) {
            throw r.error(key, "'\(set.name)' has no attribute '\(name)' (the spec \(family.file))")
        }
        for name in names where names.filter({ $0 == name }).count > 1 {
            throw r.error(key, "'\(name)' is listed twice")
        }
        return set.attributes.map(\.name).filter(names.contains)
    }

    static func rejections(_ r: MapReader, in set: AttributeSet, _ family: Family) throws -> [Rejection] {
        try r.keyedStrings("rejected").map { name, reason in
            guard set.attributes.contains(where: { $0.name == name && $0.type != "unused" }) else {
                throw r.error("rejected", "'\(set.name)' has no attribute '\(name)' (the spec \(family.file))")
            }
            return Rejection(attribute: name, reason: reason)
        }
    }

    static func attribute(_ a: MapReader, _ attribute: Attribute, _ family: Family) throws -> Attribute {
        var attr = attribute
        attr.swiftName = try a.optionalString("swift-name")
        let nestedFamily = try a.optionalString("nested-family")
        let nestedAttributes = try a.optionalString("nested-attributes")
        if nestedFamily != nil || nestedAttributes != nil {
            // The one thing YNL cannot say: a nest of another family's set. The spec declares it
            // binary (YNL clients see bytes); on the wire and to every output it is that nest.
            guard attr.type == "binary" else {
                throw a.error(
                    nil,
                    "nested-family applies to a binary attribute that holds another family's set (this one is \(attr.type))"
                )
            }
            guard let nestedFamily, let nestedAttributes else {
                throw a.error(nil, "nested-family and nested-attributes go together")
            }
            attr.type = "nest"
            attr.nestedFamily = nestedFamily
            attr.nestedAttributes = nestedAttributes
        }
        if try a.bool("check-enum") {
            // Checked as a range 0...last: the entries must number 0, 1, 2, ... (a plain enum).
            guard let def = attr.enumRef.flatMap(family.definition), def.kind == .enum,
                def.entries.map(\.value) == Array(0..<def.entries.count)
            else {
                throw a.error("check-enum", "check-enum needs an enum attribute whose entries number 0, 1, 2, ...")
            }
            attr.checkEnum = true
        }
        let place = try a.strings("required")
        if a.has("required") || a.has("rejected") {
            guard attr.type == "nest", attr.nestedFamily == nil,
                let nested = attr.nestedAttributes.flatMap(family.attributeSet)
            else {
                throw a.error(
                    a.has("required") ? "required" : "rejected",
                    "only a nest of this family's sets can say what its nested set needs at this place")
            }
            if a.has("required") {
                for name in place where !nested.attributes.contains(where: { $0.name == name }) {
                    throw a.error("required", "'\(nested.name)' has no attribute '\(name)' (the spec \(family.file))")
                }
                attr.nestedRequired = nested.attributes.map(\.name).filter(place.contains)
            }
            attr.nestedRejected = try rejections(a, in: nested, family)
        }
        try a.finish()
        return attr
    }
}
