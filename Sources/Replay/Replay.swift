import LibFlowTable
import FlowTrace
// Replaying traces lands here (issue: Replay).
public enum ReplayInfo { public static let version = FlowTraceInfo.version }
