// What a lookup classifies: a packet reduced to the header fields a parser extracted.
import LibFlowTable

/// A parsed packet: (instance, header, field) → value. A field that is absent (the parser did not
/// reach that header instance) never satisfies a match on it, not even one with mask 0: a flow
/// that names a field requires the field to exist.
public struct PacketFields: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    /// Which field of which header instance: the field a match addresses.
    public typealias Key = MatchField

    public var values: [Key: UInt64]

    public init(_ values: [Key: UInt64] = [:]) {
        self.values = values
    }

    public init(dictionaryLiteral elements: (Key, UInt64)...) {
        values = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }

    public subscript(instance: UInt32, header: UInt32, field: UInt32) -> UInt64? {
        get { values[Key(instance: instance, header: header, field: field)] }
        set { values[Key(instance: instance, header: header, field: field)] = newValue }
    }

    /// Whether one match holds: the field is present and equal to the key's value under its mask.
    @inlinable public func satisfies(_ key: MatchKey) -> Bool {
        guard let v = values[Key(key)] else { return false }
        return v & key.mask == key.value
    }

    /// Whether every match of `set` holds (AND; the empty set matches every packet).
    @inlinable public func matches(_ set: MatchSet) -> Bool {
        for key in set.keys where !satisfies(key) { return false }
        return true
    }
}

extension MatchField {
    /// The field a match key addresses.
    @inlinable public init(_ key: MatchKey) {
        self.init(instance: key.instance, header: key.header, field: key.field)
    }
}
