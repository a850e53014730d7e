// The state of every device as hairpin messages, for the start of a trace file: per device a
// synthetic exchange for each discovery command and GET_FLOWS per table, exactly as a replay
// would see them. Replay rebuilds the starting state from these alone, so a bug report is one
// file (spec/trace-format.md, "The preamble").

import LibFlowTable

extension HairpinService {
    /// Synthetic SEQs live in the upper half so they never meet unft's (which count from 1).
    public static let snapshotSequenceBase: UInt64 = 1 << 63

    /// One message of a snapshot: `toUser` for the request (unft → listener), false for the
    /// answer.
    public struct SnapshotMessage {
        public var toUser: Bool
        public var bytes: [UInt8]
    }

    /// The snapshot of all devices, encoded as hairpin ENCAP messages of family `familyID`.
    /// Takes the service's lock, so it sees the state between two calls.
    public func snapshot(familyID: UInt16) -> [SnapshotMessage] {
        withStateLocked {
            var out: [SnapshotMessage] = []
            var seq = Self.snapshotSequenceBase
            var w = NetlinkWriter(capacity: 4096)
            func emit(_ e: HairpinEncap, toUser: Bool) {
                for part in e.parts() {
                    w.reset()
                    let m = HairpinMessage(
                        header: NetlinkHeader(
                            type: familyID, flags: toUser ? 0 : Netlink.flagRequest,
                            sequence: 0, port: 0),
                        command: NFLH.Command.encap.rawValue, encap: part)
                    do {
                        try m.encode(into: &w)
                        out.append(SnapshotMessage(toUser: toUser, bytes: w.bytes))
                    } catch {
                        // A part that does not encode cannot be in the file; the replay then starts
                        // from less state and says so when answers differ.
                    }
                }
            }
            for ifindex in devices.ifindexes.sorted() {
                guard let state = devices.existingState(for: ifindex) else { continue }
                let discovery: [(NFL.Command, FlowTableAttributes)] = [
                    (
                        .getTables,
                        {
                            var a = FlowTableAttributes.device(ifindex); a.tables = state.model.tables; return a
                        }()
                    ),
                    (
                        .getHeaders,
                        {
                            var a = FlowTableAttributes.device(ifindex); a.headers = state.model.headers; return a
                        }()
                    ),
                    (
                        .getActions,
                        {
                            var a = FlowTableAttributes.device(ifindex); a.actions = state.model.actions; return a
                        }()
                    ),
                    (
                        .getHeaderGraph,
                        {
                            var a = FlowTableAttributes.device(ifindex); a.headerGraph = state.model.headerGraph;
                            return a
                        }()
                    ),
                    (
                        .getTableGraph,
                        {
                            var a = FlowTableAttributes.device(ifindex); a.tableGraph = state.model.tableGraph; return a
                        }()
                    ),
                ]
                for (cmd, answer) in discovery {
                    seq += 1
                    emit(
                        HairpinEncap(command: UInt32(cmd.rawValue), sequence: seq, attributes: .device(ifindex)),
                        toUser: true)
                    emit(
                        HairpinEncap(command: UInt32(cmd.rawValue), status: 0, sequence: seq, attributes: answer),
                        toUser: false)
                }
                for table in state.model.tables {
                    seq += 1
                    var req = FlowTableAttributes.device(ifindex)
                    req.selector = FlowSelector(table: table.uid)
                    var ans = FlowTableAttributes.device(ifindex)
                    ans.flows = (try? state.backend.flows(FlowSelector(table: table.uid)).get()) ?? []
                    emit(
                        HairpinEncap(command: UInt32(NFL.Command.getFlows.rawValue), sequence: seq, attributes: req),
                        toUser: true)
                    emit(
                        HairpinEncap(
                            command: UInt32(NFL.Command.getFlows.rawValue), status: 0, sequence: seq, attributes: ans),
                        toUser: false)
                }
            }
            return out
        }
    }
}
