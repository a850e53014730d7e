// What the daemon keeps per unft device: the model it advertises, that model indexed for flow
// validation, and a backend holding the device's flows. The original kept one flow list for all
// devices and ignored the ifindex of requests; here every ifindex gets its own state.
import LibFlowTable

/// The state of one device (one ifindex). Never shared between devices.
public final class DeviceState {
    public let ifindex: UInt32
    public let model: PipelineModel
    /// The model indexed once, so validating a flow is a few hash lookups.
    public let index: ValidationIndex
    public let backendKind: BackendKind
    /// The device's flows. Not thread-safe: the service handles one call at a time.
    public let backend: any FlowBackend

    public init(ifindex: UInt32, model: PipelineModel, index: ValidationIndex? = nil, backend kind: BackendKind) {
        self.ifindex = ifindex
        self.model = model
        self.index = index ?? ValidationIndex(model)
        self.backendKind = kind
        self.backend = kind.make(model: model.tables)
    }
}

/// The devices the daemon answers for. Either lazy (the default): state is created the first
/// time an ifindex is asked about, because kernel unft devices come and go with `ip link add`
/// and the daemon cannot know them in advance; or fixed: only the ifindexes given, and any other
/// is answered ENODEV.
public final class DeviceRegistry {
    /// The model a device gets unless one was given for its ifindex.
    public let defaultModel: PipelineModel
    public let backendKind: BackendKind
    /// nil: lazy. Otherwise the only ifindexes served.
    public let fixedDevices: Set<UInt32>?
    /// The most devices created lazily: a bound on memory should a sender make up ifindexes.
    public let maxDevices: Int

    // exclusivity(unchecked): the registry is used under the service's lock, and the dynamic
    // access checks would be a visible share of a call.
    @exclusivity(unchecked) private var states: [UInt32: DeviceState] = [:]
    /// The device of the previous call: calls mostly go to one device.
    @exclusivity(unchecked) private var last: DeviceState?
    private var models: [UInt32: PipelineModel] = [:]
    /// Built once for the default model and copied into each device (a value: devices never
    /// share mutable state through it).
    private let defaultIndex: ValidationIndex

    /// - Parameters:
    ///   - devices: nil to create state lazily for any ifindex; else the ifindexes served, whose
    ///     state is created now.
    ///   - models: per-ifindex models overriding `model`.
    public init(
        model: PipelineModel, backend: BackendKind = .hash, devices: [UInt32]? = nil,
        models: [UInt32: PipelineModel] = [:], maxDevices: Int = 4096
    ) {
        defaultModel = model
        backendKind = backend
        fixedDevices = devices.map(Set.init)
        self.models = models
        self.maxDevices = maxDevices
        defaultIndex = ValidationIndex(model)
        for ifindex in devices ?? [] where Self.isValid(ifindex) {
            states[ifindex] = makeState(ifindex)
        }
    }

    /// A kernel ifindex is a positive int.
    static func isValid(_ ifindex: UInt32) -> Bool { ifindex > 0 && ifindex <= UInt32(Int32.max) }

    /// The state of `ifindex`, created now if the registry is lazy. nil: no such device (fixed
    /// registry and not listed, an impossible ifindex, or the lazy limit reached).
    public func state(for ifindex: UInt32) -> DeviceState? {
        if let s = last, s.ifindex == ifindex { return s }
        if let s = states[ifindex] {
            last = s
            return s
        }
        guard fixedDevices == nil, Self.isValid(ifindex), states.count < maxDevices else { return nil }
        let s = makeState(ifindex)
        states[ifindex] = s
        return s
    }

    /// The state of `ifindex` if it exists, without creating it.
    public func existingState(for ifindex: UInt32) -> DeviceState? { states[ifindex] }

    /// The ifindexes with state, ascending.
    public var ifindexes: [UInt32] { states.keys.sorted() }

    /// Forgets a device (e.g. its unft device was deleted); it starts empty if asked about again.
    public func remove(_ ifindex: UInt32) {
        states[ifindex] = nil
        if last?.ifindex == ifindex { last = nil }
    }

    private func makeState(_ ifindex: UInt32) -> DeviceState {
        if let m = models[ifindex] { return DeviceState(ifindex: ifindex, model: m, backend: backendKind) }
        return DeviceState(ifindex: ifindex, model: defaultModel, index: defaultIndex, backend: backendKind)
    }
}

extension DeviceState {
    /// What a discovery getter (GET_TABLES … GET_TABLE_GRAPH) answers besides the preamble: the
    /// model's part, put into `out`. HairpinService's typed answer and DiscoveryTemplates' encoded
    /// one both come from here. Any other command adds nothing.
    func addModelPart(for command: NFL.Command, to out: inout FlowTableAttributes) {
        switch command {
        case .getTables: out.tables = model.tables
        case .getHeaders: out.headers = model.headers
        case .getActions: out.actions = model.actions
        case .getHeaderGraph: out.headerGraph = model.headerGraph
        case .getTableGraph: out.tableGraph = model.tableGraph
        default: break
        }
    }
}
