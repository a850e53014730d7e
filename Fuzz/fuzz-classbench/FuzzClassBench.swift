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
#if canImport(Glibc)
import Glibc
#endif

// libFuzzer calls this in the fuzz build; the symbol exists only there, so the normal build
// (where SwiftPM links every executable into the test bundle) has no duplicate.
#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClassBench(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    ClassBenchFuzz.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
enum CorpusRunner {
    static func main() {
        exit(
            Fuzz.runCorpus(
                tool: "fuzz-classbench", arguments: Array(CommandLine.arguments.dropFirst()), ClassBenchFuzz.run))
    }
}
#endif

enum ClassBenchFuzz {
    static let index = ValidationIndex(DefaultModel.model)

    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let lines = bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
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
            FlowsFuzz.checkValid(imported.flows, index)
        } catch {
            Fuzz.check(
                error.line >= 1 && error.line <= lines, "error at line \(error.line) of a \(lines)-line input: \(error)"
            )
            Fuzz.check(!error.reason.isEmpty, "an error without a reason")
        }
        do throws(ImportError) {
            let packets = try ClassBenchReader.packets(bytes, file: "input")
            Fuzz.check(packets.allSatisfy { $0.line >= 1 && $0.line <= lines }, "a header outside the input's lines")
        } catch {
            Fuzz.check(
                error.line >= 1 && error.line <= lines, "error at line \(error.line) of a \(lines)-line input: \(error)"
            )
        }
    }
}

enum FlowsFuzz {
    /// Imported flows are valid for the model and unique per (table, uid).
    static func checkValid(_ flows: [Flow], _ index: ValidationIndex) {
        var seen = Set<FlowIdentity>()
        for f in flows {
            let errors = index.validate(f, for: .set)
            Fuzz.check(errors.isEmpty, "an imported flow is not valid for the model: \(errors)\n\(f)")
            Fuzz.check(seen.insert(FlowIdentity(f)).inserted, "two imported flows share \(FlowIdentity(f))")
        }
    }
}
