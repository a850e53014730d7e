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
        self.init(
            instance: ref.instance, header: ref.header, field: ref.field,
            value: ref.value?.rawBits ?? 0, mask: mask)
    }

    public static func < (a: MatchKey, b: MatchKey) -> Bool {
        (a.instance, a.header, a.field, a.mask, a.value) < (b.instance, b.header, b.field, b.mask, b.value)
    }
}

/// A flow's matches in canonical (sorted) order; equal sets select the same packets.
public struct MatchSet: Hashable, Sendable {
    public private(set) var keys: [MatchKey]
    /// A 64-bit mix of the keys, computed once: hashing a MatchSet (the hash and tss backends'
    /// dictionary keys) then feeds one word to Hasher instead of five per match, a large share
    /// of the cost of inserting a flow.
    public private(set) var fingerprint: UInt64

    public init(_ refs: [FieldRef]) {
        self.init(sortedKeys: refs.map(MatchKey.init).sorted())
    }

    public init(keys: [MatchKey]) {
        self.init(sortedKeys: keys.sorted())
    }

    init(sortedKeys: [MatchKey]) {
        keys = sortedKeys
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for k in sortedKeys {
            h = Self.mix(h ^ (UInt64(k.instance) << 32 | UInt64(k.header)))
            h = Self.mix(h ^ UInt64(k.field))
            h = Self.mix(h ^ k.value)
            h = Self.mix(h ^ k.mask)
        }
        fingerprint = h
    }

    /// A multiply-xorshift step (the SplitMix64 finaliser): fast and well spread.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        z = z &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }

    public static func == (a: MatchSet, b: MatchSet) -> Bool {
        a.fingerprint == b.fingerprint && a.keys == b.keys
    }

    public func hash(into hasher: inout Hasher) {
        // Hasher still seeds and finalises, so dictionaries stay resistant to chosen inputs.
        hasher.combine(fingerprint)
    }
}
