// Turning a stored FLOW element (the bytes the hash backend keeps for flows the daemon's
// byte-level path stored) back into a Flow, with the real decoder: the element is put inside
// a FLOWS attribute and read by FlowTableCodec.decode exactly as a SET_FLOWS request's ATTR is,
// so the Flow is the one the typed path would have decoded from the same bytes.
import LibFlowTable

enum EncodedFlowStore {
    /// The Flow of `element` (one FLOW list element, header included); nil if it does not
    /// decode (cannot happen for bytes EncodedFlowReader accepted). `scratch` is reused (grown
    /// when too small, never shrunk).
    static func decode(_ element: UnsafeRawBufferPointer, scratch: inout [UInt8]) -> Flow? {
        let total = Netlink.attributeHeaderLength + element.count
        guard total <= Int(UInt16.max), let source = element.baseAddress else { return nil }
        if scratch.count < total { scratch = [UInt8](repeating: 0, count: max(total, 1024)) }
        return scratch.withUnsafeMutableBytes { raw -> Flow? in
            guard let base = raw.baseAddress else { return nil }
            base.storeBytes(of: UInt16(total).littleEndian, as: UInt16.self)
            base.storeBytes(
                of: (NFL.Attr.flows | Netlink.attributeFlagNested).littleEndian, toByteOffset: 2, as: UInt16.self)
            (base + Netlink.attributeHeaderLength).copyMemory(from: source, byteCount: element.count)
            let region = UnsafeRawBufferPointer(start: base, count: total)
            guard
                let attributes = try? FlowTableCodec.decode(
                    AttributeIterator(region, baseOffset: 0), layout: .list, depth: 2),
                let flows = attributes.flows, flows.count == 1
            else { return nil }
            return flows[0]
        }
    }
}
