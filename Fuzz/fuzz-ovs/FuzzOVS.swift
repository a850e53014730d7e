// fuzz-ovs: arbitrary bytes as `ovs-ofctl dump-flows` output (Sources/Hairpin/Workload/
// OVSFlows.swift), then the flows mapped onto the default model (FlowImporter), as
// `flowtrace gen --from ovs` does. Reading must end in flows or an ImportError naming a line of
// the input, never a trap. The oracle: every flow the importer makes is valid for the model, with
// uids unique per table; every rule read is counted once, imported or skipped with a reason.
import FuzzSupport
import Hairpin
import LibFlowTable
#if canImport(Glibc)
import Glibc
#endif

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOVS(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    OVSFuzz.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
enum CorpusRunner {
    static func main() {
        exit(Fuzz.runCorpus(tool: "fuzz-ovs", arguments: Array(CommandLine.arguments.dropFirst()), OVSFuzz.run))
    }
}
#endif

enum OVSFuzz {
    static let index = ValidationIndex(DefaultModel.model)

    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let lines = bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        do throws(ImportError) {
            let flows = try OVSFlowReader.flows(bytes, file: "input")
            Fuzz.check(flows.allSatisfy { $0.line >= 1 && $0.line <= lines }, "a flow outside the input's lines")
            let imported = try FlowImporter(model: DefaultModel.model).ovs(flows, file: "input")
            let skipped = imported.skippedRules.values.reduce(0, +)
            Fuzz.check(
                imported.rulesImported + skipped == flows.count,
                "\(flows.count) flows read, \(imported.rulesImported) imported + \(skipped) skipped")
            Fuzz.check(imported.flows.count == imported.rulesImported, "an OVS flow gives one flow")
            var seen = Set<FlowIdentity>()
            for f in imported.flows {
                let errors = index.validate(f, for: .set)
                Fuzz.check(errors.isEmpty, "an imported flow is not valid for the model: \(errors)\n\(f)")
                Fuzz.check(seen.insert(FlowIdentity(f)).inserted, "two imported flows share \(FlowIdentity(f))")
            }
        } catch {
            Fuzz.check(
                error.line >= 1 && error.line <= lines, "error at line \(error.line) of a \(lines)-line input: \(error)"
            )
            Fuzz.check(!error.reason.isEmpty, "an error without a reason")
        }
    }
}
