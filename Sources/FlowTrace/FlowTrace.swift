// Recording NDO traffic to pcapng lands here (issue: FlowTrace).
public enum FlowTraceInfo { public static let version = "0.1.0" }
