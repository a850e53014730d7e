// Builds netlink messages into one reusable byte buffer. Reset it between messages and the
// buffer's capacity is kept, so building a message in steady state allocates nothing. Bytes
// are stored through a raw pointer: appending through [UInt8] costs more per attribute
// (codec-bench, BENCHMARKS.md).

public struct NetlinkWriter {
    /// Heap storage; copied on write so the writer behaves as a value.
    final class Storage {
        var base: UnsafeMutableRawPointer
        var capacity: Int

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
        }

        func copy(count: Int) -> Storage {
            let s = Storage(capacity: capacity)
            s.base.copyMemory(from: base, byteCount: count)
            return s
        }

        deinit { base.deallocate() }
    }

    var storage: Storage
    public private(set) var count: Int = 0

    /// Whether nests are marked with NLA_F_NESTED. Our families set it (modern kernels validate
    /// it strictly); nlctrl messages must not, to match the kernel's own bytes.
    public var markNests: Bool = true

    public init(capacity: Int = 4096) {
        storage = Storage(capacity: capacity)
    }

    /// A copy of the bytes written so far.
    public var bytes: [UInt8] {
        [UInt8](UnsafeRawBufferPointer(start: storage.base, count: count))
    }

    /// The bytes written so far, without copying; valid only inside `body`.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: count))
    }

    public mutating func reset() { count = 0 }

    /// Makes room for `n` more bytes and returns where they go.
    @inline(__always)
    mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer {
        makeUnique()
        return reserveInRun(n)
    }

    @inline(never)
    mutating func grow(_ needed: Int) {
        var cap = storage.capacity
        while cap < needed { cap *= 2 }
        let s = Storage(capacity: cap)
        s.base.copyMemory(from: storage.base, byteCount: count)
        storage = s
    }

    // MARK: headers

    /// Starts a message; returns the offset to hand to `endMessage`.
    @discardableResult
    public mutating func beginMessage(type: UInt16, flags: UInt16, sequence: UInt32, port: UInt32) -> Int {
        let start = count
        let p = reserve(16)
        p.storeBytes(of: UInt32(0), toByteOffset: 0, as: UInt32.self)  // nlmsg_len, patched later
        p.storeBytes(of: type, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: flags, toByteOffset: 6, as: UInt16.self)
        p.storeBytes(of: sequence, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: port, toByteOffset: 12, as: UInt32.self)
        count += 16
        return start
    }

    public mutating func genericHeader(command: UInt8, version: UInt8) {
        let p = reserve(4)
        p.storeBytes(of: command, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: version, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        count += 4
    }

    public mutating func endMessage(_ start: Int) {
        padTo4()
        patch(UInt32(count - start), at: start)
    }

    // MARK: attributes

    /// Header plus payload, zero-padded to 4; returns the payload's address.
    @inline(__always)
    mutating func attribute(_ type: UInt16, payload: Int) -> UnsafeMutableRawPointer {
        makeUnique()
        return attributeInRun(type, payload: payload)
    }

    @inline(__always)
    public mutating func put(_ type: UInt16, u8 value: UInt8) {
        attribute(type, payload: 1).storeBytes(of: value, as: UInt8.self)
    }

    @inline(__always)
    public mutating func put(_ type: UInt16, u16 value: UInt16) {
        attribute(type, payload: 2).storeBytes(of: value, as: UInt16.self)
    }

    @inline(__always)
    public mutating func put(_ type: UInt16, u32 value: UInt32) {
        makeUnique()
        putInRun(type, u32: value)
    }

    @inline(__always)
    public mutating func put(_ type: UInt16, u64 value: UInt64) {
        attribute(type, payload: 8).storeBytes(of: value, toByteOffset: 0, as: UInt64.self)
    }

    public mutating func putFlag(_ type: UInt16) {
        _ = attribute(type, payload: 0)
    }

    /// A NUL-terminated string (NLA_NUL_STRING), as the kernel and libnl write them.
    public mutating func put(_ type: UInt16, string value: String) {
        makeUnique()
        putInRun(type, string: value)
    }

    /// A native-endian integer of `value.byteCount` bytes (VALUE/MASK binary attributes).
    @inline(__always)
    public mutating func put(_ type: UInt16, value: FieldValue) {
        makeUnique()
        putInRun(type, value: value)
    }

    public mutating func put(_ type: UInt16, bytes payload: UnsafeRawBufferPointer) {
        let p = attribute(type, payload: payload.count)
        if let src = payload.baseAddress { p.copyMemory(from: src, byteCount: payload.count) }
    }

    /// Opens a nest; returns the offset to hand to `endNest`.
    @inline(__always)
    public mutating func beginNest(_ type: UInt16) -> Int {
        makeUnique()
        return beginNestInRun(type)
    }

    /// Closes a nest. Fails if the nest outgrew nla_len's 16 bits (65535 bytes): netlink cannot
    /// express it, and the caller must split the message (see the hairpin's PART/MORE).
    @inline(__always)
    public mutating func endNest(_ start: Int) throws(EncodeError) {
        makeUnique()
        try endNestInRun(start)
    }

    // MARK: raw helpers

    @inline(__always)
    public mutating func appendRaw<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size).storeBytes(of: value, as: T.self)
        count += MemoryLayout<T>.size
    }

    public mutating func appendRaw(bytes raw: UnsafeRawBufferPointer) {
        let p = reserve(raw.count)
        if let src = raw.baseAddress { p.copyMemory(from: src, byteCount: raw.count) }
        count += raw.count
    }

    @inline(__always)
    mutating func padTo4() {
        let pad = Netlink.align(count) - count
        if pad > 0 {
            let p = reserve(pad)
            for i in 0..<pad { p.storeBytes(of: UInt8(0), toByteOffset: i, as: UInt8.self) }
            count += pad
        }
    }

    @inline(__always)
    public mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        makeUnique()
        storage.base.storeBytes(of: value, toByteOffset: offset, as: T.self)
    }
}

// MARK: runs of writes with one uniqueness check

// Every public write checks that the storage is not shared (copy on write), a runtime call
// (swift_isUniquelyReferenced) per attribute: with dozens of attributes in a flow that is a
// large share of encoding one. A run of writes inside one function that
// holds the writer `inout` cannot be interleaved with a copy of it, so it checks once
// (`makeUnique`) and then writes with the `…InRun` variants, which check only the capacity
// (`grow` makes fresh, unshared storage). The bytes are those of the checked writes.
extension NetlinkWriter {
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy(count: count) }
    }

    @inline(__always)
    mutating func reserveInRun(_ n: Int) -> UnsafeMutableRawPointer {
        if count + n > storage.capacity { grow(count + n) }
        return storage.base + count
    }

    @inline(__always)
    mutating func attributeInRun(_ type: UInt16, payload: Int) -> UnsafeMutableRawPointer {
        let total = Netlink.align(4 + payload)
        let p = reserveInRun(total)
        p.storeBytes(of: UInt16(truncatingIfNeeded: 4 + payload), toByteOffset: 0, as: UInt16.self)
        p.storeBytes(of: type, toByteOffset: 2, as: UInt16.self)
        if total > 4 + payload {
            // Zero the padding word before the payload overwrites its start.
            p.storeBytes(of: UInt32(0), toByteOffset: total - 4, as: UInt32.self)
        }
        count += total
        return p + 4
    }

    @inline(__always)
    mutating func putInRun(_ type: UInt16, u32 value: UInt32) {
        attributeInRun(type, payload: 4).storeBytes(of: value, as: UInt32.self)
    }

    @inline(__always)
    mutating func putInRun(_ type: UInt16, value: FieldValue) {
        let n = Int(value.byteCount)
        let p = attributeInRun(type, payload: n)
        if n == 8 {
            p.storeBytes(of: value.rawBits, as: UInt64.self)
        } else {
            var v = value.rawBits
            for i in 0..<n {
                p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
                v >>= 8
            }
        }
    }

    /// `put(_:string:)`: the UTF-8 bytes and a NUL.
    @inline(__always)
    mutating func putInRun(_ type: UInt16, string value: String) {
        var s = value
        s.withUTF8 { utf8 in
            let p = attributeInRun(type, payload: utf8.count + 1)
            if let src = utf8.baseAddress { p.copyMemory(from: src, byteCount: utf8.count) }
            p.storeBytes(of: UInt8(0), toByteOffset: utf8.count, as: UInt8.self)
        }
    }

    @inline(__always)
    mutating func beginNestInRun(_ type: UInt16) -> Int {
        let start = count
        _ = attributeInRun(markNests ? type | Netlink.attributeFlagNested : type, payload: 0)
        return start
    }

    @inline(__always)
    mutating func endNestInRun(_ start: Int) throws(EncodeError) {
        let len = count - start
        guard len <= Int(UInt16.max) else { throw EncodeError.nestTooLarge(bytes: len) }
        storage.base.storeBytes(of: UInt16(len), toByteOffset: start, as: UInt16.self)
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
