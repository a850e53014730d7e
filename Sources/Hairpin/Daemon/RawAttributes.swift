// The attribute walk of the daemon's byte-level paths (EncodedFlowReader, ByteService,
// DiscoveryTemplates): LibFlowTable's AttributeIterator (the one walk, inlined here) seen as
// (type, payload) pairs and a result code instead of Attribute values and thrown errors, so a
// request the fast paths decline is a plain "no".
import LibFlowTable

/// AttributeIterator's walk, non-throwing: type flags masked off, a malformed region is -1.
struct RawAttributes {
    private var it: AttributeIterator

    @inline(__always) init(_ region: UnsafeRawBufferPointer) {
        it = AttributeIterator(region, baseOffset: 0)
    }

    /// 1: an attribute (`type`, `payload` set); 0: the end; -1: malformed.
    @inline(__always)
    mutating func next(_ type: inout UInt16, _ payload: inout UnsafeRawBufferPointer) -> Int {
        do throws(DecodeError) {
            guard let a = try it.next() else { return 0 }
            type = a.type
            payload = a.payload
            return 1
        } catch {
            return -1
        }
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
