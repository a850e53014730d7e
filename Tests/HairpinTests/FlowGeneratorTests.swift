import Testing
import LibFlowTable
@testable import Hairpin

struct FlowGeneratorTests {
    func defaultModel() throws -> PipelineModel {
        let dir = URLPath.repoRoot + "/models/default"
        return try ModelLoader.load(directory: dir)
    }

    @Test func generatedFlowsAreValidForTheDefaultModel() throws {
        let model = try defaultModel()
        let index = ValidationIndex(model)
        var gen = FlowGenerator(model: model, seed: 42)
        let flows = gen.flows(count: 3000)
        #expect(flows.count == 3000)
        for f in flows {
            let errors = index.validate(f, for: .set)
            #expect(errors.isEmpty, "\(f): \(errors)")
            if !errors.isEmpty { break }
        }
        // uids are unique per table
        let ids = Set(flows.map { FlowIdentity($0) })
        #expect(ids.count == flows.count)
        // several tables used
        #expect(Set(flows.map(\.table)).count >= 4)
    }

    @Test func sameSeedSameFlowsOtherSeedOtherFlows() throws {
        let model = try defaultModel()
        var a = FlowGenerator(model: model, seed: 7)
        var b = FlowGenerator(model: model, seed: 7)
        var c = FlowGenerator(model: model, seed: 8)
        let fa = a.flows(count: 200)
        #expect(fa == b.flows(count: 200))
        #expect(fa != c.flows(count: 200))
    }
}

enum URLPath {
    /// The package root, found from this file's path (Tests/HairpinTests/…).
    static var repoRoot: String {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }
}
