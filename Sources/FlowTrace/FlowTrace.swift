// FlowTrace's trace files: PcapngWriter, TraceReader (pcapng and classic pcap), the
// TraceRecord model and FamilyTable. Format: spec/trace-format.md.
import LibFlowTable

public enum FlowTraceInfo { public static let version = FlowTableVersion.version }
