// The Swift constants against spec/*.yaml, the protocols' single source of truth.
//
// Two independent checks:
// 1. The numbers: the YAML is read here with Yams and numbered with YNL's rules (a dozen lines,
//    deliberately not ynl-gen's code, so that a bug in the generator cannot hide itself), then
//    compared with every constant, `names` entry and command of NFL/NFLH and with the hand-written
//    model types that mirror spec enums (FieldType, MaskType, ErrorStrategy). The tables below
//    pin, for each YAML name, the Swift name it stands for and its wire number (net_flow_nl's
//    are the 2015 originals'; hairpin's as chosen): a wrong number in the YAML fails
//    here even after it was regenerated into the Swift files.
// 2. Up to date: the ynl-gen binary that `swift test` builds next to this test bundle runs with
//    --check and must find every generated file (Swift and C) identical to what the spec gives.
//    ynl-gen is an executable target and cannot be imported; running it keeps one generator.

import Foundation
import Testing
import Yams
import LibFlowTable

// MARK: the spec, as the tests read it

struct SpecNumbers {
    struct Attribute {
        var name: String
        var type: String
        var value: Int
        var multiAttr: Bool
    }

    struct AttributeSet {
        var name: String
        var isSubset: Bool
        var attributes: [Attribute]
        /// UNSPEC-like placeholders only reserve a number.
        var real: [Attribute] { attributes.filter { $0.type != "unused" } }
    }

    var file: String
    var name: String
    var version: Int
    var sets: [AttributeSet] = []
    var enums: [String: [(name: String, value: Int)]] = [:]
    var consts: [String: Int] = [:]
    var operations: [(name: String, value: Int)] = []

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    init(_ fileName: String) throws {
        // Locals, not self.file: the helpers below run before self is fully initialised.
        let file = "spec/\(fileName)"
        self.file = file
        let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
        guard let top = try Yams.load(yaml: text) as? [String: Any] else {
            throw Malformed(description: "\(file): not a mapping")
        }
        func string(_ map: [String: Any], _ key: String, _ path: String) throws -> String {
            guard let value = map[key] as? String else {
                throw Malformed(description: "\(file): \(path).\(key): missing or not a string")
            }
            return value
        }
        func list(_ map: [String: Any], _ key: String, _ path: String) throws -> [[String: Any]] {
            guard let value = map[key] as? [[String: Any]] else {
                throw Malformed(description: "\(file): \(path).\(key): missing or not a list of mappings")
            }
            return value
        }
        name = try string(top, "name", "")
        version = top["version"] as? Int ?? 1

        for def in top["definitions"] as? [[String: Any]] ?? [] {
            let defName = try string(def, "name", "definitions")
            let type = try string(def, "type", "definitions[\(defName)]")
            if type == "const" {
                consts[defName] = def["value"] as? Int
                continue
            }
            // YNL: value-start (0), then previous + 1 unless given; flags number bits.
            var next = def["value-start"] as? Int ?? 0
            var entries: [(name: String, value: Int)] = []
            for item in def["entries"] as? [Any] ?? [] {
                let entry = item as? [String: Any] ?? ["name": item]
                let position = entry["value"] as? Int ?? next
                entries.append(
                    (
                        try string(entry, "name", "definitions[\(defName)].entries"),
                        type == "flags" ? 1 << position : position
                    ))
                next = position + 1
            }
            enums[defName] = entries
        }

        for set in try list(top, "attribute-sets", "") {
            let setName = try string(set, "name", "attribute-sets")
            // YNL: the first attribute is 1, then previous + 1 unless `value` is given.
            var next = 1
            var attributes: [Attribute] = []
            for attr in try list(set, "attributes", "attribute-sets[\(setName)]") {
                let value = attr["value"] as? Int ?? next
                next = value + 1
                attributes.append(
                    Attribute(
                        name: try string(attr, "name", "attribute-sets[\(setName)].attributes"),
                        type: attr["type"] as? String ?? "", value: value,
                        multiAttr: attr["multi-attr"] as? Bool ?? false))
            }
            sets.append(AttributeSet(name: setName, isSubset: set["subset-of"] != nil, attributes: attributes))
        }

        guard let ops = top["operations"] as? [String: Any] else {
            throw Malformed(description: "\(file): no operations")
        }
        for op in try list(ops, "list", "operations") {
            let opName = try string(op, "name", "operations.list")
            guard let value = op["value"] as? Int else {
                throw Malformed(description: "\(file): operations.list[\(opName)]: no value")
            }
            operations.append((opName, value))
        }
    }

    func set(_ name: String) -> AttributeSet? { sets.first { $0.name == name } }

    static func cUpper(_ name: String) -> String {
        String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }
}

// MARK: comparisons

extension SpecNumbers {
    /// Every attribute of `setName` (UNSPEC excluded) has the wire number pinned for it, and so
    /// has its Swift constant; `names` holds exactly the spec's attributes.
    func expectSet(
        _ setName: String, names: [UInt16: String], _ pins: [String: (swift: UInt16, wire: Int)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let set = set(setName) else {
            Issue.record("\(file): no attribute set \(setName)", sourceLocation: sourceLocation)
            return
        }
        #expect(
            Set(set.real.map(\.name)) == Set(pins.keys),
            "\(file) \(setName): the spec's attributes vs. the test's table", sourceLocation: sourceLocation)
        for attr in set.real {
            guard let pin = pins[attr.name] else { continue }
            #expect(attr.value == pin.wire, "\(file) \(setName).\(attr.name)", sourceLocation: sourceLocation)
            #expect(
                Int(pin.swift) == attr.value, "Swift constant of \(setName).\(attr.name)",
                sourceLocation: sourceLocation)
        }
        let expectedNames = Dictionary(
            uniqueKeysWithValues: set.real.map { (UInt16(clamping: $0.value), SpecNumbers.cUpper($0.name)) })
        #expect(names == expectedNames, "\(file) \(setName): names", sourceLocation: sourceLocation)
    }

    func expectEnum(
        _ enumName: String, _ pins: [String: (swift: UInt32, wire: Int)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let entries = enums[enumName] else {
            Issue.record("\(file): no enum \(enumName)", sourceLocation: sourceLocation)
            return
        }
        #expect(
            Set(entries.map(\.name)) == Set(pins.keys), "\(file) \(enumName): entries", sourceLocation: sourceLocation)
        for entry in entries {
            guard let pin = pins[entry.name] else { continue }
            #expect(entry.value == pin.wire, "\(file) \(enumName).\(entry.name)", sourceLocation: sourceLocation)
            #expect(
                Int(pin.swift) == entry.value, "Swift value of \(enumName).\(entry.name)",
                sourceLocation: sourceLocation)
        }
    }

    func expectCommands<C: RawRepresentable & CaseIterable>(
        _ pins: [String: (swift: C, wire: Int)], name: (C) -> String,
        sourceLocation: SourceLocation = #_sourceLocation
    )
    where C.RawValue == UInt8 {
        #expect(Set(operations.map(\.name)) == Set(pins.keys), "\(file): operations", sourceLocation: sourceLocation)
        #expect(C.allCases.count == operations.count, "\(file): number of commands", sourceLocation: sourceLocation)
        for op in operations {
            guard let pin = pins[op.name] else { continue }
            #expect(op.value == pin.wire, "\(file) operation \(op.name)", sourceLocation: sourceLocation)
            #expect(Int(pin.swift.rawValue) == op.value, "Swift command \(op.name)", sourceLocation: sourceLocation)
            #expect(
                name(pin.swift) == SpecNumbers.cUpper(op.name), "\(file) \(op.name): name",
                sourceLocation: sourceLocation)
        }
    }
}

// MARK: tests

@Suite struct SpecTests {
    @Test func flowTableFamily() throws {
        let spec = try SpecNumbers("net_flow_nl.yaml")
        #expect(spec.name == "net_flow_nl" && NFL.familyName == spec.name)
        #expect(spec.version == 1 && Int(NFL.version) == spec.version)
        #expect(spec.consts["list-element"] == 1 && NFL.listElement == 1)
        #expect(spec.consts["max-name"] == 80 && NFL.maxName == 80)
        #expect(spec.consts["jump-table-done"] == 0 && NFL.jumpTableDone == 0)

        typealias C = NFL.Command
        spec.expectCommands(
            [
                "get-tables": (C.getTables, 0), "get-headers": (.getHeaders, 1), "get-actions": (.getActions, 2),
                "get-hdr-graph": (.getHeaderGraph, 3), "get-table-graph": (.getTableGraph, 4),
                "get-flows": (.getFlows, 5), "set-flows": (.setFlows, 6), "del-flows": (.delFlows, 7),
                "update-flows": (.updateFlows, 8), "create-table": (.createTable, 9),
                "destroy-table": (.destroyTable, 10),
            ], name: \.name)

        typealias A = NFL.Attr
        spec.expectSet(
            "nfl-attrs", names: A.names,
            [
                "identifier-type": (A.identifierType, 1), "identifier": (A.identifier, 2), "tables": (A.tables, 3),
                "headers": (A.headers, 4), "actions": (A.actions, 5), "header-graph": (A.headerGraph, 6),
                "table-graph": (A.tableGraph, 7), "flows": (A.flows, 8), "flows-error": (A.flowsError, 9),
            ])
        typealias FA = NFL.FieldAttr
        spec.expectSet(
            "field", names: FA.names, ["name": (FA.name, 1), "uid": (FA.uid, 2), "bitwidth": (FA.bitwidth, 3)])
        typealias HA = NFL.HeaderAttr
        spec.expectSet("header", names: HA.names, ["name": (HA.name, 1), "uid": (HA.uid, 2), "fields": (HA.fields, 3)])
        typealias R = NFL.FieldRefAttr
        spec.expectSet(
            "field-ref", names: R.names,
            [
                "next-node": (R.nextNode, 1), "instance": (R.instance, 2), "header": (R.header, 3),
                "field": (R.field, 4),
                "mask-type": (R.maskType, 5), "type": (R.type, 6), "value": (R.value, 7), "mask": (R.mask, 8),
            ])
        typealias AA = NFL.ActionArgAttr
        spec.expectSet(
            "action-arg", names: AA.names, ["name": (AA.name, 1), "type": (AA.type, 2), "value": (AA.value, 3)])
        typealias AC = NFL.ActionAttr
        spec.expectSet(
            "action", names: AC.names, ["name": (AC.name, 1), "uid": (AC.uid, 2), "signature": (AC.signature, 3)])
        typealias T = NFL.TableAttr
        spec.expectSet(
            "table", names: T.names,
            [
                "name": (T.name, 1), "uid": (T.uid, 2), "source": (T.source, 3), "apply": (T.apply, 4),
                "size": (T.size, 5), "matches": (T.matches, 6), "actions": (T.actions, 7),
            ])
        typealias H = NFL.HeaderNodeAttr
        spec.expectSet(
            "header-node", names: H.names,
            [
                "name": (H.name, 1), "uid": (H.uid, 2), "hdrs": (H.hdrs, 3), "jump": (H.jump, 4),
            ])
        typealias G = NFL.TableGraphNodeAttr
        spec.expectSet(
            "table-graph-node", names: G.names, ["uid": (G.uid, 1), "flags": (G.flags, 2), "jump": (G.jump, 3)])
        typealias F = NFL.FlowAttr
        spec.expectSet(
            "flow", names: F.names,
            [
                "error": (F.error, 1), "table": (F.table, 2), "uid": (F.uid, 3), "priority": (F.priority, 4),
                "matches": (F.matches, 5), "actions": (F.actions, 6),
            ])
        typealias S = NFL.TableFlowsAttr
        spec.expectSet(
            "table-flows", names: S.names,
            [
                "table": (S.table, 1), "minprio": (S.minPriority, 2), "maxprio": (S.maxPriority, 3),
                "flows": (S.flows, 4),
            ])

        spec.expectEnum(
            "identifier-type",
            [
                "unspec": (NFL.IdentifierType.unspec, 0), "ifindex": (NFL.IdentifierType.ifindex, 1),
            ])
        typealias N = NFL.TableGraphNodeFlag
        spec.expectEnum(
            "table-graph-node-flag",
            [
                "egress-root": (N.egressRoot, 1), "ingress-root": (N.ingressRoot, 2), "dynamic": (N.dynamic, 4),
            ])
    }

    /// The model's value types are hand-written (they carry behaviour); their numbers and names
    /// still come from the spec.
    @Test func modelValueTypesFollowTheSpec() throws {
        let spec = try SpecNumbers("net_flow_nl.yaml")
        let widths: [String: (swift: UInt32, wire: Int)] = [
            "u8": (FieldType.u8.rawValue, 1), "u16": (FieldType.u16.rawValue, 2),
            "u32": (FieldType.u32.rawValue, 3), "u64": (FieldType.u64.rawValue, 4),
        ]
        spec.expectEnum("field-ref-type", widths.merging(["unspec": (FieldType.unspec.rawValue, 0)]) { a, _ in a })
        // Action-argument types share the numbers; 0 is called null there.
        spec.expectEnum("action-arg-type", widths.merging(["null": (FieldType.unspec.rawValue, 0)]) { a, _ in a })
        for entry in spec.enums["field-ref-type"] ?? [] {
            #expect(FieldType(rawValue: UInt32(entry.value)).description == entry.name)
        }
        spec.expectEnum(
            "mask-type",
            [
                "unspec": (MaskType.unspec.rawValue, 0), "exact": (MaskType.exact.rawValue, 1),
                "lpm": (MaskType.lpm.rawValue, 2), "mask": (MaskType.mask.rawValue, 3),
            ])
        spec.expectEnum(
            "flows-error",
            [
                "abort": (ErrorStrategy.abort.rawValue, 0), "continue": (ErrorStrategy.continue.rawValue, 1),
                "abort-log": (ErrorStrategy.abortLog.rawValue, 2), "cont-log": (ErrorStrategy.continueLog.rawValue, 3),
            ])
        // The strategy's user-facing names are the spec's entry names.
        for entry in spec.enums["flows-error"] ?? [] {
            #expect(ErrorStrategy(name: entry.name)?.rawValue == UInt32(entry.value))
            #expect(ErrorStrategy(rawValue: UInt32(entry.value)).name == entry.name)
        }
        #expect(ErrorStrategy.all.count == spec.enums["flows-error"]?.count)
    }

    @Test func hairpinFamily() throws {
        let spec = try SpecNumbers("nfl_hairpin.yaml")
        #expect(spec.name == "nfl_hairpin" && NFLH.familyName == spec.name)
        #expect(spec.version == 1 && Int(NFLH.version) == spec.version)

        spec.expectCommands(
            [
                "set-listener": (NFLH.Command.setListener, 1), "get-listener": (.getListener, 2), "encap": (.encap, 3),
            ], name: \.name)
        spec.expectSet(
            "nflh-attrs", names: NFLH.Attr.names,
            [
                "encap": (NFLH.Attr.encap, 1), "listener": (NFLH.Attr.listener, 2),
            ])
        spec.expectSet(
            "listener", names: NFLH.ListenerAttr.names,
            [
                "type": (NFLH.ListenerAttr.type, 1), "port": (NFLH.ListenerAttr.port, 2),
            ])
        typealias E = NFLH.EncapAttr
        spec.expectSet(
            "encap", names: E.names,
            [
                "cmd-type": (E.cmdType, 1), "cmd": (E.cmd, 2), "status": (E.status, 3), "seq": (E.seq, 4),
                "attr": (E.attr, 5), "results": (E.results, 6), "part": (E.part, 7), "more": (E.more, 8),
                "error-msg": (E.errorMessage, 9), "pad": (E.pad, 10),
            ])
        spec.expectSet(
            "result", names: NFLH.ResultAttr.names,
            [
                "index": (NFLH.ResultAttr.index, 1), "errno": (NFLH.ResultAttr.errno, 2),
            ])
        // The part-cutting budget of the contract ("Parts"); the module's UNFT_PART_BUDGET is this.
        #expect(spec.consts["part-budget"] == 61440 && NFLH.partBudget == 61440)
        spec.expectEnum("listener-type", ["encap": (NFLH.ListenerType.encap, 1)])
        spec.expectEnum("encap-cmd-type", ["nfl-command": (NFLH.EncapCmdType.nflCommand, 1)])
    }

    /// The codec reads every list with one element type, NFL.listElement: every list wrapper of
    /// both families (a set whose only attribute repeats) must use it.
    @Test func listWrappersUseTheListElement() throws {
        var wrappers = 0
        for file in ["net_flow_nl.yaml", "nfl_hairpin.yaml"] {
            let spec = try SpecNumbers(file)
            for set in spec.sets where !set.isSubset && set.real.count == 1 && set.real[0].multiAttr {
                wrappers += 1
                #expect(set.real[0].value == Int(NFL.listElement), "\(file) \(set.name).\(set.real[0].name)")
            }
        }
        // 11 in net_flow_nl (fields, headers, field refs, action args, actions, tables, jumps,
        // hdrs, both graphs, flows) and hairpin's results: the detection above must find them all.
        #expect(wrappers == 12)
    }

    /// The specs are plain YNL (the kernel's tools refuse anything else; Tests/e2e/ynl-spec.sh runs
    /// them): the SPDX tag first, and none of FlowTrace's own keys, which live in spec/hints/.
    @Test func specsAreYNLAndHintsAreApart() throws {
        let hintKeys: Set<String> = ["swift-name", "swift-type", "nested-family", "required", "rejected"]
        func keys(_ node: Any, _ path: String, _ found: inout [String]) {
            if let map = node as? [String: Any] {
                for (key, value) in map {
                    if hintKeys.contains(key) { found.append("\(path).\(key)") }
                    keys(value, "\(path).\(key)", &found)
                }
            } else if let list = node as? [Any] {
                for (index, value) in list.enumerated() { keys(value, "\(path)[\(index)]", &found) }
            }
        }
        for file in ["net_flow_nl.yaml", "nfl_hairpin.yaml"] {
            let text = try String(contentsOf: SpecNumbers.root.appendingPathComponent("spec/\(file)"), encoding: .utf8)
            #expect(text.hasPrefix("# SPDX-License-Identifier: "), "spec/\(file): YNL wants the SPDX tag on line 1")
            var found: [String] = []
            keys(try Yams.load(yaml: text) as Any, "", &found)
            #expect(found.isEmpty, "spec/\(file): FlowTrace keys in the YNL spec: \(found)")
            #expect(
                FileManager.default.fileExists(
                    atPath: SpecNumbers.root.appendingPathComponent("spec/hints/\(file)").path))
        }
    }

    /// The required-attribute facts, pinned like the numbers: the kernel module's checker and the
    /// Swift walk are generated from these lists, so a change to them must be deliberate.
    @Test func requiredAttributesArePinned() throws {
        func hints(_ file: String) throws -> [String: Any] {
            let text = try String(
                contentsOf: SpecNumbers.root.appendingPathComponent("spec/hints/\(file)"), encoding: .utf8)
            return try #require(try Yams.load(yaml: text) as? [String: Any])
        }
        func required(_ top: [String: Any], _ set: String) -> [String] {
            ((top["attribute-sets"] as? [String: Any])?[set] as? [String: Any])?["required"] as? [String] ?? []
        }
        let nfl = try hints("net_flow_nl.yaml")
        let pins: [String: [String]] = [
            "field": ["name", "uid", "bitwidth"], "header": ["name", "uid", "fields"],
            "field-ref": ["instance", "header", "field", "mask-type", "type"], "action-arg": ["type", "value"],
            "action": ["uid"], "table": ["name", "uid", "source", "size", "matches", "actions"],
            "header-node": ["name", "uid", "hdrs", "jump"], "table-graph-node": ["uid", "flags", "jump"],
            "flow": ["table", "uid", "priority"], "table-flows": ["table"],
        ]
        for (set, attributes) in pins {
            #expect(required(nfl, set) == attributes, "net_flow_nl \(set)")
        }
        let sets = try #require(nfl["attribute-sets"] as? [String: Any])
        let jump =
            ((sets["jump-list"] as? [String: Any])?["attributes"] as? [String: Any])?["jump-entry"] as? [String: Any]
        #expect(jump?["required"] as? [String] == ["next-node"] + pins["field-ref"]!)
        // Deleting names a flow by table and uid; priority is ignored (spec/backend-contract.md).
        let ops = try #require(nfl["operations"] as? [String: Any])
        #expect(
            ((ops["del-flows"] as? [String: Any])?["required"] as? [String: Any])?["flow"] as? [String] == [
                "table", "uid",
            ])
        let hairpin = try hints("nfl_hairpin.yaml")
        #expect(required(hairpin, "listener") == ["type"])
        #expect(required(hairpin, "result") == ["index", "errno"])
    }

    /// A hints mistake is an error naming the hints file, line and path, exit 2: a renamed set or a
    /// typo would otherwise drop a rule silently.
    @Test(arguments: [
        (
            "  field:\n", "  feild:\n",
            "spec/hints/net_flow_nl.yaml:LINE: attribute-sets.feild: the spec spec/net_flow_nl.yaml has no attribute set 'feild'"
        ),
        (
            "[ table, uid, priority ]", "[ table, uid, prio ]",
            "spec/hints/net_flow_nl.yaml:LINE: attribute-sets.flow.required: 'flow' has no attribute 'prio'"
        ),
        (
            "    swift-name: TableAttr", "    swift-nam: TableAttr",
            "spec/hints/net_flow_nl.yaml:LINE: attribute-sets.table.swift-nam: unknown key"
        ),
        (
            "  del-flows:", "  del-flow:",
            "spec/hints/net_flow_nl.yaml:LINE: operations.del-flow: the spec spec/net_flow_nl.yaml has no operation 'del-flow'"
        ),
    ])
    func hintsMistakesNameTheirPlace(_ edit: (String, String, String)) throws {
        let binary = try #require(Self.ynlGen(), "no ynl-gen binary; `swift build` makes it")
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("spec-hints-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        try fm.copyItem(at: SpecNumbers.root.appendingPathComponent("spec"), to: root.appendingPathComponent("spec"))
        try Data().write(to: root.appendingPathComponent("Package.swift"))
        let hints = root.appendingPathComponent("spec/hints/net_flow_nl.yaml")
        let text = try String(contentsOf: hints, encoding: .utf8)
        #expect(text.components(separatedBy: edit.0).count == 2, "the test's edit must hit one place: \(edit.0)")
        let edited = text.replacingOccurrences(of: edit.0, with: edit.1)
        try edited.write(to: hints, atomically: true, encoding: .utf8)
        // The error must point at the edited line (1-based).
        let line =
            try #require(
                edited.components(separatedBy: "\n").firstIndex {
                    $0.contains(edit.1.trimmingCharacters(in: .newlines))
                }) + 1
        let expected = edit.2.replacingOccurrences(of: "LINE", with: String(line))

        let process = Process()
        process.executableURL = binary
        process.arguments = ["--check", "--root", root.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
        #expect(message.contains(expected), "\(message)")
    }

    /// The kernel module's tables follow the hints: ynl-gen writes kmod/unft_nl_gen.c into a copy
    /// of the package, and the tables are followed from each command's request rules to a flow's
    /// required bits. With PRIORITY put back in del-flows' rule, DEL_FLOWS needs it again:
    /// the C comes from the hints, not from a hand-written table.
    @Test(arguments: [true, false])
    func kernelTablesFollowTheHints(keepDeleteRule: Bool) throws {
        let binary = try #require(Self.ynlGen(), "no ynl-gen binary; `swift build` makes it")
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("spec-kmod-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        try fm.copyItem(at: SpecNumbers.root.appendingPathComponent("spec"), to: root.appendingPathComponent("spec"))
        try Data().write(to: root.appendingPathComponent("Package.swift"))
        if !keepDeleteRule {
            let hints = root.appendingPathComponent("spec/hints/net_flow_nl.yaml")
            let text = try String(contentsOf: hints, encoding: .utf8)
            let rule = "      flow: [ table, uid ]\n"
            #expect(text.contains(rule))
            try text.replacingOccurrences(of: rule, with: "      flow: [ table, uid, priority ]\n")
                .write(to: hints, atomically: true, encoding: .utf8)
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--root", root.path]
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let c = try String(contentsOf: root.appendingPathComponent("kmod/unft_nl_gen.c"), encoding: .utf8)

        /// The body of `const struct ... name[...] = { ... };` as its lines.
        func body(_ name: String) throws -> [String] {
            let lines = c.components(separatedBy: "\n")
            let start = try #require(
                lines.firstIndex { $0.contains(" \(name)[") || $0.contains(" \(name) =") },
                "no table \(name)")
            let end = try #require(lines[start...].firstIndex { $0 == "};" })
            return Array(lines[(start + 1)..<end])
        }
        /// The value of `[KEY] = value` (or `.key = value`) in a table, without `&` and `,`.
        func entry(_ table: String, _ key: String) throws -> String {
            let line = try #require(try body(table).first { $0.contains("\(key) = ") }, "\(table): no \(key)")
            return String(line[line.range(of: "\(key) = ")!.upperBound...])
                .trimmingCharacters(in: CharacterSet(charactersIn: "&,{} "))
        }
        /// The flow set a command's request reaches: requests -> top set -> FLOWS -> FLOW.
        func flowRequired(_ command: String) throws -> [String] {
            let row = try entry("unft_net_flow_nl_requests", "[\(command)]")
            let top = try #require(row.split(separator: "&").last).trimmingCharacters(in: .whitespaces)
            let list = try entry(try entry(top, ".child"), "[NFL_FLOWS]")
            let flow = try entry(try entry(list, ".child"), "[NFL_FLOW]")
            return try body(flow).joined().components(separatedBy: "BIT(").dropFirst()
                .map { String($0.prefix { $0 != ")" }) }
        }
        #expect(try flowRequired("NFL_TABLE_CMD_SET_FLOWS") == ["NFL_ATTR_TABLE", "NFL_ATTR_UID", "NFL_ATTR_PRIORITY"])
        #expect(
            try flowRequired("NFL_TABLE_CMD_DEL_FLOWS")
                == (keepDeleteRule
                    ? ["NFL_ATTR_TABLE", "NFL_ATTR_UID"] : ["NFL_ATTR_TABLE", "NFL_ATTR_UID", "NFL_ATTR_PRIORITY"]))
        // get-flows' request: FLOWS holds the selector, and the selector refuses FLOWS.
        let getFlows = try entry("unft_net_flow_nl_requests", "[NFL_TABLE_CMD_GET_FLOWS]")
        let policy = try #require(getFlows.split(separator: ",").first).trimmingCharacters(in: .whitespaces)
        #expect(try entry(policy, "[NFL_FLOWS]") == "NLA_POLICY_NESTED(unft_table_flows_pol)")
        #expect(try body("unft_table_flows_pol").joined().contains("\"FLOWS is not allowed in a GET_FLOWS selector\""))
        // A jump entry needs NEXT_NODE; a match refuses it.
        let jump = try entry(try entry("unft_jump_list_set", ".child"), "[NFL_JUMP_ENTRY]")
        #expect(try body(jump).joined().contains("BIT(NFL_FIELD_REF_NEXT_NODE)"))
        let match = try entry("unft_field_ref_list_pol", "[NFL_FIELD_REF]")
        let matchPolicy = String(match.dropFirst("NLA_POLICY_NESTED(".count).dropLast())
        #expect(try body(matchPolicy).joined().contains("\"NEXT_NODE is only allowed in a jump entry\""))
    }

    @Test func generatedFilesAreUpToDate() throws {
        let binary = try #require(
            Self.ynlGen(),
            """
            no ynl-gen binary next to the test bundle or in .build/debug; `swift build` (or `swift test`, \
            which builds every target) makes it
            """)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--check", "--root", SpecNumbers.root.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "ynl-gen --check: \(message)")
    }

    /// The binary built with this test bundle (same build directory), else the default one.
    static func ynlGen() -> URL? {
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
        }
        directories.append(SpecNumbers.root.appendingPathComponent(".build/debug"))
        return directories.map { $0.appendingPathComponent("ynl-gen") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
