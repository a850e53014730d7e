// The canonical form of a flow's match set: what makes two flows "the same match". Order of
// the matches does not matter; bits outside the mask do not matter; an absent mask means all
// bits of the value's width (an exact match).

/// One match, reduced to what decides which packets it selects.
public struct MatchKey: Hashable, Comparable, Sendable {
    public var instance: UInt32
    public var header: UInt32
    public var field: UInt32
    /// value & mask
    public var value: UInt64
    public var mask: UInt64

    public init(instance: UInt32, header: UInt32, field: UInt32, value: UInt64, mask: UInt64) {
        self.instance = instance
        self.header = header
        self.field = field
        self.value = value & mask
        self.mask = mask
    }

    public init(_ ref: FieldRef) {
        let width = ref.value?.widthMask ?? ref.mask?.widthMask ?? ~0
        let mask = ref.mask.map { $0.rawBits & $0.widthMask } ?? width
        self.init(instance: ref.instance, header: ref.header, field: ref.field,
                  value: ref.value?.rawBits ?? 0, mask: mask)
    }

    public static func < (a: MatchKey, b: MatchKey) -> Bool {
        (a.instance, a.header, a.field, a.mask, a.value) < (b.instance, b.header, b.field, b.mask, b.value)
    }
}

/// A flow's matches in canonical (sorted) order; equal sets select the same packets.
public struct MatchSet: Hashable, Sendable {
    public private(set) var keys: [MatchKey]

    public init(_ refs: [FieldRef]) {
        keys = refs.map(MatchKey.init).sorted()
    }

    public init(keys: [MatchKey]) {
        self.keys = keys.sorted()
    }
}
