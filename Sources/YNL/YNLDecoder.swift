// Decoding any message of a family from its loaded spec into names and typed values. Strict as
// LibFlowTable's codec is about what the spec defines: a known attribute must have the length and
// layout its type says and appear once unless multi-attr, every attribute header must be sound;
// errors are LibFlowTable's DecodeError (attribute path and byte offset from the start of the
// message). An attribute type the spec does not define (the kernel's own specs leave gaps, e.g.
// 6.12's devlink params) is kept by number with its bytes, as Wireshark and the kernel's YNL do,
// so a trace shows what it can; `strict` makes it an error (the codec's view, for the fuzz
// oracle). The attribute walk is LibFlowTable's AttributeIterator.

import LibFlowTable

public indirect enum YNLValue: Sendable, Equatable {
    case unsigned(UInt64)
    case signed(Int64)
    /// An enum attribute: the wire value and its entry's name (nil: not an entry of the enum).
    case enumerated(UInt64, String?)
    /// A flags (or enum-as-flags) value: the bits and the names of the set bits the enum knows.
    case flags(UInt64, [String])
    case string(String)
    case bytes([UInt8])
    /// A flag attribute: present.
    case flag
    /// A nest, a struct, a sub-message or a fixed header: named members in wire order.
    case fields([YNLField])
    /// An indexed array or a C array: items named by their index.
    case items([YNLField])
    case bitfield(value: UInt64, selector: UInt64)
    /// An attribute type the spec does not define in its set: the number and the payload.
    case undefined(type: UInt16, bytes: [UInt8])

    /// The name an undefined attribute's field carries (the kernel's YNL CLI says the same).
    public static func undefinedName(_ type: UInt16) -> String { "UnknownAttr(\(type))" }
}

public struct YNLField: Sendable, Equatable {
    public var name: String
    public var value: YNLValue

    public init(_ name: String, _ value: YNLValue) {
        self.name = name
        self.value = value
    }
}

public struct YNLMessage: Sendable, Equatable {
    public var family: String
    public var operation: String
    public var request: Bool
    /// The genl command, or the netlink-raw message type.
    public var command: UInt16
    /// The genl version (nil for netlink-raw).
    public var version: UInt8?
    /// The members of the fixed header (ifinfomsg, ovs_header), empty when the family has none.
    public var header: [YNLField]
    public var attributes: [YNLField]

    /// The path of every attribute the spec does not define ("param.84": attribute 84 inside
    /// param; items of arrays by index), in wire order; empty when the spec named everything.
    public var undefinedAttributes: [String] {
        var out: [String] = []
        Self.collectUndefined(attributes, prefix: "", into: &out)
        return out
    }

    static func collectUndefined(_ fields: [YNLField], prefix: String, into out: inout [String]) {
        for f in fields {
            switch f.value {
            case .undefined(let t, _): out.append(prefix + String(t))
            case .fields(let m), .items(let m): collectUndefined(m, prefix: prefix + f.name + ".", into: &out)
            default: break
            }
        }
    }
}

extension YNLValue {
    /// The first member named `name` of a nest, struct or indexed array.
    public subscript(_ name: String) -> YNLValue? {
        switch self {
        case .fields(let f), .items(let f): return f.first { $0.name == name }?.value
        default: return nil
        }
    }
}

public struct YNLDecoder: Sendable {
    public let family: YNLFamily
    /// An attribute type the spec does not define is an error (else a `.undefined` field).
    public let strict: Bool

    public init(_ family: YNLFamily, strict: Bool = false) {
        self.family = family
        self.strict = strict
    }

    /// Decodes one whole message (nlmsghdr included). `request` picks the direction of the
    /// operation table; nil takes it from NLM_F_REQUEST.
    public func decode(_ bytes: UnsafeRawBufferPointer, request: Bool? = nil) throws(DecodeError) -> YNLMessage {
        try decode(try NetlinkMessageView.single(bytes), request: request)
    }

    public func decode(_ message: NetlinkMessageView, request: Bool? = nil) throws(DecodeError) -> YNLMessage {
        let isRequest = request ?? message.header.isRequest
        let payload = message.payload
        var offset = 0
        var command: UInt16
        var version: UInt8?
        if family.proto.isGeneric {
            guard payload.count >= Netlink.genericHeaderLength else {
                throw DecodeError(
                    .truncated(
                        needed: Netlink.headerLength + Netlink.genericHeaderLength,
                        available: message.bytes.count), at: Netlink.headerLength)
            }
            command = UInt16(payload[0])
            version = payload[1]
            offset = Netlink.genericHeaderLength
        } else {
            command = message.header.type
        }
        guard let op = family.operation(value: command, request: isRequest) else {
            if family.proto.isGeneric {
                throw DecodeError(.unknownCommand(UInt8(truncatingIfNeeded: command)), at: Netlink.headerLength)
            }
            throw DecodeError(
                .notAllowed(
                    "no \(isRequest ? "request" : "reply or notification") of \(family.name) has message type \(command)"
                ), at: 4)
        }
        var header: [YNLField] = []
        if let fh = op.fixedHeader {
            let s = family.structs[fh]
            let base = Netlink.headerLength + offset
            guard payload.count - offset >= s.size else {
                throw DecodeError(.truncated(needed: base + s.size, available: message.bytes.count), at: base)
            }
            header = decodeStruct(s, UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + s.size)]))
            offset += s.size
        }
        var attributes: [YNLField] = []
        let region = UnsafeRawBufferPointer(rebasing: payload[offset...])
        let base = Netlink.headerLength + offset
        if let setIndex = op.attributeSet {
            attributes = try decodeSet(
                setIndex, AttributeIterator(region, baseOffset: base), depth: 0, outer: [],
                overrides: isRequest ? op.requestNested : [:])
        } else if !region.isEmpty {
            throw DecodeError(
                .notAllowed("operation \(op.name) has no attribute set, yet \(region.count) bytes follow its headers"),
                at: base)
        }
        return YNLMessage(
            family: family.name, operation: op.name, request: isRequest, command: command,
            version: version, header: header, attributes: attributes)
    }

    /// Decodes an attribute region of one set (a nest's payload, or a region cut out by the
    /// caller). `baseOffset` is the region's offset in the message, for errors.
    public func decodeAttributes(set name: String, _ region: UnsafeRawBufferPointer, baseOffset: Int = 0)
        throws(DecodeError) -> [YNLField]
    {
        guard let i = family.attributeSets.firstIndex(where: { $0.name == name }) else {
            throw DecodeError(.notAllowed("\(family.name) has no attribute set \(name)"), at: baseOffset)
        }
        return try decodeSet(i, AttributeIterator(region, baseOffset: baseOffset), depth: 0, outer: [])
    }

    func decodeSet(
        _ setIndex: Int, _ iterator: AttributeIterator, depth: Int, outer: [YNLField], at offset: Int = 0,
        overrides: [UInt16: Int] = [:]
    ) throws(DecodeError) -> [YNLField] {
        guard depth < Netlink.maxNestingDepth else {
            throw DecodeError(.nestingTooDeep(Netlink.maxNestingDepth), at: offset)
        }
        var it = iterator
        var fields: [YNLField] = []
        fields.reserveCapacity(it.countHint())
        // Slots seen, for the repeat check (sets of more than 128 attributes search `fields`).
        var seen: (UInt64, UInt64) = (0, 0)
        while let attr = try it.next() {
            // Read in place: a copy of the set or the attribute would retain each of its
            // references per attribute decoded.
            let t = Int(attr.type)
            let slot =
                t < family.attributeSets[setIndex].byType.count ? Int(family.attributeSets[setIndex].byType[t]) : -1
            guard slot >= 0 else {
                if strict { throw DecodeError(.unknownAttribute(attr.type), at: attr.offset) }
                fields.append(
                    YNLField(YNLValue.undefinedName(attr.type), .undefined(type: attr.type, bytes: Array(attr.payload)))
                )
                continue
            }
            let spec = family.attributeSets[setIndex].attributes[slot]
            // Strict as LibFlowTable's codec: one of each attribute unless it is multi-attr (the
            // kernel's nla_parse would keep the last silently). Pads repeat (nla_put_64bit).
            if !spec.multiAttr {
                let repeated: Bool
                if slot < 64 {
                    repeated = seen.0 & (1 << UInt64(slot)) != 0
                    seen.0 |= 1 << UInt64(slot)
                } else if slot < 128 {
                    repeated = seen.1 & (1 << UInt64(slot - 64)) != 0
                    seen.1 |= 1 << UInt64(slot - 64)
                } else {
                    repeated = fields.contains { $0.name == spec.name }
                }
                if repeated, !spec.isPad {
                    throw DecodeError(.repeatedAttribute(spec.name), at: attr.offset)
                }
            }
            do throws(DecodeError) {
                if !overrides.isEmpty, let set = overrides[attr.type] {
                    fields.append(
                        YNLField(
                            spec.name,
                            .fields(try decodeSet(set, attr.nested(), depth: depth + 1, outer: fields, at: attr.offset))
                        ))
                    continue
                }
                let value = try decodeValue(spec, attr, depth: depth, siblings: fields, outer: outer)
                if let value { fields.append(YNLField(spec.name, value)) }
            } catch {
                throw error.within(spec.name)
            }
        }
        return fields
    }

    @inline(__always)
    func integer(_ t: YNLInteger, _ attr: Attribute) throws(DecodeError) -> YNLValue {
        let p = attr.payload
        let raw: UInt64
        var width = t.scalar.width
        if width == 0 {
            guard p.count == 4 || p.count == 8 else {
                throw DecodeError(
                    .payloadLength(expected: "4 or 8 (\(t.scalar.isSigned ? "sint" : "uint"))", got: p.count),
                    at: attr.offset)
            }
            width = p.count
        } else if p.count != width {
            throw DecodeError(.payloadLength(expected: "\(width) (\(t.scalar))", got: p.count), at: attr.offset)
        }
        raw = Self.load(p, 0, width, t.bigEndian)
        return value(raw, width: width, t)
    }

    @inline(__always)
    static func load(_ p: UnsafeRawBufferPointer, _ at: Int, _ width: Int, _ bigEndian: Bool) -> UInt64 {
        switch width {
        case 1: return UInt64(p[at])
        case 2:
            let v = p.loadUnaligned(fromByteOffset: at, as: UInt16.self)
            return UInt64(bigEndian ? UInt16(bigEndian: v) : v)
        case 4:
            let v = p.loadUnaligned(fromByteOffset: at, as: UInt32.self)
            return UInt64(bigEndian ? UInt32(bigEndian: v) : v)
        default:
            let v = p.loadUnaligned(fromByteOffset: at, as: UInt64.self)
            return bigEndian ? UInt64(bigEndian: v) : v
        }
    }

    func value(_ raw: UInt64, width: Int, _ t: YNLInteger) -> YNLValue {
        if let e = t.enumIndex {
            let en = family.enums[e]
            if t.asFlags {
                var names: [String] = []
                for entry in en.entries where entry.value != 0 && raw & entry.value == entry.value {
                    names.append(entry.name)
                }
                return .flags(raw, names)
            }
            return .enumerated(raw, en.name(of: raw))
        }
        if t.scalar.isSigned {
            let shift = UInt64(64 - 8 * width)
            return .signed(Int64(bitPattern: raw << shift) >> Int64(shift))
        }
        return .unsigned(raw)
    }

    func decodeStruct(_ s: YNLStruct, _ p: UnsafeRawBufferPointer) -> [YNLField] {
        var fields: [YNLField] = []
        fields.reserveCapacity(s.members.count)
        var at = 0
        for (name, member) in s.members {
            switch member {
            case .integer(let t):
                let w = t.scalar.width
                fields.append(YNLField(name, value(Self.load(p, at, w, t.bigEndian), width: w, t)))
                at += w
            case .pad(let n):
                at += n
            case .binary(let n):
                fields.append(YNLField(name, .bytes(Array(p[at..<(at + n)]))))
                at += n
            case .structure(let i):
                let inner = family.structs[i]
                fields.append(
                    YNLField(
                        name, .fields(decodeStruct(inner, UnsafeRawBufferPointer(rebasing: p[at..<(at + inner.size)]))))
                )
                at += inner.size
            }
        }
        return fields
    }

    func decodeValue(_ spec: YNLAttribute, _ attr: Attribute, depth: Int, siblings: [YNLField], outer: [YNLField])
        throws(DecodeError) -> YNLValue?
    {
        switch spec.kind {
        case .integer(let t):
            return try integer(t, attr)
        case .string:
            return .string(try attr.string())
        case .flag:
            return try attr.flag() ? .flag : nil
        case .nest(let set):
            return .fields(try decodeSet(set, attr.nested(), depth: depth + 1, outer: siblings, at: attr.offset))
        case .binary:
            if let r = spec.length, !r.contains(attr.payload.count) {
                let expected =
                    r.lowerBound == r.upperBound
                    ? "\(r.lowerBound)"
                    : r.upperBound == Int.max ? "at least \(r.lowerBound)" : "\(r.lowerBound) to \(r.upperBound)"
                throw DecodeError(.payloadLength(expected: expected, got: attr.payload.count), at: attr.offset)
            }
            return .bytes(Array(attr.payload))
        case .unused:
            throw DecodeError(.notAllowed("attribute \(spec.name) is declared unused"), at: attr.offset)
        case .pad:
            return nil
        case .structure(let i):
            let s = family.structs[i]
            // Kernels grow structs at the end (e.g. rtnl_link_stats64): a longer payload is newer,
            // its tail unknown here; a shorter one is an error.
            guard attr.payload.count >= s.size else {
                throw DecodeError(
                    .payloadLength(expected: "at least \(s.size) (struct \(s.name))", got: attr.payload.count),
                    at: attr.offset)
            }
            return .fields(decodeStruct(s, attr.payload))
        case .array(let t):
            let w = t.scalar.width
            guard attr.payload.count % w == 0 else {
                throw DecodeError(
                    .payloadLength(expected: "a multiple of \(w) (array of \(t.scalar))", got: attr.payload.count),
                    at: attr.offset)
            }
            var items: [YNLField] = []
            items.reserveCapacity(attr.payload.count / w)
            for i in 0..<(attr.payload.count / w) {
                items.append(YNLField(String(i), value(Self.load(attr.payload, i * w, w, t.bigEndian), width: w, t)))
            }
            return .items(items)
        case .indexedArray(let item):
            var it = attr.nested()
            var items: [YNLField] = []
            while let a = try it.next() {
                let label = String(a.type)
                do throws(DecodeError) {
                    switch item {
                    case .nest(let set):
                        items.append(
                            YNLField(
                                label,
                                .fields(try decodeSet(set, a.nested(), depth: depth + 1, outer: siblings, at: a.offset))
                            ))
                    case .integer(let t):
                        items.append(YNLField(label, try integer(t, a)))
                    case .binary:
                        items.append(YNLField(label, .bytes(Array(a.payload))))
                    }
                } catch {
                    throw error.within("[\(label)]")
                }
            }
            return .items(items)
        case .nestTypeValue(let levels, let set):
            return try nestTypeValue(attr, levels[...], set: set, depth: depth + 1, siblings: siblings)
        case .bitfield32(let e):
            guard attr.payload.count == 8 else {
                throw DecodeError(.payloadLength(expected: "8 (bitfield32)", got: attr.payload.count), at: attr.offset)
            }
            let v = UInt64(attr.payload.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            let sel = UInt64(attr.payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            _ = e
            return .bitfield(value: v, selector: sel)
        case .subMessage(let index, let selector):
            let sub = family.subMessages[index]
            guard let key = Self.selectorValue(selector, siblings) ?? Self.selectorValue(selector, outer) else {
                throw DecodeError(
                    .notAllowed("sub-message \(sub.name) needs its selector \(selector) before it"), at: attr.offset)
            }
            guard let format = sub.formats.first(where: { $0.value == key }) else {
                throw DecodeError(
                    .notAllowed("sub-message \(sub.name) has no format for \(selector) '\(key)'"), at: attr.offset)
            }
            var fields: [YNLField] = []
            var start = 0
            if let fh = format.fixedHeader {
                let s = family.structs[fh]
                guard attr.payload.count >= s.size else {
                    throw DecodeError(
                        .payloadLength(expected: "at least \(s.size) (struct \(s.name))", got: attr.payload.count),
                        at: attr.offset)
                }
                fields = decodeStruct(s, attr.payload)
                start = s.size
            }
            let rest = UnsafeRawBufferPointer(rebasing: attr.payload[start...])
            if let set = format.attributeSet {
                fields += try decodeSet(
                    set, AttributeIterator(rest, baseOffset: attr.payloadOffset + start), depth: depth + 1,
                    outer: siblings, at: attr.offset)
            } else if !rest.isEmpty {
                throw DecodeError(.trailingBytes(rest.count), at: attr.payloadOffset + start)
            }
            return .fields(fields)
        }
    }

    func nestTypeValue(_ attr: Attribute, _ levels: ArraySlice<String>, set: Int, depth: Int, siblings: [YNLField])
        throws(DecodeError) -> YNLValue
    {
        guard let level = levels.first else {
            return .fields(try decodeSet(set, attr.nested(), depth: depth, outer: siblings, at: attr.offset))
        }
        guard depth < Netlink.maxNestingDepth else {
            throw DecodeError(.nestingTooDeep(Netlink.maxNestingDepth), at: attr.offset)
        }
        var it = attr.nested()
        var items: [YNLField] = []
        while let a = try it.next() {
            do throws(DecodeError) {
                items.append(
                    YNLField(
                        "\(level)=\(a.type)",
                        try nestTypeValue(a, levels.dropFirst(), set: set, depth: depth + 1, siblings: siblings)))
            } catch {
                throw error.within("[\(level)=\(a.type)]")
            }
        }
        return .items(items)
    }

    /// The selector's value as the sub-message formats name it (a string, or an enum entry).
    static func selectorValue(_ name: String, _ fields: [YNLField]) -> String? {
        for f in fields.reversed() where f.name == name {
            switch f.value {
            case .string(let s): return s
            case .enumerated(let v, let n): return n ?? String(v)
            case .unsigned(let v): return String(v)
            case .signed(let v): return String(v)
            default: return nil
            }
        }
        return nil
    }
}
