// fuzz-classbench: arbitrary bytes as a ClassBench filter set and as a ClassBench trace
// (Sources/Hairpin/Workload/ClassBench.swift), then the filter set mapped onto the default model
// (FlowImporter), as `flowtrace gen --from classbench` does. Reading must end in rules or an
// ImportError naming a line of the input, never a trap. The oracle: every rule written back as
// text (ClassBenchRule.text) reads back equal; every flow the importer makes is valid for the
// model, with uids unique per table, and a rule gives at most the prefix expansion's bound of
// flows (two protocols × 30 × 30 port prefixes).
import FuzzSupport
import Hairpin
import LibFlowTable

@main
enum ClassBenchFuzz: FuzzTarget {
    static let name = "fuzz-classbench"
    static let index = ValidationIndex(DefaultModel.model)

    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let lines = Fuzz.lineCount(bytes)
        do throws(ImportError) {
            let rules = try ClassBenchReader.rules(bytes, file: "input")
            for r in rules {
                let again: ClassBenchRule?
                do throws(ImportError) {
                    again = try ClassBenchReader.rule(Array(r.text.utf8)[...], file: "text", line: r.line)
                } catch {
                    Fuzz.fail("a rule written as text does not read back: \(error)\n\(r.text)")
                }
                Fuzz.check(
                    again == r,
                    "rule text round trip differs\nbefore: \(r)\nafter: \(String(describing: again))\ntext: \(r.text)")
            }
            let imported = try FlowImporter(model: DefaultModel.model).classBench(rules, file: "input")
            Fuzz.check(
                imported.rulesRead == rules.count, "read \(rules.count) rules, the import counts \(imported.rulesRead)")
            Fuzz.check(
                imported.flows.count <= rules.count * 2 * 30 * 30,
                "\(imported.flows.count) flows from \(rules.count) rules")
            Fuzz.checkImported(imported.flows, index)
        } catch {
            Fuzz.checkErrorLine(error.line, of: lines, error)
            Fuzz.check(!error.reason.isEmpty, "an error without a reason")
        }
        do throws(ImportError) {
            let packets = try ClassBenchReader.packets(bytes, file: "input")
            Fuzz.check(packets.allSatisfy { $0.line >= 1 && $0.line <= lines }, "a header outside the input's lines")
        } catch {
            Fuzz.checkErrorLine(error.line, of: lines, error)
        }
    }
}
