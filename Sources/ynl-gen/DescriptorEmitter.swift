// Prints the attribute sets of all families as the descriptor tables of LibFlowTable's strict
// walk (Protocol/Generated/AttributeDescriptors.swift): per attribute its payload rule (type,
// checks min-len/max-len), nesting and multi-attr; per set its required and rejected attributes
// (generator hints) and, for a list, its element. A nest whose hints change what its set needs
// at that place (a jump entry's field-ref needs next-node; a match's refuses it) nests a variant
// of the set with those facts, so the walk needs no rule of its own. An operation whose hints
// change a set's required attributes (del-flows: a flow needs table and uid) gets a variant of
// that set and of the list holding it, for the callers to pick by command. One file for all families,
// because a nest may hold another family's set (hairpin's encap attr).
//
// The tables are flat arrays indexed by set start + attribute type, so the walk looks a rule up
// without hashing or allocating.

import YNL
import YNLWireshark

enum DescriptorEmitter {
    static let path = "\(Generator.swiftDirectory)/AttributeDescriptors.swift"

    static let fixedSizes: [String: Int] = [
        "u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "u64": 8, "s64": 8,
    ]

    /// The Swift case of a set: the family's Swift name (or name) in lower case, then the set's
    /// name in UpperCamelCase (`nflFlowList`, `nflhEncap`), the family's own prefix dropped.
    static func caseName(_ family: Family, _ set: String) -> String {
        let family = (family.swiftName ?? family.name).lowercased().replacingOccurrences(of: "_", with: "-")
        let prefix = Naming.lowerCamel(family)
        // `nfl-attrs` of NFL is `nflAttrs`, not `nflNflAttrs`.
        let camel = Naming.lowerCamel(set.hasPrefix(family + "-") ? String(set.dropFirst(family.count + 1)) : set)
        return prefix + camel.prefix(1).uppercased() + camel.dropFirst()
    }

    /// One set as the walk sees it: a spec set, or its variant at one nesting place.
    struct Entry {
        var family: Family
        var set: AttributeSet
        var caseName: String
        var required: [String]
        var rejected: [Rejection]
        var doc: String
        /// The operation whose required rules this variant follows (nil: none).
        var operation: String? = nil
    }

    static func file(for families: [Family]) throws -> GeneratedFile {
        // Every set gets an id, in the spec files' and the sets' order; then the variants.
        var ids: [String: Int] = [:]  // "family/set" or "family/set/attribute" (a place) -> id
        var sets: [Entry] = []
        for family in families {
            for set in family.attributeSets {
                ids["\(family.name)/\(set.name)"] = sets.count
                sets.append(
                    Entry(
                        family: family, set: set, caseName: caseName(family, set.name),
                        required: family.requiredAttributes(of: set), rejected: family.rejectedAttributes(of: set),
                        doc: "\(family.name) \(set.name)"))
            }
        }
        for family in families {
            for parent in family.attributeSets {
                for attr in parent.attributes where attr.nestedRequired != nil || !attr.nestedRejected.isEmpty {
                    guard let name = attr.nestedAttributes, let set = family.attributeSet(name) else { continue }
                    ids["\(family.name)/\(parent.name)/\(attr.name)"] = sets.count
                    let camel = caseName(family, parent.name).drop { $0.isLowercase }
                    sets.append(
                        Entry(
                            family: family, set: set, caseName: caseName(family, set.name) + "In" + camel,
                            required: family.requiredAttributes(of: set, via: attr),
                            rejected: family.rejectedAttributes(of: set, via: attr),
                            doc: "\(family.name) \(set.name) as \(parent.name)'s \(attr.name)"))
                }
            }
        }
        for family in families {
            for op in family.operations.list where !op.required.isEmpty {
                let camel = Naming.lowerCamel(op.name)
                let suffix = "In" + camel.prefix(1).uppercased() + camel.dropFirst()
                for setName in op.required.keys.sorted() {
                    guard let set = family.attributeSet(setName) else { continue }
                    // The set, then each list of the family whose element nests it.
                    let lists = family.attributeSets.filter { list in
                        let present = list.attributes.filter { $0.type != "unused" }
                        return present.count == 1 && present[0].multiAttr && present[0].nestedFamily == nil
                            && present[0].nestedAttributes == setName
                    }
                    for s in [set] + lists {
                        ids["op/\(family.name)/\(op.name)/\(s.name)"] = sets.count
                        sets.append(
                            Entry(
                                family: family, set: s, caseName: caseName(family, s.name) + suffix,
                                required: family.requiredAttributes(of: s, operation: op),
                                rejected: family.rejectedAttributes(of: s),
                                doc: "\(family.name) \(s.name) in \(op.name) messages", operation: op.name))
                    }
                }
            }
        }
        guard sets.count < 255 else {
            throw SpecError(file: "spec/", line: nil, path: "", message: "more than 254 attribute sets")
        }

        var w = CodeWriter(indent: "    ")
        w.line("// Generated by ynl-gen from spec/*.yaml; do not edit.")
        w.line("// Change the spec, then run `swift run ynl-gen`; `swift run ynl-gen --check` (run by the")
        w.line("// tests) fails while this file differs from what the spec gives.")
        w.line()
        w.line("/// Every attribute set of every family (`descriptor` has its rules).")
        w.line("package enum AttributeSetID: UInt8, CaseIterable, Sendable {")
        w.indented { w in
            for (index, entry) in sets.enumerated() {
                w.line("/// \(entry.doc)")
                w.line("case \(entry.caseName) = \(index)")
            }
        }
        w.line("}")
        w.line()

        var rules: [String] = []
        var infos: [String] = []
        var setLines: [String] = []
        var setNames: [String] = []
        for entry in sets {
            let family = entry.family, set = entry.set
            let first = rules.count
            let count = (set.attributes.map(\.value).max() ?? -1) + 1
            var byValue: [Int: Attribute] = [:]
            for attr in set.attributes where attr.type != "unused" { byValue[attr.value] = attr }
            let required = Set(entry.required)
            let rejected = Dictionary(entry.rejected.map { ($0.attribute, $0.reason) }, uniquingKeysWith: { a, _ in a })
            var requiredBits: UInt64 = 0, knownBits: UInt64 = 0, multiBits: UInt64 = 0, rejectedBits: UInt64 = 0
            // Sets fit a 64-bit mask, so the walk tests known, repeated and required by bits.
            guard count <= 64 else {
                throw SpecError(
                    file: family.file, line: set.line, path: "attribute-sets[\(set.name)]",
                    message: "attribute types above 63 are not supported by the descriptor tables")
            }
            for value in 0..<count {
                guard let attr = byValue[value] else {
                    rules.append(".init(kind: .absent, minLength: 0, maxLength: 0, multi: false, nested: nil)")
                    infos.append(".init(name: \"type \(value)\", expected: \"\", rejection: \"\")")
                    continue
                }
                knownBits |= 1 << UInt64(value)
                if rejected[attr.name] != nil { rejectedBits |= 1 << UInt64(value) }
                if attr.multiAttr { multiBits |= 1 << UInt64(value) }
                if required.contains(attr.name) {
                    guard value < 64 else {
                        throw SpecError(
                            file: family.file, line: attr.line, path: "attribute-sets[\(set.name)]",
                            message: "required attribute '\(attr.name)' has a type above 63")
                    }
                    requiredBits |= 1 << UInt64(value)
                }
                var kind: String
                var minLength = 0, maxLength = 0
                var expected = ""
                var nested = "nil"
                switch attr.type {
                case "flag":
                    kind = "flag"; expected = "0 (flag)"
                case "binary":
                    kind = "binary"
                    minLength = attr.minLen ?? 0
                    maxLength = attr.maxLen ?? 0xffff
                    expected =
                        maxLength <= 8
                        ? "\(minLength) to \(maxLength) (binary integer)"
                        : maxLength == 0xffff
                            ? "at least \(minLength) (binary)" : "\(minLength) to \(maxLength) (binary)"
                case "string":
                    // The string rule itself is the walk's; any length passes the range test.
                    kind = "string"; maxLength = 0xffff
                case "nest":
                    kind = "nest"; maxLength = 0xffff
                    let owner = attr.nestedFamily ?? family.name
                    guard let target = attr.nestedAttributes, ids["\(owner)/\(target)"] != nil,
                        let ownerFamily = families.first(where: { $0.name == owner })
                    else {
                        throw SpecError(
                            file: family.file, line: attr.line, path: "attribute-sets[\(set.name)]",
                            message: "nest '\(attr.name)' has no set to point at")
                    }
                    // The variant of the set at this place, if its hints make one.
                    let place =
                        ids["\(family.name)/\(set.name)/\(attr.name)"]
                        ?? entry.operation.flatMap { ids["op/\(owner)/\($0)/\(target)"] }
                    nested = ".\(place.map { sets[$0].caseName } ?? caseName(ownerFamily, target))"
                case "pad":
                    kind = "pad"; maxLength = 0xffff
                default:
                    guard let size = fixedSizes[attr.type] else {
                        throw SpecError(
                            file: family.file, line: attr.line, path: "attribute-sets[\(set.name)]",
                            message: "no descriptor rule for type '\(attr.type)'")
                    }
                    kind = "fixed"; minLength = size; maxLength = size; expected = "\(size) (\(attr.type))"
                }
                rules.append(
                    ".init(kind: .\(kind), minLength: \(minLength), maxLength: \(maxLength), multi: \(attr.multiAttr), nested: \(nested))"
                )
                infos.append(
                    ".init(name: \(SwiftEmitter.quoted(Naming.cUpper(attr.name))), expected: \(SwiftEmitter.quoted(expected)), rejection: \(SwiftEmitter.quoted(rejected[attr.name].map { " is " + $0 } ?? "")))"
                )
            }
            // A list: one attribute, repeated. Its wrong-type error depends on whether it is a
            // list wrapper (the one element type list-element, 1) or a bare repeat (a subset).
            let present = set.attributes.filter { $0.type != "unused" }
            let element = present.count == 1 && present[0].multiAttr ? present[0].value : 0
            setNames.append(SwiftEmitter.quoted(set.name))
            setLines.append(
                ".init(first: \(first), count: \(count), required: 0x\(String(requiredBits, radix: 16)), known: 0x\(String(knownBits, radix: 16)), rejected: 0x\(String(rejectedBits, radix: 16)), multi: 0x\(String(multiBits, radix: 16)), element: \(element)),"
            )
        }

        w.line("/// The rule of each attribute: `set.descriptor.first + type`.")
        w.line("package let attributeDescriptors: [AttributeDescriptor] = [")
        w.indented { w in
            var index = 0
            for entry in sets {
                let set = entry.set
                w.line("// \(entry.doc)")
                let count = (set.attributes.map(\.value).max() ?? -1) + 1
                for _ in 0..<count {
                    w.line(rules[index] + ",")
                    index += 1
                }
            }
        }
        w.line("]")
        w.line()
        w.line("/// Names and expected lengths for error messages, parallel to `attributeDescriptors`.")
        w.line("package let attributeDescriptorInfo: [AttributeDescriptorInfo] = [")
        w.indented { w in
            for info in infos { w.line(info + ",") }
        }
        w.line("]")
        w.line()
        w.line("extension AttributeSetID {")
        w.indented { w in
            w.line("/// The set's rules. A switch, not a table: the walk of a set known where it is called")
            w.line("/// folds them to constants, and no lazily initialized global is checked on every walk.")
            w.line("@inline(__always)")
            w.line("package var descriptor: AttributeSetDescriptor {")
            w.indented { w in
                w.line("switch self {")
                for (entry, line) in zip(sets, setLines) {
                    w.line("case .\(entry.caseName): \(line.dropLast())")
                }
                w.line("}")
            }
            w.line("}")
            w.line()
            w.line("/// The spec's name of the set.")
            w.line("package var setName: StaticString {")
            w.indented { w in
                w.line("switch self {")
                for (entry, name) in zip(sets, setNames) {
                    w.line("case .\(entry.caseName): \(name)")
                }
                w.line("}")
            }
            w.line("}")
        }
        w.line("}")
        return GeneratedFile(path: path, content: w.text)
    }
}
