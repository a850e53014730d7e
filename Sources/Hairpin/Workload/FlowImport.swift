// Rule sets from the field as flows of a pipeline model: ClassBench filter sets and
// `ovs-ofctl dump-flows` output (`flowtrace gen --from`). Each rule becomes the wanted matches
// (header.field, value, mask) and actions; the first table of the model that can express all of
// them takes it (else the one that expresses the most; `table:` forces one), and what no table
// can say is skipped and counted by name. Port ranges become the prefix/mask pairs a TCAM
// stores (PrefixExpansion), so one rule may give several flows: the expansion factor.

import LibFlowTable

public enum ImportFormat: String, CaseIterable, Sendable {
    case classbench
    case ovs
}

/// The flows made from one file, and what was left out.
public struct FlowImport: Sendable {
    public var format: ImportFormat
    public var file: String
    public var rulesRead = 0
    /// Rules that gave at least one flow.
    public var rulesImported = 0
    public var flows: [Flow] = []
    /// Fields present in the rules that the chosen table cannot match, by name → rules.
    public var skippedFields: [String: Int] = [:]
    /// Actions the model (or the chosen table) does not have, by name → rules.
    public var skippedActions: [String: Int] = [:]
    /// Rules that gave no flow, by reason → rules.
    public var skippedRules: [String: Int] = [:]

    /// Flows per imported rule (1 when no range needed expanding).
    public var expansionFactor: Double { rulesImported == 0 ? 0 : Double(flows.count) / Double(rulesImported) }

    /// The report for stderr, one item per line.
    public func report(model: PipelineModel) -> [String] {
        func counts(_ d: [String: Int]) -> String {
            d.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ")
        }
        var lines = [
            "\(format.rawValue) \(file): \(rulesRead) rules read, \(rulesImported) imported, \(flows.count) flows "
                + "(expansion factor \(Self.twoDecimals(expansionFactor)))"
        ]
        var perTable: [UInt32: Int] = [:]
        for f in flows { perTable[f.table, default: 0] += 1 }
        let names = model.tables.filter { perTable[$0.uid] != nil }.map { "\($0.name) \(perTable[$0.uid] ?? 0)" }
        if !names.isEmpty { lines.append("  flows per table: " + names.joined(separator: ", ")) }
        lines.append("  skipped fields: " + (skippedFields.isEmpty ? "none" : counts(skippedFields)))
        lines.append("  skipped actions: " + (skippedActions.isEmpty ? "none" : counts(skippedActions)))
        if !skippedRules.isEmpty { lines.append("  skipped rules: " + counts(skippedRules)) }
        return lines
    }

    static func twoDecimals(_ x: Double) -> String {
        let hundredths = Int((x * 100).rounded())
        let frac = hundredths % 100
        return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
    }

    /// The model with every table that the imported flows overflow grown to hold them (the next
    /// power of two), and a note per grown table. An unbounded table counts as the tcam's
    /// default slots, as the generator's workload counts it.
    public func fitted(_ model: PipelineModel) -> (model: PipelineModel, notes: [String]) {
        var perTable: [UInt32: Int] = [:]
        for f in flows { perTable[f.table, default: 0] += 1 }
        var out = model
        var notes: [String] = []
        for i in out.tables.indices {
            let t = out.tables[i]
            let need = perTable[t.uid, default: 0]
            let has = t.size == Table.unbounded ? TCAMBackend.defaultCapacity : Int(t.size)
            guard need > has else { continue }
            var size = 1
            while size < need { size <<= 1 }
            out.tables[i].size = UInt32(min(size, Int(UInt32.max - 1)))
            notes.append(
                "\(t.name): size \(t.size == Table.unbounded ? "unbounded" : String(t.size)) → \(size) to hold \(need) imported flows"
            )
        }
        return (out, notes)
    }
}

public struct FlowImporter {
    public let model: PipelineModel
    let forced: Table?
    let tables: [Table]
    let fields: [String: (header: UInt32, field: UInt32, bits: UInt32)]
    let actionsByName: [String: Action]

    /// `table`: a table name or uid that takes every rule; nil to choose per rule.
    public init(model: PipelineModel, table: String? = nil) throws(ImportError) {
        self.model = model
        tables = model.tables.filter { !$0.matches.isEmpty && !$0.actions.isEmpty }
        if let table {
            guard let t = model.tables.first(where: { $0.name == table || String($0.uid) == table }) else {
                throw ImportError(
                    file: "--table", line: 0,
                    reason: "the model has no table '\(table)' (tables: "
                        + model.tables.map(\.name).joined(separator: ", ") + ")")
            }
            forced = t
        } else {
            forced = nil
        }
        var f: [String: (UInt32, UInt32, UInt32)] = [:]
        for h in model.headers { for x in h.fields { f[h.name + "." + x.name] = (h.uid, x.uid, x.bitwidth) } }
        fields = f
        actionsByName = Dictionary(
            model.actions.compactMap { a in a.name.map { ($0, a) } }, uniquingKeysWith: { a, _ in a })
    }

    /// Reads and maps a file.
    public static func load(
        _ format: ImportFormat, bytes: [UInt8], file: String, model: PipelineModel,
        table: String? = nil
    ) throws(ImportError) -> FlowImport {
        let importer = try FlowImporter(model: model, table: table)
        switch format {
        case .classbench: return importer.classBench(try ClassBenchReader.rules(bytes, file: file), file: file)
        case .ovs: return importer.ovs(try OVSFlowReader.flows(bytes, file: file), file: file)
        }
    }

    // MARK: ClassBench

    /// ClassBench rules: the first is the highest priority (n … 1). Source and destination
    /// prefixes are always matched (a /0 as a zero mask: the rule is about IPv4 packets); the
    /// protocol when its mask is not 0; port ranges other than 0 : 65535 as prefixes of the TCP
    /// or UDP ports (both, as two flows, when the protocol is a wildcard). The action is
    /// set_metadata(index), index the rule's 0-based position, the number ClassBench's
    /// trace_generator writes as a header's filter; a table without set_metadata gets its first
    /// action. The flags column and extra fields have no place in the default model: skipped.
    public func classBench(_ rules: [ClassBenchRule], file: String = "") -> FlowImport {
        var out = FlowImport(format: .classbench, file: file)
        var state = EmitState()
        out.rulesRead = rules.count
        out.flows.reserveCapacity(rules.count * 2)
        for (index, r) in rules.enumerated() {
            let priority = UInt32(clamping: rules.count - index)
            let sm = r.sourceLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - r.sourceLength)
            let dm = r.destinationLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - r.destinationLength)
            var base = [
                Want(source: "source prefix", key: "ipv4.src_ip", value: UInt64(r.source & sm), mask: UInt64(sm)),
                Want(
                    source: "destination prefix", key: "ipv4.dst_ip", value: UInt64(r.destination & dm),
                    mask: UInt64(dm)),
            ]
            if r.protoMask != 0 {
                base.append(
                    Want(
                        source: "protocol", key: "ipv4.protocol", value: UInt64(r.proto & r.protoMask),
                        mask: UInt64(r.protoMask)))
            }
            var skipped: [String] = []
            if let f = r.flags, f.mask != 0 { skipped.append("flags") }
            for (k, e) in r.extra.enumerated() where e != 0 { skipped.append("extra field \(k + 1)") }
            let fullSource = r.sourcePorts == 0...0xFFFF, fullDestination = r.destinationPorts == 0...0xFFFF
            var variants: [[Want]] = []
            if fullSource && fullDestination {
                variants = [base]
            } else {
                let transports = [(UInt8(6), "tcp"), (UInt8(17), "udp")].filter {
                    $0.0 & r.protoMask == r.proto & r.protoMask
                }
                if transports.isEmpty {
                    skipped.append("ports (protocol \(r.proto) is neither TCP nor UDP)"); variants = [base]
                }
                let sp =
                    fullSource
                    ? []
                    : PrefixExpansion.prefixes(
                        UInt64(r.sourcePorts.lowerBound), UInt64(r.sourcePorts.upperBound), bits: 16)
                let dp =
                    fullDestination
                    ? []
                    : PrefixExpansion.prefixes(
                        UInt64(r.destinationPorts.lowerBound), UInt64(r.destinationPorts.upperBound), bits: 16)
                for (_, h) in transports {
                    for s in (sp.isEmpty ? [nil] : sp.map { Optional($0) }) {
                        for d in (dp.isEmpty ? [nil] : dp.map { Optional($0) }) {
                            var w = base
                            if let s {
                                w.append(
                                    Want(source: "source ports", key: h + ".src_port", value: s.value, mask: s.mask))
                            }
                            if let d {
                                w.append(
                                    Want(
                                        source: "destination ports", key: h + ".dst_port", value: d.value, mask: d.mask)
                                )
                            }
                            variants.append(w)
                        }
                    }
                }
            }
            let made = emit(
                variants, fixed: nil, actions: { table in self.classBenchAction(table, index: index) },
                priority: priority,
                skippedFields: skipped, skippedActions: [], into: &out, state: &state)
            if made { out.rulesImported += 1 }
        }
        return out
    }

    func classBenchAction(_ table: Table, index: Int) -> [Action] {
        if let a = actionsByName["set_metadata"], table.actions.contains(a.uid), let arg = a.signature?.first,
            (arg.type.byteWidth ?? 0) >= 4
        {
            return [
                Action(
                    name: a.name, uid: a.uid,
                    signature: [
                        ActionArg(name: arg.name, type: arg.type, value: FieldValue(UInt64(index), type: arg.type))
                    ])
            ]
        }
        guard let uid = table.actions.first, let a = model.actions.first(where: { $0.uid == uid }) else { return [] }
        return [
            Action(
                name: a.name, uid: a.uid,
                signature: (a.signature ?? []).map {
                    ActionArg(name: $0.name, type: $0.type, value: FieldValue(0, type: $0.type))
                })
        ]
    }

    // MARK: OVS

    /// ovs-ofctl flows: the priority as dumped, matches as listed (masks kept), actions mapped
    /// by name (output:N → set_out_port, drop, mod_vlan_vid → set_vlan_id, strip_vlan/pop_vlan,
    /// mod_dl_src/dst → set_eth_src/dst, controller → copy_to_cpu, goto_table,
    /// write_metadata → set_metadata). A flow with no action left is skipped (NORMAL alone,
    /// say); an empty action list is OpenFlow's drop.
    public func ovs(_ list: [OVSFlow], file: String = "") -> FlowImport {
        var out = FlowImport(format: .ovs, file: file)
        var state = EmitState()
        out.rulesRead = list.count
        for f in list {
            var wants: [Want] = []
            for m in f.matches {
                switch m {
                case .inPort(let p):
                    wants.append(
                        Want(source: "in_port", key: "metadata.ingress_port", value: UInt64(p), mask: 0xFFFF_FFFF))
                case .ethSource(let v, let mask):
                    wants.append(Want(source: "dl_src", key: "ethernet.src_mac", value: v, mask: mask))
                case .ethDestination(let v, let mask):
                    wants.append(Want(source: "dl_dst", key: "ethernet.dst_mac", value: v, mask: mask))
                case .ethType(let v):
                    wants.append(Want(source: "dl_type", key: "ethernet.ethertype", value: UInt64(v), mask: 0xFFFF))
                case .vlan(let v): wants.append(Want(source: "dl_vlan", key: "vlan.vid", value: UInt64(v), mask: 0xFFF))
                case .ipSource(let v, let mask):
                    wants.append(Want(source: "nw_src", key: "ipv4.src_ip", value: UInt64(v), mask: UInt64(mask)))
                case .ipDestination(let v, let mask):
                    wants.append(Want(source: "nw_dst", key: "ipv4.dst_ip", value: UInt64(v), mask: UInt64(mask)))
                case .ipProto(let v):
                    wants.append(Want(source: "nw_proto", key: "ipv4.protocol", value: UInt64(v), mask: 0xFF))
                case .transportSource, .transportDestination: break
                }
            }
            // Ports belong to the TCP or UDP header, which the protocol says.
            let proto: UInt8? = f.matches.lazy.compactMap {
                if case .ipProto(let p) = $0 { return p } else { return nil }
            }.first
            let h = proto == 17 ? "udp" : "tcp"
            for m in f.matches {
                if case .transportSource(let v, let mask) = m {
                    wants.append(Want(source: "tp_src", key: h + ".src_port", value: UInt64(v), mask: UInt64(mask)))
                } else if case .transportDestination(let v, let mask) = m {
                    wants.append(Want(source: "tp_dst", key: h + ".dst_port", value: UInt64(v), mask: UInt64(mask)))
                }
            }
            var named: [(String, String, [UInt64])] = []  // (OVS name, model action, arguments)
            for a in f.actions {
                switch a {
                case .output(let p): named.append(("output", "set_out_port", [UInt64(p)]))
                case .drop: named.append(("drop", "drop", []))
                case .setVlan(let v): named.append(("mod_vlan_vid", "set_vlan_id", [UInt64(v)]))
                case .popVlan: named.append(("strip_vlan", "pop_vlan", []))
                case .setEthSource(let v): named.append(("mod_dl_src", "set_eth_src", [v]))
                case .setEthDestination(let v): named.append(("mod_dl_dst", "set_eth_dst", [v]))
                case .controller: named.append(("controller", "copy_to_cpu", []))
                case .gotoTable(let t): named.append(("goto_table", "goto_table", [UInt64(t)]))
                case .writeMetadata(let v): named.append(("write_metadata", "set_metadata", [UInt64(v)]))
                }
            }
            if f.actions.isEmpty && f.skippedActions.isEmpty { named.append(("drop", "drop", [])) }
            var skippedActions = f.skippedActions
            var actions: [Action] = []
            for (ovsName, name, args) in named {
                guard let a = actionsByName[name] else {
                    skippedActions.append(ovsName + " (no \(name) in the model)"); continue
                }
                let sig = a.signature ?? []
                actions.append(
                    Action(
                        name: a.name, uid: a.uid,
                        signature: zip(sig, args).map {
                            ActionArg(
                                name: $0.name, type: $0.type,
                                value: FieldValue($1 & FieldValue(0, type: $0.type).widthMask, type: $0.type))
                        }))
            }
            let made = emit(
                [wants], fixed: actions, actions: { _ in actions }, priority: f.priority,
                skippedFields: f.skippedFields,
                skippedActions: skippedActions, into: &out, state: &state)
            if made { out.rulesImported += 1 }
        }
        return out
    }

    // MARK: mapping

    /// A match a rule wants: `key` is header.field by the model's names; `source` names it in
    /// the report.
    struct Want {
        var source: String
        var key: String
        var value: UInt64
        var mask: UInt64
    }

    struct EmitState {
        var nextUID: [UInt32: UInt32] = [:]
        var seen: Set<SeenKey> = []
    }

    struct SeenKey: Hashable {
        var table: UInt32
        var priority: UInt32
        var matches: MatchSet
    }

    /// The table's descriptor for a wanted field, if it can hold the want's mask.
    func descriptor(_ w: Want, in table: Table) -> (ref: FieldRef, mask: UInt64)? {
        guard let f = fields[w.key],
            let ref = table.matches.first(where: { $0.header == f.header && $0.field == f.field })
        else { return nil }
        let type = ref.type == .unspec ? FieldType.u32 : ref.type
        let typeBits = UInt64((type.byteWidth ?? 4) * 8)
        let bits = f.bits == 0 ? typeBits : min(UInt64(f.bits), typeBits)
        let full: UInt64 = bits >= 64 ? ~0 : (1 << bits) - 1
        let mask = w.mask & full
        switch ref.maskType {
        case .exact: guard mask == full else { return nil }
        case .lpm:
            // A prefix: the set bits are the field's top bits.
            let inverted = ~mask & full
            guard inverted & (inverted &+ 1) == 0 else { return nil }
        default: break
        }
        return (ref, mask)
    }

    func choose(_ wants: [Want], actions: [Action]) -> Table? {
        if let forced { return forced }
        var best: (table: Table, count: Int)?
        for t in tables where actions.allSatisfy({ t.actions.contains($0.uid) }) {
            let n = wants.reduce(0) { $0 + (descriptor($1, in: t) == nil ? 0 : 1) }
            if n == wants.count { return t }
            if best == nil || n > best!.count { best = (t, n) }
        }
        return best?.table
    }

    /// One flow per variant (they differ only in expanded fields). False when the rule gave none.
    func emit(
        _ variants: [[Want]], fixed: [Action]?, actions actionsFor: (Table) -> [Action], priority: UInt32,
        skippedFields: [String], skippedActions: [String], into out: inout FlowImport,
        state: inout EmitState
    ) -> Bool {
        var fieldsSkipped = Set(skippedFields)
        var actionsSkipped = Set(skippedActions)
        var made = false
        var reason: String?
        for wants in variants {
            // OVS's actions are fixed and steer the choice; ClassBench's follow the table.
            guard let table = choose(wants, actions: fixed ?? []) ?? choose(wants, actions: []) else {
                reason = "no table in the model"
                continue
            }
            var matches: [FieldRef] = []
            for w in wants {
                guard let (ref, mask) = descriptor(w, in: table) else { fieldsSkipped.insert(w.source); continue }
                let type = ref.type == .unspec ? FieldType.u32 : ref.type
                let width = UInt8(type.byteWidth ?? 4)
                matches.append(
                    FieldRef(
                        instance: ref.instance, header: ref.header, field: ref.field, maskType: ref.maskType,
                        type: type, value: FieldValue(rawBits: w.value & mask, byteCount: width),
                        mask: FieldValue(rawBits: mask, byteCount: width)))
            }
            if matches.isEmpty {
                // A match-all flow says so with a zero mask (Validation: a flow needs a match).
                guard let ref = table.matches.first(where: { $0.maskType != .exact }) else {
                    reason = "matches everything, and table \(table.name) has only exact fields"
                    continue
                }
                let type = ref.type == .unspec ? FieldType.u32 : ref.type
                let width = UInt8(type.byteWidth ?? 4)
                matches.append(
                    FieldRef(
                        instance: ref.instance, header: ref.header, field: ref.field, maskType: ref.maskType,
                        type: type, value: FieldValue(rawBits: 0, byteCount: width),
                        mask: FieldValue(rawBits: 0, byteCount: width)))
            }
            var actions: [Action] = []
            for a in actionsFor(table) {
                if table.actions.contains(a.uid) {
                    actions.append(a)
                } else {
                    actionsSkipped.insert((a.name ?? "action \(a.uid)") + " (not in table \(table.name))")
                }
            }
            guard !actions.isEmpty else {
                reason = "no action the model can express"
                continue
            }
            let key = SeenKey(table: table.uid, priority: priority, matches: MatchSet(matches))
            guard state.seen.insert(key).inserted else {
                reason = "same matches and priority as an earlier rule"
                continue
            }
            let uid = state.nextUID[table.uid, default: 1]
            state.nextUID[table.uid] = uid &+ 1
            out.flows.append(Flow(table: table.uid, uid: uid, priority: priority, matches: matches, actions: actions))
            made = true
        }
        for f in fieldsSkipped { out.skippedFields[f, default: 0] += 1 }
        for a in actionsSkipped { out.skippedActions[a, default: 0] += 1 }
        if !made { out.skippedRules[reason ?? "no flow", default: 0] += 1 }
        return made
    }
}
