// The one strict walk of an attribute set, driven by the generated descriptors
// (AttributeDescriptor.swift, Protocol/Generated/AttributeDescriptors.swift). The typed decoder,
// the check-only walk and the fuzz oracles all go through it, so each rule of the spec (known
// attribute, payload length, string, no repeats, required attributes, list elements) is checked
// by this code alone, and what the generator hints add (required attributes, an attribute refused
// at one place: NEXT_NODE outside a jump entry) is in the tables too. What neither says (the two
// FLOWS layouts, chosen by command and direction) stays with the callers.
//
// Errors are the decoder's as they always were: the reason, the byte offset and the attribute path
// (an attribute's name for a rule about its payload; `NAME[i]` for a list element). The same walk,
// specialised with `StrictWalk.Verdict`, is the yes/no pass that valid messages take.

/// The attribute types a walk saw, as bits (types below 64).
package struct AttributeBits: Sendable, Hashable {
    package var bits: UInt64

    package init(bits: UInt64) { self.bits = bits }

    @inline(__always)
    package func has(_ type: UInt16) -> Bool { type < 64 && bits & (1 << UInt64(type)) != 0 }
}

/// How a strict walk reports what it refuses. The walk is written once, generic over this, and
/// specialised twice: `StrictWalk.Exact` builds the decoder's DecodeError (reason, byte offset,
/// attribute path), `StrictWalk.Verdict` an empty error that costs nothing to throw, for the
/// yes/no pass that valid messages take. Both run the same checks in the same order.
package protocol StrictWalkReport {
    associatedtype Failure: Error
    /// Bytes at the iterator's cursor that cannot form an attribute.
    static func malformed(_ it: AttributeIterator) -> Failure
    /// A repeated, refused or unknown attribute, in that order of precedence.
    static func misplaced(_ a: Attribute, _ id: AttributeSetID, repeated: Bool) -> Failure
    /// A payload the descriptor of `a` in `id` does not admit.
    static func payload(_ a: Attribute, _ id: AttributeSetID) -> Failure
    /// A payload the descriptor of element `index` of the list `list` does not admit.
    static func elementPayload(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> Failure
    /// The required attribute `type` of `id` missing from the nest at `offset`.
    static func missing(_ type: UInt16, _ id: AttributeSetID, at offset: Int) -> Failure
    static func tooDeep(at offset: Int) -> Failure
    /// Element `index` of the list `list` is not its element type.
    static func wrongElement(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> Failure
    /// `error` from inside the attribute `type` of `id`.
    static func within(_ error: Failure, _ id: AttributeSetID, _ type: UInt16) -> Failure
    /// `error` from inside element `index` of the list `list`.
    static func withinElement(_ error: Failure, _ list: AttributeSetID, _ index: Int) -> Failure
}

package enum StrictWalk {
    /// The decoder's errors.
    package enum Exact: StrictWalkReport {
        package typealias Failure = DecodeError
        @inline(__always)
        package static func malformed(_ it: AttributeIterator) -> DecodeError { it.malformed() }
        @inline(__always)
        package static func misplaced(_ a: Attribute, _ id: AttributeSetID, repeated: Bool) -> DecodeError {
            StrictWalk.misplaced(a, id, repeated: repeated)
        }
        @inline(__always)
        package static func payload(_ a: Attribute, _ id: AttributeSetID) -> DecodeError {
            StrictWalk.namedPayloadError(a, id)
        }
        @inline(__always)
        package static func elementPayload(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> DecodeError {
            StrictWalk.elementPayloadError(child, list, index)
        }
        @inline(__always)
        package static func missing(_ type: UInt16, _ id: AttributeSetID, at offset: Int) -> DecodeError {
            StrictWalk.missing(type, id, at: offset)
        }
        @inline(__always)
        package static func tooDeep(at offset: Int) -> DecodeError { StrictWalk.tooDeep(at: offset) }
        @inline(__always)
        package static func wrongElement(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> DecodeError {
            StrictWalk.wrongElement(child, list, index)
        }
        @inline(__always)
        package static func within(_ error: DecodeError, _ id: AttributeSetID, _ type: UInt16) -> DecodeError {
            StrictWalk.within(error, id, type)
        }
        @inline(__always)
        package static func withinElement(_ error: DecodeError, _ list: AttributeSetID, _ index: Int) -> DecodeError {
            StrictWalk.withinElement(error, list, index)
        }
    }

    /// No: nothing to build, nothing to carry.
    package struct Refused: Error {}

    /// Only the verdict.
    package enum Verdict: StrictWalkReport {
        package typealias Failure = Refused
        @inline(__always) package static func malformed(_ it: AttributeIterator) -> Refused { Refused() }
        @inline(__always)
        package static func misplaced(_ a: Attribute, _ id: AttributeSetID, repeated: Bool) -> Refused { Refused() }
        @inline(__always) package static func payload(_ a: Attribute, _ id: AttributeSetID) -> Refused { Refused() }
        @inline(__always)
        package static func elementPayload(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> Refused {
            Refused()
        }
        @inline(__always)
        package static func missing(_ type: UInt16, _ id: AttributeSetID, at offset: Int) -> Refused { Refused() }
        @inline(__always) package static func tooDeep(at offset: Int) -> Refused { Refused() }
        @inline(__always)
        package static func wrongElement(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> Refused {
            Refused()
        }
        @inline(__always)
        package static func within(_ error: Refused, _ id: AttributeSetID, _ type: UInt16) -> Refused { error }
        @inline(__always)
        package static func withinElement(_ error: Refused, _ list: AttributeSetID, _ index: Int) -> Refused { error }
    }

    /// Walks the attributes of `it` (the payload of a nest at `nestOffset`, or a message's top
    /// level at 0) as attributes of the set `id`, with the decoder's errors: `Walker`'s rules;
    /// `body` gets each attribute and its descriptor (payload already checked, so fixed-size
    /// reads need no check). Returns the types seen.
    @inline(__always)
    package static func walk(
        _ it: AttributeIterator, nestOffset: Int, _ id: AttributeSetID,
        _ body: (Attribute, AttributeDescriptor) throws(DecodeError) -> Void
    )
        throws(DecodeError) -> AttributeBits
    {
        var w = Walker<Exact>(it, nestOffset: nestOffset, id)
        while let (a, d) = try w.next() { try body(a, d) }
        return try w.finish()
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

    /// The strict walk of one attribute set, a step at a time (no closure, so a walk that
    /// recurses into nests stays one loop per level).
    ///
    /// Each attribute, in order: a repeat of a non-multi-attr type is an error; a type the set
    /// refuses at this place is not allowed (its name and the descriptor's `rejection` are the
    /// message); an unknown type is an error; so is a payload the descriptor does not admit.
    /// `next` gives each attribute that passed, with its descriptor. `finish`, after the last:
    /// the first missing required attribute (lowest type) is an error; the types seen.
    package struct Walker<R: StrictWalkReport> {
        @usableFromInline var it: AttributeIterator
        let id: AttributeSetID
        let nestOffset: Int
        let first: Int
        let repeatable: UInt64
        /// Refused or unknown types, as one mask (the cold path says which).
        let bad: UInt64
        let required: UInt64
        var seen: UInt64 = 0

        @inline(__always)
        package init(_ it: AttributeIterator, nestOffset: Int, _ id: AttributeSetID) {
            let set = id.descriptor
            self.it = it
            self.id = id
            self.nestOffset = nestOffset
            first = set.first
            repeatable = set.multi
            bad = set.rejected | ~set.known
            required = set.required
        }

        @inline(__always)
        package init(_ nest: Attribute, _ id: AttributeSetID) {
            self.init(nest.nested(), nestOffset: nest.offset, id)
        }

        @inline(__always)
        package mutating func next() throws(R.Failure) -> (Attribute, AttributeDescriptor)? {
            guard let a = it.nextIfWellFormed() else {
                if it.isAtEnd { return nil }
                throw R.malformed(it)
            }
            let type = a.type
            // Every set's types fit 64 bits (ynl-gen checks): a larger type is unknown.
            guard type < 64 else { throw R.misplaced(a, id, repeated: false) }
            let bit: UInt64 = 1 << UInt64(type)
            if (seen & ~repeatable | bad) & bit != 0 { throw R.misplaced(a, id, repeated: seen & bit != 0) }
            seen |= bit
            let d = attributeDescriptors[first &+ Int(type)]
            guard d.admits(a.payload) else { throw R.payload(a, id) }
            return (a, d)
        }

        @inline(__always)
        package func finish() throws(R.Failure) -> AttributeBits {
            let missing = required & ~seen
            if missing != 0 { throw R.missing(UInt16(missing.trailingZeroBitCount), id, at: nestOffset) }
            return AttributeBits(bits: seen)
        }
    }

    /// The elements of a list nest, a step at a time: every child must be the list's element
    /// type and admitted by its descriptor. The caller puts an error from inside element
    /// `index` under `R.withinElement`, and every error under the nest's name (`R.within`);
    /// errors of the list's own rules come out of `init` and `next` without the nest's name.
    package struct ListWalker<R: StrictWalkReport> {
        @usableFromInline var it: AttributeIterator
        let listID: AttributeSetID
        let element: UInt16
        let d: AttributeDescriptor
        /// The index of the element `next` gave last (the number given, after the last).
        package var index = -1

        /// `depth` is the list's own depth, bounded by `Netlink.maxNestingDepth`.
        @inline(__always)
        package init(_ nest: Attribute, _ listID: AttributeSetID, depth: Int) throws(R.Failure) {
            guard depth < Netlink.maxNestingDepth else { throw R.tooDeep(at: nest.offset) }
            let list = listID.descriptor
            it = nest.nested()
            self.listID = listID
            element = list.element
            d = attributeDescriptors[list.first &+ Int(list.element)]
        }

        @inline(__always)
        package mutating func next() throws(R.Failure) -> Attribute? {
            guard let child = it.nextIfWellFormed() else {
                if it.isAtEnd {
                    index += 1
                    return nil
                }
                throw R.malformed(it)
            }
            index += 1
            guard child.type == element else { throw R.wrongElement(child, listID, index) }
            guard d.admits(child.payload) else { throw R.elementPayload(child, listID, index) }
            return child
        }
    }

    /// Walks the list nest `nest`, an attribute of the set `parent` whose nested set is a list:
    /// `ListWalker`'s rules; `element` gets each element with the depth below it. An error inside
    /// element i is reported under `NAME[i]`, and everything under the nest's name. `depth` is
    /// the list's own depth. Returns the number of elements.
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
            var w = try ListWalker<Exact>(nest, listID, depth: depth)
            while let child = try w.next() {
                do throws(DecodeError) { try element(child, depth + 1) } catch {
                    throw Exact.withinElement(error, listID, w.index)
                }
            }
            return w.index
        } catch {
            throw Exact.within(error, parent, nest.type)
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
        let d = list.descriptor
        return attributeDescriptors[d.first + Int(d.element)].nested
    }

    // MARK: errors (built only when something is wrong)

    /// `payloadError` under the attribute's name.
    @inline(never)
    static func namedPayloadError(_ a: Attribute, _ id: AttributeSetID) -> DecodeError {
        payloadError(a, id).within(id.name(of: a.type))
    }

    /// `payloadError` under the element's name (`NAME[i]`).
    @inline(never)
    static func elementPayloadError(_ child: Attribute, _ list: AttributeSetID, _ index: Int) -> DecodeError {
        payloadError(child, list).within(elementName(list, index))
    }

    @inline(never)
    static func missing(_ type: UInt16, _ id: AttributeSetID, at offset: Int) -> DecodeError {
        DecodeError(.missingAttribute(id.name(of: type)), at: offset)
    }

    @inline(never)
    static func tooDeep(at offset: Int) -> DecodeError {
        DecodeError(.nestingTooDeep(Netlink.maxNestingDepth), at: offset)
    }

    @inline(never)
    static func within(_ error: DecodeError, _ id: AttributeSetID, _ type: UInt16) -> DecodeError {
        error.within(id.name(of: type))
    }

    @inline(never)
    static func withinElement(_ error: DecodeError, _ list: AttributeSetID, _ index: Int) -> DecodeError {
        error.within(elementName(list, index))
    }

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

    /// A string the walk admitted. Built in place: a short ASCII string (a name, nearly always)
    /// is then a small string checked by one mask, not by the UTF-8 decoder again.
    @inline(__always) package var checkedString: String {
        let bytes = Attribute.stringBytes(payload)
        return String(unsafeUninitializedCapacity: bytes.count) { buffer in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
            return bytes.count
        }
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
