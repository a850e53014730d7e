// Tests of the JSON value type, parser, writer and the libflow-table mapping.

import Foundation
import Testing
@testable import LibFlowTable

// MARK: - helpers

/// `Tests/Fixtures/compat`: the original libflow-table example files, quirks included.
private let compatDirectory: String = {
    URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // LibFlowTableTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/compat").path
}()

/// Each compat file and the single top-level key the original tools demand of it.
private let compatFiles: [(file: String, key: String)] = [
    ("actions.json", "actions"), ("del-flows.json", "flows"), ("flows.json", "flows"),
    ("header-graph.json", "header_graph"), ("headers.json", "headers"),
    ("table-graph.json", "table_graph"), ("tables.json", "tables"),
]

private func compatBytes(_ name: String) throws -> [UInt8] {
    try FlowTableJSON.readFile(compatDirectory + "/" + name)
}

/// The error of decoding `text` as libflow-table JSON, nil when it decodes.
private func decodeError(_ text: String, expectedKey: String? = nil, extended: Bool = false) -> JSONError? {
    do {
        _ = try FlowTableJSON.decode(text, expectedKey: expectedKey, extended: extended)
        return nil
    } catch {
        return error
    }
}

private func parseError(_ text: String) -> JSONError? {
    do {
        _ = try JSONValue(parsing: text)
        return nil
    } catch {
        return error
    }
}

private func parseError(_ bytes: [UInt8]) -> JSONError? {
    do {
        _ = try JSONValue(parsing: bytes)
        return nil
    } catch {
        return error
    }
}

/// A flow document around one flow object text.
private func flowsDocument(_ flow: String) -> String {
    "{\"flows\":[{\"flow\":\(flow)}]}"
}

private let goodMatch =
    #"{"field_ref":{"instance":1,"header":1,"field":3,"mask_type":1,"type":2,"value":[8,0],"mask":[255,255]}}"#

private func flowText(table: String = "1", extra: String = "", value: String = "[8,0]") -> String {
    #"{"table":\#(table),"uid":10,"priority":5\#(extra),"matches":[{"field_ref":{"instance":1,"header":1,"field":3,"mask_type":1,"type":2,"value":\#(value),"mask":[255,255]}}]}"#
}

// MARK: - compat files

@Test func compatDirectoryHoldsExactlyTheKnownFiles() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: compatDirectory)
        .filter { $0.hasSuffix(".json") }.sorted()
    #expect(names == compatFiles.map(\.file).sorted())
}

@Test(arguments: compatFiles.map(\.file))
func compatFileWritesBackByteIdenticalAsJSONValue(_ file: String) throws {
    // The writer reproduces json-c's pretty style: parse and write back gives the same bytes.
    let bytes = try compatBytes(file)
    let value = try FlowTableJSON.parse(bytes: bytes, file: file)
    #expect(FlowTableJSON.fileText(value) == String(decoding: bytes, as: UTF8.self))
}

@Test(arguments: compatFiles)
func compatFileLoadsAndRoundTripsThroughTheModel(_ file: String, _ key: String) throws {
    let bytes = try compatBytes(file)
    let attributes = try FlowTableJSON.decode(bytes: bytes, file: file, expectedKey: key)
    let document = try FlowTableJSON.parse(bytes: bytes)
    let written = attributes.json()
    // Same JSON data (key order aside) …
    #expect(written.isEquivalent(to: document))
    // … and the same model when read again.
    #expect(try FlowTableAttributes(json: written) == attributes)
    if file == "flows.json" {
        // The one hand-written quirk: its actions list "uid" before "name". We write attribute
        // order (name = 1, uid = 2), so only the key order differs.
        #expect(written != document)
        #expect(FlowTableJSON.fileText(written) != String(decoding: bytes, as: UTF8.self))
    } else {
        #expect(written == document)
        #expect(FlowTableJSON.fileText(written) == String(decoding: bytes, as: UTF8.self))
    }
}

@Test func compatContentsAreReadExactly() throws {
    let tables = try FlowTableJSON.loadAttributes(file: compatDirectory + "/tables.json", expectedKey: "tables")
    #expect(tables.tables?.count == 2)
    #expect(
        tables.tables?.first
            == Table(
                name: "table0", uid: 0, source: 1, apply: 0, size: 4_294_967_295,
                matches: [
                    FieldRef(instance: 1, header: 1, field: 2, maskType: .mask, type: .unspec),
                    FieldRef(instance: 1, header: 1, field: 3, maskType: .mask, type: .unspec),
                ],
                actions: [1]))
    #expect(tables.flows == nil && tables.headers == nil)

    let graph = try FlowTableJSON.loadAttributes(file: compatDirectory + "/header-graph.json")
    let ipv4 = try #require(graph.headerGraph?.last)
    #expect(
        ipv4.jumps == [
            JumpEntry(
                nextNode: 0xFFFF_FFFF,
                ref: FieldRef(instance: 0, header: 0, field: 0, maskType: .unspec, type: .unspec))
        ])
    #expect(graph.headerGraph?.first?.headers == [1, 2, 3])
    #expect(graph.headerGraph?.first?.jumps.first?.ref.value == FieldValue(rawBits: 0x0800, byteCount: 2))

    let flows = try FlowTableJSON.loadAttributes(file: compatDirectory + "/flows.json", expectedKey: "flows")
    let first = try #require(flows.flows?.first)
    #expect(first.matches?.first?.value == FieldValue(rawBits: 0x0000_0120_D9EC_F506, byteCount: 8))
    #expect(first.matches?.first?.mask == FieldValue(rawBits: 0x0000_FFFF_FFFF_FFFF, byteCount: 8))
    #expect(first.actions?.last?.signature?.map(\.value.rawBits) == [2, 3])
    #expect(first.actions?.last?.name == "enqueue")

    let del = try FlowTableJSON.loadAttributes(file: compatDirectory + "/del-flows.json", expectedKey: "flows")
    #expect(del.flows?.first?.actions == nil)
    #expect(del.flows?.first?.matches?.count == 1)

    let actions = try FlowTableJSON.loadAttributes(file: compatDirectory + "/actions.json", expectedKey: "actions")
    // copy_to_cpu has "signature":[] — empty, not absent.
    #expect(actions.actions?.first(where: { $0.name == "copy_to_cpu" })?.signature == [])
    let headers = try FlowTableJSON.loadAttributes(file: compatDirectory + "/headers.json", expectedKey: "headers")
    #expect(headers.headers?.last?.fields.last?.bitwidth == 4_294_967_295)
}

@Test func compatFileRejectedUnderTheWrongKey() throws {
    let bytes = try compatBytes("tables.json")
    do {
        _ = try FlowTableJSON.decode(bytes: bytes, file: "tables.json", expectedKey: "flows")
        Issue.record("tables.json accepted as a flows file")
    } catch {
        #expect(error.kind == .unknownKey)
        #expect(error.path.description == "tables")
        #expect(error.line == 2 && error.column == 3)
        #expect(error.description.hasPrefix("tables.json:2:3: tables: unexpected key"))
    }
}

// MARK: - the spec's 4.4 example

@Test func specExampleLoadsToTheExpectedModel() throws {
    let text = """
        {"flows": [
          {"flow": {"table": 1, "uid": 10, "priority": 5,
            "matches": [{"field_ref": {"instance": 1, "header": 1, "field": 3,
                                       "mask_type": 1, "type": 2,
                                       "value": [8, 0], "mask": [255, 255]}}],
            "actions": [{"action": {"uid": 5,
                         "signature": [{"action_arg": {"name": "port", "type": 3,
                                                       "value": [0, 0, 0, 2]}}]}}]}}
        ]}
        """
    let attributes = try FlowTableJSON.decode(text, expectedKey: "flows")
    let expected = Flow(
        table: 1, uid: 10, priority: 5,
        matches: [
            FieldRef(
                instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xFFFF, type: .u16))
        ],
        actions: [Action(uid: 5, signature: [ActionArg(name: "port", type: .u32, value: FieldValue(2, type: .u32))])])
    #expect(attributes == FlowTableAttributes(flows: [expected]))
    // Written back in libflow-table form (attribute order, no absent keys).
    #expect(
        expected.json().serialized(style: .compact)
            == #"{"table":1,"uid":10,"priority":5,"matches":[{"field_ref":{"instance":1,"header":1,"field":3,"mask_type":1,"type":2,"value":[8,0],"mask":[255,255]}}],"actions":[{"action":{"uid":5,"signature":[{"action_arg":{"name":"port","type":3,"value":[0,0,0,2]}}]}}]}"#
    )
}

// MARK: - model round trips

private struct ModelMaker {
    var rng: SplitMix64  // RandomModel.swift: deterministic, so a failure reproduces

    mutating func u32() -> UInt32 {
        // Edges matter most: 0, 1, the maximum.
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return 0
        case 1: return UInt32.max
        default: return UInt32.random(in: 0...UInt32.max, using: &rng)
        }
    }

    mutating func maybe<T>(_ make: (inout ModelMaker) -> T) -> T? {
        Bool.random(using: &rng) ? make(&self) : nil
    }

    mutating func list<T>(_ max: Int, _ make: (inout ModelMaker) -> T) -> [T] {
        (0..<Int.random(in: 0...max, using: &rng)).map { _ in make(&self) }
    }

    mutating func name() -> String {
        ["eth", "", "a/b", "quote\"back\\slash", "tab\tnl\n", "ü€😀", "x\u{1}y", "set_out_port"]
            .randomElement(using: &rng) ?? "n"
    }

    mutating func value() -> FieldValue {
        let count = UInt8.random(in: 1...8, using: &rng)
        let v = FieldValue(rawBits: rng.next(), byteCount: count)
        // Bits beyond byteCount have no JSON form, so the model under test has none.
        return FieldValue(rawBits: v.rawBits & v.widthMask, byteCount: count)
    }

    mutating func ref() -> FieldRef {
        FieldRef(
            instance: u32(), header: u32(), field: u32(), maskType: MaskType(rawValue: u32()),
            type: FieldType(rawValue: u32()), value: maybe { $0.value() }, mask: maybe { $0.value() })
    }

    mutating func action() -> Action {
        Action(
            name: maybe { $0.name() }, uid: u32(),
            signature: maybe { m in
                m.list(3) { m in
                    ActionArg(
                        name: m.maybe { $0.name() },
                        type: FieldType(rawValue: m.u32()),
                        value: m.value())
                }
            })
    }

    mutating func attributes() -> FlowTableAttributes {
        FlowTableAttributes(
            tables: maybe { m in
                m.list(3) { m in
                    Table(
                        name: m.name(), uid: m.u32(), source: m.u32(), apply: m.maybe { $0.u32() }, size: m.u32(),
                        matches: m.list(3) { $0.ref() }, actions: m.list(3) { $0.u32() })
                }
            },
            headers: maybe { m in
                m.list(3) { m in
                    Header(
                        name: m.name(), uid: m.u32(),
                        fields: m.list(3) { m in Field(name: m.name(), uid: m.u32(), bitwidth: m.u32()) })
                }
            },
            actions: maybe { m in m.list(3) { $0.action() } },
            headerGraph: maybe { m in
                m.list(3) { m in
                    HeaderGraphNode(
                        name: m.name(), uid: m.u32(), headers: m.list(3) { $0.u32() },
                        jumps: m.list(3) { m in JumpEntry(nextNode: m.u32(), ref: m.ref()) })
                }
            },
            tableGraph: maybe { m in
                m.list(3) { m in
                    TableGraphNode(
                        uid: m.u32(), flags: m.u32(),
                        jumps: m.list(3) { m in JumpEntry(nextNode: m.u32(), ref: m.ref()) })
                }
            },
            flows: maybe { m in
                m.list(3) { m in
                    Flow(
                        error: m.maybe { $0.u32() }, table: m.u32(), uid: m.u32(), priority: m.u32(),
                        matches: m.maybe { m in m.list(3) { $0.ref() } },
                        actions: m.maybe { m in m.list(3) { $0.action() } })
                }
            })
    }
}

@Test func randomModelsRoundTripThroughJSONAndText() throws {
    var maker = ModelMaker(rng: SplitMix64(seed: 0x5EED))
    for _ in 0..<300 {
        let model = maker.attributes()
        let json = model.json()
        #expect(try FlowTableAttributes(json: json) == model)
        for style in [JSONStyle.pretty, .compact] {
            let text = json.serialized(style: style)
            #expect(try JSONValue(parsing: text) == json)
            #expect(try FlowTableJSON.decode(text) == model)
        }
    }
}

@Test func extendedJSONKeepsPreambleSelectorAndStrategy() throws {
    let model = FlowTableAttributes(
        identifierType: 1, identifier: 7, flows: [Flow(table: 1, uid: 2, priority: 3)],
        selector: FlowSelector(table: 4, maxPriority: 9), errorStrategy: .continueLog)
    let json = model.extendedJSON()
    #expect(
        json.serialized(style: .compact)
            == #"{"identifier_type":1,"identifier":7,"flows":[{"flow":{"table":1,"uid":2,"priority":3}}],"selector":{"table":4,"max_prio":9},"error_strategy":"cont-log"}"#
    )
    #expect(try FlowTableAttributes(extendedJSON: json) == model)
    // The libflow-table form leaves them out …
    #expect(model.json() == ["flows": [["flow": ["table": 1, "uid": 2, "priority": 3]]]])
    // … and rejects them.
    let error = decodeError(json.serialized(style: .compact))
    #expect(error?.kind == .unknownKey)
    #expect(error?.path.description == "identifier_type")

    #expect(try ErrorStrategy(json: "abort_log") == .abortLog)
    #expect(try ErrorStrategy(json: 7) == ErrorStrategy(rawValue: 7))
    #expect(ErrorStrategy(rawValue: 7).json() == 7)
    #expect(ErrorStrategy.continue.json() == "continue")
    var badStrategy: JSONError?
    do { _ = try ErrorStrategy(json: "sometimes") } catch { badStrategy = error }
    #expect(badStrategy?.kind == .outOfRange)
    #expect(try FlowSelector(json: ["table": 3, "min_prio": 0]) == FlowSelector(table: 3, minPriority: 0))
}

@Test func absentAndEmptyStayDifferent() throws {
    let absent = Action(uid: 1)
    let empty = Action(uid: 1, signature: [])
    #expect(absent.json() == ["uid": 1])
    #expect(empty.json() == ["uid": 1, "signature": []])
    #expect(try Action(json: absent.json()) == absent)
    #expect(try Action(json: empty.json()) == empty)

    let bare = Flow(table: 1, uid: 2, priority: 3)
    let emptyLists = Flow(table: 1, uid: 2, priority: 3, matches: [], actions: [])
    #expect(bare.json() == ["table": 1, "uid": 2, "priority": 3])
    #expect(emptyLists.json() == ["table": 1, "uid": 2, "priority": 3, "matches": [], "actions": []])
    #expect(try Flow(json: emptyLists.json()) == emptyLists)

    #expect(FlowTableAttributes().json() == [:])
    #expect(FlowTableAttributes(tables: []).json() == ["tables": []])
    #expect(Table(name: "t", uid: 1, source: 0, size: 5, matches: [], actions: []).json()["apply"] == nil)
}

@Test func outputKeysFollowAttributeNumbers() throws {
    let specs: [[JSONKeySpec]] = [
        FlowTableJSONKeys.top, FlowTableJSONKeys.field, FlowTableJSONKeys.header, FlowTableJSONKeys.fieldRef,
        FlowTableJSONKeys.jumpEntry, FlowTableJSONKeys.actionArg, FlowTableJSONKeys.action,
        FlowTableJSONKeys.table, FlowTableJSONKeys.headerGraphNode, FlowTableJSONKeys.tableGraphNode,
        FlowTableJSONKeys.flow, FlowTableJSONKeys.selector,
    ]
    for spec in specs {
        #expect(zip(spec, spec.dropFirst()).allSatisfy { $0.attribute < $1.attribute }, "\(spec.map(\.name))")
    }
    // A value with every key shows the order; the jump entry is an array of one-key objects.
    let v = FieldValue(rawBits: 0x0102, byteCount: 2)
    let ref = FieldRef(instance: 1, header: 2, field: 3, maskType: .mask, type: .u16, value: v, mask: v)
    #expect(
        JumpEntry(nextNode: 9, ref: ref).json() == [
            ["next_node": 9], ["instance": 1], ["header": 2], ["field": 3], ["mask_type": 3], ["type": 2],
            ["value": [1, 2]], ["mask": [1, 2]],
        ])
    let flow = Flow(
        error: 1, table: 2, uid: 3, priority: 4, matches: [ref], actions: [Action(name: "a", uid: 5, signature: [])])
    #expect(flow.json().members?.map(\.key) == ["error", "table", "uid", "priority", "matches", "actions"])
    #expect(Action(name: "a", uid: 5, signature: []).json().members?.map(\.key) == ["name", "uid", "signature"])
    #expect(ref.json().members?.map(\.key) == ["instance", "header", "field", "mask_type", "type", "value", "mask"])
}

@Test func fieldValuesAreMostSignificantByteFirst() throws {
    #expect(FieldValue(rawBits: 0x0A0B_0C0D, byteCount: 4).json() == [10, 11, 12, 13])
    #expect(try FieldValue(json: [1, 2, 3]) == FieldValue(rawBits: 0x010203, byteCount: 3))
    #expect(try FieldValue(json: [255, 255, 255, 255, 255, 255, 255, 255]) == FieldValue(rawBits: ~0, byteCount: 8))
    // The length stays as written even when it does not fit the TYPE; validation judges that.
    let ref = try FieldRef(json: ["instance": 1, "header": 1, "field": 1, "mask_type": 1, "type": 4, "value": [7]])
    #expect(ref.value == FieldValue(rawBits: 7, byteCount: 1))
}

// MARK: - mapping errors

@Test func wrongTypeNamesPathAndPosition() throws {
    let text = flowsDocument(flowText(table: "\"1\""))
    let error = try #require(decodeError(text))
    #expect(error.kind == .wrongType)
    #expect(error.path.description == "flows[0].flow.table")
    #expect(error.line == 1 && error.column == 28)
    #expect(error.message == #"expected an unsigned 32-bit integer (0…4294967295), got string "1""#)
    #expect(
        error.description
            == #"1:28: flows[0].flow.table: expected an unsigned 32-bit integer (0…4294967295), got string "1""#)

    #expect(decodeError(#"{"flows":{}}"#)?.kind == .wrongType)
    #expect(decodeError(#"{"flows":[{"flow":[]}]}"#)?.path.description == "flows[0].flow")
    #expect(decodeError(#"[1]"#)?.path == .root)
    #expect(decodeError(flowsDocument(flowText(table: "1.0")))?.kind == .wrongType)
    #expect(decodeError(flowsDocument(flowText(table: "true")))?.kind == .wrongType)
    #expect(decodeError(flowsDocument(flowText(table: "null")))?.kind == .wrongType)
}

@Test func missingKeyNamesTheKey() throws {
    let text = #"{"flows":[{"flow":{"table":1,"priority":5}}]}"#
    let error = try #require(decodeError(text))
    #expect(error.kind == .missingKey)
    #expect(error.path.description == "flows[0].flow.uid")
    // Reported at the object that lacks it.
    #expect(error.line == 1 && error.column == 19)

    let node =
        #"{"header_graph":[{"header_graph_node":{"name":"n","uid":1,"hdrs":[],"jump":[{"jump_entry":[{"instance":0},{"header":0},{"field":0},{"mask_type":0},{"type":0}]}]}}]}"#
    let jumpError = try #require(decodeError(node))
    #expect(jumpError.kind == .missingKey)
    #expect(jumpError.path.description == "header_graph[0].header_graph_node.jump[0].jump_entry.next_node")

    #expect(decodeError(#"{"tables":[{"table":{}}]}"#)?.path.description == "tables[0].table.name")
    #expect(decodeError(#"{"tables":[{}]}"#)?.kind == .missingKey)
}

@Test func unknownKeyIsRejected() throws {
    let error = try #require(decodeError(flowsDocument(flowText(extra: #","prio":1"#))))
    #expect(error.kind == .unknownKey)
    #expect(error.path.description == "flows[0].flow.prio")
    #expect(error.column == 52)  // at the key
    #expect(decodeError(#"{"flowz":[]}"#)?.path.description == "flowz")
    let wrapped = try #require(decodeError(#"{"flows":[{"rule":{}}]}"#))
    #expect(wrapped.kind == .unknownKey)
    #expect(wrapped.path.description == "flows[0].rule")
    #expect(
        decodeError(#"{"flows":[{"flow":{"table":1,"uid":1,"priority":1},"x":1}]}"#)?.path.description == "flows[0].x")
    // next_node belongs to jump entries only.
    let ref =
        #"{"tables":[{"table":{"name":"t","uid":1,"source":0,"size":1,"matches":[{"field_ref":{"next_node":1,"instance":1,"header":1,"field":1,"mask_type":1,"type":0}}],"actions":[]}}]}"#
    #expect(decodeError(ref)?.path.description == "tables[0].table.matches[0].field_ref.next_node")
    let jump =
        #"{"table_graph":[{"table_graph_node":{"uid":1,"flags":0,"jump":[{"jump_entry":[{"next_node":1},{"bogus":0}]}]}}]}"#
    #expect(decodeError(jump)?.path.description == "table_graph[0].table_graph_node.jump[0].jump_entry[1].bogus")
    #expect(decodeError(jump)?.kind == .unknownKey)
}

@Test func duplicateKeyIsRejected() throws {
    let error = try #require(decodeError(#"{"flows":[{"flow":{"table":1,"uid":1,"uid":2,"priority":1}}]}"#))
    #expect(error.kind == .duplicateKey)
    #expect(error.path.description == "flows[0].flow.uid")
    #expect(error.path.components.last == .key("uid", memberIndex: 2))
    #expect(error.column == 38)  // the second "uid"

    let top = try #require(decodeError(#"{"flows":[],"flows":[]}"#))
    #expect(top.kind == .duplicateKey && top.path.description == "flows")
    let single = try #require(decodeError(#"{"flows":[],"flows":[]}"#, expectedKey: "flows"))
    #expect(single.kind == .duplicateKey)
    let wrapper = try #require(decodeError(#"{"flows":[{"flow":{"table":1,"uid":1,"priority":1},"flow":{}}]}"#))
    #expect(wrapper.kind == .duplicateKey && wrapper.path.description == "flows[0].flow")
    let jump =
        #"{"table_graph":[{"table_graph_node":{"uid":1,"flags":0,"jump":[{"jump_entry":[{"next_node":1},{"next_node":2}]}]}}]}"#
    #expect(decodeError(jump)?.kind == .duplicateKey)
    #expect(decodeError(jump)?.path.description == "table_graph[0].table_graph_node.jump[0].jump_entry[1].next_node")
    let twoKeys =
        #"{"table_graph":[{"table_graph_node":{"uid":1,"flags":0,"jump":[{"jump_entry":[{"next_node":1,"instance":2}]}]}}]}"#
    #expect(decodeError(twoKeys)?.kind == .wrongType)
    #expect(decodeError(twoKeys)?.path.description == "table_graph[0].table_graph_node.jump[0].jump_entry[0]")
}

@Test func u32RangeIsChecked() throws {
    for bad in ["-1", "4294967296", "18446744073709551615", "18446744073709551616", "-9223372036854775809"] {
        let error = try #require(decodeError(flowsDocument(flowText(table: bad))), "\(bad)")
        #expect(error.kind == .outOfRange, "\(bad)")
        #expect(error.path.description == "flows[0].flow.table")
    }
    let max = try FlowTableJSON.decode(flowsDocument(flowText(table: "4294967295")))
    #expect(max.flows?.first?.table == 4_294_967_295)
    #expect(try FlowTableJSON.decode(flowsDocument(flowText(table: "0"))).flows?.first?.table == 0)
}

@Test func bytesAreChecked() throws {
    let error = try #require(decodeError(flowsDocument(flowText(value: "[8,256]"))))
    #expect(error.kind == .outOfRange)
    #expect(error.path.description == "flows[0].flow.matches[0].field_ref.value[1]")
    #expect(error.message == "expected a byte (0…255), got 256")
    #expect(decodeError(flowsDocument(flowText(value: "[-1]")))?.kind == .outOfRange)
    let typed = try #require(decodeError(flowsDocument(flowText(value: "[8,\"0\"]"))))
    #expect(typed.kind == .wrongType && typed.path.description == "flows[0].flow.matches[0].field_ref.value[1]")
    #expect(decodeError(flowsDocument(flowText(value: "2048")))?.kind == .wrongType)
}

@Test func valueArrayLengthIsChecked() throws {
    for bad in ["[]", "[1,2,3,4,5,6,7,8,9]"] {
        let error = try #require(decodeError(flowsDocument(flowText(value: bad))))
        #expect(error.kind == .badLength)
        #expect(error.path.description == "flows[0].flow.matches[0].field_ref.value")
    }
    // The path of the brief's example: third flow, first match.
    let good = flowText()
    let text = "{\"flows\":[\n{\"flow\":\(good)},\n{\"flow\":\(good)},\n{\"flow\":\(flowText(value: "[]"))}\n]}"
    let error = try #require(decodeError(text))
    #expect(error.path.description == "flows[2].flow.matches[0].field_ref.value")
    #expect(error.line == 4)
    #expect(error.description.hasPrefix("4:"))
    #expect(
        error.description.hasSuffix(
            "flows[2].flow.matches[0].field_ref.value: expected an array of 1 to 8 bytes, got 0 elements"))
}

@Test func requireSingleKeyImplementsCheckType() throws {
    #expect(try FlowTableJSON.requireSingleKey(["flows": []], expected: "flows") == [])
    func failure(_ v: JSONValue) -> JSONError? {
        do { try FlowTableJSON.requireSingleKey(v, expected: "flows"); return nil } catch { return error }
    }
    #expect(failure([:])?.kind == .missingKey)
    #expect(failure([:])?.path.description == "flows")
    #expect(failure(["tables": []])?.kind == .unknownKey)
    #expect(failure(["flows": [], "tables": []])?.path.description == "tables")
    #expect(failure(["flows": [], "flows": []])?.kind == .duplicateKey)
    #expect(failure([])?.kind == .wrongType)
}

@Test func fileErrorsNameTheFile() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flowtrace-json-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("bad.json").path
    try FlowTableJSON.write(["flows": [["flow": ["table": 1, "uid": -1, "priority": 0]]]], toFile: path)
    #expect(try String(contentsOfFile: path, encoding: .utf8).hasSuffix("}\n"))
    do {
        _ = try FlowTableJSON.loadAttributes(file: path, expectedKey: "flows")
        Issue.record("accepted uid -1")
    } catch {
        #expect(error.kind == .outOfRange)
        #expect(error.file == path)
        #expect(error.line == 6 && error.column == 15)
        #expect(error.description.hasPrefix("\(path):6:15: flows[0].flow.uid: "))
    }
    do {
        _ = try FlowTableJSON.load(file: dir.appendingPathComponent("missing.json").path)
        Issue.record("loaded a missing file")
    } catch {
        #expect(error.kind == .io)
        #expect(error.message.contains("No such file"))
    }
}

// MARK: - parser

@Test func integersStayExact() throws {
    #expect(try JSONValue(parsing: "4294967295") == .int(4_294_967_295))
    #expect(try JSONValue(parsing: "18446744073709551615") == .uint(UInt64.max))
    #expect(try JSONValue(parsing: "9223372036854775807") == .int(Int64.max))
    #expect(try JSONValue(parsing: "9223372036854775808") == .uint(1 << 63))
    #expect(try JSONValue(parsing: "-9223372036854775808") == .int(Int64.min))
    #expect(try JSONValue(parsing: "-0") == .int(0))
    #expect(try JSONValue(parsing: "1.5e2") == .double(150))
    #expect(try JSONValue(parsing: "1E-2") == .double(0.01))
    #expect(try JSONValue(parsing: "18446744073709551616") == .double(18_446_744_073_709_551_616))
    #expect(try JSONValue(parsing: "[true,false,null]") == [true, false, nil])
}

@Test func parserKeepsOrderAndDuplicates() throws {
    let v = try JSONValue(parsing: #"{"b":1,"a":2,"b":3}"#)
    #expect(v.members?.map(\.key) == ["b", "a", "b"])
    #expect(v.duplicateKeys == ["b"])
    #expect(v["b"] == 1)
    #expect(v != ["a": 2, "b": 1, "b": 3])
    #expect(v.isEquivalent(to: ["a": 2, "b": 1, "b": 3]))
    #expect(!v.isEquivalent(to: ["a": 2, "b": 3, "b": 1]))
}

@Test func stringsAndEscapes() throws {
    #expect(
        try JSONValue(parsing: #""a\"\\\/\b\f\n\r\t\u0041\u00fc\ud83d\ude00""#) == .string("a\"\\/\u{8}\u{c}\n\r\tAü😀"))
    #expect(try JSONValue(parsing: "\"ü€\"") == "ü€")
    for bad in [#""\ud83d""#, #""\ude00""#, #""\ud83dx""#, #""\q""#, #""\u12""#, "\"a\u{1}\"", "\"abc"] {
        #expect(parseError(bad)?.kind == .syntax, "\(bad)")
    }
    #expect(parseError([0x22, 0xFF, 0x22])?.message == "invalid UTF-8 in string")
    #expect(parseError([0x22, 0x5C, 0x6E, 0xC3, 0x22])?.message == "invalid UTF-8 in string")
}

@Test func syntaxErrorsSayWhereAndWhat() throws {
    let truncated = try #require(parseError("{\n  \"flows\":[\n    {\"flow\":{\"table\":1"))
    #expect(truncated.kind == .syntax)
    #expect(truncated.path.description == "flows[0].flow")
    #expect(truncated.line == 3 && truncated.column == 23)
    #expect(truncated.message == "expected ',' or '}' in an object, got end of input")

    let garbage = try #require(parseError("{\"flows\":[]} x"))
    #expect(garbage.kind == .syntax && garbage.path == .root)
    #expect(garbage.column == 14)
    #expect(garbage.message == "expected end of input after the top-level value, got 'x'")
    #expect(parseError("{} {}")?.kind == .syntax)
    #expect(parseError("[1]]")?.kind == .syntax)

    let cases: [(String, String)] = [
        ("", "expected a JSON value, got end of input"),
        ("[1,]", "expected a JSON value after ',', got ']'"),
        ("{\"a\":1,}", "expected a string key after ',', got '}'"),
        ("{a:1}", "expected a string key or '}', got 'a'"),
        ("{\"a\" 1}", "expected ':' after the key \"a\", got '1'"),
        ("[NaN]", "NaN and Infinity are not JSON numbers"),
        ("-Infinity", "NaN and Infinity are not JSON numbers"),
        ("012", "leading zeros are not allowed in JSON numbers"),
        ("1.", "expected a digit after '.', got end of input"),
        ("1e", "expected a digit in the exponent, got end of input"),
        ("-", "expected a digit, got end of input"),
        ("tru", "expected 'true', got 't'"),
        ("[1 2]", "expected ',' or ']' after an array element, got '2'"),
        ("// c\n1", "expected a JSON value (object, array, string, number, true, false or null), got '/'"),
        ("1e999", "number 1e999 is out of range"),
    ]
    for (text, message) in cases {
        let error = parseError(text)
        #expect(error?.kind == .syntax, "\(text)")
        #expect(error?.message == message, "\(text)")
    }
    #expect(parseError("[1,\n\n   x]")?.line == 3)
    #expect(parseError("[1,\n\n   x]")?.column == 4)
    // Columns count characters, not bytes.
    #expect(parseError("[\"ü\", x]")?.column == 7)
    #expect(try JSONValue(parsing: [0xEF, 0xBB, 0xBF] + Array("[1]".utf8)) == [1])
}

@Test func nestingIsLimited() throws {
    let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
    #expect(try JSONValue(parsing: ok).elements?.count == 1)
    let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
    let error = try #require(parseError(deep))
    #expect(error.kind == .tooDeep)
    #expect(error.column == 65)
    #expect(error.path.components.count == 64)
    // Deep garbage is stopped long before the stack runs out.
    #expect(parseError(String(repeating: "{\"a\":", count: 100_000))?.kind == .tooDeep)
    #expect(parseError(String(repeating: "[", count: 100_000))?.kind == .tooDeep)
}

// MARK: - writer

@Test func writerStyles() throws {
    let v: JSONValue = ["a": [1, [], [:]], "b/c": "x/\"\u{1}\n", "d": 1.5, "e": nil, "f": true]
    #expect(v.serialized(style: .compact) == #"{"a":[1,[],{}],"b/c":"x/\"\u0001\n","d":1.5,"e":null,"f":true}"#)
    #expect(
        v.serialized(style: .pretty) == """
            {
              "a":[
                1,
                [
                ],
                {
                }
              ],
              "b\\/c":"x\\/\\"\\u0001\\n",
              "d":1.5,
              "e":null,
              "f":true
            }
            """)
    #expect(JSONValue.array([]).serialized() == "[\n]")
    #expect(JSONValue.uint(UInt64.max).serialized() == "18446744073709551615")
    #expect(JSONValue.double(.nan).serialized() == "null")
    #expect(try JSONValue(parsing: v.serialized(style: .pretty)) == v)
    #expect(try JSONValue(parsing: v.serialized(style: .compact)) == v)
    #expect(
        JSONPath([.key("a.b", memberIndex: 0), .index(2), .key("c", memberIndex: 0)]).description == #"["a.b"][2].c"#)
}
