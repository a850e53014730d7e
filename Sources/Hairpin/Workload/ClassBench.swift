// ClassBench files (Taylor and Turner's filter-set and trace generators, the field's standard
// classifier workload): filter sets of `@src/len dst/len sport_lo : sport_hi dport_lo : dport_hi
// proto/mask [flags/mask] [extra...]` and header traces of `src dst sport dport proto [extra...]
// filter`. Fields are separated by tabs in db_generator's output and by any white space in what
// people edit by hand; the flags column is absent in older sets. Read as bytes: a 10k-rule set
// is read in milliseconds, and every refusal names file:line and the reason.

/// A line of an imported file that cannot be read.
public struct ImportError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the problem is about the whole file.
    public var line: Int
    public var reason: String

    public init(file: String, line: Int, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String { line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)" }
}

/// One filter of a ClassBench filter set.
public struct ClassBenchRule: Hashable, Sendable {
    public var source: UInt32
    public var sourceLength: Int
    public var destination: UInt32
    public var destinationLength: Int
    public var sourcePorts: ClosedRange<UInt16>
    public var destinationPorts: ClosedRange<UInt16>
    public var proto: UInt8
    public var protoMask: UInt8
    /// The TCP flags column (value/mask), nil in sets without it.
    public var flags: (value: UInt16, mask: UInt16)? {
        get { hasFlags ? (flagsValue, flagsMask) : nil }
        set {
            hasFlags = newValue != nil
            flagsValue = newValue?.value ?? 0
            flagsMask = newValue?.mask ?? 0
        }
    }
    var hasFlags = false
    var flagsValue: UInt16 = 0
    var flagsMask: UInt16 = 0
    /// Further decimal columns (0 = wildcard), as db_parser reads them.
    public var extra: [UInt32] = []
    /// The rule's 1-based line in its file.
    public var line: Int

    public init(
        source: UInt32, sourceLength: Int, destination: UInt32, destinationLength: Int,
        sourcePorts: ClosedRange<UInt16>, destinationPorts: ClosedRange<UInt16>,
        proto: UInt8, protoMask: UInt8, flags: (value: UInt16, mask: UInt16)? = nil,
        extra: [UInt32] = [], line: Int = 0
    ) {
        self.source = source
        self.sourceLength = sourceLength
        self.destination = destination
        self.destinationLength = destinationLength
        self.sourcePorts = sourcePorts
        self.destinationPorts = destinationPorts
        self.proto = proto
        self.protoMask = protoMask
        self.extra = extra
        self.line = line
        self.flags = flags
    }
}

extension ClassBenchRule {
    /// The rule as db_generator writes it: tab-separated, `lo : hi` ports, hex protocol and
    /// flags (the flags column only when the rule has one), a trailing tab.
    public var text: String {
        func dotted(_ a: UInt32) -> String { "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)" }
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let h = String(v, radix: 16, uppercase: true)
            return "0x" + String(repeating: "0", count: max(0, digits - h.count)) + h
        }
        var s =
            "@\(dotted(source))/\(sourceLength)\t\(dotted(destination))/\(destinationLength)\t"
            + "\(sourcePorts.lowerBound) : \(sourcePorts.upperBound)\t\(destinationPorts.lowerBound) : \(destinationPorts.upperBound)\t"
            + hex(UInt64(proto), 2) + "/" + hex(UInt64(protoMask), 2) + "\t"
        if let f = flags { s += hex(UInt64(f.value), 4) + "/" + hex(UInt64(f.mask), 4) + "\t" }
        for e in extra { s += "\(e)\t" }
        return s
    }
}

/// One header of a ClassBench trace (trace_generator: the 5-tuple, any further header columns,
/// then the 0-based index of the filter it was drawn from).
public struct ClassBenchPacket: Hashable, Sendable {
    public var source: UInt32
    public var destination: UInt32
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var proto: UInt8
    /// Columns between the protocol and the filter index (the flags column of 6-field sets).
    public var extra: [UInt64]
    /// The filter index of the last column; nil when the line has only the 5-tuple.
    public var filter: Int?
    public var line: Int

    public init(
        source: UInt32, destination: UInt32, sourcePort: UInt16, destinationPort: UInt16, proto: UInt8,
        extra: [UInt64] = [], filter: Int? = nil, line: Int = 0
    ) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.proto = proto
        self.extra = extra
        self.filter = filter
        self.line = line
    }
}

/// Reads ClassBench filter sets and traces. Blank lines are skipped; anything else that is not
/// a rule (or a header) is refused with its line and why.
public enum ClassBenchReader {
    /// Every rule of a filter set, in file order (the first is the highest priority: ClassBench
    /// classifiers return the first matching filter).
    public static func rules(_ bytes: [UInt8], file: String) throws(ImportError) -> [ClassBenchRule] {
        try TextLines.parse(bytes) { line, number throws(ImportError) in try rule(line, file: file, line: number) }
    }

    /// Every header of a trace file, in file order.
    public static func packets(_ bytes: [UInt8], file: String) throws(ImportError) -> [ClassBenchPacket] {
        try TextLines.parse(bytes) { line, number throws(ImportError) in try packet(line, file: file, line: number) }
    }

    /// One filter line; nil for a blank line.
    public static func rule(_ line: ArraySlice<UInt8>, file: String, line number: Int) throws(ImportError)
        -> ClassBenchRule?
    {
        func bad(_ reason: String) -> ImportError { ImportError(file: file, line: number, reason: reason) }
        var tokens = TextLines.tokens(line)
        guard !tokens.isEmpty else { return nil }
        // "lo : hi", "lo:hi", "lo: hi" and "lo :hi" all become one token "lo:hi".
        var merged: [ArraySlice<UInt8>] = []
        var i = 0
        while i < tokens.count {
            var t = Array(tokens[i])
            while i + 1 < tokens.count && (t.last == UInt8(ascii: ":") || tokens[i + 1].first == UInt8(ascii: ":")) {
                i += 1
                t += tokens[i]
            }
            merged.append(t[...])
            i += 1
        }
        tokens = merged
        guard tokens[0].first == UInt8(ascii: "@") else {
            throw bad("a filter starts with '@' and the source prefix, found '\(text(tokens[0]))'")
        }
        guard tokens.count >= 5 else {
            throw bad(
                "a filter has 5 fields (source, destination, source ports, destination ports, protocol), found \(tokens.count)"
            )
        }
        guard let (src, srcLen) = prefix(tokens[0].dropFirst()) else {
            throw bad("source prefix: expected @A.B.C.D/LEN (LEN 0-32), found '\(text(tokens[0]))'")
        }
        guard let (dst, dstLen) = prefix(tokens[1]) else {
            throw bad("destination prefix: expected A.B.C.D/LEN (LEN 0-32), found '\(text(tokens[1]))'")
        }
        let sp = try ports(tokens[2], "source ports", bad)
        let dp = try ports(tokens[3], "destination ports", bad)
        guard let (proto, protoMask) = valueMask(tokens[4], max: 0xFF) else {
            throw bad("protocol: expected 0xPP/0xMM (at most 0xFF), found '\(text(tokens[4]))'")
        }
        var rule = ClassBenchRule(
            source: src, sourceLength: srcLen, destination: dst, destinationLength: dstLen,
            sourcePorts: sp, destinationPorts: dp, proto: UInt8(proto), protoMask: UInt8(protoMask),
            line: number)
        var rest = tokens[5...]
        if let t = rest.first {
            guard let (v, m) = valueMask(t, max: 0xFFFF) else {
                throw bad("flags: expected 0xFFFF/0xFFFF (at most 0xFFFF), found '\(text(t))'")
            }
            rule.flags = (UInt16(v), UInt16(m))
            rest = rest.dropFirst()
        }
        for t in rest {
            guard let v = decimal(t), v <= UInt64(UInt32.max) else {
                throw bad("extra field: expected a decimal number (0 = wildcard), found '\(text(t))'")
            }
            rule.extra.append(UInt32(v))
        }
        return rule
    }

    /// One trace line; nil for a blank line.
    public static func packet(_ line: ArraySlice<UInt8>, file: String, line number: Int) throws(ImportError)
        -> ClassBenchPacket?
    {
        func bad(_ reason: String) -> ImportError { ImportError(file: file, line: number, reason: reason) }
        let tokens = TextLines.tokens(line)
        guard !tokens.isEmpty else { return nil }
        guard tokens.count >= 5 else {
            throw bad(
                "a header has at least 5 decimal fields (source, destination, source port, destination port, protocol), found \(tokens.count)"
            )
        }
        var values: [UInt64] = []
        values.reserveCapacity(tokens.count)
        for (k, t) in tokens.enumerated() {
            guard let v = decimal(t) else { throw bad("field \(k + 1): expected a decimal number, found '\(text(t))'") }
            values.append(v)
        }
        let names = ["source address", "destination address", "source port", "destination port", "protocol"]
        let limits: [UInt64] = [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF, 0xFFFF, 0xFF]
        for k in 0..<5 where values[k] > limits[k] {
            throw bad("\(names[k]) \(values[k]) is out of range (at most \(limits[k]))")
        }
        var p = ClassBenchPacket(
            source: UInt32(values[0]), destination: UInt32(values[1]), sourcePort: UInt16(values[2]),
            destinationPort: UInt16(values[3]), proto: UInt8(values[4]), line: number)
        if values.count > 5 {
            guard values[values.count - 1] <= UInt64(Int32.max) else {
                throw bad("filter index \(values[values.count - 1]) is out of range")
            }
            p.filter = Int(values[values.count - 1])
            p.extra = Array(values[5..<(values.count - 1)])
        }
        return p
    }

    // MARK: fields

    static func ports(_ t: ArraySlice<UInt8>, _ what: String, _ bad: (String) -> ImportError) throws(ImportError)
        -> ClosedRange<UInt16>
    {
        guard let colon = t.firstIndex(of: UInt8(ascii: ":")),
            let lo = decimal(t[t.startIndex..<colon]), let hi = decimal(t[(colon + 1)...])
        else {
            throw bad("\(what): expected LOW : HIGH, found '\(text(t))'")
        }
        guard lo <= 0xFFFF, hi <= 0xFFFF else { throw bad("\(what): \(lo) : \(hi) is out of 0 : 65535") }
        guard lo <= hi else { throw bad("\(what): low \(lo) is above high \(hi)") }
        return UInt16(lo)...UInt16(hi)
    }

    /// A.B.C.D/LEN; host bits are kept as written (the mapping masks them).
    static func prefix(_ t: ArraySlice<UInt8>) -> (UInt32, Int)? {
        guard let slash = t.firstIndex(of: UInt8(ascii: "/")), let address = ipv4(t[t.startIndex..<slash]),
            let len = decimal(t[(slash + 1)...]), len <= 32
        else { return nil }
        return (address, Int(len))
    }

    static func ipv4(_ t: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octets = 0
        for part in t.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard let v = decimal(part), v <= 255 else { return nil }
            value = value << 8 | UInt32(v)
            octets += 1
        }
        return octets == 4 ? value : nil
    }

    /// 0xVV/0xMM, each at most `max`.
    static func valueMask(_ t: ArraySlice<UInt8>, max: UInt64) -> (UInt64, UInt64)? {
        guard let slash = t.firstIndex(of: UInt8(ascii: "/")),
            let v = hex(t[t.startIndex..<slash]), let m = hex(t[(slash + 1)...]), v <= max, m <= max
        else { return nil }
        return (v, m)
    }

    /// At most 19 digits: no overflow, and nothing a field could hold is longer.
    static func decimal(_ t: ArraySlice<UInt8>) -> UInt64? {
        guard !t.isEmpty, t.count <= 19 else { return nil }
        var v: UInt64 = 0
        for c in t {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + UInt64(c - 0x30)
        }
        return v
    }

    /// 0x followed by 1-16 hex digits.
    static func hex(_ t: ArraySlice<UInt8>) -> UInt64? {
        guard t.count >= 3, t.count <= 18, t.first == UInt8(ascii: "0"),
            t[t.startIndex + 1] == UInt8(ascii: "x") || t[t.startIndex + 1] == UInt8(ascii: "X")
        else { return nil }
        return TextLines.hexDigits(t.dropFirst(2))
    }

    static func text(_ t: ArraySlice<UInt8>) -> String { TextLines.quoted(t) }
}

/// Line and token splitting shared by the importers.
enum TextLines {
    /// Calls `body` with each line's 1-based number and its bytes (no newline, no trailing CR)
    /// until it returns false.
    static func forEach(_ bytes: [UInt8], _ body: (Int, ArraySlice<UInt8>) -> Bool) {
        var start = 0
        var number = 0
        while start < bytes.count {
            number += 1
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var stop = end
            if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
            if !body(number, bytes[start..<stop]) { return }
            start = end + 1
        }
    }

    /// Each line through `parse` (nil: nothing on it), in order; the first error stops.
    static func parse<T>(
        _ bytes: [UInt8],
        _ parse: (ArraySlice<UInt8>, Int) throws(ImportError) -> T?
    ) throws(ImportError) -> [T] {
        var out: [T] = []
        var failure: ImportError?
        forEach(bytes) { number, line in
            do throws(ImportError) {
                if let x = try parse(line, number) { out.append(x) }
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return out
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0B || c == 0x0C || c == 0x0D }

    /// The line's white-space separated tokens.
    static func tokens(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(whereSeparator: isSpace)
    }

    static func hexDigits(_ t: ArraySlice<UInt8>) -> UInt64? {
        guard !t.isEmpty, t.count <= 16 else { return nil }
        var v: UInt64 = 0
        for c in t {
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    /// A token for an error message: printable ASCII as is, other bytes as \xNN, cut at 60.
    static func quoted(_ t: ArraySlice<UInt8>) -> String {
        var s = ""
        for c in t.prefix(60) {
            if c >= 0x20 && c < 0x7F {
                s.unicodeScalars.append(Unicode.Scalar(c))
            } else {
                s += "\\x" + (c < 16 ? "0" : "") + String(c, radix: 16)
            }
        }
        return t.count > 60 ? s + "…" : s
    }
}

/// Ranges as the prefix/mask pairs a TCAM stores.
public enum PrefixExpansion {
    /// The fewest value/mask prefixes of a `bits`-wide field whose union is exactly `lo...hi`:
    /// the maximal aligned blocks inside the range, in ascending order (at most 2·bits − 2).
    public static func prefixes(_ lo: UInt64, _ hi: UInt64, bits: Int) -> [(value: UInt64, mask: UInt64)] {
        precondition(bits >= 1 && bits <= 63 && lo <= hi && hi < (UInt64(1) << UInt64(bits)))
        let full: UInt64 = (UInt64(1) << UInt64(bits)) - 1
        var out: [(value: UInt64, mask: UInt64)] = []
        var x = lo
        while true {
            // The largest block starting at x that is aligned and ends at or below hi.
            var size: UInt64 = x == 0 ? UInt64(1) << UInt64(bits) : x & (~x &+ 1)
            while size > 1 && x &+ size &- 1 > hi { size >>= 1 }
            out.append((x, full & ~(size - 1)))
            let last = x &+ size &- 1
            if last >= hi { break }
            x = last + 1
        }
        return out
    }
}

/// A seeded filter set with the shape of ClassBench's acl seeds (db_generator's own output is
/// not at hand): source prefixes mostly /0 or /8–/32, destinations mostly /24–/32; TCP mostly,
/// then UDP, a few ICMP and wildcards; source ports a wildcard, destination ports exact, a
/// wildcard, 0 : 1023, 1024 : 65535 or an arbitrary range (ClassBench's EM, WC, LO, HI, AR
/// classes). For benchmarks and tests of the importer and of lookups.
public enum ClassBenchLike {
    public static func rules(count: Int, seed: UInt64) -> [ClassBenchRule] {
        var rng = SeededGenerator(seed: seed)
        func percent() -> UInt64 { rng.next() % 100 }
        func prefixLength(_ table: [(UInt64, ClosedRange<Int>)]) -> Int {
            let r = percent()
            var acc: UInt64 = 0
            for (share, lengths) in table {
                acc += share
                if r < acc { return lengths.lowerBound + Int(rng.next() % UInt64(lengths.count)) }
            }
            return 32
        }
        var out: [ClassBenchRule] = []
        out.reserveCapacity(count)
        for k in 0..<count {
            let sl = prefixLength([(15, 0...0), (10, 8...15), (30, 16...24), (15, 25...31)])
            let dl = prefixLength([(5, 0...0), (10, 8...23), (35, 24...24), (10, 25...31)])
            let src = UInt32(truncatingIfNeeded: rng.next()) & (sl == 0 ? 0 : ~UInt32(0) << UInt32(32 - sl))
            let dst = UInt32(truncatingIfNeeded: rng.next()) & (dl == 0 ? 0 : ~UInt32(0) << UInt32(32 - dl))
            var proto: UInt8 = 6, mask: UInt8 = 0xFF
            switch percent() {
            case 0..<70: proto = 6
            case 70..<90: proto = 17
            case 90..<95: proto = 1
            default: proto = 0; mask = 0
            }
            var sp: ClosedRange<UInt16> = 0...65535, dp: ClosedRange<UInt16> = 0...65535
            if proto == 6 || proto == 17 {
                if percent() < 10 { sp = 1024...65535 }
                switch percent() {
                case 0..<50: let p = UInt16(truncatingIfNeeded: rng.next() % 2048); dp = p...p
                case 50..<70: dp = 0...65535
                case 70..<80: dp = 0...1023
                case 80..<90: dp = 1024...65535
                default:
                    let a = UInt16(truncatingIfNeeded: rng.next()), b = UInt16(truncatingIfNeeded: rng.next())
                    dp = min(a, b)...max(a, b)
                }
            }
            let flags: (value: UInt16, mask: UInt16) = proto == 6 && percent() < 10 ? (0x1000, 0x1000) : (0, 0)
            out.append(
                ClassBenchRule(
                    source: src, sourceLength: sl, destination: dst, destinationLength: dl,
                    sourcePorts: sp, destinationPorts: dp, proto: proto, protoMask: mask,
                    flags: flags, line: k + 1))
        }
        return out
    }
}
