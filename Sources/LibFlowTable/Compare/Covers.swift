// "Does match set A cover match set B?" and "do A and B overlap?", done right.
//
// The original `flow_table_field_refs_are_subset` (libflow-table, used by the dummy backend to
// reject duplicate rules and to pick the rules a DEL removes) is wrong in two ways: it answers "true" as soon as ONE field of A is compatible or missing in B (an
// any-field test where an all-fields test is needed), and it reads the 64-bit value/mask union
// members for every type, so for u8/u16/u32 refs the mask it reads is 0 and every comparison
// succeeds. The relation below is the set-theoretic one, checked against a brute-force oracle in
// the tests.
//
// Semantics. A match set is a conjunction of constraints (instance, header, field, value, mask):
// a packet is selected iff for every constraint `packet[field] & mask == value & mask`.
// * A field that no constraint names is a wildcard; a constraint with mask 0 is one too.
// * An absent mask means all bits of the value's width (u8 … u64), see `MatchKey.init(_:)`.
// * Several constraints on the same field intersect: (v1, m1) ∧ (v2, m2) is satisfiable iff
//   (v1 ^ v2) & m1 & m2 == 0, and is then (v1 | v2, m1 | m2) (values are stored pre-masked).
//   If they conflict the whole set selects no packet at all.
// * A covers B iff every packet B selects, A selects too. With per-field constraints combined
//   as above, for a satisfiable B that is: for every field f that A constrains with (va, ma), B
//   constrains f with (vb, mb) such that (ma & ~mb) == 0 (B fixes at least the bits A fixes) and
//   (vb & ma) == (va & ma) (to the same values). A field A leaves free imposes nothing. An
//   unsatisfiable B is covered by everything; an unsatisfiable A covers only unsatisfiable sets.
// * A overlaps B iff some packet is selected by both: both satisfiable and, on every field both
//   constrain, (va ^ vb) & ma & mb == 0.
// Fields are compared on the full 64-bit representation: a u16 exact match (mask 0xFFFF) and a
// u32 exact match (mask 0xFFFF_FFFF) of the same field are NOT equivalent here, because the
// relation does not know the field's bitwidth. Flow validation (Validation.swift) makes every
// flow of a table use the table's value TYPE when the table advertises one, and keeps values
// inside the field's bitwidth, which makes flows of one table comparable.
//
// Copying: the whole model (Flow, FieldRef, Action, Table, PipelineModel, MatchSet, …) is made
// of value types with copy-on-write storage, so a copy is a plain assignment (`let kept = flow`)
// and can never alias the original: the original's shallow clone with dangling action names
// cannot happen here, and there is deliberately no clone API.

/// One packet field as a match addresses it: header instance (header-graph node), header, field.
public struct MatchField: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var instance: UInt32
    public var header: UInt32
    public var field: UInt32

    public init(instance: UInt32, header: UInt32, field: UInt32) {
        self.instance = instance
        self.header = header
        self.field = field
    }

    public static func < (a: MatchField, b: MatchField) -> Bool {
        (a.instance, a.header, a.field) < (b.instance, b.header, b.field)
    }

    public var description: String { "instance \(instance) header \(header) field \(field)" }
}

extension MatchKey {
    public var matchField: MatchField { MatchField(instance: instance, header: header, field: field) }
}

extension FieldRef {
    public var matchField: MatchField { MatchField(instance: instance, header: header, field: field) }
}

/// The combined constraint a match set puts on one field: `packet[field] & mask == value`.
public struct FieldConstraint: Hashable, Sendable, CustomStringConvertible {
    public var field: MatchField
    /// Always a subset of `mask` (kept pre-masked so that equal constraints compare equal).
    public private(set) var value: UInt64
    public private(set) var mask: UInt64

    public init(field: MatchField, value: UInt64, mask: UInt64) {
        self.field = field
        self.value = value & mask
        self.mask = mask
    }

    public init(_ key: MatchKey) {
        self.init(field: key.matchField, value: key.value, mask: key.mask)
    }

    /// Whether a packet whose field holds `fieldValue` satisfies the constraint.
    public func admits(_ fieldValue: UInt64) -> Bool { fieldValue & mask == value }

    /// Whether some field value satisfies both constraints (the field is not compared).
    public func isCompatible(with other: FieldConstraint) -> Bool {
        (value ^ other.value) & mask & other.mask == 0
    }

    /// Both constraints at once, or nil when no field value satisfies both.
    public func intersected(with other: FieldConstraint) -> FieldConstraint? {
        guard isCompatible(with: other) else { return nil }
        return FieldConstraint(field: field, value: value | other.value, mask: mask | other.mask)
    }

    /// Whether every field value `other` admits, this admits too (the field is not compared).
    public func covers(_ other: FieldConstraint) -> Bool {
        mask & ~other.mask == 0 && other.value & mask == value
    }

    public var description: String {
        "\(field) value 0x\(String(value, radix: 16)) mask 0x\(String(mask, radix: 16))"
    }
}

/// Walks a sorted `MatchSet.keys` and yields one combined constraint per field, without
/// allocating: `MatchKey`'s order is (instance, header, field, …), so all keys of one field are
/// adjacent. `conflict` turns true once some field's constraints contradict each other.
struct CombinedConstraints: IteratorProtocol {
    private let keys: [MatchKey]
    private var index = 0
    private(set) var conflict = false

    init(_ set: MatchSet) { keys = set.keys }

    mutating func next() -> FieldConstraint? {
        guard index < keys.count else { return nil }
        var combined = FieldConstraint(keys[index])
        index += 1
        while index < keys.count, keys[index].matchField == combined.field {
            if let both = combined.intersected(with: FieldConstraint(keys[index])) {
                combined = both
            } else {
                conflict = true
            }
            index += 1
        }
        return combined
    }
}

extension MatchSet {
    /// False when two constraints on the same field contradict each other: the set then
    /// selects no packet at all.
    public var isSatisfiable: Bool {
        var walk = CombinedConstraints(self)
        while walk.next() != nil {
            if walk.conflict { return false }
        }
        return true
    }

    /// One combined constraint per constrained field, in field order; nil when unsatisfiable.
    public var constraints: [FieldConstraint]? {
        var walk = CombinedConstraints(self)
        var result: [FieldConstraint] = []
        while let c = walk.next() {
            if walk.conflict { return nil }
            result.append(c)
        }
        return result
    }

    /// Whether every packet `other` selects is selected by `self` too (see the file comment).
    /// Linear in the two sets' sizes; allocates nothing.
    public func covers(_ other: MatchSet) -> Bool {
        // An empty packet set is covered by anything, even by another empty one.
        guard other.isSatisfiable else { return true }
        guard isSatisfiable else { return false }
        var mine = CombinedConstraints(self)
        var theirs = CombinedConstraints(other)
        var b = theirs.next()
        while let a = mine.next() {
            while let cb = b, cb.field < a.field { b = theirs.next() }
            if let cb = b, cb.field == a.field {
                if !a.covers(cb) { return false }
            } else if a.mask != 0 {
                // `other` leaves the field free, so it selects packets `a` rejects.
                return false
            }
        }
        return true
    }

    /// `other.covers(self)`.
    public func isCovered(by other: MatchSet) -> Bool { other.covers(self) }

    /// Whether the two sets select exactly the same packets (each covers the other). Unlike
    /// `==`, this sees through redundant or zero-mask constraints.
    public func selectsSamePackets(as other: MatchSet) -> Bool { covers(other) && other.covers(self) }

    /// Whether some packet is selected by both sets.
    public func overlaps(_ other: MatchSet) -> Bool {
        guard isSatisfiable, other.isSatisfiable else { return false }
        var mine = CombinedConstraints(self)
        var theirs = CombinedConstraints(other)
        var b = theirs.next()
        while let a = mine.next() {
            while let cb = b, cb.field < a.field { b = theirs.next() }
            if let cb = b, cb.field == a.field, !a.isCompatible(with: cb) { return false }
        }
        return true
    }

    /// Whether a packet is selected; `fieldValue` gives the packet's value of a field. Fields the
    /// packet lacks should be reported as 0 (like a zero-filled parse result).
    public func selects(_ fieldValue: (MatchField) -> UInt64) -> Bool {
        var walk = CombinedConstraints(self)
        while let c = walk.next() {
            if walk.conflict || !c.admits(fieldValue(c.field)) { return false }
        }
        return !walk.conflict
    }
}

extension Flow {
    /// The flow's matches in canonical form; no matches (absent or empty) select every packet.
    public var matchSet: MatchSet { MatchSet(matches ?? []) }

    /// Whether every packet `other`'s matches select, this flow's matches select too.
    /// Only the matches are compared: table, uid, priority and actions are not, so callers that
    /// mean "in the same table" must compare `table` themselves.
    public func covers(_ other: Flow) -> Bool { matchSet.covers(other.matchSet) }

    /// Whether some packet is selected by both flows' matches (tables not compared).
    public func overlaps(_ other: Flow) -> Bool { matchSet.overlaps(other.matchSet) }
}
