// The state a trace starts from, rebuilt from its synthetic snapshot records (the recorder
// writes, per device, a discovery exchange per command and GET_FLOWS per table before any live
// record; Sources/Hairpin/Daemon/Snapshot.swift). Only the answers matter: they carry the
// ifindex in their preamble and the model or the flows.

import FlowTrace
import Hairpin
import LibFlowTable

public struct StartingState {
    public struct Device: Hashable, Sendable {
        public var ifindex: UInt32
        public var model: PipelineModel
        /// The flows of every table, in the snapshot's (table, priority, uid) order.
        public var flows: [Flow]
        /// Which discovery answers the snapshot held (the rest come from the default model).
        public var has: Set<UInt8>

        public init(ifindex: UInt32, model: PipelineModel = PipelineModel(), flows: [Flow] = [], has: Set<UInt8> = []) {
            self.ifindex = ifindex
            self.model = model
            self.flows = flows
            self.has = has
        }
    }

    public private(set) var devices: [UInt32: Device] = [:]
    /// Snapshot ENCAP messages read (0: the trace has none and the replay starts empty).
    public private(set) var records = 0
    /// What could not be used, one line each.
    public private(set) var problems: [String] = []
    private var assembler = EncapAssembler()

    public init() {}

    /// A state given directly (tests, gen).
    public init(devices: [Device]) {
        for d in devices { self.devices[d.ifindex] = d }
        records = devices.isEmpty ? 0 : 1
    }

    /// Whether the trace had snapshot records at all.
    public var isEmpty: Bool { records == 0 }

    /// The devices by ascending ifindex.
    public var sortedDevices: [Device] { devices.keys.sorted().compactMap { devices[$0] } }

    /// Flows over all devices.
    public var flowCount: Int { devices.values.reduce(0) { $0 + $1.flows.count } }

    /// Reads one synthetic record. Requests teach nothing the answers do not repeat; nlctrl
    /// records are the FamilyTable's business.
    /// `frame`: the record's frame number (1-based, as Wireshark numbers it), for problems.
    public mutating func add(_ record: TraceRecord, families: FamilyTable, frame: Int? = nil) {
        let at = frame.map { "frame \($0)" } ?? "a snapshot record"
        guard let hairpinID = families.hairpinID else {
            if families.kind(ofType: NetlinkHeader(peeking: record.netlink)?.type ?? 0) != .controller {
                problem("\(at): a snapshot record before the NEWFAMILY of nfl_hairpin: ignored")
            }
            return
        }
        for m in Messages(record.netlink) {
            guard let h = NetlinkHeader(peeking: m), h.type == hairpinID,
                GenericHeader.command(ofMessage: m) == NFLH.Command.encap.rawValue
            else { continue }
            records += 1
            let message: HairpinMessage
            do { message = try HairpinMessage.decode(m, familyID: hairpinID) } catch {
                problem("\(at) (snapshot): \(error)")
                continue
            }
            guard let e = message.encap, e.isAnswer else { continue }
            let whole: HairpinEncap?
            do { whole = try assembler.add(e) } catch {
                problem("\(at) (snapshot): \(error)")
                continue
            }
            if let whole { apply(whole) }
        }
    }

    private mutating func apply(_ e: HairpinEncap) {
        guard e.status == 0, let a = e.attributes, let ifindex = a.ifindex,
            let cmd = UInt8(exactly: e.command).flatMap(NFL.Command.init(rawValue:))
        else {
            problem(
                "snapshot answer seq \(e.sequence) (command \(e.command), status \(e.status ?? 0)) names no device or failed: ignored"
            )
            return
        }
        var d = devices[ifindex] ?? Device(ifindex: ifindex)
        switch cmd {
        case .getTables: d.model.tables = a.tables ?? []
        case .getHeaders: d.model.headers = a.headers ?? []
        case .getActions: d.model.actions = a.actions ?? []
        case .getHeaderGraph: d.model.headerGraph = a.headerGraph ?? []
        case .getTableGraph: d.model.tableGraph = a.tableGraph ?? []
        case .getFlows: d.flows.append(contentsOf: a.flows ?? [])
        default:
            problem("snapshot answer seq \(e.sequence): \(cmd.name) does not belong in a snapshot: ignored")
            return
        }
        d.has.insert(cmd.rawValue)
        devices[ifindex] = d
    }

    private mutating func problem(_ text: String) {
        // A damaged snapshot could repeat one complaint per record; a few say enough.
        if problems.count < 20 { problems.append(text) }
    }

    /// Fills what the snapshot did not say from `fallback` (and says so).
    public mutating func completeModels(with fallback: PipelineModel) {
        for (ifindex, var d) in devices {
            var missing: [String] = []
            if !d.has.contains(NFL.Command.getTables.rawValue) {
                d.model.tables = fallback.tables; missing.append("tables")
            }
            if !d.has.contains(NFL.Command.getHeaders.rawValue) {
                d.model.headers = fallback.headers; missing.append("headers")
            }
            if !d.has.contains(NFL.Command.getActions.rawValue) {
                d.model.actions = fallback.actions; missing.append("actions")
            }
            if !d.has.contains(NFL.Command.getHeaderGraph.rawValue) {
                d.model.headerGraph = fallback.headerGraph
                missing.append("header graph")
            }
            if !d.has.contains(NFL.Command.getTableGraph.rawValue) {
                d.model.tableGraph = fallback.tableGraph
                missing.append("table graph")
            }
            if !missing.isEmpty {
                problem(
                    "device \(ifindex): the snapshot has no \(missing.joined(separator: ", ")); the default model's are used"
                )
            }
            devices[ifindex] = d
        }
    }

    /// Devices whose model differs from the first device's (the twin serves one model).
    public var modelsDiffer: Bool {
        let models = sortedDevices.map(\.model)
        return models.dropFirst().contains { $0 != models.first }
    }
}

extension StartingState {
    /// A fresh service holding this state: per snapshot device its model and flows; any other
    /// ifindex gets `defaultModel`, created on first use as flow-table-hairpind does.
    /// Returns the flows that did not fit (e.g. a tcam's 8192 slots for an unbounded table).
    public func makeService(backend: BackendKind, defaultModel: PipelineModel) -> (HairpinService, refused: Int) {
        var models: [UInt32: PipelineModel] = [:]
        for d in devices.values { models[d.ifindex] = d.model }
        let service = HairpinService(model: defaultModel, backend: backend, models: models)
        var refused = 0
        for d in sortedDevices {
            for f in d.flows where !service.preload(f, ifindex: d.ifindex) { refused += 1 }
        }
        return (service, refused)
    }
}
