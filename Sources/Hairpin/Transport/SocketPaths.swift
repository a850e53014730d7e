// Where the twin's two sockets live (spec/two-leg-contract.md, "Transports"):
//   root:      /run/flowtrace/{unft,hairpin}.sock
//   otherwise: $XDG_RUNTIME_DIR/flowtrace/…, or /tmp/flowtrace-$UID/… without XDG_RUNTIME_DIR.
// $FLOWTRACE_RUNTIME_DIR overrides the directory for everyone (tests, several twins on one
// machine); every tool also takes explicit paths.

#if canImport(Glibc)
import Glibc
#endif

/// The API socket (net_flow_nl, what clients use) and the hairpin socket (nfl_hairpin,
/// what the listener uses).
public struct TwinSocketPaths: Hashable, Sendable {
    public static let apiFileName = "unft.sock"
    public static let hairpinFileName = "hairpin.sock"
    /// Environment variable that overrides the default directory.
    public static let directoryVariable = "FLOWTRACE_RUNTIME_DIR"

    public var api: String
    public var hairpin: String

    public init(api: String, hairpin: String) {
        self.api = api
        self.hairpin = hairpin
    }

    /// `directory/unft.sock` and `directory/hairpin.sock`.
    public init(directory: String) {
        let d = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.init(api: d + "/" + Self.apiFileName, hairpin: d + "/" + Self.hairpinFileName)
    }

    /// The default directory for this process (see the file comment). `environment` and
    /// `euid` are parameters so tests need not change the process's environment.
    public static func defaultDirectory(
        environment: (String) -> String? = TwinSocketPaths.environment,
        euid: uid_t = geteuid()
    ) -> String {
        if let v = environment(directoryVariable) { return v }
        if euid == 0 { return "/run/flowtrace" }
        if let xdg = environment("XDG_RUNTIME_DIR") { return xdg + "/flowtrace" }
        return "/tmp/flowtrace-\(euid)"
    }

    /// The default paths for this process.
    public static var `default`: TwinSocketPaths { TwinSocketPaths(directory: defaultDirectory()) }

    /// The directory of a socket path ("." for a bare file name).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Creates `path` (and missing parents) with mode 0700 for a directory we create. An
    /// existing directory must be ours and not writable by group or others: a socket in
    /// someone else's /tmp directory could be swapped under us.
    public static func prepareDirectory(_ path: String) throws(SocketError) {
        var st = stat()
        if lstat(path, &st) != 0 {
            guard errno == ENOENT else { throw .system(call: "stat", errno: errno, path: path) }
            let parent = directory(of: path)
            if parent != path && parent != "." && parent != "/" {
                var pst = stat()
                if lstat(parent, &pst) != 0 { try prepareDirectory(parent) }
            }
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw errno == EACCES || errno == EPERM
                    ? .permissionDenied(path: path)
                    : .system(call: "mkdir", errno: errno, path: path)
            }
            guard lstat(path, &st) == 0 else { throw .system(call: "stat", errno: errno, path: path) }
            guard st.st_mode & S_IFMT == S_IFDIR else { throw .unsafeDirectory(path: path, why: "not a directory") }
            return
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .unsafeDirectory(path: path, why: "not a directory") }
        // Directories we did not create (/run, $XDG_RUNTIME_DIR, a test's temp dir) are only
        // checked when they look like ours: the flowtrace directory itself.
        if path.hasSuffix("flowtrace") || path.contains("/flowtrace-") {
            guard st.st_uid == geteuid() else {
                throw .unsafeDirectory(path: path, why: "owned by uid \(st.st_uid), not by us (uid \(geteuid()))")
            }
            guard st.st_mode & 0o022 == 0 else {
                throw .unsafeDirectory(
                    path: path, why: "writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8)))")
            }
        }
    }

    /// A non-empty environment variable.
    public static func environment(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }
}
