// Who sent it: `flowtrace capture` names the process at the user-space end of each message in
// the record's comment, "pid 1234 (devlink)" (spec/trace-format.md, "Calls" rule 6). Read here,
// where the call id needs it: a netlink port is reused once its process exits.

public struct NetlinkProcess: Hashable, Sendable, CustomStringConvertible {
    public var pid: Int32
    public var command: String
    /// "pid 1234 (devlink)": the record comment's text, which tshark shows as frame.comment.
    public var description: String { "pid \(pid) (\(command))" }

    /// Reads a record comment back (nil: not one of ours).
    public init?(comment: String) {
        var text = comment
        guard
            let p = text.withUTF8({ u in
                Self.parse(UnsafeRawBufferPointer(u)).map { ($0.pid, String(decoding: u[$0.command], as: UTF8.self)) }
            })
        else { return nil }
        pid = p.0
        command = p.1
    }

    public init(pid: Int32, command: String) {
        self.pid = pid
        self.command = command
    }

    /// The pid of a comment's process line, without building strings (the call tracker's
    /// per-record read).
    public static func pid(inComment bytes: UnsafeRawBufferPointer) -> Int32? { parse(bytes)?.pid }

    /// The first line "pid N (COMMAND)" of a comment: N and the bytes of COMMAND.
    static func parse(_ b: UnsafeRawBufferPointer) -> (pid: Int32, command: Range<Int>)? {
        var start = 0
        while start < b.count {
            var end = start
            while end < b.count && b[end] != 0x0a { end += 1 }
            if let p = line(b, start, end) { return p }
            start = end + 1
        }
        return nil
    }

    /// "pid " digits (optional '-'), " (", COMMAND, ")" ending the line.
    static func line(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> (pid: Int32, command: Range<Int>)? {
        let prefix: [UInt8] = [0x70, 0x69, 0x64, 0x20]  // "pid "
        guard end - start >= 4 + 1 + 3 else { return nil }
        for k in 0..<4 where b[start + k] != prefix[k] { return nil }
        var i = start + 4
        let negative = b[i] == 0x2d
        if negative { i += 1 }
        var value: Int64 = 0
        let digits = i
        while i < end, b[i] >= 0x30, b[i] <= 0x39 {
            value = value * 10 + Int64(b[i] - 0x30)
            if value > Int64(Int32.max) + 1 { return nil }
            i += 1
        }
        guard i > digits, end - i >= 3, b[i] == 0x20, b[i + 1] == 0x28, b[end - 1] == 0x29 else { return nil }
        let v = negative ? -value : value
        guard let pid = Int32(exactly: v) else { return nil }
        return (pid, (i + 2)..<(end - 1))
    }
}
