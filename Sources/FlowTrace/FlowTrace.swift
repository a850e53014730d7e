// FlowTrace's trace files: PcapngWriter, TraceReader (pcapng and classic pcap), the
// TraceRecord model and FamilyTable. Format: spec/trace-format.md.
public enum FlowTraceInfo { public static let version = "0.1.0" }
