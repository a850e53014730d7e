// Builds netlink messages into one reusable byte buffer. Reset it between messages and the
// buffer's capacity is kept, so building a message in steady state allocates nothing.

public struct NetlinkWriter {
    public private(set) var bytes: [UInt8]

    /// Whether nests are marked with NLA_F_NESTED. Our families set it (modern kernels validate
    /// it strictly); nlctrl messages must not, to match the kernel's own bytes.
    public var markNests: Bool = true

    public init(capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    // MARK: headers

    /// Starts a message; returns the offset to hand to `endMessage`.
    @discardableResult
    public mutating func beginMessage(type: UInt16, flags: UInt16, sequence: UInt32, port: UInt32) -> Int {
        let start = bytes.count
        appendRaw(UInt32(0))   // nlmsg_len, patched by endMessage
        appendRaw(type)
        appendRaw(flags)
        appendRaw(sequence)
        appendRaw(port)
        return start
    }

    public mutating func genericHeader(command: UInt8, version: UInt8) {
        bytes.append(command)
        bytes.append(version)
        appendRaw(UInt16(0))
    }

    public mutating func endMessage(_ start: Int) {
        pad()
        patch(UInt32(bytes.count - start), at: start)
    }

    // MARK: attributes

    @inline(__always)
    public mutating func put(_ type: UInt16, u8 value: UInt8) {
        attributeHeader(type, payload: 1)
        bytes.append(value)
        pad()
    }

    @inline(__always)
    public mutating func put(_ type: UInt16, u16 value: UInt16) {
        attributeHeader(type, payload: 2)
        appendRaw(value)
        pad()
    }

    @inline(__always)
    public mutating func put(_ type: UInt16, u32 value: UInt32) {
        attributeHeader(type, payload: 4)
        appendRaw(value)
    }

    @inline(__always)
    public mutating func put(_ type: UInt16, u64 value: UInt64) {
        attributeHeader(type, payload: 8)
        appendRaw(value)
    }

    public mutating func putFlag(_ type: UInt16) {
        attributeHeader(type, payload: 0)
    }

    /// A NUL-terminated string (NLA_NUL_STRING), as the kernel and libnl write them.
    public mutating func put(_ type: UInt16, string value: String) {
        var s = value
        s.withUTF8 { utf8 in
            attributeHeader(type, payload: utf8.count + 1)
            bytes.append(contentsOf: utf8)
            bytes.append(0)
        }
        pad()
    }

    /// A native-endian integer of `value.byteCount` bytes (VALUE/MASK binary attributes).
    @inline(__always)
    public mutating func put(_ type: UInt16, value: FieldValue) {
        let n = Int(value.byteCount)
        attributeHeader(type, payload: n)
        var v = value.rawBits
        for _ in 0..<n {
            bytes.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
        pad()
    }

    public mutating func put(_ type: UInt16, bytes payload: UnsafeRawBufferPointer) {
        attributeHeader(type, payload: payload.count)
        bytes.append(contentsOf: payload)
        pad()
    }

    /// Opens a nest; returns the offset to hand to `endNest`.
    @inline(__always)
    public mutating func beginNest(_ type: UInt16) -> Int {
        let start = bytes.count
        appendRaw(UInt16(0))
        appendRaw(markNests ? type | Netlink.attributeFlagNested : type)
        return start
    }

    /// Closes a nest. Fails if the nest outgrew nla_len's 16 bits (65535 bytes): netlink cannot
    /// express it, and the caller must split the message (see the hairpin's PART/MORE).
    @inline(__always)
    public mutating func endNest(_ start: Int) throws(EncodeError) {
        let len = bytes.count - start
        guard len <= Int(UInt16.max) else { throw EncodeError.nestTooLarge(bytes: len) }
        patch(UInt16(len), at: start)
    }

    // MARK: raw helpers

    @inline(__always)
    mutating func attributeHeader(_ type: UInt16, payload: Int) {
        appendRaw(UInt16(truncatingIfNeeded: payload + Netlink.attributeHeaderLength))
        appendRaw(type)
    }

    @inline(__always)
    public mutating func appendRaw<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    public mutating func appendRaw(bytes raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }

    @inline(__always)
    mutating func pad() {
        while bytes.count & 3 != 0 { bytes.append(0) }
    }

    @inline(__always)
    public mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: offset, as: T.self) }
    }
}

public enum EncodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A nested attribute exceeded 65535 bytes, the most nla_len can say.
    case nestTooLarge(bytes: Int)
    /// The message lacks what its command needs (e.g. SET_FLOWS without flows).
    case invalidMessage(String)

    public var description: String {
        switch self {
        case let .nestTooLarge(n):
            return "a nested attribute would be \(n) bytes, more than netlink's 65535: split the request"
        case let .invalidMessage(why):
            return why
        }
    }
}
