// Where the attributes of a message are, for the tests and fuzz oracles that damage a valid
// message one attribute at a time.

extension AttributeIterator {
    /// The offsets of the attribute headers of a generic netlink message, depth first into
    /// every attribute marked NLA_F_NESTED, up to the first bytes that cannot form one.
    package static func headerOffsets(ofGenericMessage bytes: [UInt8]) -> [Int] {
        let start = Netlink.headerLength + Netlink.genericHeaderLength
        guard bytes.count >= start else { return [] }
        return bytes.withUnsafeBytes { raw in
            var walk = AttributeIterator(UnsafeRawBufferPointer(rebasing: raw[start...]), baseOffset: start)
            return walk.headerOffsets()
        }
    }

    package mutating func headerOffsets() -> [Int] {
        var out: [Int] = []
        while let a = nextIfWellFormed() {
            out.append(a.offset)
            if a.isNestedFlagSet {
                var inner = a.nested()
                out += inner.headerOffsets()
            }
        }
        return out
    }
}
