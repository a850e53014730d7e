// Synthetic flows that are valid for a pipeline model, with ClassBench-like shapes: address
// prefixes weighted toward /16–/24 (and /48–/64 for IPv6 halves), ports exact, ranged (a
// power-of-two block) or wildcarded, protocols mostly TCP/UDP. Seeded and deterministic, so a
// benchmark or a generated trace is the same on every run. Used by the benchmarks, the demo
// and `flowtrace gen`.

import LibFlowTable

/// SplitMix64: small, fast, good enough for workloads, and identical on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public struct FlowGenerator {
    public let model: PipelineModel
    public var rng: SeededGenerator
    let bitwidths: [HeaderFieldKey: UInt32]
    let actionsByUID: [UInt32: Action]
    /// Next uid per table, so generated uids never collide (uid 0 is reserved).
    var nextUID: [UInt32: UInt32] = [:]
    /// Rule shapes per table, made on first use (see `Shape`).
    var shapes: [UInt32: [Shape]] = [:]

    /// A rule shape: which of the table's fields a flow matches and with which mask. Real
    /// rule sets (ClassBench's seeds) reuse a few dozen shapes, which is what keeps tuple space
    /// search practical; drawing every mask independently would make almost every flow a tuple
    /// of its own.
    struct Shape {
        var fields: [(descriptor: FieldRef, mask: UInt64)]
    }

    /// Shapes per table: few, drawn with skewed weights (shape k about twice as likely as k+1).
    public var shapesPerTable = 24

    struct HeaderFieldKey: Hashable { var header: UInt32; var field: UInt32 }

    public init(model: PipelineModel, seed: UInt64) {
        self.model = model
        rng = SeededGenerator(seed: seed)
        var widths: [HeaderFieldKey: UInt32] = [:]
        for h in model.headers {
            for f in h.fields { widths[HeaderFieldKey(header: h.uid, field: f.uid)] = f.bitwidth }
        }
        bitwidths = widths
        actionsByUID = Dictionary(model.actions.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The tables flows can go into (those with matches and actions to choose from).
    public var usableTables: [Table] { model.tables.filter { !$0.matches.isEmpty && !$0.actions.isEmpty } }

    /// A fresh uid for `table`.
    public mutating func takeUID(table: UInt32) -> UInt32 {
        let uid = nextUID[table, default: 1]
        nextUID[table] = uid &+ 1
        return uid
    }

    /// One flow for `table`, valid for the model (matches of the table's mask types and value
    /// types, allowed actions with well-typed arguments).
    public mutating func flow(in table: Table, uid: UInt32? = nil, priority: UInt32? = nil) -> Flow {
        if shapes[table.uid] == nil { shapes[table.uid] = (0..<shapesPerTable).map { _ in makeShape(for: table) } }
        let tableShapes = shapes[table.uid] ?? []
        var matches: [FieldRef] = []
        if !tableShapes.isEmpty {
            // Skewed pick: halve the chance with each further shape.
            var k = 0
            while k < tableShapes.count - 1 && rng.next() % 2 == 0 { k += 1 }
            for (d, mask) in tableShapes[k].fields { matches.append(match(for: d, mask: mask)) }
        }
        var actions: [Action] = []
        let count = 1 + Int(rng.next() % 2)
        for uid in table.actions.shuffled(using: &rng).prefix(count) {
            guard let a = actionsByUID[uid] else { continue }
            let args = (a.signature ?? []).map { arg -> ActionArg in
                let width = arg.type.byteWidth ?? 4
                let bits: UInt64 = width >= 8 ? rng.next() : rng.next() & ((1 << (8 * UInt64(width))) - 1)
                return ActionArg(
                    name: arg.name, type: arg.type, value: FieldValue(rawBits: bits, byteCount: UInt8(width)))
            }
            actions.append(Action(name: a.name, uid: a.uid, signature: args))
        }
        return Flow(
            table: table.uid, uid: uid ?? takeUID(table: table.uid),
            priority: priority ?? UInt32(rng.next() % 1000), matches: matches, actions: actions)
    }

    /// `count` flows spread over the usable tables in proportion to their sizes (unbounded
    /// tables count as 65536), never more than a table holds.
    public mutating func flows(count: Int) -> [Flow] {
        let tables = usableTables
        guard !tables.isEmpty else { return [] }
        let weights = tables.map { Double($0.size == Table.unbounded ? 65536 : $0.size) }
        let total = weights.reduce(0, +)
        var out: [Flow] = []
        out.reserveCapacity(count)
        var placed: [UInt32: Int] = [:]
        while out.count < count {
            var pick = Double(rng.next() % 1_000_000) / 1_000_000 * total
            var t = tables[tables.count - 1]
            for (i, w) in weights.enumerated() {
                if pick < w { t = tables[i]; break }
                pick -= w
            }
            if t.size != Table.unbounded && placed[t.uid, default: 0] >= Int(t.size) {
                // That table is full: stop if all are, else draw again.
                if tables.allSatisfy({ $0.size != Table.unbounded && placed[$0.uid, default: 0] >= Int($0.size) }) {
                    break
                }
                continue
            }
            placed[t.uid, default: 0] += 1
            out.append(flow(in: t))
        }
        return out
    }

    /// A packet: a value for every field of every header the model knows.
    public mutating func packet() -> PacketFields {
        var values: [PacketFields.Key: UInt64] = [:]
        for node in model.headerGraph {
            for h in node.headers {
                guard let header = model.headers.first(where: { $0.uid == h }) else { continue }
                for f in header.fields {
                    let w = UInt64(min(f.bitwidth == 0 ? 32 : f.bitwidth, 64))
                    let mask: UInt64 = w >= 64 ? ~0 : (1 << w) - 1
                    values[PacketFields.Key(instance: node.uid, header: h, field: f.uid)] = rng.next() & mask
                }
            }
        }
        return PacketFields(values)
    }

    // MARK: shapes

    func inclusionPercent(_ d: FieldRef) -> UInt64 {
        switch d.maskType {
        case .exact: return 100  // exact tables match on every advertised field
        case .lpm: return 100
        default: return 55  // ACL-style: some fields wildcarded by omission
        }
    }

    /// The field's usable bits under its value type.
    func fieldBits(_ d: FieldRef) -> (typeBytes: Int, bits: UInt64, mask: UInt64) {
        let type = d.type == .unspec ? FieldType.u32 : d.type
        let typeBytes = type.byteWidth ?? 4
        let typeBits = UInt64(typeBytes * 8)
        let bitwidth = UInt64(bitwidths[HeaderFieldKey(header: d.header, field: d.field)] ?? 0)
        let fieldBits = bitwidth == 0 ? typeBits : min(bitwidth, typeBits)
        return (typeBytes, fieldBits, fieldBits >= 64 ? ~0 : (1 << fieldBits) - 1)
    }

    mutating func makeShape(for table: Table) -> Shape {
        var fields: [(FieldRef, UInt64)] = []
        for d in table.matches where rng.next() % 100 < inclusionPercent(d) {
            fields.append((d, shapeMask(for: d)))
        }
        if fields.isEmpty, let d = table.matches.randomElement(using: &rng) { fields.append((d, shapeMask(for: d))) }
        return Shape(fields: fields)
    }

    /// A flow of a given shape: random value under the shape's mask.
    mutating func match(for d: FieldRef, mask: UInt64) -> FieldRef {
        let type = d.type == .unspec ? .u32 : d.type
        let (typeBytes, bits, fieldMask) = fieldBits(d)
        var value = rng.next() & fieldMask & mask
        // Protocol fields (8 bits, e.g. ipv4.protocol): mostly TCP or UDP.
        if bits == 8 && mask == fieldMask { value = [6, 17, 6, 17, 1][Int(rng.next() % 5)] }
        return FieldRef(
            instance: d.instance, header: d.header, field: d.field, maskType: d.maskType, type: type,
            value: FieldValue(rawBits: value, byteCount: UInt8(typeBytes)),
            mask: FieldValue(rawBits: mask, byteCount: UInt8(typeBytes)))
    }

    mutating func shapeMask(for d: FieldRef) -> UInt64 {
        let (_, fieldBits, fieldMask) = fieldBits(d)
        var mask = fieldMask
        switch d.maskType {
        case .lpm:
            mask = prefixMask(length: prefixLength(bits: fieldBits), bits: fieldBits)
        case .mask:
            if fieldBits >= 24 {
                mask = prefixMask(length: prefixLength(bits: fieldBits), bits: fieldBits)
            } else if fieldBits >= 16 {
                // Ports: exact 60%, a power-of-two range 30%, wildcard 10%.
                switch rng.next() % 10 {
                case 0..<6: mask = fieldMask
                case 6..<9: mask = prefixMask(length: fieldBits - UInt64(1 + rng.next() % 10), bits: fieldBits)
                default: mask = 0
                }
            } else {
                mask = rng.next() % 4 == 0 ? 0 : fieldMask
            }
        default:
            break
        }
        return mask
    }

    /// Prefix lengths weighted like routing tables: most between half and three quarters of
    /// the width (/16–/24 of 32), some host routes, few short ones.
    mutating func prefixLength(bits: UInt64) -> UInt64 {
        let r = rng.next() % 100
        if r < 10 { return bits }  // host routes
        if r < 15 { return max(1, bits / 4 + rng.next() % (bits / 4 + 1)) }
        return bits / 2 + rng.next() % (bits / 4 + 1)
    }

    func prefixMask(length: UInt64, bits: UInt64) -> UInt64 {
        let full: UInt64 = bits >= 64 ? ~0 : (1 << bits) - 1
        guard length < bits else { return full }
        // A /0 of a 64-bit field: 1 << 64 is 0 and would underflow below.
        guard length > 0 else { return 0 }
        let free: UInt64 = (1 << (bits - length)) - 1
        return full & ~free
    }
}

// MARK: adversarial profiles

/// The shape of a generated rule set (`flowtrace gen --profile`).
public enum FlowProfile: String, CaseIterable, Sendable {
    /// ClassBench-like: a few dozen shapes per table (what real rule sets look like).
    case classbench
    /// Tuple space explosion: every flow of a table a mask tuple of its own, walking every
    /// combination of prefix lengths (and presence) across the table's fields.
    case tse
    /// Update storm: every flow inserted above all others of its table, deletions take the
    /// highest priority flow: each one shifts every entry of a packed TCAM.
    case updateStorm = "update-storm"
}

extension FlowGenerator {
    /// Marks uids 1…`last` of `table` as taken (flows that came from elsewhere).
    public mutating func reserveUIDs(table: UInt32, through last: UInt32) {
        if nextUID[table, default: 1] <= last { nextUID[table] = last &+ 1 }
    }

    /// Per field of the table, how many mask choices it has: absent, then for a maskable
    /// field every prefix length 0…bits, for an exact one present.
    func tupleRadixes(_ table: Table) -> [UInt64] {
        table.matches.map { d in
            d.maskType == .exact ? 2 : fieldBits(d).bits + 2
        }
    }

    /// The number of distinct mask tuples the tse profile can give the table (saturating): every
    /// combination of the fields' choices but the one with no field at all.
    public func tupleSpace(_ table: Table) -> UInt64 {
        let all = tupleRadixes(table).reduce(UInt64(1)) { p, r in
            let (m, o) = p.multipliedReportingOverflow(by: r)
            return o ? .max : m
        }
        return all == .max ? .max : all - 1
    }

    /// The `index`-th flow (0-based) of a table under the tse profile: the index runs through
    /// the tuple space in a scrambled order (a stride coprime with its size), so successive
    /// flows differ in every field, and no two flows below the space's size share a tuple.
    /// Priority = index + 1: distinct, so even a repeated tuple is never a duplicate.
    public mutating func tseFlow(in table: Table, index: Int) -> Flow {
        let radixes = tupleRadixes(table)
        let space = tupleSpace(table)
        // Code 0 (every field absent) is no flow: codes run 1…space.
        var code = UInt64(index) &+ 1
        if space != .max, space > 1 {
            var stride = UInt64(Double(space) * 0.618_033_988_7) | 1
            while gcd(stride, space) != 1 { stride += 2 }
            // index × stride mod space, exactly (the product may pass 2^64).
            let (hi, lo) = (UInt64(index) % space).multipliedFullWidth(by: stride)
            code = space.dividingFullWidth((hi % space, lo)).remainder + 1
        } else if space == 1 {
            code = 1
        }
        var matches: [FieldRef] = []
        for (d, radix) in zip(table.matches, radixes) {
            let digit = code % radix
            code /= radix
            guard digit > 0 else { continue }
            let (_, bits, full) = fieldBits(d)
            let mask = d.maskType == .exact ? full : prefixMask(length: digit - 1, bits: bits)
            matches.append(match(for: d, mask: mask))
        }
        var f = flow(in: table, priority: UInt32(clamping: index + 1))
        f.matches = matches
        return f
    }

    func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }
}
