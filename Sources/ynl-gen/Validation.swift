// Checks that YAML syntax cannot: references between sets, unique names and numbers. A spec that
// passes here can be printed without further checks by both emitters.

import YNL

enum Validation {
    static func check(_ families: [Family]) throws {
        for family in families {
            try check(family, all: families)
        }
    }

    static func check(_ family: Family, all families: [Family]) throws {
        func fail(_ path: String, _ message: String, line: Int? = nil) -> SpecError {
            SpecError(file: family.file, line: line, path: path, message: message)
        }
        func unique<T: Hashable>(_ values: [T], _ path: String, _ what: String, line: Int? = nil) throws {
            var seen: Set<T> = []
            for value in values where !seen.insert(value).inserted {
                throw fail(path, "\(what) '\(value)' appears twice", line: line)
            }
        }

        // GENL_NAMSIZ is 16 bytes with the NUL; the genetlink core does not check, and a longer
        // name overruns in nlctrl (a kernel BUG at registration; found by the VM tests).
        guard family.name.utf8.count <= 15 else {
            throw fail(
                "name",
                "family name '\(family.name)' has \(family.name.utf8.count) characters; generic netlink allows at most 15"
            )
        }

        // Definitions.
        try unique(family.definitions.map(\.name), "definitions", "name")
        for def in family.definitions {
            let path = "definitions[\(def.name)]"
            try unique(def.entries.map(\.name), "\(path).entries", "name", line: def.line)
            try unique(def.entries.map(\.value), "\(path).entries", "value", line: def.line)
            // The values become UInt32 literals in Swift and u32 attribute payloads on the wire.
            for entry in def.entries where !(0...Int(UInt32.max)).contains(entry.value) {
                throw fail("\(path).entries[\(entry.name)]", "value \(entry.value) does not fit a u32", line: def.line)
            }
        }

        // Attribute sets and the references out of them.
        try unique(family.attributeSets.map(\.name), "attribute-sets", "name")
        for set in family.attributeSets {
            let path = "attribute-sets[\(set.name)]"
            try unique(set.attributes.map(\.name), "\(path).attributes", "name", line: set.line)
            if set.subsetOf == nil {
                try unique(set.attributes.map(\.value), "\(path).attributes", "value", line: set.line)
            }
            for attr in set.attributes {
                let attrPath = "\(path).attributes[\(attr.name)]"
                // nla_type keeps 14 bits for the number; the top two are the nested/byte-order flags.
                guard (0...0x3fff).contains(attr.value) else {
                    throw fail(
                        attrPath + ".value", "\(attr.value) is not a netlink attribute type (0...16383)",
                        line: attr.line)
                }
                if attr.type == "nest" {
                    guard let nested = attr.nestedAttributes else {
                        throw fail(attrPath, "a nest needs nested-attributes", line: attr.line)
                    }
                    let owner: Family
                    if let other = attr.nestedFamily {
                        guard let found = families.first(where: { $0.name == other }) else {
                            throw fail(
                                attrPath + ".nested-family", "no spec for family '\(other)' in spec/", line: attr.line)
                        }
                        owner = found
                    } else {
                        owner = family
                    }
                    guard owner.attributeSet(nested) != nil else {
                        throw fail(
                            attrPath + ".nested-attributes", "family \(owner.name) has no attribute set '\(nested)'",
                            line: attr.line)
                    }
                } else if attr.nestedAttributes != nil || attr.nestedFamily != nil {
                    throw fail(attrPath, "only a nest has nested attributes", line: attr.line)
                }
                if let ref = attr.enumRef {
                    guard let def = family.definition(ref), def.kind != .const else {
                        throw fail(attrPath + ".enum", "no enum or flags definition '\(ref)'", line: attr.line)
                    }
                    // The dissector shows such a value bit by bit; YNL wants a flags definition for it.
                    if attr.enumAsFlags && def.kind != .flags {
                        throw fail(attrPath + ".enum-as-flags", "'\(ref)' is an enum, not flags", line: attr.line)
                    }
                } else if attr.enumAsFlags {
                    throw fail(attrPath + ".enum-as-flags", "enum-as-flags needs an enum", line: attr.line)
                }
                if attr.maxLen != nil && attr.type != "binary" && attr.type != "string" {
                    throw fail(
                        attrPath + ".checks.max-len", "max-len applies to binary and string attributes", line: attr.line
                    )
                }
            }
        }

        // Operations.
        let ops = family.operations.list
        try unique(ops.map(\.name), "operations.list", "name")
        try unique(ops.map(\.value), "operations.list", "value")
        for op in ops {
            let path = "operations.list[\(op.name)]"
            guard (0...255).contains(op.value) else {
                throw fail(path + ".value", "a genl command is a u8", line: op.line)
            }
            guard let set = family.attributeSet(op.attributeSet) else {
                throw fail(path + ".attribute-set", "no attribute set '\(op.attributeSet)'", line: op.line)
            }
            for (mode, names) in [("request", op.request), ("reply", op.reply)] {
                for name in names ?? [] where !set.attributes.contains(where: { $0.name == name }) {
                    throw fail("\(path).do.\(mode)", "'\(op.attributeSet)' has no attribute '\(name)'", line: op.line)
                }
            }
        }

        try checkSwiftNames(family) { fail($0, $1) }
    }

    /// Every Swift name must be an identifier and unique in its scope, or the generated file would
    /// not compile; better to say which key is wrong.
    static func checkSwiftNames(_ family: Family, fail: (String, String) -> SpecError) throws {
        guard let namespace = family.swiftName else { return }
        func identifiers(_ names: [(String, String)], fixed: [String]) throws {
            var seen = Set(fixed)
            for (name, path) in names {
                guard Naming.isSwiftIdentifier(name) else { throw fail(path, "'\(name)' is not a Swift identifier") }
                guard seen.insert(name).inserted else { throw fail(path, "Swift name '\(name)' is used twice") }
            }
        }
        guard Naming.isSwiftIdentifier(namespace) else {
            throw fail("swift-name", "'\(namespace)' is not a Swift identifier")
        }

        var top: [(String, String)] = []
        for def in family.definitions {
            if let name = def.swiftName { top.append((name, "definitions[\(def.name)].swift-name")) }
            if def.swiftName != nil && def.kind != .const {
                try identifiers(
                    def.entries.map { ($0.swiftMemberName, "definitions[\(def.name)].entries[\($0.name)]") },
                    fixed: [])
            }
            if def.kind == .const && def.swiftName != nil {
                let ranges: [String: ClosedRange<Int>] = [
                    "UInt8": 0...Int(UInt8.max), "UInt16": 0...Int(UInt16.max), "UInt32": 0...Int(UInt32.max),
                    "UInt64": 0...Int.max, "Int": Int.min...Int.max,
                ]
                guard let range = ranges[def.swiftType] else {
                    throw fail("definitions[\(def.name)].swift-type", "expected UInt8, UInt16, UInt32, UInt64 or Int")
                }
                guard range.contains(def.constValue) else {
                    throw fail("definitions[\(def.name)].value", "\(def.constValue) does not fit \(def.swiftType)")
                }
            }
        }
        for set in family.attributeSets {
            guard let name = set.swiftName else { continue }
            top.append((name, "attribute-sets[\(set.name)].swift-name"))
            let members = set.attributes.filter { $0.type != "unused" }
                .map { ($0.swiftMemberName, "attribute-sets[\(set.name)].attributes[\($0.name)]") }
            try identifiers(members, fixed: ["names"])
        }
        try identifiers(top, fixed: ["familyName", "version", "Command"])
        try identifiers(
            family.operations.list.map { ($0.swiftCaseName, "operations.list[\($0.name)]") }, fixed: ["name"])
    }

    /// C names share one namespace per header: two families in one header must not collide.
    static func checkCNames(_ names: [(name: String, family: Family)]) throws {
        var seen: [String: Family] = [:]
        for (name, family) in names {
            if let other = seen[name] {
                let files = other.file == family.file ? "in \(family.file)" : "in \(other.file) and \(family.file)"
                throw SpecError(
                    file: family.file, line: nil, path: "", message: "C name \(name) is defined twice (\(files))")
            }
            seen[name] = family
        }
    }
}
