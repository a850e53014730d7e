// Random but well-formed model values for property-based tests. Everything the codec can
// represent is reachable: absent vs empty optionals, odd value widths, long names.

import LibFlowTable

enum RandomModel {
    static func u32<R: RandomNumberGenerator>(_ r: inout R) -> UInt32 {
        // Mix small ids (realistic) with edge values (0, max).
        switch r.next() % 8 {
        case 0: return 0
        case 1: return .max
        case 2, 3: return UInt32.random(in: 0...UInt32.max, using: &r)
        default: return UInt32.random(in: 1...64, using: &r)
        }
    }

    static func name<R: RandomNumberGenerator>(_ r: inout R) -> String {
        let pool = ["eth", "ipv4_src", "tcp", "ünïcode", "a", "x-very-long-name-over-fifteen-bytes", "port", ""]
        return pool[Int(r.next() % UInt64(pool.count))]
    }

    static func value<R: RandomNumberGenerator>(_ r: inout R) -> FieldValue {
        let n = UInt8.random(in: 1...8, using: &r)
        return FieldValue(rawBits: r.next() & FieldValue(rawBits: 0, byteCount: n).widthMask, byteCount: n)
    }

    static func list<T, R: RandomNumberGenerator>(_ r: inout R, max: Int, _ f: (inout R) -> T) -> [T] {
        (0..<Int(r.next() % UInt64(max + 1))).map { _ in f(&r) }
    }

    static func maybe<T, R: RandomNumberGenerator>(_ r: inout R, _ f: (inout R) -> T) -> T? {
        r.next() % 4 == 0 ? nil : f(&r)
    }

    static func fieldRef<R: RandomNumberGenerator>(_ r: inout R, withValue: Bool) -> FieldRef {
        FieldRef(
            instance: u32(&r), header: u32(&r), field: u32(&r),
            maskType: MaskType(rawValue: UInt32(r.next() % 5)), type: FieldType(rawValue: UInt32(r.next() % 6)),
            value: withValue ? maybe(&r, value) : nil, mask: withValue ? maybe(&r, value) : nil)
    }

    static func action<R: RandomNumberGenerator>(_ r: inout R) -> Action {
        Action(
            name: maybe(&r, name), uid: u32(&r),
            signature: maybe(&r) { r in
                list(&r, max: 3) { r in
                    ActionArg(name: maybe(&r, name), type: FieldType(rawValue: UInt32(r.next() % 5)), value: value(&r))
                }
            })
    }

    static func jump<R: RandomNumberGenerator>(_ r: inout R) -> JumpEntry {
        JumpEntry(nextNode: u32(&r), ref: fieldRef(&r, withValue: true))
    }

    static func flow<R: RandomNumberGenerator>(_ r: inout R) -> Flow {
        Flow(
            error: r.next() % 5 == 0 ? u32(&r) : nil, table: u32(&r), uid: u32(&r), priority: u32(&r),
            matches: maybe(&r) { r in list(&r, max: 4) { r in fieldRef(&r, withValue: true) } },
            actions: maybe(&r) { r in list(&r, max: 3, action) })
    }

    static func table<R: RandomNumberGenerator>(_ r: inout R) -> Table {
        Table(
            name: name(&r), uid: u32(&r), source: u32(&r), apply: maybe(&r, u32), size: u32(&r),
            matches: list(&r, max: 4) { r in fieldRef(&r, withValue: false) }, actions: list(&r, max: 4, u32))
    }

    static func header<R: RandomNumberGenerator>(_ r: inout R) -> Header {
        Header(
            name: name(&r), uid: u32(&r),
            fields: list(&r, max: 5) { r in Field(name: name(&r), uid: u32(&r), bitwidth: u32(&r)) })
    }

    static func headerNode<R: RandomNumberGenerator>(_ r: inout R) -> HeaderGraphNode {
        HeaderGraphNode(name: name(&r), uid: u32(&r), headers: list(&r, max: 3, u32), jumps: list(&r, max: 3, jump))
    }

    static func tableNode<R: RandomNumberGenerator>(_ r: inout R) -> TableGraphNode {
        TableGraphNode(uid: u32(&r), flags: u32(&r), jumps: list(&r, max: 3, jump))
    }

    /// A top-level attribute set valid for `layout`.
    static func attributes<R: RandomNumberGenerator>(_ r: inout R, layout: FlowsLayout) -> FlowTableAttributes {
        var a = FlowTableAttributes(identifierType: maybe(&r, u32), identifier: maybe(&r, u32))
        a.tables = maybe(&r) { r in list(&r, max: 3, table) }
        a.headers = maybe(&r) { r in list(&r, max: 3, header) }
        a.actions = maybe(&r) { r in list(&r, max: 3, action) }
        a.headerGraph = maybe(&r) { r in list(&r, max: 3, headerNode) }
        a.tableGraph = maybe(&r) { r in list(&r, max: 3, tableNode) }
        a.errorStrategy = maybe(&r) { r in ErrorStrategy(rawValue: UInt32(r.next() % 5)) }
        switch layout {
        case .list, .deleteList: a.flows = maybe(&r) { r in list(&r, max: 5, flow) }
        case .selector:
            a.selector = maybe(&r) { r in
                FlowSelector(table: u32(&r), minPriority: maybe(&r, u32), maxPriority: maybe(&r, u32))
            }
        }
        return a
    }
}

/// A small deterministic generator (SplitMix64), so a seed reproduces a failure exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
