// Where specs come from: the folders given with --spec-dir, then $FLOWTRACE_SPEC_PATH
// (colon-separated), then the project's own spec/ (next to the package the binary was built in,
// or $PREFIX/share/flowtrace/spec once installed) and the kernel's specs that
// `scripts/install-deps.sh --specs` unpacks. The first spec of a family wins; later ones are
// listed as shadowed. A bad spec is reported and skipped, never fatal for the others.

import Foundation

public struct YNLSpecDirectory: Sendable, Equatable {
    public var path: String
    /// Why it is searched: "--spec-dir", "FLOWTRACE_SPEC_PATH", "project", "kernel".
    public var origin: String

    public init(path: String, origin: String) {
        self.path = path
        self.origin = origin
    }
}

public struct YNLLoadedSpec: Sendable {
    public var family: YNLFamily
    public var directory: YNLSpecDirectory
    /// Files of the same family found later in the search path, not used.
    public var shadowed: [String] = []
}

public struct YNLSpecLibrary: Sendable {
    public var directories: [YNLSpecDirectory]
    public var specs: [YNLLoadedSpec]
    /// One per spec that failed to load: the file and the error that names its key.
    public var errors: [(file: String, error: String)]

    public func family(named name: String) -> YNLFamily? { specs.first { $0.family.name == name }?.family }

    /// The kernel's spec folder below the cache install-deps.sh fills.
    public static func kernelSpecDirectory(environment: [String: String]) -> String? {
        let root: String
        if let src = environment["FLOWTRACE_LINUX_SRC"], !src.isEmpty {
            root = src
        } else if let cache = environment["XDG_CACHE_HOME"], !cache.isEmpty {
            root = cache + "/flowtrace/linux-6.12"
        } else if let home = environment["HOME"], !home.isEmpty {
            root = home + "/.cache/flowtrace/linux-6.12"
        } else {
            return nil
        }
        return root + "/Documentation/netlink/specs"
    }

    /// The project's spec/ for a binary at `executable`: a parent folder that holds Package.swift
    /// and spec/ (a build tree), or ../share/flowtrace/spec (an installed prefix).
    public static func projectSpecDirectory(executable: String) -> String? {
        let fm = FileManager.default
        let exe = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        let installed = dir.deletingLastPathComponent().appendingPathComponent("share/flowtrace/spec").path
        if fm.fileExists(atPath: installed) { return installed }
        while dir.path != "/" && !dir.path.isEmpty {
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path),
                fm.fileExists(atPath: dir.appendingPathComponent("spec").path)
            {
                return dir.appendingPathComponent("spec").path
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// The search path, in order, folders that do not exist left out except the ones the user named.
    public static func searchPath(
        specDirs: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: String = currentExecutable
    ) -> [YNLSpecDirectory] {
        var dirs = specDirs.map { YNLSpecDirectory(path: $0, origin: "--spec-dir") }
        if let env = environment["FLOWTRACE_SPEC_PATH"] {
            dirs += env.split(separator: ":").map { YNLSpecDirectory(path: String($0), origin: "FLOWTRACE_SPEC_PATH") }
        }
        let fm = FileManager.default
        if let p = projectSpecDirectory(executable: executable) { dirs.append(.init(path: p, origin: "project")) }
        if let k = kernelSpecDirectory(environment: environment), fm.fileExists(atPath: k) {
            dirs.append(.init(path: k, origin: "kernel"))
        }
        return dirs
    }

    /// This process's binary (the link /proc/self/exe; argv[0] when that cannot be read).
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first
            ?? ""
    }

    /// Loads every *.yaml of the folders. A folder the user named that cannot be read is an error
    /// in the list (as a bad spec is).
    public static func load(_ directories: [YNLSpecDirectory]) -> YNLSpecLibrary {
        var lib = YNLSpecLibrary(directories: directories, specs: [], errors: [])
        let fm = FileManager.default
        for dir in directories {
            guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else {
                lib.errors.append((dir.path, "\(dir.path): cannot read the folder (\(dir.origin))"))
                continue
            }
            for name in names.sorted() where name.hasSuffix(".yaml") {
                let file = dir.path.hasSuffix("/") ? dir.path + name : dir.path + "/" + name
                do {
                    let family = try YNLSpecLoader.load(path: file)
                    if let i = lib.specs.firstIndex(where: { $0.family.name == family.name }) {
                        lib.specs[i].shadowed.append(file)
                    } else {
                        lib.specs.append(YNLLoadedSpec(family: family, directory: dir))
                    }
                } catch {
                    lib.errors.append((file, "\(error)"))
                }
            }
        }
        return lib
    }
}
