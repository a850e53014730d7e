// Shell completion of values the argument parser cannot list by itself: replay targets, whose
// socket and kernel forms depend on what exists on this machine when the user presses Tab.

import ArgumentParser
import Hairpin

#if canImport(Glibc)
import Glibc
#endif

enum Completions {
    /// `--target` values: every backend, the twin with each backend, the default twin socket,
    /// and `kernel:` with each unft device the running kernel has.
    static let target = CompletionKind.custom { _, _, prefix in
        let backends = BackendKind.allCases.map(\.rawValue)
        var words = backends.map { "backend:" + $0 } + ["twin"] + backends.map { "twin:" + $0 }
        words.append("socket:" + TwinSocketPaths.default.api)
        let devices = kernelDevices()
        words += devices.isEmpty ? ["kernel:unft0"] : devices.map { "kernel:" + $0 }
        return words.filter { $0.hasPrefix(prefix) }
    }

    /// Network devices whose name starts with "unft" (/sys/class/net).
    static func kernelDevices() -> [String] {
        guard let dir = opendir("/sys/class/net") else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix("unft") { names.append(name) }
        }
        return names.sorted()
    }
}
