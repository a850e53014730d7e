// Loading pipeline model directories: the committed default model, and every kind of broken
// model file, each reported with its file and JSON path (and line:column where there is text).
import Foundation
import Testing
import LibFlowTable
@testable import Hairpin

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("flowtrace-daemon-tests")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let url = base.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    func read(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
    }

    /// Replaces the first occurrence of `old` in a file; fails the test when it is not there.
    func edit(
        _ name: String, replacing old: String, with new: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let text = try read(name)
        let range = try #require(text.range(of: old), "\(old) not in \(name)", sourceLocation: sourceLocation)
        try write(name, text.replacingCharacters(in: range, with: new))
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("Daemon model loading") struct DaemonModelTests {
    let source = DefaultModelSource.model

    @Test func defaultModelSourceValidates() {
        let errors = source.validate()
        #expect(errors.isEmpty, "\(errors.map(\.description))")
    }

    @Test func defaultModelFilesMatchTheirSource() throws {
        let directory = DefaultModelSource.directory
        if ProcessInfo.processInfo.environment["FLOWTRACE_WRITE_DEFAULT_MODEL"] == "1" {
            try ModelLoader.write(source, to: directory)
        }
        let loaded = try ModelLoader.load(directory: directory)
        // Compared part by part: a whole-model mismatch prints pages.
        for part in ModelLoader.Part.allCases {
            #expect(
                ModelLoader.attributes(of: loaded, part) == ModelLoader.attributes(of: source, part),
                "models/default/\(part.fileName) differs from DefaultModelSource; regenerate (see its header)")
        }
        #expect(loaded.validate().isEmpty)
    }

    @Test func defaultModelIsRealistic() throws {
        let model = try ModelLoader.load(directory: DefaultModelSource.directory)
        let sizes = Dictionary(uniqueKeysWithValues: model.tables.map { ($0.name, $0.size) })
        #expect(sizes["l2_fdb"] == 4096)
        #expect(sizes["ingress_acl"] == 1024)
        #expect(sizes["ipv4_route"] == 65536)
        #expect(sizes["ipv4_5tuple"] == 16384)
        // The originals had ipv4 length/identification/csum at 8 bits and ttl at 1.
        let ipv4 = try #require(model.headers.first { $0.name == "ipv4" })
        let widths = Dictionary(uniqueKeysWithValues: ipv4.fields.map { ($0.name, $0.bitwidth) })
        #expect(widths["length"] == 16 && widths["identification"] == 16 && widths["csum"] == 16)
        #expect(widths["ttl"] == 8 && widths["src_ip"] == 32 && widths["options"] == 0)
        #expect(model.headers.map(\.uid) == [1, 2, 3, 4, 5, 6, 7])
        // DONE is 0, never the v1 0xFFFFFFFF.
        #expect(!model.headerGraph.flatMap(\.jumps).contains { $0.nextNode == 0xFFFF_FFFF })
        // The §4.4 example flow of the protocol reference is valid against it.
        let example = Flow(
            table: 1, uid: 10, priority: 5,
            matches: [
                FieldRef(
                    instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
                    value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xFFFF, type: .u16))
            ],
            actions: [
                Action(uid: 5, signature: [ActionArg(name: "port", type: .u32, value: FieldValue(2, type: .u32))])
            ])
        #expect(model.validate(example, for: .set).isEmpty)
    }

    @Test func writerRoundTrips() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let target = dir.path + "/nested-new"
        try ModelLoader.write(source, to: target)
        #expect(try ModelLoader.load(directory: target) == source)
        // Each file holds exactly its one key, in the libflow-table format.
        for part in ModelLoader.Part.allCases {
            let document = try FlowTableJSON.load(file: target + "/" + part.fileName)
            #expect(document.members?.map(\.key) == [part.key])
        }
        // An inconsistent model is written as it is; only loading checks it.
        var broken = source
        broken.tables[0].actions.append(99)
        try ModelLoader.write(broken, to: target)
        #expect(try ModelLoader.loadUnvalidated(directory: target) == broken)
        #expect(throws: ModelLoadError.self) { try ModelLoader.load(directory: target) }
    }

    // MARK: broken models

    /// The default model in a temporary directory, `change` applied, loaded; returns the error.
    func loadError(
        _ change: (TemporaryDirectory) throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ModelLoadError {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try ModelLoader.write(source, to: dir.path)
        try change(dir)
        do {
            _ = try ModelLoader.load(directory: dir.path)
        } catch {
            #expect(error.directory == dir.path, sourceLocation: sourceLocation)
            for p in error.problems {
                #expect(
                    p.file.hasPrefix(dir.path), "problem names no file of the model: \(p)",
                    sourceLocation: sourceLocation)
            }
            return error
        }
        Issue.record("the broken model loaded", sourceLocation: sourceLocation)
        return ModelLoadError(directory: "", problems: [])
    }

    @Test func missingDirectory() throws {
        do {
            _ = try ModelLoader.load(directory: "/nonexistent/flowtrace-model")
            Issue.record("loaded")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.kind == .io)
            #expect(error.description.contains("/nonexistent/flowtrace-model"))
            #expect(error.description.contains("no such directory"))
        }
    }

    @Test func missingFile() throws {
        let e = try loadError { try FileManager.default.removeItem(atPath: $0.file("actions.json")) }
        #expect(e.problems.count == 1)
        let p = try #require(e.problems.first)
        #expect(p.kind == .io)
        #expect(p.file.hasSuffix("/actions.json"))
        #expect(p.description.contains("actions.json"))
        #expect(p.description.contains("cannot open"))
    }

    @Test func syntaxErrorHasLineAndColumn() throws {
        let e = try loadError { try $0.edit("headers.json", replacing: "\"vlan\"", with: "\"vlan\",,") }
        let p = try #require(e.problems.first)
        #expect(p.kind == .json(.syntax))
        #expect(p.file.hasSuffix("/headers.json"))
        #expect(p.line != nil && p.column != nil)
        #expect(p.description.contains("headers.json:\(p.line ?? 0):"))
    }

    @Test func wrongTopLevelKey() throws {
        let e = try loadError { dir in
            // A headers document where the tables belong.
            try dir.write("tables.json", try dir.read("headers.json"))
        }
        let p = try #require(e.problems.first)
        #expect(p.kind == .json(.unknownKey))
        #expect(p.file.hasSuffix("/tables.json"))
        #expect(p.path == "headers")
        #expect(p.message.contains("\"tables\""))
        #expect(p.line == 2)
    }

    @Test func secondTopLevelKey() throws {
        let e = try loadError { dir in
            try dir.write("actions.json", "{\"actions\": [], \"flows\": []}\n")
        }
        let p = try #require(e.problems.first)
        #expect(p.kind == .json(.unknownKey))
        #expect(p.path == "flows")
        #expect(p.line == 1 && p.column == 17)
    }

    @Test func emptyDocumentMissesItsKey() throws {
        let e = try loadError { try $0.write("table-graph.json", "{}\n") }
        let p = try #require(e.problems.first)
        #expect(p.kind == .json(.missingKey))
        #expect(p.file.hasSuffix("/table-graph.json"))
        #expect(p.message.contains("table_graph"))
    }

    @Test func wrongTypeDeepInside() throws {
        let e = try loadError { try $0.edit("tables.json", replacing: "4096", with: "\"big\"") }
        let p = try #require(e.problems.first)
        #expect(p.kind == .json(.wrongType))
        #expect(p.path == "tables[1].table.size")
        #expect(p.line != nil)
        #expect(p.description.contains("tables.json:\(p.line ?? 0):\(p.column ?? 0): tables[1].table.size: "))
    }

    @Test func outOfRangeNumber() throws {
        let e = try loadError { try $0.edit("headers.json", replacing: "48", with: "4294967296") }
        let p = try #require(e.problems.first)
        #expect(p.kind == .json(.outOfRange))
        #expect(p.path == "headers[0].header.fields[0].field.bitwidth")
    }

    @Test func everyBrokenFileIsReported() throws {
        let e = try loadError { dir in
            try dir.write("headers.json", "[")
            try dir.write("header-graph.json", "{\"header_graph\": 3}")
        }
        #expect(e.problems.count == 2)
        #expect(e.problems.map { ($0.file as NSString).lastPathComponent } == ["headers.json", "header-graph.json"])
        #expect(e.description.split(separator: "\n").count == 2)
    }

    // MARK: cross-validation errors, located in their files

    func validationError(
        _ change: (inout PipelineModel) -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ModelLoadError {
        var model = source
        change(&model)
        return try loadError({ try ModelLoader.write(model, to: $0.path) }, sourceLocation: sourceLocation)
    }

    @Test func unknownTableActionIsInTablesJSON() throws {
        let e = try validationError { $0.tables[2].actions.append(99) }
        #expect(e.problems.count == 1)
        let p = try #require(e.problems.first)
        #expect(p.kind == .validation(.unknownAction))
        #expect(p.file.hasSuffix("/tables.json"))
        #expect(p.path == "tables[2].table.actions[6].uid")
        #expect(p.line != nil && p.column != nil)
        #expect(p.message.contains("action 99 does not exist"))
    }

    @Test func badFieldWidthIsInHeadersJSON() throws {
        let e = try validationError { $0.headers[3].fields[6].bitwidth = 128 }
        let p = try #require(e.problems.first)
        #expect(p.kind == .validation(.fieldBitwidth))
        #expect(p.file.hasSuffix("/headers.json"))
        #expect(p.path == "headers[3].header.fields[6].field")
    }

    @Test func duplicateFieldPointsAtTheSecond() throws {
        let e = try validationError { $0.headers[1].fields[3].uid = 1 }
        let p = try #require(e.problems.first { $0.kind == .validation(.duplicate) })
        #expect(p.path == "headers[1].header.fields[3].field")
    }

    @Test func v1TerminatorIsInHeaderGraphJSON() throws {
        let e = try validationError { $0.headerGraph[4].jumps[0].nextNode = 0xFFFF_FFFF }
        let p = try #require(e.problems.first)
        #expect(p.kind == .validation(.unknownJumpTarget))
        #expect(p.file.hasSuffix("/header-graph.json"))
        #expect(p.path == "header_graph[4].header_graph_node.jump[0].jump_entry")
    }

    @Test func tableGraphAndInstanceErrors() throws {
        let e = try validationError { model in
            model.tableGraph.append(TableGraphNode(uid: 42, flags: 0, jumps: []))
            model.tables[1].matches[0].instance = 3  // ipv4's node does not parse vlan
            model.actions[0].signature?[0].value = FieldValue(rawBits: 0, byteCount: 4)
        }
        let kinds = e.problems.map(\.kind)
        #expect(kinds.contains(.validation(.unknownTable)))
        #expect(kinds.contains(.validation(.headerNotAtInstance)))
        #expect(kinds.contains(.validation(.valueWidthMismatch)))
        let byKind = Dictionary(e.problems.map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byKind[.validation(.unknownTable)]?.path == "table_graph[5].table_graph_node")
        #expect(byKind[.validation(.headerNotAtInstance)]?.path == "tables[1].table.matches[0].field_ref")
        #expect(byKind[.validation(.valueWidthMismatch)]?.path == "actions[0].action.signature[0].action_arg")
        #expect(byKind[.validation(.valueWidthMismatch)]?.file.hasSuffix("/actions.json") == true)
        // Problems come in model order: actions, tables, then the table graph.
        #expect(
            e.problems.map { ($0.file as NSString).lastPathComponent }
                == ["actions.json", "tables.json", "table-graph.json"])
    }

    @Test func zeroUIDIsReported() throws {
        let e = try validationError { $0.tables[0].uid = 0 }
        #expect(e.problems.contains { $0.kind == .validation(.reservedZero) && $0.path == "tables[0].table" })
    }
}
