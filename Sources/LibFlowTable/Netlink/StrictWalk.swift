// The one strict walk of an attribute set, driven by the generated descriptors
// (AttributeDescriptor.swift, Protocol/Generated/AttributeDescriptors.swift). The typed decoder,
// the check-only walk and the fuzz oracles all go through it, so each rule of the spec (known
// attribute, payload length, string, no repeats, required attributes, list elements) is checked
// by this code alone, and what the generator hints add (required attributes, an attribute refused
// at one place: NEXT_NODE outside a jump entry) is in the tables too. What neither says (the two
// FLOWS layouts, chosen by command and direction) stays with the callers.
//
// Errors are the decoder's as they always were: the reason, the byte offset and the attribute path
// (an attribute's name for a rule about its payload; `NAME[i]` for a list element).

/// The attribute types a walk saw, as bits (types below 64).
package struct AttributeBits: Sendable, Hashable {
    package var bits: UInt64

    package init(bits: UInt64) { self.bits = bits }

    @inline(__always)
    package func has(_ type: UInt16) -> Bool { type < 64 && bits & (1 << UInt64(type)) != 0 }
}

package enum StrictWalk {
    /// Walks the attributes of `it` (the payload of a nest at `nestOffset`, or a message's top
    /// level at 0) as attributes of the set `id`; `nestOffset` is where a missing attribute is
    /// reported.
    ///
    /// Each attribute, in order: a repeat of a non-multi-attr type is an error; a type the set
    /// refuses at this place is not allowed (its name and the descriptor's `rejection` are the
    /// message); an unknown type is an error; so is a payload the descriptor does not admit.
    /// Then `body` gets the attribute and its descriptor (payload already checked, so fixed-size
    /// reads need no check). After the last one, the first missing required attribute (lowest
    /// type) is an error. Returns the types seen.
    @inline(__always)
    package static func walk(
        _ it: AttributeIterator, nestOffset: Int, _ id: AttributeSetID,
        _ body: (Attribute, AttributeDescriptor) throws(DecodeError) -> Void
    )
        throws(DecodeError) -> AttributeBits
    {
        let set = id.descriptor
        let first = set.first, repeatable = set.multi
        // Refused or unknown types, as one mask (the cold path below says which).
        let bad = set.rejected | ~set.known
        var it = it
        var seen: UInt64 = 0
        while let a = try it.next() {
            let type = a.type
            // Every set's types fit 64 bits (ynl-gen checks): a larger type is unknown.
            let bit: UInt64 = type < 64 ? 1 << UInt64(type) : 0
            if (seen & ~repeatable | bad) & bit != 0 || bit == 0 {
                throw misplaced(a, id, repeated: seen & bit != 0)
            }
            seen |= bit
            let d = attributeDescriptors[first &+ Int(type)]
            guard d.admits(a.payload) else { throw payloadError(a, id).within(id.name(of: type)) }
            try body(a, d)
        }
        let missing = set.required & ~seen
        if missing != 0 {
            let type = UInt16(missing.trailingZeroBitCount)
            throw DecodeError(.missingAttribute(id.name(of: type)), at: nestOffset)
        }
        return AttributeBits(bits: seen)
    }

    /// `walk` over the attributes inside `nest`.
    @inline(__always)
    package static func walk(
        _ nest: Attribute, _ id: AttributeSetID,
        _ body: (Attribute, AttributeDescriptor) throws(DecodeError) -> Void
    )
        throws(DecodeError) -> AttributeBits
    {
        try walk(nest.nested(), nestOffset: nest.offset, id, body)
    }

    /// Walks the list nest `nest`, an attribute of the set `parent` whose nested set is a list:
    /// every child must be the list's element type and admitted by its descriptor; `element`
    /// gets each with the depth below it. An error inside element i is reported under
    /// `NAME[i]`, and everything under the nest's name. `depth` is the list's own depth, bounded
    /// by `Netlink.maxNestingDepth`. Returns the number of elements.
    @inline(__always)
    package static func list(
        _ nest: Attribute, in parent: AttributeSetID, depth: Int,
        _ element: (Attribute, Int) throws(DecodeError) -> Void
    ) throws(DecodeError) -> Int {
        try list(nest, listSet(of: nest.type, in: parent), in: parent, depth: depth, element)
    }

    /// `list` with the list's set given (`listSet(of:in:)`, or the nest's descriptor's `nested`).
    @inline(__always)
    package static func list(
        _ nest: Attribute, _ listID: AttributeSetID, in parent: AttributeSetID, depth: Int,
        _ element: (Attribute, Int) throws(DecodeError) -> Void
    ) throws(DecodeError) -> Int {
        do throws(DecodeError) {
            guard depth < Netlink.maxNestingDepth else {
                throw DecodeError(.nestingTooDeep(Netlink.maxNestingDepth), at: nest.offset)
            }
            let list = listID.outlinedDescriptor
            let d = attributeDescriptors[list.first + Int(list.element)]
            var it = nest.nested()
            var index = 0
            while let child = try it.next() {
                guard child.type == list.element else { throw wrongElement(child, listID, index) }
                guard d.admits(child.payload) else {
                    throw payloadError(child, listID).within(elementName(listID, index))
                }
                do throws(DecodeError) { try element(child, depth + 1) } catch {
                    throw error.within(elementName(listID, index))
                }
                index += 1
            }
            return index
        } catch {
            throw error.within(parent.name(of: nest.type))
        }
    }

    /// The list set a nest attribute of `parent` holds (a programming error if it holds none).
    @inline(__always)
    package static func listSet(of type: UInt16, in parent: AttributeSetID) -> AttributeSetID {
        guard let id = parent.attribute(type)?.nested, id.outlinedDescriptor.element != 0 else {
            preconditionFailure("\(parent.name(of: type)) of \(parent.setName) is not a list")
        }
        return id
    }

    /// The set each element of the list `list` holds (nil: its elements are not nests).
    @inline(__always)
    package static func elementSet(of list: AttributeSetID) -> AttributeSetID? {
        let d = list.outlinedDescriptor
        return attributeDescriptors[d.first + Int(d.element)].nested
    }

    // MARK: errors (built only when something is wrong)

    /// A repeated, refused or unknown attribute, in that order of precedence.
    @inline(never)
    static func misplaced(_ a: Attribute, _ id: AttributeSetID, repeated: Bool) -> DecodeError {
        if repeated { return DecodeError(.repeatedAttribute(id.name(of: a.type)), at: a.offset) }
        if a.type < 64 && id.descriptor.rejected & (1 << UInt64(a.type)) != 0 { return refusal(a, id) }
        return DecodeError(.unknownAttribute(a.type), at: a.offset)
    }

    static func refusal(_ a: Attribute, _ id: AttributeSetID) -> DecodeError {
        let reason = id.info(of: a.type)?.rejection.description ?? ""
        return DecodeError(.notAllowed(id.name(of: a.type) + reason), at: a.offset)
    }

    /// What is wrong with a payload the descriptor refused, without the path component.
    static func payloadError(_ a: Attribute, _ id: AttributeSetID) -> DecodeError {
        guard let d = id.attribute(a.type), let info = id.info(of: a.type) else {
            return DecodeError(.unknownAttribute(a.type), at: a.offset)
        }
        if d.kind == .string { return DecodeError(.invalidString, at: a.offset) }
        return DecodeError(.payloadLength(expected: info.expected.description, got: a.payload.count), at: a.offset)
    }

    static func elementName(_ list: AttributeSetID, _ index: Int) -> String {
        "\(list.name(of: list.descriptor.element))[\(index)]"
    }

    /// A list wrapper (element type list-element, 1) names its element type; a bare repeat of
    /// another set's attribute (a subset, like a table's action uids) calls it unknown.
    static func wrongElement(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> DecodeError {
        let element = list.descriptor.element
        let e =
            element == NFL.listElement
            ? DecodeError(
                .notAllowed("list element has type \(child.type), expected \(list.name(of: element)) (1)"),
                at: child.offset)
            : DecodeError(.unknownAttribute(child.type), at: child.offset)
        return e.within(elementName(list, index))
    }
}

extension Attribute {
    // Reads of payloads the walk has admitted (their length is the descriptor's).

    @inline(__always) package var checkedU32: UInt32 { payload.loadUnaligned(as: UInt32.self) }
    @inline(__always) package var checkedU64: UInt64 { payload.loadUnaligned(as: UInt64.self) }

    /// A string the walk admitted.
    @inline(__always) package var checkedString: String {
        String(decoding: Attribute.stringBytes(payload), as: UTF8.self)
    }

    /// A binary of 1 to 8 bytes the walk admitted, as a native-endian integer.
    @inline(__always) package var checkedFieldValue: FieldValue {
        let n = payload.count
        var v: UInt64 = 0
        // Little-endian hosts only for now (x86-64, arm64): byte i has weight 256^i. The usual
        // widths are one load.
        switch n {
        case 1: v = UInt64(payload.load(as: UInt8.self))
        case 2: v = UInt64(payload.loadUnaligned(as: UInt16.self))
        case 4: v = UInt64(payload.loadUnaligned(as: UInt32.self))
        case 8: v = payload.loadUnaligned(as: UInt64.self)
        default:
            let p = payload.baseAddress!
            for i in 0..<n { v |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
        }
        return FieldValue(rawBits: v, byteCount: UInt8(truncatingIfNeeded: n))
    }
}
