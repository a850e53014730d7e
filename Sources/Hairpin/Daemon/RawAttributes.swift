// The attribute walk of the daemon's byte-level paths (EncodedFlowReader, ByteService,
// DiscoveryTemplates): AttributeIterator's rules without Attribute values or thrown errors, so a
// request the fast paths decline costs no error value, and a walk is a loop over two loads.
import LibFlowTable

/// AttributeIterator's walk without Attribute values or thrown errors: the same rules (a
/// header needs 4 bytes, 4 ≤ nla_len ≤ what is left, the last attribute may omit its padding,
/// leftover bytes that cannot hold a header are an error), type flags masked off.
struct RawAttributes {
    private let base: UnsafeRawPointer?
    private let count: Int
    private var position = 0

    @inline(__always) init(_ region: UnsafeRawBufferPointer) {
        base = region.baseAddress
        count = region.count
    }

    /// 1: an attribute (`type`, `payload` set); 0: the end; -1: malformed.
    @inline(__always)
    mutating func next(_ type: inout UInt16, _ payload: inout UnsafeRawBufferPointer) -> Int {
        let remaining = count - position
        if remaining == 0 { return 0 }
        guard remaining >= Netlink.attributeHeaderLength, let base else { return -1 }
        let p = base + position
        let len = Int(p.loadUnaligned(as: UInt16.self))
        guard len >= Netlink.attributeHeaderLength, len <= remaining else { return -1 }
        type = p.loadUnaligned(fromByteOffset: 2, as: UInt16.self) & Netlink.attributeTypeMask
        payload = UnsafeRawBufferPointer(start: p + Netlink.attributeHeaderLength, count: len - Netlink.attributeHeaderLength)
        position = min(position + Netlink.align(len), count)
        return 1
    }

    /// Every attribute of `region` in order, handed to `body` until the end (true) or the first
    /// malformed attribute or the first one `body` refuses by returning false (false).
    @inline(__always)
    static func walk(_ region: UnsafeRawBufferPointer, _ body: (UInt16, UnsafeRawBufferPointer) -> Bool) -> Bool {
        var it = RawAttributes(region)
        var type: UInt16 = 0
        var payload = UnsafeRawBufferPointer(start: nil, count: 0)
        while true {
            let step = it.next(&type, &payload)
            if step == 0 { return true }
            guard step > 0, body(type, payload) else { return false }
        }
    }

    /// A u32 payload as the decoder reads one (exactly 4 bytes), else nil.
    @inline(__always)
    static func u32(_ p: UnsafeRawBufferPointer) -> UInt32? {
        guard p.count == 4, let base = p.baseAddress else { return nil }
        return base.loadUnaligned(as: UInt32.self)
    }
}
