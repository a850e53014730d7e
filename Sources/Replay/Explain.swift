// `flowtrace explain`: one packet walked through a device's pipeline the way
// `ovs-appctl ofproto/trace` explains a packet: from the table graph's ingress root, at each
// table the flow the packet hits (FlowBackend.lookup, the contract's rule), its actions, and the
// next table. What the walk does with actions (by the model's action names):
//   drop                 ends the walk: the packet is dropped
//   check_ttl_drop       ends it when ipv4.ttl is present and ≤ 1
//   goto_table(table)    the next table (instead of the table graph's)
//   set_metadata(v)      metadata.inter_table = v, which later tables may match
//   set_vlan_id(v), set_eth_src(v), set_eth_dst(v), pop_vlan   change the packet's fields
//   set_out_port(p), copy_to_cpu                               recorded as the packet's fate
// anything else is shown and has no effect. A miss changes nothing; the walk goes on along the
// table graph (its first jump whose field matches the packet, or an unconditional one; next
// node 0 is the end). A table reached twice ends the walk (a loop).

import Hairpin
import LibFlowTable

public struct ExplainStep {
    public var table: UInt32
    public var tableName: String?
    public var flow: Flow?
    /// Changes the flow's actions made to the packet, `header.field=value` (or `-header` removed).
    public var changes: [String] = []
    /// 0: the end of the pipeline.
    public var next: UInt32 = 0
    public var reason: String = ""
}

public struct Explanation {
    public var packet: PacketFields
    public var steps: [ExplainStep] = []
    public var final: PacketFields
    public var dropped = false
    public var outputPorts: [UInt64] = []
    public var copyToCPU = false
    /// Why the walk stopped early (a loop, a table missing from the model), if it did.
    public var note: String?
}

public enum Explain {
    static let maxSteps = 64

    public static func walk(
        model: PipelineModel, backend: any FlowBackend, packet: PacketFields,
        names: ModelFieldNames
    ) -> Explanation {
        var e = Explanation(packet: packet, final: packet)
        let text = FlowText(
            headers: model.headers, actions: model.actions, headerGraph: model.headerGraph, tables: model.tables)
        let tables = Dictionary(model.tables.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        let nodes = Dictionary(model.tableGraph.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        let actionNames = Dictionary(model.actions.map { ($0.uid, $0.name ?? "") }, uniquingKeysWith: { a, _ in a })
        guard
            let root = model.tableGraph.first(where: { $0.flags & NFL.TableGraphNodeFlag.ingressRoot != 0 })
                ?? model.tableGraph.first
        else {
            e.note = "the model has no table graph"
            return e
        }
        var current = root.uid
        var seen = Set<UInt32>()
        var p = packet
        while current != NFL.jumpTableDone {
            guard !seen.contains(current), e.steps.count < maxSteps else {
                e.note = "table \(current) reached again: a loop; the walk stops"
                break
            }
            seen.insert(current)
            var step = ExplainStep(table: current, tableName: tables[current]?.name)
            guard tables[current] != nil else {
                e.note = "table \(current) is not a table of the model; the walk stops"
                e.steps.append(step)
                break
            }
            let key = PacketKey(p, layout: names.layout)
            var gotoTable: UInt32?
            if let hit = backend.lookup(table: current, key: key) {
                var found: Flow?
                _ = backend.flows(FlowSelector(table: current, minPriority: hit.priority, maxPriority: hit.priority)) {
                    f in
                    if f.uid == hit.uid { found = f }
                }
                step.flow = found
                for a in found?.actions ?? [] {
                    let arg = a.signature?.first?.value.rawBits ?? 0
                    func set(_ name: String, _ v: UInt64) {
                        guard let t = names.target(name) else { return }
                        p.values[t.key] = v
                        step.changes.append(names.describe(PacketFields([t.key: v])))
                    }
                    switch actionNames[a.uid] ?? a.name ?? "" {
                    case "drop": e.dropped = true
                    case "check_ttl_drop":
                        if let t = names.target("ipv4.ttl"), let ttl = p.values[t.key], ttl <= 1 { e.dropped = true }
                    case "goto_table": gotoTable = UInt32(truncatingIfNeeded: arg)
                    case "set_metadata": set("metadata.inter_table", arg)
                    case "set_vlan_id": set("vlan.vid", arg & 0xFFF)
                    case "set_eth_src": set("ethernet.src_mac", arg & 0xFFFF_FFFF_FFFF)
                    case "set_eth_dst": set("ethernet.dst_mac", arg & 0xFFFF_FFFF_FFFF)
                    case "pop_vlan":
                        let vlan = names.layout.keys.filter { names.name(of: $0).hasPrefix("vlan.") }
                        if vlan.contains(where: { p.values[$0] != nil }) {
                            for k in vlan { p.values[k] = nil }
                            step.changes.append("-vlan")
                        }
                    case "set_out_port": e.outputPorts.append(arg)
                    case "copy_to_cpu": e.copyToCPU = true
                    default: break
                    }
                }
            }
            if e.dropped {
                step.reason = "dropped"
                e.steps.append(step)
                break
            }
            if let g = gotoTable {
                step.next = g
                step.reason = "goto_table"
            } else if let node = nodes[current] {
                step.next = NFL.jumpTableDone
                step.reason = "table graph: no jump applies"
                for j in node.jumps {
                    if j.ref.header == 0 && j.ref.field == 0 {
                        step.next = j.nextNode
                        step.reason = "table graph: always"
                        break
                    }
                    let k = MatchKey(j.ref)
                    if let v = p.values[PacketFields.Key(k)], v & k.mask == k.value {
                        step.next = j.nextNode
                        step.reason = "table graph: " + text.match(j.ref)
                        break
                    }
                }
            } else {
                step.next = NFL.jumpTableDone
                step.reason = "not in the table graph"
            }
            e.steps.append(step)
            current = step.next
        }
        e.final = p
        return e
    }

    /// ofproto/trace-like text.
    public static func text(_ e: Explanation, model: PipelineModel, names: ModelFieldNames, header: [String] = [])
        -> String
    {
        let ft = FlowText(
            headers: model.headers, actions: model.actions, headerGraph: model.headerGraph, tables: model.tables)
        let tableNames = Dictionary(model.tables.map { ($0.uid, $0.name) }, uniquingKeysWith: { a, _ in a })
        func tableName(_ t: UInt32) -> String {
            t == NFL.jumpTableDone ? "done" : "table \(t)" + (tableNames[t].map { " \($0)" } ?? "")
        }
        var out = ["Packet: " + names.describe(e.packet)] + header
        for (i, s) in e.steps.enumerated() {
            out.append("")
            out.append("\(i + 1). \(tableName(s.table))")
            if let f = s.flow {
                out.append(
                    "    match: uid \(f.uid) prio \(f.priority)"
                        + ((f.matches ?? []).isEmpty
                            ? " (matches all)" : " " + ft.matches(f.matches ?? []).joined(separator: " ")))
                let actions = (f.actions ?? []).map { String(ft.action($0).dropFirst("action ".count)) }
                out.append("    actions: " + (actions.isEmpty ? "(none)" : actions.joined(separator: ", ")))
                if !s.changes.isEmpty { out.append("    packet: " + s.changes.joined(separator: ", ")) }
            } else {
                out.append("    no match")
            }
            if s.reason == "dropped" {
                out.append("    -> dropped")
            } else {
                out.append("    -> \(tableName(s.next)) (\(s.reason))")
            }
        }
        out.append("")
        var fate: [String] = []
        if e.dropped { fate.append("dropped") }
        if let last = e.outputPorts.last {
            // set_out_port sets the port: the last one set is where the packet goes.
            fate.append(
                "output to port \(last)"
                    + (e.outputPorts.count > 1
                        ? " (set_out_port " + e.outputPorts.map(String.init).joined(separator: ", then ") + ")" : ""))
        }
        if e.copyToCPU { fate.append("copied to the CPU") }
        if fate.isEmpty { fate.append("no output action") }
        out.append("Final: " + fate.joined(separator: "; "))
        if e.final != e.packet { out.append("Final packet: " + names.describe(e.final)) }
        if let n = e.note { out.append("Note: " + n) }
        return out.joined(separator: "\n")
    }

    public static func json(_ e: Explanation, model: PipelineModel, names: ModelFieldNames, extra: [JSONMember] = [])
        -> JSONValue
    {
        let ft = FlowText(
            headers: model.headers, actions: model.actions, headerGraph: model.headerGraph, tables: model.tables)
        let tableNames = Dictionary(model.tables.map { ($0.uid, $0.name) }, uniquingKeysWith: { a, _ in a })
        let steps: [JSONValue] = e.steps.map { s in
            var o: [JSONMember] = [JSONMember("table", .number(s.table))]
            if let n = s.tableName { o.append(JSONMember("table_name", .string(n))) }
            if let f = s.flow {
                o.append(
                    JSONMember(
                        "flow",
                        .object([
                            JSONMember("uid", .number(f.uid)), JSONMember("priority", .number(f.priority)),
                            JSONMember("matches", .array(ft.matches(f.matches ?? []).map(JSONValue.string))),
                            JSONMember(
                                "actions",
                                .array(
                                    (f.actions ?? []).map { .string(String(ft.action($0).dropFirst("action ".count))) })
                            ),
                        ])))
            } else {
                o.append(JSONMember("flow", .null))
            }
            o.append(JSONMember("packet_changes", .array(s.changes.map(JSONValue.string))))
            if s.reason == "dropped" {
                o.append(JSONMember("next", .null))
            } else {
                o.append(JSONMember("next", .number(s.next)))
                o.append(
                    JSONMember("next_name", .string(s.next == NFL.jumpTableDone ? "done" : tableNames[s.next] ?? "")))
            }
            o.append(JSONMember("reason", .string(s.reason)))
            return .object(o)
        }
        var o = extra
        o.append(JSONMember("packet", .string(names.describe(e.packet))))
        o.append(JSONMember("steps", .array(steps)))
        o.append(JSONMember("dropped", .bool(e.dropped)))
        o.append(JSONMember("output_ports", .array(e.outputPorts.map { .number($0) })))
        o.append(JSONMember("copy_to_cpu", .bool(e.copyToCPU)))
        o.append(JSONMember("final_packet", .string(names.describe(e.final))))
        if let n = e.note { o.append(JSONMember("note", .string(n))) }
        return .object(o)
    }
}
