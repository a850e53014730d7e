// fuzz-ovs: arbitrary bytes as `ovs-ofctl dump-flows` output (Sources/Hairpin/Workload/
// OVSFlows.swift), then the flows mapped onto the default model (FlowImporter), as
// `flowtrace gen --from ovs` does. Reading must end in flows or an ImportError naming a line of
// the input, never a trap. The oracle: every flow the importer makes is valid for the model, with
// uids unique per table; every rule read is counted once, imported or skipped with a reason.
import FuzzSupport
import Hairpin
import LibFlowTable

@main
enum OVSFuzz: FuzzTarget {
    static let name = "fuzz-ovs"
    static let index = ValidationIndex(DefaultModel.model)

    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let lines = Fuzz.lineCount(bytes)
        do throws(ImportError) {
            let flows = try OVSFlowReader.flows(bytes, file: "input")
            Fuzz.check(flows.allSatisfy { $0.line >= 1 && $0.line <= lines }, "a flow outside the input's lines")
            let imported = try FlowImporter(model: DefaultModel.model).ovs(flows, file: "input")
            let skipped = imported.skippedRules.values.reduce(0, +)
            Fuzz.check(
                imported.rulesImported + skipped == flows.count,
                "\(flows.count) flows read, \(imported.rulesImported) imported + \(skipped) skipped")
            Fuzz.check(imported.flows.count == imported.rulesImported, "an OVS flow gives one flow")
            Fuzz.checkImported(imported.flows, index)
        } catch {
            Fuzz.checkErrorLine(error.line, of: lines, error)
            Fuzz.check(!error.reason.isEmpty, "an error without a reason")
        }
    }
}
