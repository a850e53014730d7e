// Turning a stored FLOW element (the bytes the hash backend keeps for flows the daemon's
// byte-level path stored) back into a Flow, with the real decoder: the element is put inside
// a FLOWS attribute and read by FlowTableCodec.decode exactly as a SET_FLOWS request's ATTR is,
// so the Flow is the one the typed path would have decoded from the same bytes.
import LibFlowTable

enum EncodedFlowStore {
    /// The Flow of `element` (one FLOW list element, header included); nil if it does not
    /// decode (cannot happen for bytes EncodedFlowReader accepted). `scratch` is reused.
    static func decode(_ element: UnsafeRawBufferPointer, scratch: inout [UInt8]) -> Flow? {
        let total = Netlink.attributeHeaderLength + element.count
        guard total <= Int(UInt16.max) else { return nil }
        scratch.removeAll(keepingCapacity: true)
        withUnsafeBytes(of: UInt16(total).littleEndian) { scratch.append(contentsOf: $0) }
        withUnsafeBytes(of: (NFL.Attr.flows | Netlink.attributeFlagNested).littleEndian) { scratch.append(contentsOf: $0) }
        scratch.append(contentsOf: element.assumingMemoryBound(to: UInt8.self))
        return scratch.withUnsafeBytes { raw -> Flow? in
            guard let attributes = try? FlowTableCodec.decode(AttributeIterator(raw, baseOffset: 0), layout: .list, depth: 2),
                  let flows = attributes.flows, flows.count == 1 else { return nil }
            return flows[0]
        }
    }
}
