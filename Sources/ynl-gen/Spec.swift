// The YNL model: the part of the kernel's genetlink-legacy spec format that our families use, plus
// the FlowTrace extensions (swift-name, swift-type, nested-family; see spec/README.md). Values are
// resolved here with YNL's numbering rules, so the emitters only print.

import Yams

struct Family {
    var file: String
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
    var definitions: [Definition]
    var attributeSets: [AttributeSet]
    var operations: Operations

    func attributeSet(_ name: String) -> AttributeSet? { attributeSets.first { $0.name == name } }
    func definition(_ name: String) -> Definition? { definitions.first { $0.name == name } }
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
    var swiftName: String?
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
    var swiftName: String?
    var line: Int?
}

// MARK: loading

enum SpecLoader {
    static let attributeTypes: Set<String> = [
        "unused", "pad", "flag", "binary", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "string", "nest",
    ]

    /// Reads and checks one spec. `file` is the path printed in errors and generated headers.
    static func load(yaml text: String, file: String) throws -> Family {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw SpecError(file: file, line: nil, path: "", message: "empty file")
            }
            root = node
        } catch let error as SpecError {
            throw error
        } catch {
            throw SpecError(file: file, line: nil, path: "", message: "not valid YAML: \(error)")
        }
        let top = try MapReader(file: file, path: "", node: root)
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
            name: name,
            version: try top.optionalInt("version") ?? 1,
            doc: try top.string("doc"),
            uapiHeader: uapiHeader,
            cFamilyName: try top.optionalString("c-family-name") ?? "\(name)-family-name",
            cVersionName: try top.optionalString("c-version-name") ?? "\(name)-family-version",
            cmdMaxName: try top.optionalString("cmd-max-name") ?? "\(opsPrefix)max",
            cmdCntName: try top.optionalString("cmd-cnt-name") ?? "__\(opsPrefix)max",
            swiftName: try top.optionalString("swift-name"),
            definitions: try top.mappings("definitions").map { try definition($0, family: name) },
            attributeSets: try top.mappings("attribute-sets", required: true).map { try attributeSet($0, family: name) },
            operations: Operations(namePrefix: opsPrefix,
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
            swiftName: try r.optionalString("swift-name"),
            swiftType: try r.optionalString("swift-type") ?? "UInt32", line: r.line)
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
                let e = try MapReader(file: r.file, path: "\(r.childPath("entries"))[\(MapReader.label(of: item) ?? "?")]",
                                      node: item)
                entry = Entry(name: try e.string("name"), value: 0, doc: try e.optionalString("doc"),
                              swiftName: try e.optionalString("swift-name"))
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
                type = ""   // filled in by resolveSubsets
            } else {
                type = try a.string("type")
                guard attributeTypes.contains(type) else {
                    throw a.error("type", "'\(type)' is not an attribute type ynl-gen knows")
                }
            }
            var maxLen: Int?
            if let checks = try a.mapping("checks") {
                // Kernel policy hints; read so that a typo inside is still caught. max-len also tells
                // the Lua dissector that a binary is a short integer (a field reference's value).
                maxLen = try checks.optionalInt("max-len")
                _ = try checks.optionalInt("min-len")
                try checks.finish()
            }
            let value = try a.optionalInt("value") ?? next
            next = value + 1
            attributes.append(Attribute(
                name: attrName, type: type, value: value, doc: try a.optionalString("doc"),
                multiAttr: try a.bool("multi-attr"),
                nestedAttributes: try a.optionalString("nested-attributes"),
                nestedFamily: try a.optionalString("nested-family"),
                enumRef: try a.optionalString("enum"),
                enumAsFlags: try a.bool("enum-as-flags"),
                maxLen: maxLen,
                swiftName: try a.optionalString("swift-name"), line: a.line))
            try a.finish()
        }
        let set = AttributeSet(
            name: name, namePrefix: prefix, enumName: try r.optionalString("enum-name"),
            doc: try r.optionalString("doc"), subsetOf: subsetOf,
            attrCntName: try r.optionalString("attr-cnt-name") ?? "__\(prefix)max",
            attrMaxName: try r.optionalString("attr-max-name") ?? "\(prefix)max",
            swiftName: try r.optionalString("swift-name"), attributes: attributes, line: r.line)
        if subsetOf != nil && set.swiftName != nil {
            throw r.error("swift-name", "a subset has no Swift enum of its own")
        }
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
        _ = try r.strings("flags")
        let op = Operation(name: try r.string("name"), value: value, doc: try r.string("doc"),
                           attributeSet: try r.string("attribute-set"), request: request, reply: reply,
                           swiftName: try r.optionalString("swift-name"), line: r.line)
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
                throw SpecError(file: family.file, line: nil, path: path + ".subset-of",
                                message: "no attribute set '\(parentName)' to be a subset of")
            }
            family.attributeSets[index].attributes = try set.attributes.map { attr in
                guard var real = parent.attributes.first(where: { $0.name == attr.name }) else {
                    throw SpecError(file: family.file, line: nil, path: "\(path).attributes[\(attr.name)]",
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
