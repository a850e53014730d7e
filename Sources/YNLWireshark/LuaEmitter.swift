// Prints the Wireshark dissector plugin for any set of families, from the YNL interpreter's model
// of their specs (YNLFamily): `flowtrace wireshark` prints one for every spec on the spec path
// (the kernel's devlink, ethtool, netdev...), and the project's own (ProjectPlugin) from the
// specs compiled in.
//
// The plugin has two parts:
// 1. Data generated from the specs: per family its operations, enums and flags, and per attribute
//    set every attribute with its number, C-style name, type, nest, enum and filter-field name.
// 2. A fixed runtime (LuaRuntime.swift) that registers the Protos and fields from that data and
//    walks the attributes. It names spec items only through the `NEED` table printed here from
//    `LuaAnnotations.needs`, which this emitter resolves against the specs: renaming an attribute
//    the runtime depends on fails generation with a message instead of giving a silently poorer
//    dissector. The runtime resolves the same table again when Wireshark loads the plugin.
//
// What the specs cannot say (which attributes hold an errno, that FLOWS has a second layout, the
// filter names FlowTrace documents) is in `LuaAnnotations`, by spec name, checked the same way;
// it applies when the project's own families are among those printed.
//
// Families Wireshark dissects itself are left out (LuaEmitter.builtIn says why), and so are
// netlink-raw families (rt-link, tc, nftables...): Wireshark hands NETLINK_ROUTE and
// NETLINK_NETFILTER messages to its own netlink-route and netlink-netfilter dissectors, which a
// plugin can only replace wholesale, not complete.

import Foundation
import LibFlowTable
import YNL

public enum LuaEmitter {
    /// Generic families Wireshark 4.0 dissects itself, with the reason (a plugin registering the
    /// same name would replace, or clash with, the built-in dissector).
    public static let builtIn: [String: String] = [
        "nlctrl": "Wireshark's genl dissector decodes nlctrl (and learns family ids from it)",
        "nl80211": "Wireshark has an nl80211 dissector",
        "net_dm": "Wireshark has a net_dm dissector",
        "psample": "Wireshark has a psample dissector",
    ]

    /// Why `family` is not printed as a dissector; nil: it is.
    public static func skipReason(_ family: YNLFamily) -> String? {
        if !family.proto.isGeneric {
            let known = [0: "netlink-route", 12: "netlink-netfilter", 4: "netlink-sock_diag"]
            let by = family.protonum.flatMap { known[$0] }.map {
                "Wireshark's \($0) dissector decodes netlink protocol \(family.protonum!)"
            }
            return (by ?? "netlink-raw protocol \(family.protonum.map(String.init) ?? "?")")
                + "; only generic netlink families get a Lua dissector"
        }
        return builtIn[family.name]
    }

    /// Checks one family alone (field names, what the runtime needs): the error names the spec
    /// file and key. `flowtrace wireshark` leaves out a family that fails, naming it.
    public static func check(_ family: YNLFamily) throws {
        _ = try Context([family])
    }

    // MARK: the Lua file

    public static func emit(_ families: [YNLFamily]) throws -> String {
        let context = try Context(families.filter { skipReason($0) == nil })
        var w = CodeWriter(indent: "  ")
        let files = context.families.map(\.file).joined(separator: " and ")
        for line in header(files: files, context: context) { w.line(line.isEmpty ? "--" : "-- " + line) }
        w.line()
        w.line("-- Part 1: generated from the specs.")
        w.line()
        w.line("local SPEC = {}")
        for family in context.families {
            w.line()
            try emitFamily(&w, family, context: context)
        }
        w.line()
        emitNeeds(&w, context: context)
        w.line()
        emitAliases(&w, context: context)
        w.line()
        emitErrno(&w)
        w.line()
        w.line("-- Part 2: the runtime (the same for any spec; written in Sources/YNLWireshark/LuaRuntime.swift).")
        w.line()
        var text = w.text
        text += LuaRuntime.source
        return text
    }

    static func header(files: String, context: Context) -> [String] {
        let names = context.families.map(\.name).joined(separator: " and ")
        var lines =
            [
                "flowtrace.lua: Wireshark dissectors for the generic-netlink families \(names).",
                "",
                "Generated from \(files) (YNL specs); do not edit.",
                "Change the specs (or Sources/YNLWireshark/LuaEmitter.swift, LuaRuntime.swift), then run",
                "`flowtrace wireshark install` (with --builtin: the project's families, from the specs",
                "compiled into flowtrace; `swift run ynl-gen` after changing spec/).",
                "",
                "For Wireshark/tshark 4.0 (Lua 5.2). Use it without installing:",
                "  tshark -X lua_script:flowtrace.lua -r trace.pcapng [-V] [-Y 'net_flow_nl.flow.uid == 10']",
                "or copy it into the personal plugin folder (`tshark -G folders`, usually",
                "~/.local/lib/wireshark/plugins/), as `flowtrace wireshark install` does.",
                "",
                "Traces are pcapng files with LINKTYPE_NETLINK (253). Wireshark hands a generic-netlink message",
                "to a plugin only for family ids it has learnt from an nlctrl message carrying both the id and",
                "the name, so a trace must start with a CTRL_CMD_NEWFAMILY per family (the recorder writes",
                "them); otherwise use `tshark -2`.",
                "",
                "Filter fields:",
                "  <family>.cmd, .version              the genl header",
                "  <family>.<attr>                     an attribute of the family's top-level set (the set",
                "                                      of every operation, when they share one)",
                "  <family>.<set>.<attr>               an attribute of any other set (- becomes _), e.g.",
                "                                      net_flow_nl.flow.uid, net_flow_nl.field_ref.header,",
                "                                      nfl_hairpin.encap.seq, nfl_hairpin.listener.port",
                "  <family>.<set>.<attr>.<flag>        one bit of a flags attribute",
                "  <family>.<struct>.<member>          a member of a struct: a fixed header, an attribute",
                "                                      holding a struct, a sub-message's header",
            ] + context.aliasLines + context.overrideLines + [
                "  <family>.attr.len/.type/.nested/.net_byteorder/.data/.unknown   attribute headers, raw data",
                "  <family>.malformed, .trailing, .unknown_attr, .failure           expert infos",
                "  flowtrace.ack.error/.family/.seq/.msg   NLMSG_ERROR and ACK (a postdissector; netlink does",
                "                                      not pass them to the family dissectors)",
            ]
        if context.annotated {
            lines += [
                "  flowtrace.call                      the call id: every message of one NDO call, both legs",
                "                                      (spec/trace-format.md, Calls; `flowtrace show` prints it)",
                "  flowtrace.request_in, .answer_in    the frame of the call's request / final answer on",
                "                                      that leg (answer_in: second pass, tshark -2 or the GUI)",
                "The hairpin's ENCAP ATTR nest holds a net_flow_nl attribute set and is decoded with the",
                "net_flow_nl fields, so `net_flow_nl.flow.uid == 10` matches both legs of a call; add",
                "`net_flow_nl` (the API leg) or `nfl_hairpin` to the filter to pick one.",
                "",
                "FLOWS has two layouts under one number: a GET_FLOWS request holds the selector (table-flows),",
                "everything else a list of flow. On the API leg a request is a message with NLM_F_REQUEST",
                "(read from netlink.hdr_flags); inside a hairpin ENCAP the request is the one without STATUS.",
            ]
        }
        lines += [
            "",
            "Byte order: the specs' integers are host order, little-endian on the machines FlowTrace",
            "records on. Wireshark guesses each packet's order from nlmsg_len but does not pass the guess",
            "to Lua, so the plugin repeats it: netlink.hdr_len read little-endian equals its decoded",
            "value only in a little-endian packet. Attributes with NLA_F_NET_BYTEORDER, and integers",
            "the spec says are big-endian, are big-endian.",
            "Binary VALUE/MASK (max-len 8) are integers in that order, shown in hex with their width.",
        ]
        return lines
    }

    static func emitFamily(_ w: inout CodeWriter, _ family: YNLFamily, context: Context) throws {
        let top = context.topSet(of: family)
        w.line("SPEC[#SPEC + 1] = {")
        try w.indentedThrowing { w in
            w.line("name = \(lua(family.name)),")
            w.line("short = \(lua(family.shortName ?? YNLNames.cUpper(family.name))),   -- the Protocol column")
            w.line("title = \(lua(title(family))),")
            w.line("version = \(family.version),")
            if let top {
                w.line("top = \(lua(top)),   -- the attribute set of every operation")
            }
            w.line("commands = {")
            w.indented { w in
                for (value, op) in commandNames(family) {
                    w.line("[\(value)] = \(lua(YNLNames.cUpper(op))),   -- \(op)")
                }
            }
            w.line("},")
            w.line("command_values = {")
            w.indented { w in
                for op in family.operations {
                    guard let v = op.requestValue ?? op.replyValue else { continue }
                    w.line("[\(lua(op.name))] = \(v),")
                }
            }
            w.line("},")
            if top == nil || !context.unified(family) {
                // Per direction: the operation, its attribute set and the fixed header to skip.
                for (key, value) in [("req", \YNLOperation.requestValue), ("rsp", \.replyValue)] {
                    w.line("\(key) = {")
                    w.indented { w in
                        var seen: Set<UInt16> = []
                        for op in family.operations {
                            guard let v = op[keyPath: value], seen.insert(v).inserted else {
                                continue
                            }
                            var parts = ["name = \(lua(YNLNames.cUpper(op.name)))"]
                            if let s = op.attributeSet { parts.append("set = \(lua(family.attributeSets[s].name))") }
                            if let h = op.fixedHeader { parts.append("header = \(lua(family.structs[h].name))") }
                            w.line("[\(v)] = { " + parts.joined(separator: ", ") + " },")
                        }
                    }
                    w.line("},")
                }
            }
            w.line("enums = {")
            w.indented { w in
                for e in family.enums {
                    w.line("[\(lua(e.name))] = { flags = \(e.isFlags), entries = {")
                    w.indented { w in
                        for entry in e.entries {
                            w.line(
                                "{ key = \(lua(entry.name)), value = \(entry.value), name = \(lua(YNLNames.cUpper(entry.name))) },"
                            )
                        }
                    }
                    w.line("} },")
                }
            }
            w.line("},")
            emitStructs(&w, family)
            w.line("sets = {")
            try w.indentedThrowing { w in
                for set in family.attributeSets {
                    let doc = oneLine(set.doc)
                    w.line("[\(lua(set.name))] = { doc = \(lua(doc)), attributes = {")
                    try w.indentedThrowing { w in
                        for attr in set.attributes where !attr.isUnused {
                            w.line(try attributeEntry(attr, set: set, family: family, context: context))
                        }
                    }
                    w.line("} },")
                }
            }
            w.line("},")
        }
        w.line("}")
    }

    /// Structs (fixed headers, binary attributes holding one) member by member, and sub-messages
    /// as their formats by selector value.
    static func emitStructs(_ w: inout CodeWriter, _ family: YNLFamily) {
        w.line("structs = {")
        w.indented { w in
            for st in family.structs {
                w.line("[\(lua(st.name))] = { size = \(st.size), members = {")
                w.indented { w in
                    for (name, member) in st.members {
                        var parts: [String]
                        switch member {
                        case .pad(let n):
                            w.line("{ type = \"pad\", len = \(n) },")
                            continue
                        case .integer(let t):
                            parts = ["type = \(lua(String(describing: t.scalar)))"]
                            if let e = t.enumIndex { parts.append("enum = \(lua(family.enums[e].name))") }
                            if t.asFlags { parts.append("enum_as_flags = true") }
                            if t.bigEndian { parts.append("be = true") }
                        case .binary(let n):
                            parts = ["type = \"binary\", len = \(n)"]
                        case .structure(let i):
                            parts = ["type = \"struct\", struct = \(lua(family.structs[i].name))"]
                        }
                        let abbr = Context.memberAbbreviation(YNLNames.cLower(family.name), st.name, name)
                        w.line(
                            "{ key = \(lua(name)), name = \(lua(YNLNames.cUpper(name))), abbr = \(lua(abbr)), "
                                + parts.joined(separator: ", ") + " },")
                    }
                }
                w.line("} },")
            }
        }
        w.line("},")
        w.line("sub_messages = {")
        w.indented { w in
            for sub in family.subMessages {
                w.line("[\(lua(sub.name))] = {")
                w.indented { w in
                    for format in sub.formats {
                        var parts: [String] = []
                        if let h = format.fixedHeader { parts.append("header = \(lua(family.structs[h].name))") }
                        if let set = format.attributeSet {
                            parts.append("set = \(lua(family.attributeSets[set].name))")
                        }
                        w.line("[\(lua(format.value))] = { " + parts.joined(separator: ", ") + " },")
                    }
                }
                w.line("},")
            }
        }
        w.line("},")
    }

    /// Command names by value for the cmd field: each request value by its operation, then the
    /// reply values no request uses (devlink answers GET with 3, which no request is).
    static func commandNames(_ family: YNLFamily) -> [(UInt16, String)] {
        var out: [(UInt16, String)] = []
        var seen: Set<UInt16> = []
        for value in [\YNLOperation.requestValue, \.replyValue] {
            for op in family.operations {
                if let v = op[keyPath: value], seen.insert(v).inserted { out.append((v, op.name)) }
            }
        }
        return out
    }

    /// One attribute as a Lua table on one line: number, names, type, what it nests or names.
    static func attributeEntry(_ attr: YNLAttribute, set: YNLAttributeSet, family: YNLFamily, context: Context) throws
        -> String
    {
        let ref = AttrRef(family.name, set.name, attr.name)
        var parts = [
            "value = \(attr.value)",
            "key = \(lua(attr.name))",
            "name = \(lua(YNLNames.cUpper(attr.name)))",
            "type = \(lua(attr.nestedFamily != nil ? "nest" : luaType(attr)))",
            "abbr = \(lua(try context.abbreviation(ref)))",
        ]
        if attr.multiAttr { parts.append("multi = true") }
        var integer: YNLInteger?
        switch attr.kind {
        case .nest(let s):
            parts.append("nest = \(lua(family.attributeSets[s].name))")
        case .integer(let t):
            integer = t
        case .indexedArray(let item):
            switch item {
            case .nest(let s): parts.append("sub = \"nest\", nest = \(lua(family.attributeSets[s].name))")
            case .integer(let t): parts.append("sub = \(lua(String(describing: t.scalar)))")
            case .binary: parts.append("sub = \"binary\"")
            }
        case .nestTypeValue(let levels, let s):
            parts.append("levels = \(levels.count), nest = \(lua(family.attributeSets[s].name))")
        case .bitfield32(let e):
            if let e { parts.append("enum = \(lua(family.enums[e].name))") }
        case .structure(let i):
            parts.append("struct = \(lua(family.structs[i].name))")
        case .subMessage(let index, let selector):
            parts.append("sub_message = \(lua(family.subMessages[index].name)), selector = \(lua(selector))")
        default:
            break
        }
        if let other = attr.nestedFamily {
            parts.append("nest = \(lua(other.set))")
            parts.append("nest_family = \(lua(other.family))")
        }
        if let alternate = context.alternateNests[ref] { parts.append("alt_nest = \(lua(alternate))") }
        if let t = integer {
            if let e = t.enumIndex { parts.append("enum = \(lua(family.enums[e].name))") }
            if t.asFlags { parts.append("enum_as_flags = true") }
            if t.bigEndian { parts.append("be = true") }
        }
        if case .binary = attr.kind, let max = attr.length?.upperBound, max < Int.max, attr.nestedFamily == nil {
            parts.append("max_len = \(max)")
        }
        if context.annotated {
            if LuaAnnotations.errnoValued.contains(ref) { parts.append("values = \"errno\"") }
            if let other = LuaAnnotations.commandValued[ref] {
                parts.append("values = \"commands\", values_family = \(lua(other))")
            }
            for alias in LuaAnnotations.aliases where alias.source == ref {
                if let when = alias.when {
                    parts.append(
                        "alias = { abbr = \(lua(alias.abbr)), when = \(lua(when.attr)), equals = \(try context.enumValue(when.family, when.definition, when.entry)) }"
                    )
                } else {
                    parts.append("alias = { abbr = \(lua(alias.abbr)) }")
                }
            }
        }
        let doc = oneLine(attr.doc)
        if !doc.isEmpty { parts.append("doc = \(lua(doc))") }
        return "{ " + parts.joined(separator: ", ") + " },"
    }

    /// The runtime's type name: the YNL type, except what it shows alike (a C array in a binary
    /// is bytes).
    static func luaType(_ attr: YNLAttribute) -> String {
        switch attr.kind {
        case .structure: return "struct"
        case .subMessage: return "sub-message"
        case .array: return "binary"
        default: return attr.typeName
        }
    }

    static func emitNeeds(_ w: inout CodeWriter, context: Context) {
        w.line("-- The spec items the runtime relies on, by spec name (checked when this file was generated,")
        w.line("-- and again when Wireshark loads it). Empty without the project's own families.")
        w.line("local NEED = {")
        w.indented { w in
            for need in LuaAnnotations.needs where context.annotated {
                switch need.item {
                case .attribute(let r):
                    w.line("\(need.name) = { attr = { \(lua(r.family)), \(lua(r.set)), \(lua(r.attr)) } },")
                case .command(let family, let op):
                    w.line("\(need.name) = { command = { \(lua(family)), \(lua(op)) } },")
                case .entry(let family, let def, let entry):
                    w.line("\(need.name) = { entry = { \(lua(family)), \(lua(def)), \(lua(entry)) } },")
                }
            }
        }
        w.line("}")
    }

    static func emitAliases(_ w: inout CodeWriter, context: Context) {
        w.line("-- Filter fields that repeat an attribute under a shorter name (see the header).")
        w.line("local ALIASES = {")
        w.indented { w in
            var seen: Set<String> = []
            for alias in LuaAnnotations.aliases where context.annotated && seen.insert(alias.abbr).inserted {
                w.line("[\(lua(alias.abbr))] = { label = \(lua(alias.label)), doc = \(lua(alias.doc)) },")
            }
        }
        w.line("}")
    }

    static func emitErrno(_ w: inout CodeWriter) {
        w.line("-- Linux errno names (LibFlowTable's Errno table). Not in the specs: STATUS, ERRNO and ERROR")
        w.line("-- hold errnos.")
        w.line("local ERRNO = {")
        w.indented { w in
            let names = Errno.names
            for chunk in stride(from: 0, to: names.count, by: 6) {
                let row = names[chunk..<min(chunk + 6, names.count)]
                w.line(row.map { "[\($0.0)] = \(lua($0.1))," }.joined(separator: " "))
            }
        }
        w.line("}")
    }

    /// "Flow Table API" from "Flow Table API: discovery of ...": the doc's first clause.
    static func title(_ family: YNLFamily) -> String {
        let first = docLines(family.doc).first ?? family.name
        let cut = first.firstIndex { $0 == ":" || $0 == "." } ?? first.endIndex
        let title = first[..<cut].trimmingCharacters(in: .whitespaces)
        return title.isEmpty ? family.name : title
    }

    static func oneLine(_ doc: String?) -> String {
        docLines(doc).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// A Lua string literal; specs are UTF-8, which Lua strings carry as bytes.
    static func lua(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\" + String(format: "%03d", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

// MARK: annotations

struct AttrRef: Hashable, Sendable {
    var family: String
    var set: String
    var attr: String

    init(_ family: String, _ set: String, _ attr: String) {
        self.family = family
        self.set = set
        self.attr = attr
    }

    var description: String { "\(family) \(set).\(attr)" }
}

/// What the dissector knows that YNL cannot say, by spec name. Every name here is resolved against
/// the specs when the plugin is generated.
enum LuaAnnotations {
    /// The project's families the annotations name: they apply only when all are printed.
    static let families = ["net_flow_nl", "nfl_hairpin"]

    /// Filter names FlowTrace documents instead of the mechanical <family>.<attr>.
    static let abbreviations: [AttrRef: String] = [
        AttrRef("net_flow_nl", "nfl-attrs", "flows-error"): "net_flow_nl.errstrategy"
    ]

    struct Alias {
        struct Condition {
            /// A sibling attribute in the same nest, and the enum entry it must equal.
            var attr: String
            var family: String
            var definition: String
            var entry: String
        }

        var source: AttrRef
        var abbr: String
        var label: String
        var doc: String
        var when: Condition?
    }

    /// Extra (generated) items repeating an attribute under a short filter name.
    static let aliases: [Alias] = [
        Alias(
            source: AttrRef("net_flow_nl", "nfl-attrs", "identifier"), abbr: "net_flow_nl.ifindex",
            label: "Interface index",
            doc: "The identifier when identifier-type is ifindex (API leg and inside hairpin ENCAPs).",
            when: .init(attr: "identifier-type", family: "net_flow_nl", definition: "identifier-type", entry: "ifindex")
        ),
        Alias(
            source: AttrRef("net_flow_nl", "flow", "table"), abbr: "net_flow_nl.table", label: "Table",
            doc: "The table of a flow, or the table a GET_FLOWS request selects."),
        Alias(
            source: AttrRef("net_flow_nl", "table-flows", "table"), abbr: "net_flow_nl.table", label: "Table",
            doc: "The table of a flow, or the table a GET_FLOWS request selects."),
    ]

    /// Attributes whose value is an errno (0 = OK): shown with the errno's name.
    static let errnoValued: Set<AttrRef> = [
        AttrRef("nfl_hairpin", "encap", "status"),
        AttrRef("nfl_hairpin", "result", "errno"),
        AttrRef("net_flow_nl", "flow", "error"),
    ]

    /// Attributes that hold a command of another family (ENCAP's CMD is a net_flow_nl command).
    static let commandValued: [AttrRef: String] = [
        AttrRef("nfl_hairpin", "encap", "cmd"): "net_flow_nl"
    ]

    /// A nest with a second layout under the same number (the set a GET_FLOWS request uses):
    /// the hints' `request.nested-attributes` of the operations.
    static func alternateNests(_ families: [YNLFamily]) -> [AttrRef: String] {
        var nests: [AttrRef: String] = [:]
        for family in families {
            for op in family.operations {
                guard let owner = op.attributeSet.map({ family.attributeSets[$0] }) else { continue }
                for (type, set) in op.requestNested {
                    guard let attr = owner.attribute(type: type) else { continue }
                    nests[AttrRef(family.name, owner.name, attr.name)] = family.attributeSets[set].name
                }
            }
        }
        return nests
    }

    struct Need {
        enum Item {
            case attribute(AttrRef)
            case command(family: String, op: String)
            case entry(family: String, definition: String, entry: String)
        }

        var name: String
        var item: Item
    }

    /// The spec items the Lua runtime names (as NEED.<name>).
    static let needs: [Need] = [
        Need(name: "nfl_identifier_type", item: .attribute(AttrRef("net_flow_nl", "nfl-attrs", "identifier-type"))),
        Need(name: "nfl_identifier", item: .attribute(AttrRef("net_flow_nl", "nfl-attrs", "identifier"))),
        Need(name: "nfl_flows", item: .attribute(AttrRef("net_flow_nl", "nfl-attrs", "flows"))),
        Need(name: "nfl_flows_error", item: .attribute(AttrRef("net_flow_nl", "nfl-attrs", "flows-error"))),
        Need(name: "nfl_flow_table", item: .attribute(AttrRef("net_flow_nl", "flow", "table"))),
        Need(name: "nfl_flow_error", item: .attribute(AttrRef("net_flow_nl", "flow", "error"))),
        Need(name: "nfl_selector_table", item: .attribute(AttrRef("net_flow_nl", "table-flows", "table"))),
        Need(name: "nfl_selector_minprio", item: .attribute(AttrRef("net_flow_nl", "table-flows", "minprio"))),
        Need(name: "nfl_selector_maxprio", item: .attribute(AttrRef("net_flow_nl", "table-flows", "maxprio"))),
        Need(name: "nfl_get_flows", item: .command(family: "net_flow_nl", op: "get-flows")),
        Need(name: "nfl_ifindex", item: .entry(family: "net_flow_nl", definition: "identifier-type", entry: "ifindex")),
        Need(name: "nflh_encap_command", item: .command(family: "nfl_hairpin", op: "encap")),
        Need(name: "nflh_encap", item: .attribute(AttrRef("nfl_hairpin", "nflh-attrs", "encap"))),
        Need(name: "nflh_listener", item: .attribute(AttrRef("nfl_hairpin", "nflh-attrs", "listener"))),
        Need(name: "nflh_encap_cmd_type", item: .attribute(AttrRef("nfl_hairpin", "encap", "cmd-type"))),
        Need(name: "nflh_encap_cmd", item: .attribute(AttrRef("nfl_hairpin", "encap", "cmd"))),
        Need(name: "nflh_encap_status", item: .attribute(AttrRef("nfl_hairpin", "encap", "status"))),
        Need(name: "nflh_encap_seq", item: .attribute(AttrRef("nfl_hairpin", "encap", "seq"))),
        Need(name: "nflh_encap_attr", item: .attribute(AttrRef("nfl_hairpin", "encap", "attr"))),
        Need(name: "nflh_encap_results", item: .attribute(AttrRef("nfl_hairpin", "encap", "results"))),
        Need(name: "nflh_encap_part", item: .attribute(AttrRef("nfl_hairpin", "encap", "part"))),
        Need(name: "nflh_encap_more", item: .attribute(AttrRef("nfl_hairpin", "encap", "more"))),
        Need(name: "nflh_encap_error_msg", item: .attribute(AttrRef("nfl_hairpin", "encap", "error-msg"))),
        Need(name: "nflh_result_errno", item: .attribute(AttrRef("nfl_hairpin", "result", "errno"))),
        Need(name: "nflh_listener_type", item: .attribute(AttrRef("nfl_hairpin", "listener", "type"))),
        Need(name: "nflh_listener_port", item: .attribute(AttrRef("nfl_hairpin", "listener", "port"))),
        Need(
            name: "nflh_nfl_command",
            item: .entry(family: "nfl_hairpin", definition: "encap-cmd-type", entry: "nfl-command")),
    ]
}

// MARK: resolving names

extension LuaEmitter {
    /// The families with their filter-field names, checked: every annotation resolves and no two
    /// fields share a name.
    struct Context {
        var families: [YNLFamily]
        var alternateNests: [AttrRef: String]
        var abbreviations: [AttrRef: String] = [:]
        var aliasLines: [String] = []
        var overrideLines: [String] = []
        /// The project's own families are all here: the annotations (NEED, aliases, errno and
        /// command values) apply.
        var annotated: Bool

        /// Field names the runtime registers itself, per family (see LuaRuntime.swift).
        static let runtimeFields = [
            "cmd", "version", "reserved", "attr.len", "attr.type", "attr.nested",
            "attr.net_byteorder", "attr.data", "attr.unknown", "fixed_header",
            // expert infos are fields too
            "malformed", "trailing", "unknown_attr", "failure",
        ]

        init(_ families: [YNLFamily]) throws {
            self.families = LuaEmitter.dependenciesFirst(families)
            let names = Set(families.map(\.name))
            annotated = LuaAnnotations.families.allSatisfy(names.contains)
            alternateNests = LuaAnnotations.alternateNests(families)
            var owners: [String: String] = [:]
            func claim(_ abbr: String, _ owner: String, file: String = "spec/", path: String = "") throws {
                if let other = owners[abbr], other != owner {
                    throw SpecError(
                        file: file, line: nil, path: path,
                        message: "the Wireshark field \(abbr) would stand for both \(other) and \(owner)")
                }
                owners[abbr] = owner
            }
            for family in self.families {
                // Wireshark wants a protocol's filter name in lower case; genl matches the name as given.
                guard YNLNames.isFieldName(family.name), family.name == family.name.lowercased() else {
                    throw SpecError(
                        file: family.file, line: nil, path: "name",
                        message:
                            "'\(family.name)' cannot name a Wireshark protocol (lower-case letters, digits, '_', '-' only)"
                    )
                }
                for other in family.attributeSets.flatMap(\.attributes).compactMap(\.nestedFamily) {
                    guard let nested = self.families.first(where: { $0.name == other.family }) else {
                        throw SpecError(
                            file: family.file, line: nil, path: "",
                            message: "an attribute nests the family \(other.family), which has no spec here")
                    }
                    guard nested.attributeSet(named: other.set) != nil else {
                        throw SpecError(
                            file: family.file, line: nil, path: "",
                            message: "an attribute nests \(other.family)'s set \(other.set), which \(nested.file) lacks"
                        )
                    }
                }
                let top = topSet(of: family)
                let prefix = YNLNames.cLower(family.name)
                var taken: Set<String> = []
                for field in Self.runtimeFields {
                    try claim("\(prefix).\(field)", "the runtime's \(field)", file: family.file, path: "name")
                    taken.insert("\(prefix).\(field)")
                }
                for st in family.structs {
                    for (name, member) in st.members {
                        if case .pad = member { continue }
                        let where_ = "definitions[\(st.name)].members[\(name)]"
                        for n in [st.name, name] where !YNLNames.isFieldName(n) {
                            throw SpecError(
                                file: family.file, line: nil, path: where_,
                                message:
                                    "'\(n)' cannot be part of a Wireshark field name (letters, digits, '_', '-' only)")
                        }
                        try claim(
                            Self.memberAbbreviation(prefix, st.name, name), "struct \(st.name) member \(name)",
                            file: family.file, path: where_)
                    }
                }
                for set in family.attributeSets {
                    for attr in set.attributes where !attr.isUnused {
                        let ref = AttrRef(family.name, set.name, attr.name)
                        let where_ = "attribute-sets[\(set.name)].attributes[\(attr.name)]"
                        for name in [set.name, attr.name] where !YNLNames.isFieldName(name) {
                            throw SpecError(
                                file: family.file, line: nil, path: where_,
                                message:
                                    "'\(name)' cannot be part of a Wireshark field name (letters, digits, '_', '-' only)"
                            )
                        }
                        let long = "\(prefix).\(YNLNames.cLower(set.name)).\(YNLNames.cLower(attr.name))"
                        var generated = set.name == top ? "\(prefix).\(YNLNames.cLower(attr.name))" : long
                        // A top-level attribute named like a runtime field (cmd, version) keeps its set's name.
                        if taken.contains(generated) { generated = long }
                        let abbr = LuaAnnotations.abbreviations[ref] ?? generated
                        try claim(abbr, ref.description, file: family.file, path: where_)
                        abbreviations[ref] = abbr
                        if case .integer(let t) = attr.kind, t.asFlags, let e = t.enumIndex {
                            for entry in family.enums[e].entries {
                                guard YNLNames.isFieldName(entry.name) else {
                                    throw SpecError(
                                        file: family.file, line: nil,
                                        path: "definitions[\(family.enums[e].name)].entries[\(entry.name)]",
                                        message: "'\(entry.name)' cannot be part of a Wireshark field name")
                                }
                                try claim(
                                    "\(abbr).\(YNLNames.cLower(entry.name))", "\(ref.description) flag \(entry.name)",
                                    file: family.file, path: where_)
                            }
                        }
                    }
                }
            }
            guard annotated else { return }
            // Everything the annotations name must exist.
            for ref in LuaAnnotations.abbreviations.keys.sorted(by: { $0.description < $1.description }) {
                _ = try attribute(ref, for: "a filter name")
                overrideLines.append(
                    "  \(LuaAnnotations.abbreviations[ref]!)".padding(toLength: 38, withPad: " ", startingAt: 0)
                        + "the attribute \(ref.set).\(ref.attr)")
            }
            for alias in LuaAnnotations.aliases {
                _ = try attribute(alias.source, for: "the alias \(alias.abbr)")
                try claim(alias.abbr, "the alias \(alias.abbr)")
                if let when = alias.when {
                    _ = try attribute(
                        AttrRef(alias.source.family, alias.source.set, when.attr), for: "the alias \(alias.abbr)")
                    _ = try enumValue(when.family, when.definition, when.entry)
                }
                let line = "  \(alias.abbr)".padding(toLength: 38, withPad: " ", startingAt: 0) + alias.doc
                if !aliasLines.contains(line) { aliasLines.append(line) }
            }
            for ref in LuaAnnotations.errnoValued.sorted(by: { $0.description < $1.description }) {
                _ = try attribute(ref, for: "errno names")
            }
            for (ref, _) in LuaAnnotations.commandValued {
                _ = try attribute(ref, for: "command names")
            }
            for (ref, alternate) in alternateNests {
                let attr = try attribute(ref, for: "its second layout")
                guard case .nest = attr.kind, let family = family(ref.family),
                    family.attributeSet(named: alternate) != nil
                else {
                    throw SpecError(
                        file: "spec/", line: nil, path: "",
                        message:
                            "the Lua dissector decodes \(ref.description) with the set \(alternate), which \(ref.family) lacks"
                    )
                }
            }
            for need in LuaAnnotations.needs {
                switch need.item {
                case .attribute(let ref): _ = try attribute(ref, for: "NEED.\(need.name)")
                case .command(let name, let op):
                    guard family(name)?.operation(named: op) != nil else {
                        throw SpecError(
                            file: "spec/", line: nil, path: "",
                            message: "the Lua dissector needs the operation \(op) of \(name)")
                    }
                case .entry(let name, let def, let entry): _ = try enumValue(name, def, entry)
                }
            }
        }

        func family(_ name: String) -> YNLFamily? { families.first { $0.name == name } }

        func attribute(_ ref: AttrRef, for purpose: String) throws -> YNLAttribute {
            guard let attr = family(ref.family)?.attributeSet(named: ref.set)?.attribute(named: ref.attr),
                !attr.isUnused
            else {
                throw SpecError(
                    file: "spec/", line: nil, path: "",
                    message: "the Lua dissector needs the attribute \(ref.description) (for \(purpose))")
            }
            return attr
        }

        func enumValue(_ familyName: String, _ definition: String, _ entry: String) throws -> UInt64 {
            guard
                let value = family(familyName)?.enums.first(where: { $0.name == definition })?.entries.first(where: {
                    $0.name == entry
                })?.value
            else {
                throw SpecError(
                    file: "spec/", line: nil, path: "",
                    message: "the Lua dissector needs the entry \(entry) of \(familyName) \(definition)")
            }
            return value
        }

        /// A struct member's filter field: <family>.<struct>.<member>.
        static func memberAbbreviation(_ prefix: String, _ structName: String, _ member: String) -> String {
            "\(prefix).\(YNLNames.cLower(structName)).\(YNLNames.cLower(member))"
        }

        func abbreviation(_ ref: AttrRef) throws -> String {
            guard let abbr = abbreviations[ref] else {
                throw SpecError(file: "spec/", line: nil, path: "", message: "no field name for \(ref.description)")
            }
            return abbr
        }

        /// The set every operation uses: its attributes get the short <family>.<attr> names. nil
        /// when the operations use several (ethtool, netdev): every field then names its set.
        func topSet(of family: YNLFamily) -> String? {
            let sets = Set(family.operations.compactMap(\.attributeSet))
            guard sets.count == 1, let top = sets.first else { return nil }
            return family.attributeSets[top].name
        }

        /// One number per operation in both directions, no fixed header: the command table says it all.
        func unified(_ family: YNLFamily) -> Bool {
            family.operations.allSatisfy {
                $0.fixedHeader == nil && $0.requestValue != nil && $0.requestValue == $0.replyValue
            }
        }
    }

    /// A family whose set another one nests (net_flow_nl inside hairpin's encap) comes first: the
    /// plugin reads in the order the protocols build on each other. Stable otherwise.
    static func dependenciesFirst(_ families: [YNLFamily]) -> [YNLFamily] {
        var rest = families
        var ordered: [YNLFamily] = []
        while !rest.isEmpty {
            let ready =
                rest.firstIndex { family in
                    !family.attributeSets.flatMap(\.attributes).contains { attr in
                        rest.contains { $0.name == attr.nestedFamily?.family && $0.name != family.name }
                    }
                } ?? 0  // a cycle: keep the given order
            ordered.append(rest.remove(at: ready))
        }
        return ordered
    }
}

/// YNL's names as C and Wireshark spell them.
public enum YNLNames {
    public static func cUpper(_ name: String) -> String {
        String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    public static func cLower(_ name: String) -> String {
        String(name.lowercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Usable in a Wireshark field or protocol name once lower-cased: ASCII letters, digits, '_', '-'.
    static func isFieldName(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
                    || $0 == "-"
            }
    }
}

extension YNLAttribute {
    var isUnused: Bool { if case .unused = kind { return true } else { return false } }
}
