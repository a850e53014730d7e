// Whole-file reads and writes for the JSON files, on the POSIX layer's loops: the library does
// not otherwise need Foundation. Posix is an internal import, out of the public API.

internal import Posix

enum FileIO {
    static func readAll(_ path: String) throws(JSONError) -> [UInt8] {
        let fd = Sys.openForReading(path)
        guard fd >= 0 else { throw failure("cannot open", path, Sys.errno) }
        defer { _ = Sys.close(fd) }
        let r = Sys.readToEnd(fd)
        guard let bytes = r.bytes else { throw failure("cannot read", path, r.errno) }
        return bytes
    }

    static func writeAll(_ bytes: [UInt8], to path: String) throws(JSONError) {
        let fd = Sys.openForWriting(path)
        guard fd >= 0 else { throw failure("cannot create", path, Sys.errno) }
        let e = bytes.withUnsafeBytes { $0.baseAddress.map { Sys.writeAll(fd, $0, bytes.count).error } ?? 0 }
        if e != 0 {
            _ = Sys.close(fd)
            throw failure("cannot write", path, e)
        }
        // close can report a delayed write error (e.g. on NFS); do not lose it.
        guard Sys.close(fd) == 0 else { throw failure("cannot write", path, Sys.errno) }
    }

    private static func failure(_ what: String, _ path: String, _ errno: Int32) -> JSONError {
        JSONError(kind: .io, message: "\(what) \(path): \(Sys.errorText(errno))", file: path)
    }
}
