// The file calls the trace files and the tools share (open, read and write loops, errno text,
// uname), free of Foundation: the hot loops copy bytes into a reused buffer and call
// read(2)/write(2), nothing else. Inlinable where a loop calls them per block.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The C library's errno and close(2), named apart: inside Sys those names are Sys's own.
@inlinable func cErrno() -> Int32 { errno }
func cClose(_ fd: Int32) -> Int32 { close(fd) }

public enum Sys {
    @inlinable
    public static var errno: Int32 { cErrno() }

    /// strerror(3)'s text for `code`.
    public static func errorText(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "errno \(code)" }
        return String(cString: s)
    }

    public static func openForReading(_ path: String) -> Int32 {
        open(path, O_RDONLY | O_CLOEXEC)
    }

    public static func openForWriting(_ path: String) -> Int32 {
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    }

    /// A second descriptor for `fd` (stdout for a trace written to "-").
    public static func duplicate(_ fd: Int32) -> Int32 { dup(fd) }

    public static func close(_ fd: Int32) -> Int32 { cClose(fd) }

    /// Writes all `count` bytes, retrying after short writes and EINTR. Returns how many bytes
    /// went out and 0, or an errno with the count written before it.
    @inlinable
    public static func writeAll(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) -> (written: Int, error: Int32) {
        var done = 0
        while done < count {
            let n = write(fd, base + done, count - done)
            if n > 0 { done += n; continue }
            let e = errno
            if n < 0 && e == EINTR { continue }
            return (done, n == 0 ? EIO : e)
        }
        return (done, 0)
    }

    /// Which step of `writeFile` failed.
    public enum FileStep: Sendable { case create, write }

    /// Creates (or truncates) `path` and writes `contents` to it: nil, or the step that failed
    /// and its errno.
    public static func writeFile(_ path: String, contents: UnsafeRawBufferPointer) -> (step: FileStep, errno: Int32)? {
        let fd = openForWriting(path)
        guard fd >= 0 else { return (.create, errno) }
        defer { _ = close(fd) }
        guard let base = contents.baseAddress else { return nil }
        let r = writeAll(fd, base, contents.count)
        return r.error == 0 ? nil : (.write, r.error)
    }

    /// A whole file's bytes, or nil and the errno that stopped reading it.
    public static func readFile(_ path: String) -> (bytes: [UInt8]?, errno: Int32) {
        let fd = openForReading(path)
        guard fd >= 0 else { return (nil, errno) }
        defer { _ = close(fd) }
        return readToEnd(fd)
    }

    /// Everything left to read on `fd` (a file, stdin, a pipe), or nil and the errno that
    /// stopped reading.
    public static func readToEnd(_ fd: Int32) -> (bytes: [UInt8]?, errno: Int32) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { readSome(fd, $0.baseAddress!, $0.count) }
            if n < 0 { return (nil, Int32(-n)) }
            if n == 0 { return (bytes, 0) }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads up to `count` bytes, retrying after EINTR. Returns the count (0 at end of file)
    /// or -errno.
    @inlinable
    public static func readSome(_ fd: Int32, _ base: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let n = read(fd, base, count)
            if n >= 0 { return n }
            let e = errno
            if e == EINTR { continue }
            return -Int(e)
        }
    }

    /// (machine, "sysname release"), e.g. ("x86_64", "Linux 6.1.0-37-amd64"), for the SHB.
    public static func hostDescription() -> (hardware: String, os: String) {
        var u = utsname()
        guard uname(&u) == 0 else { return ("unknown", "unknown") }
        func field<T>(_ value: inout T) -> String {
            withUnsafeBytes(of: &value) { raw in
                let bytes = raw.prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        let machine = field(&u.machine)
        let sysname = field(&u.sysname)
        let release = field(&u.release)
        return (machine, "\(sysname) \(release)")
    }
}
