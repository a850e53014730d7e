import LibFlowTable
import Testing
@testable import YNL

/// Disagreements fuzz-ynl found between the interpreter and LibFlowTable's typed decoder
/// (docs/fuzzing.md); each input is also in Fuzz/corpus/fuzz-ynl/regress-*.
@Suite struct FuzzRegressionTests {
    let own = YNLSpecLibrary.load([YNLSpecDirectory(path: projectSpecDir, origin: "project")])

    /// An attribute that is not multi-attr appears at most once in its nest, as the typed
    /// decoder requires; multi-attr and pad attributes may repeat.
    @Test func repeatedAttributeIsAnError() throws {
        let flow = try #require(own.family(named: "net_flow_nl"))
        // get-tables 0: IDENTIFIER_TYPE 1 twice, IDENTIFIER 2.
        let bytes = message(type: 0x1c, command: 0) { w in
            w.put(1, u32: 1); w.put(1, u32: 1); w.put(2, u32: 5)
        }
        #expect(throws: DecodeError(.repeatedAttribute("identifier-type"), at: 28)) { try decode(flow, bytes) }
        #expect(throws: DecodeError.self) { try FlowTableMessage.decode(bytes, requireShape: false) }

        let f = try YNLSpecLoader.load(
            yaml: HostileSpecTests.head + """
                attribute-sets:
                  - name: main
                    attributes:
                      - { name: one, type: u32 }
                      - { name: many, type: u32, multi-attr: true }
                      - { name: pad, type: pad }
                      - { name: inner, type: nest, nested-attributes: main }
                """ + "\n" + HostileSpecTests.ops, file: "repeat.yaml")
        let ok = try decode(
            f,
            message(type: 0x20, command: 1) { w in
                w.put(2, u32: 1); w.put(3, u32: 0); w.put(2, u32: 2); w.put(3, u32: 0); w.put(1, u32: 7)
                let n = w.beginNest(4)
                w.put(1, u32: 8)
                try w.endNest(n)
            })
        #expect(ok.attributes.map(\.name) == ["many", "many", "one", "inner"])
        let nested = message(type: 0x20, command: 1) { w in
            let n = w.beginNest(4)
            w.put(1, u32: 8); w.put(1, u32: 9)
            try? w.endNest(n)
        }
        do {
            _ = try decode(f, nested)
            Issue.record("a repeated attribute in a nest decoded")
        } catch let e as DecodeError {
            #expect(e.reason == .repeatedAttribute("one"))
            #expect(e.offset == 32)
            #expect(e.pathString == "inner")
        }
    }
}

extension FuzzRegressionTests {
    /// A binary's `checks` (min-len, max-len, exact-len) bound its payload, as the typed decoder
    /// bounds net_flow_nl's field values to 1-8 bytes.
    @Test func binaryLengthChecks() throws {
        let flow = try #require(own.family(named: "net_flow_nl"))
        let set = try #require(flow.attributeSets.first { $0.name == "field-ref" })
        #expect(set.attribute(named: "value")?.length == 1...8)
        let f = try YNLSpecLoader.load(
            yaml: HostileSpecTests.head + """
                attribute-sets:
                  - name: main
                    attributes:
                      - { name: v, type: binary, checks: { min-len: 1, max-len: 8 } }
                      - { name: e, type: binary, checks: { exact-len: 6 } }
                      - { name: any, type: binary }
                """ + "\n" + HostileSpecTests.ops, file: "checks.yaml")
        func bytes(_ type: UInt16, _ n: Int) -> [UInt8] {
            message(type: 0x20, command: 1) { w in
                [UInt8](repeating: 7, count: n).withUnsafeBytes { w.put(type, bytes: $0) }
            }
        }
        #expect(try decode(f, bytes(1, 8)).attributes["v"] == .bytes([UInt8](repeating: 7, count: 8)))
        #expect(throws: DecodeError(.payloadLength(expected: "1 to 8", got: 9), at: 20, path: ["v"])) {
            try decode(f, bytes(1, 9))
        }
        #expect(throws: DecodeError(.payloadLength(expected: "1 to 8", got: 0), at: 20, path: ["v"])) {
            try decode(f, bytes(1, 0))
        }
        #expect(throws: DecodeError(.payloadLength(expected: "6", got: 5), at: 20, path: ["e"])) {
            try decode(f, bytes(2, 5))
        }
        #expect(try decode(f, bytes(3, 40)).attributes["any"] == .bytes([UInt8](repeating: 7, count: 40)))
    }
}
