// Whole-file reads and writes for the JSON files, on plain POSIX calls: the library does not
// otherwise need Foundation, and these are two loops.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum FileIO {
    static func readAll(_ path: String) throws(JSONError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open", path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read", path)
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    static func writeAll(_ bytes: [UInt8], to path: String) throws(JSONError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create", path) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + done }, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = failure("cannot write", path)
                close(fd)
                throw e
            }
            done += n
        }
        // close can report a delayed write error (e.g. on NFS); do not lose it.
        guard close(fd) == 0 else { throw failure("cannot write", path) }
    }

    private static func failure(_ what: String, _ path: String) -> JSONError {
        let reason = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return JSONError(kind: .io, message: "\(what) \(path): \(reason)", file: path)
    }
}
