// Linux errno numbers and names: one table for every place that prints or parses an errno
// (trace listings, replay reports, flow-table-ctl errors, fault specs, the daemon's log texts).
// Literal Linux numbers, whatever the host's <errno.h> says: they travel in messages and traces.
// The table itself is LinuxErrno.swift, which also names errnos in the Wireshark plugin.

public enum Errno {
    /// Every Linux errno 1…133 (and the kernel-internal ENOTSUPP 524), by number; the Wireshark
    /// plugin names errnos from this list too.
    public static var names: [(UInt32, String)] { LinuxErrnoTable.names }

    /// Names accepted when parsing that are aliases of a number above (the first name wins
    /// when printing).
    static let aliases: [(String, UInt32)] = [("ENOTSUP", 95), ("EWOULDBLOCK", 11), ("EDEADLOCK", 35)]

    /// A name (case-insensitive) or a number 1…4095.
    public static func number(_ s: String) -> UInt32? {
        if let n = UInt32(s) { return (1...4095).contains(n) ? n : nil }
        let upper = s.uppercased()
        if let hit = names.first(where: { $0.1 == upper }) { return hit.0 }
        return aliases.first { $0.0 == upper }?.1
    }

    /// names indexed by number, for printing without a search.
    private static let byNumber: [String?] = {
        var t = [String?](repeating: nil, count: 134)
        for (n, s) in names where n < 134 { t[Int(n)] = s }
        return t
    }()

    /// The symbolic name of a positive errno ("EEXIST"), nil when Linux has none.
    public static func symbol(_ e: UInt32) -> String? {
        if e < 134 { return byNumber[Int(e)] }
        return e == 524 ? "ENOTSUPP" : nil
    }

    /// For specs and messages: the name, else the number ("EEXIST", "4000").
    public static func name(_ e: UInt32) -> String { symbol(e) ?? "\(e)" }

    /// For listings and reports, where 0 means success: "OK", "EEXIST", else "errno N".
    public static func display(_ e: Int32) -> String {
        if e == 0 { return "OK" }
        if e > 0, let s = symbol(UInt32(e)) { return s }
        return "errno \(e)"
    }

    /// `display` for an unsigned errno field (ENCAP STATUS, RESULT ERRNO, the magnitude of a
    /// netlink error): "OK", "EEXIST", else "errno N".
    public static func display(unsigned e: UInt32) -> String {
        e <= UInt32(Int32.max) ? display(Int32(e)) : "errno \(e)"
    }
}
