// models/default of this checkout, and the model it must equal (compiled into Hairpin).
import Foundation
import LibFlowTable
import Hairpin

enum DefaultModelSource {
    /// models/default of this checkout.
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/default").path
    }

    static var model: PipelineModel { DefaultModel.model }
}
