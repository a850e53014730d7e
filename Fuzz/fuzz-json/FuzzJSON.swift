// fuzz-json: arbitrary bytes through the libflow-table JSON reader (JSONParser, then the
// mapping to FlowTableAttributes in both the libflow-table and the extended form, with the
// line:column lookup of its errors). Reading must end in a value or a JSONError, never a trap.
// The oracle: a parsed document written (compact and pretty) parses back equal, and attributes
// read from it are written and read back equal.
import FuzzSupport
import LibFlowTable

@main
enum JSONFuzz: FuzzTarget {
    static let name = "fuzz-json"
    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let document: JSONValue
        do throws(JSONError) { document = try FlowTableJSON.parse(bytes: bytes, file: "input") } catch {
            _ = error.description
            return
        }
        for style in [JSONStyle.compact, .pretty] {
            let text = document.serializedBytes(style: style)
            let again: JSONValue
            do throws(JSONError) { again = try FlowTableJSON.parse(bytes: text) } catch {
                Fuzz.fail("written JSON (\(style)) does not parse: \(error)\n\(String(decoding: text, as: UTF8.self))")
            }
            Fuzz.check(
                again == document, "JSON written (\(style)) and parsed differs\nbefore: \(document)\nafter: \(again)")
        }
        _ = document.duplicateKeys
        // The document as the tools read it: errors located by line and column.
        for extended in [false, true] {
            do throws(JSONError) {
                let a = try FlowTableJSON.decode(bytes: bytes, file: "input", extended: extended)
                roundTrip(a, extended: extended)
            } catch {
                _ = error.description
            }
        }
        for key in ["flows", "tables"] {
            _ = try? FlowTableJSON.requireSingleKey(document, expected: key)
        }
    }

    static func roundTrip(_ a: FlowTableAttributes, extended: Bool) {
        let value = extended ? a.extendedJSON() : a.json()
        let text = FlowTableJSON.fileText(value)
        let back: FlowTableAttributes
        do throws(JSONError) { back = try FlowTableJSON.decode(text, extended: extended) } catch {
            Fuzz.fail("attributes written as JSON do not read back: \(error)\n\(text)")
        }
        Fuzz.check(
            back == a, "JSON attributes round trip (extended: \(extended)) differs\nbefore: \(a)\nafter: \(back)")
    }
}
