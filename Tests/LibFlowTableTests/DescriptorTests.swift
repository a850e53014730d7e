// The generated descriptor tables (Protocol/Generated/AttributeDescriptors.swift) against
// spec/*.yaml and spec/hints/*.yaml, read here with Yams and YNL's numbering rules (not ynl-gen's
// code, so a generator bug cannot hide itself): every set, every attribute's payload rule,
// nesting and multi-attr, the required and refused attributes, and the variants of a set at the
// places whose hints change it. The required attributes are also pinned below as the decoder
// has always enforced them.

import Foundation
import Testing
import Yams
@testable import LibFlowTable

@Suite struct DescriptorTests {
    struct YAMLSet {
        var family: String
        var name: String
        /// value -> (name, type, multi, nested family/set, max-len)
        var attributes: [Int: (name: String, type: String, multi: Bool, nested: String?, maxLen: Int?, minLen: Int?)]
        var required: [String] = []
        var rejected: [String: String] = [:]
        /// Hints of a nest attribute (by name) that change its nested set at that place.
        var places: [String: (required: [String]?, rejected: [String: String])] = [:]
    }

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every set of every spec, in ynl-gen's order (files sorted, sets as listed).
    static func yamlSets() throws -> [YAMLSet] {
        let directory = root.appendingPathComponent("spec")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
            .sorted()
        var out: [YAMLSet] = []
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let top = try #require(try Yams.load(yaml: text) as? [String: Any])
            let family = try #require(top["name"] as? String)
            let sets = try #require(top["attribute-sets"] as? [[String: Any]])
            let hintsURL = directory.appendingPathComponent("hints").appendingPathComponent(file)
            let hints = (try? String(contentsOf: hintsURL, encoding: .utf8)).flatMap {
                try? Yams.load(yaml: $0) as? [String: Any]
            }
            let hintSets = hints?["attribute-sets"] as? [String: Any] ?? [:]
            for set in sets {
                let name = try #require(set["name"] as? String)
                var attributes:
                    [Int: (name: String, type: String, multi: Bool, nested: String?, maxLen: Int?, minLen: Int?)] = [:]
                let hint = hintSets[name] as? [String: Any] ?? [:]
                let attributeHints = hint["attributes"] as? [String: Any] ?? [:]
                var next = 1
                let parent = (set["subset-of"] as? String).flatMap { p in sets.first { $0["name"] as? String == p } }
                for a in try #require(set["attributes"] as? [[String: Any]]) {
                    let attrName = try #require(a["name"] as? String)
                    // A subset's attribute is its set's (number, type, nest), maybe made multi-attr.
                    let real = parent.flatMap { p in
                        (p["attributes"] as? [[String: Any]])?.first { $0["name"] as? String == attrName }
                    }
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
                    var type = try #require(source["type"] as? String)
                    let multi = (a["multi-attr"] as? Bool ?? false) || (real?["multi-attr"] as? Bool ?? false)
                    var nested: String?
                    if let n = source["nested-attributes"] as? String {
                        nested = "\(family)/\(n)"
                    }
                    // The hints may make a binary a nest of another family's set.
                    let attrHint = attributeHints[attrName] as? [String: Any] ?? [:]
                    if let n = attrHint["nested-attributes"] as? String {
                        type = "nest"
                        nested = "\(attrHint["nested-family"] as? String ?? family)/\(n)"
                    }
                    let checks = source["checks"] as? [String: Any]
                    attributes[v] = (
                        attrName, type, multi, nested, checks?["max-len"] as? Int, checks?["min-len"] as? Int
                    )
                }
                var y = YAMLSet(family: family, name: name, attributes: attributes)
                y.required = hint["required"] as? [String] ?? []
                y.rejected = hint["rejected"] as? [String: String] ?? [:]
                for (attr, value) in attributeHints {
                    guard let facts = value as? [String: Any], facts["required"] != nil || facts["rejected"] != nil
                    else { continue }
                    y.places[attr] = (facts["required"] as? [String], facts["rejected"] as? [String: String] ?? [:])
                }
                out.append(y)
            }
        }
        return out
    }

    static let sizes: [String: Int] = ["u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "u64": 8, "s64": 8]

    @Test func everySetAndAttributeMatchesTheSpec() throws {
        let sets = try Self.yamlSets()
        let ids = Array(AttributeSetID.allCases.prefix(sets.count))
        // After the spec's sets, one variant per place whose hints change its set, then per
        // operation rule one of the set and one of each list holding it.
        #expect(
            AttributeSetID.allCases.count == sets.count + sets.map(\.places.count).reduce(0, +)
                + (try Self.operationVariants(sets)))
        let idOf = Dictionary(uniqueKeysWithValues: zip(sets.map { "\($0.family)/\($0.name)" }, ids))
        for (set, id) in zip(sets, ids) {
            let d = id.descriptor
            #expect(id.setName.description == set.name)
            let count = (set.attributes.keys.max() ?? -1) + 1
            #expect(d.count == count, "\(set.name)")
            for type in 0..<max(count, d.count) {
                let where_ = "\(set.family) \(set.name) type \(type)"
                guard let a = set.attributes[type], a.type != "unused" else {
                    #expect(id.attribute(UInt16(type)) == nil, "\(where_) should be unknown")
                    continue
                }
                let r = try #require(id.attribute(UInt16(type)), "\(where_) has no descriptor")
                #expect(
                    id.name(of: UInt16(type)) == a.name.uppercased().replacingOccurrences(of: "-", with: "_"),
                    "\(where_)")
                #expect(r.multi == a.multi, "\(where_) multi-attr")
                switch a.type {
                case let t where Self.sizes[t] != nil:
                    #expect(
                        r.kind == .fixed && Int(r.minLength) == Self.sizes[t] && Int(r.maxLength) == Self.sizes[t],
                        "\(where_)")
                case "binary":
                    #expect(
                        r.kind == .binary && Int(r.maxLength) == (a.maxLen ?? 0xffff)
                            && Int(r.minLength) == (a.minLen ?? 0), "\(where_)")
                case "string": #expect(r.kind == .string, "\(where_)")
                case "flag": #expect(r.kind == .flag, "\(where_)")
                case "pad": #expect(r.kind == .pad, "\(where_)")
                case "nest":
                    #expect(r.kind == .nest, "\(where_)")
                    let target = try #require(a.nested)
                    if set.places[a.name] == nil {
                        #expect(r.nested == idOf[target], "\(where_) nests \(target)")
                    } else {
                        try checkVariant(
                            r.nested, of: try #require(idOf[target]), set.places[a.name]!,
                            base: try #require(sets.first { "\($0.family)/\($0.name)" == target }), where_)
                    }
                default: Issue.record("\(where_): type \(a.type) not handled by the test")
                }
            }
            // A list: its one attribute, repeated.
            let real = set.attributes.filter { $0.value.type != "unused" }
            let element = real.count == 1 && real.first!.value.multi ? real.first!.key : 0
            #expect(Int(d.element) == element, "\(set.name) list element")
        }
    }

    /// A place's variant: the base set's attributes, with the place's required and refused ones.
    func checkVariant(
        _ variant: AttributeSetID?, of base: AttributeSetID,
        _ place: (required: [String]?, rejected: [String: String]), base yaml: YAMLSet,
        _ where_: String
    ) throws {
        let v = try #require(variant, "\(where_) nests no set")
        #expect(v != base, "\(where_) should nest a variant of its set")
        #expect(v.descriptor.count == base.descriptor.count && v.descriptor.known == base.descriptor.known)
        for type in 0..<base.descriptor.count {
            #expect(v.attribute(UInt16(type))?.kind == base.attribute(UInt16(type))?.kind, "\(where_) type \(type)")
        }
        #expect(
            Self.names(v.descriptor.required, v) == Self.cNames(place.required ?? yaml.required).sorted(),
            "\(where_) required")
        let rejected = yaml.rejected.merging(place.rejected) { a, _ in a }
        #expect(
            Self.names(v.descriptor.rejected, v) == Self.cNames(Array(rejected.keys)).sorted(), "\(where_) rejected")
        for (name, reason) in rejected {
            let type = try #require((0..<v.descriptor.count).first { v.name(of: UInt16($0)) == Self.cNames([name])[0] })
            #expect(v.info(of: UInt16(type))?.rejection.description == " is " + reason)
        }
    }

    static func cNames(_ names: [String]) -> [String] {
        names.map { $0.uppercased().replacingOccurrences(of: "-", with: "_") }
    }

    /// The names of the types in `bits`, in type order (sorted for comparison).
    static func names(_ bits: UInt64, _ id: AttributeSetID) -> [String] {
        (0..<64).filter { bits & (1 << UInt64($0)) != 0 }.map { id.name(of: UInt16($0)) }.sorted()
    }

    @Test func requiredAndRefusedFollowTheHints() throws {
        for (set, id) in zip(try Self.yamlSets(), AttributeSetID.allCases) {
            #expect(Self.names(id.descriptor.required, id) == Self.cNames(set.required).sorted(), "\(set.name)")
            #expect(
                Self.names(id.descriptor.rejected, id) == Self.cNames(Array(set.rejected.keys)).sorted(), "\(set.name)")
        }
    }

    /// The decoder's required attributes, as it has always enforced them (ENCAP's are still
    /// HairpinCodec's own: the hints do not state them).
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
        // A jump entry also needs NEXT_NODE.
        #expect(
            Self.names(AttributeSetID.nflFieldRefInJumpList.descriptor.required, .nflFieldRefInJumpList)
                == ["FIELD", "HEADER", "INSTANCE", "MASK_TYPE", "NEXT_NODE", "TYPE"])
    }

    /// The number of variants the operations' required rules make (hints operations.<op>.required):
    /// per set named, the set and each list of its family whose one repeated attribute nests it.
    static func operationVariants(_ sets: [YAMLSet]) throws -> Int {
        let directory = root.appendingPathComponent("spec/hints")
        var n = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".yaml") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let hints = try Yams.load(yaml: text) as? [String: Any]
            let family = try #require(
                sets.first {
                    $0.family.replacingOccurrences(of: "-", with: "_") + ".yaml" == file
                        || $0.family + ".yaml" == file
                }?.family)
            for case let op as [String: Any] in (hints?["operations"] as? [String: Any] ?? [:]).values {
                for setName in (op["required"] as? [String: Any] ?? [:]).keys {
                    n +=
                        1
                        + sets.filter { list in
                            let real = list.attributes.values.filter { $0.type != "unused" }
                            return list.family == family && real.count == 1 && real[0].multi
                                && real[0].nested == "\(family)/\(setName)"
                        }.count
                }
            }
        }
        return n
    }

    /// DEL_FLOWS: a flow needs TABLE and UID only; its list nests that variant; nothing else differs.
    @Test func deleteFlowsVariants() {
        let flow = AttributeSetID.nflFlowInDelFlows, list = AttributeSetID.nflFlowListInDelFlows
        #expect(Self.names(flow.descriptor.required, flow) == ["TABLE", "UID"])
        #expect(flow.descriptor.known == AttributeSetID.nflFlow.descriptor.known)
        #expect(flow.descriptor.rejected == AttributeSetID.nflFlow.descriptor.rejected)
        #expect(list.attribute(NFL.listElement)?.nested == flow)
        #expect(list.descriptor.known == AttributeSetID.nflFlowList.descriptor.known)
        #expect(list.descriptor.element == AttributeSetID.nflFlowList.descriptor.element)
    }
}
