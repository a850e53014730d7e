// Hex text for bytes: how messages travel through shell pipelines and bug reports.

public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { encode($0) }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badDigit(character: Character, position: Int)
        case oddLength(Int)

        public var description: String {
            switch self {
            case let .badDigit(c, pos): return "not a hex digit: \"\(c)\" at character \(pos)"
            case let .oddLength(n): return "hex text has an odd number of digits (\(n))"
            }
        }
    }

    /// Parses hex digits; white space, ':' and '-' between bytes are ignored; an optional "0x"
    /// prefix is allowed.
    public static func decode(_ text: String) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        var count = 0
        var s = Substring(text)
        if s.hasPrefix("0x") || s.hasPrefix("0X") { s = s.dropFirst(2) }
        for (i, c) in s.enumerated() {
            if c.isWhitespace || c == ":" || c == "-" { continue }
            guard let v = c.hexDigitValue else { throw .badDigit(character: c, position: i) }
            count += 1
            if let h = high {
                out.append(h << 4 | UInt8(v))
                high = nil
            } else {
                high = UInt8(v)
            }
        }
        if high != nil { throw .oddLength(count) }
        return out
    }
}
