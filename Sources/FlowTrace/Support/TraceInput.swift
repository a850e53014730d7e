// Stdin for the tools that read a trace more than once (replay's fault scan and --loop, diff's
// one pass per leg, bench's one run per backend): a pipe is copied once to an unlinked
// temporary file, which is then opened by its /proc/self/fd path like any file (bench's worker
// processes inherit the descriptor); a file redirected to stdin is opened again by its
// /proc/self/fd/0 path. Readers name it "<stdin>" in their messages.

#if canImport(Glibc)
import Glibc
#endif
import Posix

public enum TraceInput {
    nonisolated(unsafe) private static var spooled: [String: String] = [:]

    /// The name messages give `path`: "<stdin>" for stdin and its spooled copy.
    public static func displayName(_ path: String) -> String {
        path == "-" ? "<stdin>" : spooled[path] ?? path
    }

    /// `path` itself, or for "-" a file holding what stdin holds (read to its end now).
    public static func rereadable(_ path: String) throws(TraceFileError) -> String {
        guard path == "-" else { return path }
        // Stdin redirected from a file (< trace) is that file: opened again, nothing copied.
        var st = stat()
        if fstat(0, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && lseek(0, 0, SEEK_CUR) == 0 {
            spooled["/proc/self/fd/0"] = "<stdin>"
            return "/proc/self/fd/0"
        }
        var template = Array(((getenvString("TMPDIR") ?? "/tmp") + "/flowtrace-stdin-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw TraceFileError(.io(Sys.errno), "cannot create a temporary file for stdin", path: "<stdin>")
        }
        let tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(tempPath)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { buffer.deallocate() }
        var total: UInt64 = 0
        while true {
            let n = Sys.readSome(0, buffer, 1 << 20)
            if n < 0 { throw TraceFileError(.io(Int32(-n)), "read failed", path: "<stdin>", offset: total) }
            if n == 0 { break }
            let (_, e) = Sys.writeAll(fd, buffer, n)
            if e != 0 {
                throw TraceFileError(.io(e), "cannot copy stdin to a temporary file", path: "<stdin>", offset: total)
            }
            total += UInt64(n)
        }
        let proc = "/proc/self/fd/\(fd)"
        spooled[proc] = "<stdin>"
        return proc
    }

    private static func getenvString(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }
}
