// Zero-copy reading of netlink attributes. An `Attribute` is a view into the caller's buffer;
// nothing is copied until a typed value (integer, string) is asked for. Views are valid only
// inside the `withUnsafeBytes` scope that produced them.

public struct Attribute {
    /// The attribute type with NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off.
    public let type: UInt16
    /// The raw flag bits (NLA_F_NESTED, NLA_F_NET_BYTEORDER) as sent.
    public let flags: UInt16
    public let payload: UnsafeRawBufferPointer
    /// Byte offset of the attribute header from the start of the message.
    public let offset: Int

    @usableFromInline
    init(type: UInt16, flags: UInt16, payload: UnsafeRawBufferPointer, offset: Int) {
        self.type = type
        self.flags = flags
        self.payload = payload
        self.offset = offset
    }

    @inlinable public var payloadOffset: Int { offset + Netlink.attributeHeaderLength }
    @inlinable public var isNestedFlagSet: Bool { flags & Netlink.attributeFlagNested != 0 }

    @usableFromInline
    func lengthError(_ expected: String) -> DecodeError {
        DecodeError(.payloadLength(expected: expected, got: payload.count), at: offset)
    }

    @inlinable @inline(__always)
    public func u8() throws(DecodeError) -> UInt8 {
        guard payload.count == 1 else { throw lengthError("1 (u8)") }
        return payload.load(as: UInt8.self)
    }

    @inlinable @inline(__always)
    public func u16() throws(DecodeError) -> UInt16 {
        guard payload.count == 2 else { throw lengthError("2 (u16)") }
        return payload.loadUnaligned(as: UInt16.self)
    }

    @inlinable @inline(__always)
    public func u32() throws(DecodeError) -> UInt32 {
        guard payload.count == 4 else { throw lengthError("4 (u32)") }
        return payload.loadUnaligned(as: UInt32.self)
    }

    @inlinable @inline(__always)
    public func u64() throws(DecodeError) -> UInt64 {
        guard payload.count == 8 else { throw lengthError("8 (u64)") }
        return payload.loadUnaligned(as: UInt64.self)
    }

    /// A NLA_FLAG attribute carries no payload; its presence is the value.
    public func flag() throws(DecodeError) -> Bool {
        guard payload.isEmpty else { throw lengthError("0 (flag)") }
        return true
    }

    /// A string, with or without its NUL terminator; must be UTF-8 without inner NUL bytes.
    public func string() throws(DecodeError) -> String {
        guard Attribute.isValidString(payload) else { throw DecodeError(.invalidString, at: offset) }
        return String(decoding: Attribute.stringBytes(payload), as: UTF8.self)
    }

    /// A string payload without its optional trailing NUL.
    @inline(__always)
    static func stringBytes(_ payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if let last = payload.last, last == 0 {
            return UnsafeRawBufferPointer(start: payload.baseAddress, count: payload.count - 1)
        }
        return payload
    }

    /// The string rule (the descriptors' `string` kind): UTF-8 without NUL bytes, one trailing
    /// NUL allowed. A call, not inlined: it would make every walk's loop large for what a few
    /// attributes need.
    @inline(never)
    static func isValidString(_ payload: UnsafeRawBufferPointer) -> Bool {
        let bytes = stringBytes(payload)
        // Names are nearly always short ASCII: check that eight bytes at a time and skip the
        // general UTF-8 validator, which cost more than the rest of decoding a flow.
        guard var p = bytes.baseAddress else { return true }
        var n = bytes.count
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var any: UInt64 = 0
        while n >= 8 {
            let v = p.loadUnaligned(as: UInt64.self)
            // Nonzero exactly when some byte of v is 0.
            if (v &- ones) & ~v & highs != 0 { return false }
            any |= v
            p += 8
            n -= 8
        }
        if n > 0 {
            // The last 1 to 7 bytes, in loads that stay inside the payload; the bytes not
            // loaded stay 0x01 (not NUL, ASCII).
            var v = ones
            var k = 0
            if n & 4 != 0 {
                v = v & ~0xffff_ffff | UInt64(p.loadUnaligned(as: UInt32.self))
                k = 4
            }
            if n & 2 != 0 {
                let shift = UInt64(8 * k)
                v = v & ~(0xffff << shift) | UInt64(p.loadUnaligned(fromByteOffset: k, as: UInt16.self)) << shift
                k += 2
            }
            if n & 1 != 0 {
                let shift = UInt64(8 * k)
                v = v & ~(0xff << shift) | UInt64(p.load(fromByteOffset: k, as: UInt8.self)) << shift
            }
            if (v &- ones) & ~v & highs != 0 { return false }
            any |= v
        }
        return any & highs == 0 || String(validating: bytes, as: UTF8.self) != nil
    }

    /// A native-endian integer of 1 to 8 bytes (the binary VALUE/MASK attributes).
    public func fieldValue() throws(DecodeError) -> FieldValue {
        let n = payload.count
        guard n >= 1 && n <= 8 else { throw lengthError("1 to 8 (binary integer)") }
        return checkedFieldValue
    }

    /// The attributes inside this one.
    @inlinable @inline(__always)
    public func nested() -> AttributeIterator {
        AttributeIterator(payload, baseOffset: payloadOffset)
    }
}

/// Walks a region of attributes. Strict: every attribute must fit, nla_len ≥ 4, and no bytes may
/// be left that cannot form an attribute.
public struct AttributeIterator {
    // Inlinable across modules: the walk is the inner loop of every decoder and of
    // `flowtrace stats`, where a call per attribute would be a large share of all instructions. Raw
    // pointers, not a buffer and an index: `next` tests each attribute's bounds once, and an
    // empty region needs no optional base address.
    @usableFromInline var cursor: UnsafeRawPointer
    @usableFromInline let end: UnsafeRawPointer
    /// Added to a pointer's bit pattern, gives its offset from the start of the message.
    @usableFromInline let offsetBias: Int

    @inlinable
    public init(_ region: UnsafeRawBufferPointer, baseOffset: Int) {
        // An empty region may have no base address; any pointer will do, nothing is read.
        let start = region.baseAddress ?? UnsafeRawPointer(bitPattern: 0x10)!
        cursor = start
        end = start + region.count
        offsetBias = baseOffset &- Int(bitPattern: start)
    }

    /// How many attributes the region holds, by their length fields alone: a capacity hint
    /// for list decoders (the real walk validates; a malformed region just gives a bad hint).
    public func countHint() -> Int {
        var p = cursor
        var n = 0
        while end - p >= Netlink.attributeHeaderLength {
            let len = Int(p.loadUnaligned(as: UInt16.self))
            if len < Netlink.attributeHeaderLength { break }
            n += 1
            p += min(Netlink.align(len), end - p)
        }
        return n
    }

    /// Whether the walk has used up the region: after `nextIfWellFormed` gave nil, false means
    /// the bytes left cannot form an attribute.
    @inlinable public var isAtEnd: Bool { cursor == end }

    /// The next attribute, or nil at the end and at bytes that cannot form one (`isAtEnd` says
    /// which): the form for walks that only need a verdict, with no error value to carry.
    @inlinable @inline(__always)
    public mutating func nextIfWellFormed() -> Attribute? {
        let p = cursor
        let remaining = end - p
        guard remaining >= Netlink.attributeHeaderLength else { return nil }
        let len = p.loadUnaligned(as: UInt16.self)
        let rawType = p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        let n = Int(len)
        guard n >= Netlink.attributeHeaderLength, n <= remaining else { return nil }
        // The last attribute of a region may omit its padding.
        cursor = p + min(Netlink.align(n), remaining)
        return Attribute(
            type: rawType & Netlink.attributeTypeMask,
            flags: rawType & ~Netlink.attributeTypeMask,
            payload: UnsafeRawBufferPointer(
                start: p + Netlink.attributeHeaderLength,
                count: n &- Netlink.attributeHeaderLength),
            offset: offsetBias &+ Int(bitPattern: p))
    }

    @inlinable @inline(__always)
    public mutating func next() throws(DecodeError) -> Attribute? {
        if let a = nextIfWellFormed() { return a }
        if cursor == end { return nil }
        throw malformed()
    }

    /// What is wrong at the cursor, which `nextIfWellFormed` refused.
    @usableFromInline @inline(never)
    func malformed() -> DecodeError {
        let remaining = end - cursor
        let offset = offsetBias &+ Int(bitPattern: cursor)
        guard remaining >= Netlink.attributeHeaderLength else {
            return DecodeError(.trailingBytes(remaining), at: offset)
        }
        return DecodeError(.badAttributeLength(cursor.loadUnaligned(as: UInt16.self)), at: offset)
    }
}
