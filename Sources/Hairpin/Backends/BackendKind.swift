// The backend registry: names on the command line (flow-table-hairpind --backend NAME) map to
// implementations here.
import LibFlowTable

public enum BackendKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Plain arrays, linear scans: the reference.
    case dummy
    /// Dictionaries by uid and by (MatchSet, priority): O(1) insert/delete.
    case hash
    /// Tuple space search: fast packet lookup with masks.
    case tss
    /// Emulated TCAM: priority-ordered slots, counts entry moves.
    case tcam

    public var backendType: any FlowBackend.Type {
        switch self {
        case .dummy: return DummyBackend.self
        case .hash: return HashBackend.self
        case .tss: return TSSBackend.self
        case .tcam: return TCAMBackend.self
        }
    }

    /// A new, empty backend for one device with these tables (uid → size).
    public func make(tables: [UInt32: UInt32]) -> any FlowBackend {
        backendType.init(tables: tables)
    }

    /// A new, empty backend for one device's advertised tables.
    public func make(model tables: [Table]) -> any FlowBackend {
        make(tables: FlowBackendTables.sizes(of: tables))
    }

    /// Whether the backend answers `lookup` (conforms to PacketClassifier).
    public var classifies: Bool { backendType is any PacketClassifier.Type }

    public var description: String { rawValue }
}
