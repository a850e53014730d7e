import LibFlowTable
import Testing
@testable import YNL

/// Specs are input: each mistake is an error naming the file and the key, never a trap.
@Suite struct HostileSpecTests {
    static let head = "name: hostile\nprotocol: genetlink-legacy\n"
    static let ops = "operations:\n  list:\n    - name: get\n      attribute-set: main\n"

    func error(_ yaml: String) -> String? {
        do {
            _ = try YNLSpecLoader.load(yaml: yaml, file: "hostile.yaml")
            return nil
        } catch {
            return "\(error)"
        }
    }

    func expectError(_ yaml: String, _ parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let e = error(yaml) else {
            Issue.record("loaded a hostile spec", sourceLocation: sourceLocation)
            return
        }
        for p in ["hostile.yaml"] + parts {
            #expect(e.contains(p), "'\(p)' not in: \(e)", sourceLocation: sourceLocation)
        }
    }

    @Test func subsetCycle() {
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    subset-of: other
                    attributes: [ { name: a } ]
                  - name: other
                    subset-of: main
                    attributes: [ { name: a } ]
                """ + "\n" + Self.ops, ["subset-of", "cycle"])
    }

    @Test func structContainsItself() {
        expectError(
            Self.head + """
                definitions:
                  - name: s
                    type: struct
                    members: [ { name: inner, type: binary, struct: s } ]
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: u32 } ]
                """ + "\n" + Self.ops, ["definitions[s]", "contains itself"])
    }

    @Test func missingNestedSet() {
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: nest, nested-attributes: nowhere } ]
                """ + "\n" + Self.ops, ["attribute-sets[main].attributes[a].nested-attributes", "nowhere"])
    }

    @Test func unknownType() {
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: u33 } ]
                """ + "\n" + Self.ops, ["attributes[a].type", "u33"])
    }

    @Test func wrongTypeOfValue() {
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: u32, multi-attr: maybe } ]
                """ + "\n" + Self.ops, ["multi-attr", "true or false"])
    }

    @Test func hugeNumbers() {
        expectError(
            Self.head + """
                definitions:
                  - name: e
                    type: enum
                    entries: [ { name: a, value: 9223372036854775807 }, b ]
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: u32 } ]
                """ + "\n" + Self.ops, ["definitions[e]", "entries"])
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: u32, value: 9223372036854775807 } ]
                """ + "\n" + Self.ops, ["attributes[a].value"])
    }

    @Test func unknownKey() {
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: u32, mult-attr: true } ]
                """ + "\n" + Self.ops, ["attributes[a].mult-attr", "unknown key"])
    }

    @Test func missingSubMessageAndStruct() {
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: sub-message, sub-message: gone, selector: b } ]
                """ + "\n" + Self.ops, ["sub-message", "gone"])
        expectError(
            Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: binary, struct: gone } ]
                """ + "\n" + Self.ops, ["attributes[a].struct", "gone"])
    }

    @Test func operationWithMissingSetAndNotYAML() {
        expectError(
            Self.head + """
                attribute-sets:
                  - name: other
                    attributes: [ { name: a, type: u32 } ]
                """ + "\n" + Self.ops, ["operations.list[get].attribute-set", "main"])
        expectError("name: [", ["not valid YAML"])
        expectError("- a\n- b\n", ["expected a mapping"])
    }

    /// A recursive set (the kernel's specs have them) loads; the decoder bounds the depth.
    @Test func recursiveSetDecodesToDepthLimit() throws {
        let f = try YNLSpecLoader.load(
            yaml: Self.head + """
                attribute-sets:
                  - name: main
                    attributes: [ { name: a, type: nest, nested-attributes: main } ]
                """ + "\n" + Self.ops, file: "recursive.yaml")
        var bytes: [UInt8] = []
        for _ in 0..<40 { bytes = [UInt8(bytes.count + 4), 0, 1, 0] + bytes }
        let full = message(type: 0x20, command: 1) { w in bytes.withUnsafeBytes { w.appendRaw(bytes: $0) } }
        do {
            _ = try decode(f, full)
            Issue.record("decoded 40 levels")
        } catch let e as DecodeError {
            #expect(e.reason == .nestingTooDeep(Netlink.maxNestingDepth))
            #expect(e.path.count == Netlink.maxNestingDepth)
        }
    }
}
