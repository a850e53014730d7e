// The few Flow Table API rules the spec's YAML cannot express, written once for the typed decoder
// and the check-only walk (everything else is the generated descriptors' and StrictWalk's).

enum FlowTableRules {
    /// A field reference carries NEXT_NODE only as a jump entry (an element of a jump list).
    @inline(__always)
    static func refused(_ set: AttributeSetID, via list: AttributeSetID?) -> UInt64 {
        set == .nflFieldRef && list != .nflJumpList ? 1 << UInt64(NFL.FieldRefAttr.nextNode) : 0
    }

    /// The GET_FLOWS selector: TABLE_FLOWS_FLOWS is declared, but no implementation ever used it
    /// (and an unknown type is refused with the same words).
    static let selectorRefused: UInt64 = 1 << UInt64(NFL.TableFlowsAttr.flows)

    /// The message of a refusal in `set`, after the attribute's name.
    @inline(__always)
    static func refusal(_ set: AttributeSetID) -> StaticString {
        set == .nflTableFlows ? " is not allowed in a GET_FLOWS selector" : " is only allowed in a jump entry"
    }

    /// After the walk of a nest: a jump entry needs NEXT_NODE (checked after the set's own
    /// required attributes, as the decoder always has).
    @inline(__always)
    static func after(_ seen: AttributeBits, _ set: AttributeSetID, via list: AttributeSetID?,
                      _ nest: Attribute) throws(DecodeError) {
        if !satisfied(seen, set, via: list) {
            throw DecodeError(.missingAttribute("NEXT_NODE"), at: nest.offset)
        }
    }

    /// Whether `after` passes.
    @inline(__always)
    static func satisfied(_ seen: AttributeBits, _ set: AttributeSetID, via list: AttributeSetID?) -> Bool {
        !(set == .nflFieldRef && list == .nflJumpList && !seen.has(NFL.FieldRefAttr.nextNode))
    }
}
