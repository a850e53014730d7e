// How a message of any family reads: one line for `flowtrace show`, a JSON tree for -V and
// --json, from the interpreter's names and typed values.

import FlowTrace
import LibFlowTable
import YNL

public enum FamilyText {
    /// Attributes shown on one line at most; the rest is counted.
    static let lineFields = 6

    /// "devlink get req bus-name=netdevsim dev-name=netdevsim1", "rt-link newlink req ifi-index=3
    /// ifname=dummy0 …", "psample cmd 3", "rt-link getlink (cannot decode: …)".
    public static func line(_ d: FamilyCatalog.Decoded) -> String {
        switch d {
        case .decoded(let m):
            var out = "\(m.family) \(m.operation) \(m.request ? "req" : "rsp")"
            let fields = m.header.filter { !isZero($0.value) } + m.attributes
            for f in fields.prefix(lineFields) { out += " " + short(f) }
            if fields.count > lineFields { out += " +\(fields.count - lineFields) more" }
            let undefined = m.undefinedAttributes
            if !undefined.isEmpty { out += " (not in the spec: attr \(undefined.joined(separator: ", ")))" }
            return out
        case let .failed(family, operation, error):
            return "\(family) \(operation ?? "?") (cannot decode: \(error))"
        case let .noSpec(family, command, generic):
            return generic ? "\(family) cmd \(command)" : "\(family) type \(command)"
        }
    }

    static func isZero(_ v: YNLValue) -> Bool {
        switch v {
        case .unsigned(0), .signed(0), .enumerated(0, _), .flags(0, _): return true
        default: return false
        }
    }

    static func short(_ f: YNLField) -> String {
        switch f.value {
        case .fields(let m): return "\(f.name){\(m.count)}"
        case .items(let m): return "\(f.name)[\(m.count)]"
        case .flag: return f.name
        default: return "\(f.name)=\(scalar(f.value))"
        }
    }

    static func scalar(_ v: YNLValue) -> String {
        switch v {
        case .unsigned(let u): return String(u)
        case .signed(let s): return String(s)
        case .enumerated(let u, let n): return n ?? String(u)
        case .flags(let u, let n): return n.isEmpty ? "0x" + String(u, radix: 16) : n.joined(separator: "|")
        case .string(let s): return s.contains(" ") || s.isEmpty ? "\"\(s)\"" : s
        case .bytes(let b): return b.count <= 16 ? hex(b) : "\(b.count) bytes"
        case .flag: return "true"
        case .bitfield(let value, let selector): return "0x\(String(value, radix: 16))/0x\(String(selector, radix: 16))"
        case .undefined(_, let b): return b.count <= 16 ? hex(b) : "\(b.count) bytes"
        case .fields(let m): return "{\(m.count)}"
        case .items(let m): return "[\(m.count)]"
        }
    }

    static func hex(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count * 2)
        for x in b { out.append(digits[Int(x >> 4)]); out.append(digits[Int(x & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The members of a decoded message for --json and -V: family, op, request, header, attrs.
    public static func members(_ d: FamilyCatalog.Decoded) -> [JSONMember] {
        switch d {
        case .decoded(let m):
            var o: [JSONMember] = [
                JSONMember("family", .string(m.family)), JSONMember("op", .string(m.operation)),
                JSONMember("request", .bool(m.request)),
            ]
            if !m.header.isEmpty { o.append(JSONMember("header", json(m.header))) }
            o.append(JSONMember("attrs", json(m.attributes)))
            let undefined = m.undefinedAttributes
            if !undefined.isEmpty { o.append(JSONMember("undefined_attrs", .array(undefined.map { .string($0) }))) }
            return o
        case let .failed(family, operation, error):
            var o: [JSONMember] = [JSONMember("family", .string(family))]
            if let operation { o.append(JSONMember("op", .string(operation))) }
            o.append(JSONMember("decode_error", .string("\(error)")))
            return o
        case let .noSpec(family, command, generic):
            return [
                JSONMember("family", .string(family)),
                JSONMember(generic ? "command" : "type", .number(UInt32(command))),
                JSONMember("spec", .bool(false)),
            ]
        }
    }

    /// Named members as a JSON object; a name repeated (multi-attr) becomes one array.
    public static func json(_ fields: [YNLField]) -> JSONValue {
        var order: [String] = []
        var values: [String: [JSONValue]] = [:]
        for f in fields {
            if values[f.name] == nil { order.append(f.name) }
            values[f.name, default: []].append(json(f.value))
        }
        return .object(
            order.map { n in
                let v = values[n] ?? []
                return JSONMember(n, v.count == 1 ? v[0] : .array(v))
            })
    }

    public static func json(_ v: YNLValue) -> JSONValue {
        switch v {
        case .unsigned(let u): return .uint(u)
        case .signed(let s): return .int(s)
        case .enumerated(let u, let n): return n.map { .string($0) } ?? .uint(u)
        case .flags(let u, let n): return n.isEmpty && u != 0 ? .uint(u) : .array(n.map { .string($0) })
        case .string(let s): return .string(s)
        case .bytes(let b): return .string(hex(b))
        case .flag: return .bool(true)
        case .fields(let m): return json(m)
        case .items(let m): return .array(m.map { json($0.value) })
        case .bitfield(let value, let selector):
            return .object([JSONMember("value", .uint(value)), JSONMember("selector", .uint(selector))])
        case .undefined(let t, let b):
            // As a message without a spec shows its attributes, marked as not in the spec.
            return .object([
                JSONMember("type", .number(UInt32(t))), JSONMember("len", .number(UInt32(b.count))),
                JSONMember("hex", .string(hex(b))), JSONMember("spec", .bool(false)),
            ])
        }
    }
}
