// The generated descriptor tables (Protocol/Generated/AttributeDescriptors.swift) against
// spec/*.yaml, read here with Yams and YNL's numbering rules (not ynl-gen's code, so a generator
// bug cannot hide itself): every set, every attribute's payload rule, nesting and multi-attr.
// The required attributes and minimum lengths, which the YAML does not state yet, are pinned
// below as the decoder has always enforced them.

import Foundation
import Testing
import Yams
@testable import LibFlowTable

@Suite struct DescriptorTests {
    struct YAMLSet {
        var family: String
        var name: String
        /// value -> (name, type, multi, nested family/set, max-len)
        var attributes: [Int: (name: String, type: String, multi: Bool, nested: String?, maxLen: Int?)]
    }

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every set of every spec, in ynl-gen's order (files sorted, sets as listed).
    static func yamlSets() throws -> [YAMLSet] {
        let directory = root.appendingPathComponent("spec")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        var out: [YAMLSet] = []
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let top = try #require(try Yams.load(yaml: text) as? [String: Any])
            let family = try #require(top["name"] as? String)
            let sets = try #require(top["attribute-sets"] as? [[String: Any]])
            for set in sets {
                let name = try #require(set["name"] as? String)
                var attributes: [Int: (name: String, type: String, multi: Bool, nested: String?, maxLen: Int?)] = [:]
                var next = 1
                let parent = (set["subset-of"] as? String).flatMap { p in sets.first { $0["name"] as? String == p } }
                for a in try #require(set["attributes"] as? [[String: Any]]) {
                    let attrName = try #require(a["name"] as? String)
                    // A subset's attribute is its set's (number, type, nest), maybe made multi-attr.
                    let real = parent.flatMap { p in (p["attributes"] as? [[String: Any]])?.first { $0["name"] as? String == attrName } }
                    var value = (real ?? a)["value"] as? Int
                    if value == nil, let p = parent, let list = p["attributes"] as? [[String: Any]] {
                        var n = 1
                        for x in list {
                            let v = x["value"] as? Int ?? n
                            if x["name"] as? String == attrName { value = v }
                            n = v + 1
                        }
                    }
                    let v = value ?? next
                    next = v + 1
                    let source = real ?? a
                    let type = try #require(source["type"] as? String)
                    let multi = (a["multi-attr"] as? Bool ?? false) || (real?["multi-attr"] as? Bool ?? false)
                    var nested: String?
                    if let n = source["nested-attributes"] as? String {
                        nested = "\(source["nested-family"] as? String ?? family)/\(n)"
                    }
                    let maxLen = (source["checks"] as? [String: Any])?["max-len"] as? Int
                    attributes[v] = (attrName, type, multi, nested, maxLen)
                }
                out.append(YAMLSet(family: family, name: name, attributes: attributes))
            }
        }
        return out
    }

    static let sizes: [String: Int] = ["u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "u64": 8, "s64": 8]

    @Test func everySetAndAttributeMatchesTheSpec() throws {
        let sets = try Self.yamlSets()
        let ids = AttributeSetID.allCases
        #expect(ids.count == sets.count)
        let idOf = Dictionary(uniqueKeysWithValues: zip(sets.map { "\($0.family)/\($0.name)" }, ids))
        for (set, id) in zip(sets, ids) {
            let d = id.descriptor
            #expect(d.name.description == set.name)
            let count = (set.attributes.keys.max() ?? -1) + 1
            #expect(d.count == count, "\(set.name)")
            for type in 0..<max(count, d.count) {
                let where_ = "\(set.family) \(set.name) type \(type)"
                guard let a = set.attributes[type], a.type != "unused" else {
                    #expect(id.attribute(UInt16(type)) == nil, "\(where_) should be unknown")
                    continue
                }
                let r = try #require(id.attribute(UInt16(type)), "\(where_) has no descriptor")
                #expect(id.name(of: UInt16(type)) == a.name.uppercased().replacingOccurrences(of: "-", with: "_"), "\(where_)")
                #expect(r.multi == a.multi, "\(where_) multi-attr")
                switch a.type {
                case let t where Self.sizes[t] != nil:
                    #expect(r.kind == .fixed && Int(r.minLength) == Self.sizes[t] && Int(r.maxLength) == Self.sizes[t], "\(where_)")
                case "binary":
                    #expect(r.kind == .binary && Int(r.maxLength) == (a.maxLen ?? 0xffff), "\(where_)")
                case "string": #expect(r.kind == .string, "\(where_)")
                case "flag": #expect(r.kind == .flag, "\(where_)")
                case "pad": #expect(r.kind == .pad, "\(where_)")
                case "nest":
                    #expect(r.kind == .nest, "\(where_)")
                    let target = try #require(a.nested)
                    #expect(r.nested == idOf[target], "\(where_) nests \(target)")
                default: Issue.record("\(where_): type \(a.type) not handled by the test")
                }
            }
            // A list: its one attribute, repeated.
            let real = set.attributes.filter { $0.value.type != "unused" }
            let element = real.count == 1 && real.first!.value.multi ? real.first!.key : 0
            #expect(Int(d.element) == element, "\(set.name) list element")
        }
    }

    /// The decoder's required attributes and minimum lengths (to move into the spec).
    static let required: [String: [String]] = [
        "net_flow_nl/field": ["NAME", "UID", "BITWIDTH"],
        "net_flow_nl/header": ["NAME", "UID", "FIELDS"],
        "net_flow_nl/field-ref": ["INSTANCE", "HEADER", "FIELD", "MASK_TYPE", "TYPE"],
        "net_flow_nl/action-arg": ["TYPE", "VALUE"],
        "net_flow_nl/action": ["UID"],
        "net_flow_nl/table": ["NAME", "UID", "SOURCE", "SIZE", "MATCHES", "ACTIONS"],
        "net_flow_nl/header-node": ["NAME", "UID", "HDRS", "JUMP"],
        "net_flow_nl/table-graph-node": ["UID", "FLAGS", "JUMP"],
        "net_flow_nl/flow": ["TABLE", "UID", "PRIORITY"],
        "net_flow_nl/table-flows": ["TABLE"],
        "nfl_hairpin/listener": ["TYPE"],
        "nfl_hairpin/encap": ["CMD_TYPE", "CMD", "SEQ"],
        "nfl_hairpin/result": ["INDEX", "ERRNO"],
    ]

    @Test func requiredAttributesAndMinimumLengths() throws {
        let sets = try Self.yamlSets()
        for (set, id) in zip(sets, AttributeSetID.allCases) {
            let d = id.descriptor
            var names: [String] = []
            for type in 0..<64 where d.required & (1 << UInt64(type)) != 0 { names.append(id.name(of: UInt16(type))) }
            #expect(names == Self.required["\(set.family)/\(set.name)"] ?? [], "\(set.family) \(set.name)")
        }
        #expect(AttributeSetID.nflFieldRef.attribute(NFL.FieldRefAttr.value)?.minLength == 1)
        #expect(AttributeSetID.nflFieldRef.attribute(NFL.FieldRefAttr.mask)?.minLength == 1)
        #expect(AttributeSetID.nflActionArg.attribute(NFL.ActionArgAttr.value)?.minLength == 1)
    }
}
