// Small pieces the attribute-set decoders use: the typed list decoder over StrictWalk.list, and
// (still used by HairpinCodec until it moves to StrictWalk) typed reads that name the attribute
// in an error, a repeat detector for struct-like sets and the old list walk.

/// An attribute set's names, for error paths. Passing the set's type (not its dictionary)
/// keeps the dictionary out of the hot path entirely: it is only touched when an error is built.
public protocol AttributeNames {
    static var names: [UInt16: String] { get }
}

extension NFL.Attr: AttributeNames {}
extension NFL.FieldAttr: AttributeNames {}
extension NFL.HeaderAttr: AttributeNames {}
extension NFL.FieldRefAttr: AttributeNames {}
extension NFL.ActionArgAttr: AttributeNames {}
extension NFL.ActionAttr: AttributeNames {}
extension NFL.TableAttr: AttributeNames {}
extension NFL.HeaderNodeAttr: AttributeNames {}
extension NFL.TableGraphNodeAttr: AttributeNames {}
extension NFL.FlowAttr: AttributeNames {}
extension NFL.TableFlowsAttr: AttributeNames {}
extension NFLH.Attr: AttributeNames {}
extension NFLH.ListenerAttr: AttributeNames {}
extension NFLH.EncapAttr: AttributeNames {}
extension NFLH.ResultAttr: AttributeNames {}

extension Attribute {
    /// The attribute's name in `names`, for error paths only.
    func name<S: AttributeNames>(in names: S.Type) -> String { names.names[type] ?? "type \(type)" }

    @inline(__always)
    func u32<S: AttributeNames>(in names: S.Type) throws(DecodeError) -> UInt32 {
        do { return try u32() } catch { throw error.within(name(in: names)) }
    }

    @inline(__always)
    func u64<S: AttributeNames>(in names: S.Type) throws(DecodeError) -> UInt64 {
        do { return try u64() } catch { throw error.within(name(in: names)) }
    }

    @inline(__always)
    func string<S: AttributeNames>(in names: S.Type) throws(DecodeError) -> String {
        do { return try string() } catch { throw error.within(name(in: names)) }
    }

    @inline(__always)
    func flag<S: AttributeNames>(in names: S.Type) throws(DecodeError) -> Bool {
        do { return try flag() } catch { throw error.within(name(in: names)) }
    }
}

/// Remembers which attribute types a struct-like set has seen, so a repeat is an error rather
/// than a silent "last one wins" (lists are walked separately and may repeat their element).
/// The check-only walk (FlowTableCheck.swift) also asks it afterwards what was seen (`has`).
struct SeenAttributes {
    private var bits: UInt64 = 0

    @inline(__always)
    mutating func mark<S: AttributeNames>(_ attr: Attribute, names: S.Type) throws(DecodeError) {
        // Sets are small (types < 64); larger (unknown) types are rejected by the caller's switch.
        guard attr.type < 64 else { return }
        let bit: UInt64 = 1 << UInt64(attr.type)
        if bits & bit != 0 {
            throw DecodeError(.repeatedAttribute(attr.name(in: names)), at: attr.offset)
        }
        bits |= bit
    }

    /// Whether a type (< 64) was marked: the missing-attribute checks after a walk.
    @inline(__always)
    func has(_ type: UInt16) -> Bool { bits & (1 << UInt64(type)) != 0 }
}

@inline(__always)
func missing(_ name: String, in parent: Attribute?) -> DecodeError {
    DecodeError(.missingAttribute(name), at: parent?.offset ?? 0)
}

@inline(__always)
func unknown(_ attr: Attribute) -> DecodeError {
    DecodeError(.unknownAttribute(attr.type), at: attr.offset)
}

/// Walks a list nest: every child must be the list's element type (1); `element` decodes one.
/// An error inside element i is reported under "NAME[i]".
@inline(__always)
func decodeList<T>(
    _ nest: Attribute, elementName: String, depth: Int,
    _ element: (Attribute, Int) throws(DecodeError) -> T
) throws(DecodeError) -> [T] {
    guard depth < Netlink.maxNestingDepth else {
        throw DecodeError(.nestingTooDeep(Netlink.maxNestingDepth), at: nest.offset)
    }
    // Count first so the array is allocated once at its final size (growing it was a
    // measurable share of decoding a flow).
    var result: [T] = []
    result.reserveCapacity(nest.nested().countHint())
    var it = nest.nested()
    var index = 0
    while let child = try it.next() {
        guard child.type == NFL.listElement else {
            throw DecodeError(
                .notAllowed("list element has type \(child.type), expected \(elementName) (1)"),
                at: child.offset
            ).within("\(elementName)[\(index)]")
        }
        do { result.append(try element(child, depth + 1)) } catch { throw error.within("\(elementName)[\(index)]") }
        index += 1
    }
    return result
}

/// Decodes the list nest `nest`, an attribute of `parent` the walk gave with its descriptor `d`,
/// with StrictWalk.list (its element rule, depth limit and error paths); `element` decodes one
/// element. The list's set is the descriptor's, not looked up again.
@inline(__always)
func decodeList<T>(
    _ nest: Attribute, _ d: AttributeDescriptor, in parent: AttributeSetID, depth: Int,
    _ element: (Attribute, Int) throws(DecodeError) -> T
) throws(DecodeError) -> [T] {
    try decodeList(nest, d.nested ?? StrictWalk.listSet(of: nest.type, in: parent), in: parent, depth: depth, element)
}

/// `decodeList` with the list's set given (a variant of the one `parent` names). The array is
/// allocated once, at its size (see below).
@inline(__always)
func decodeList<T>(
    _ nest: Attribute, _ list: AttributeSetID, in parent: AttributeSetID, depth: Int,
    _ element: (Attribute, Int) throws(DecodeError) -> T
) throws(DecodeError) -> [T] {
    do throws(DecodeError) {
        var w = try StrictWalk.ListWalker<StrictWalk.Exact>(nest, list, depth: depth)
        @inline(__always) func next() throws(DecodeError) -> T? {
            guard let child = try w.next() else { return nil }
            do throws(DecodeError) { return try element(child, depth + 1) } catch {
                throw StrictWalk.Exact.withinElement(error, list, w.index)
            }
        }
        // A list of one or two elements (nearly all of them) is returned as an array literal:
        // that allocates the buffer at its size directly, where reserveCapacity goes through
        // the general growth path (a size query, a copy of the empty array), and needs no
        // count first. A longer one is counted by its length fields and allocated once.
        guard let e0 = try next() else { return [] }
        guard let e1 = try next() else { return [e0] }
        guard let e2 = try next() else { return [e0, e1] }
        var result: [T] = []
        result.reserveCapacity(3 + w.it.countHint())
        result.append(e0)
        result.append(e1)
        result.append(e2)
        while let e = try next() { result.append(e) }
        return result
    } catch {
        throw StrictWalk.Exact.within(error, parent, nest.type)
    }
}
