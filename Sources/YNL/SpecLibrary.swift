// Where specs come from: the folders given with --spec-dir, then $FLOWTRACE_SPEC_PATH
// (colon-separated), then the project's own spec/ (next to the package the binary was built in,
// or $PREFIX/share/flowtrace/spec once installed) and the kernel's specs that
// `scripts/install-deps.sh --specs` unpacks. The first spec of a family wins; later ones are
// listed as shadowed. A bad spec is reported and skipped, never fatal for the others.
//
// Loading is lazy: a capture uses a handful of the kernel's families, and parsing all of them
// dominated a short `flowtrace show`. Each file is indexed by its top-level `name:`,
// `protocol:` and `protonum:` lines (file names are not family names: rt_link.yaml is rt-link),
// and parsed in full, with every check, the first time its family is asked for. A file whose
// keys the line scan cannot read is parsed at once.

import Foundation
import Posix

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

/// The top-level keys of a spec file that say which messages it decodes.
struct YNLSpecIndexEntry: Sendable {
    var file: String
    var directory: YNLSpecDirectory
    var name: String
    /// nil when the file names a protocol YNL does not have (the full parse reports it).
    var proto: YNLProtocol?
    var protonum: Int?
}

public final class YNLSpecLibrary: @unchecked Sendable {
    public let directories: [YNLSpecDirectory]
    let entries: [YNLSpecIndexEntry]
    /// Entries per family name, in search order.
    let byName: [String: [Int]]
    /// Folders that cannot be read and files the index could not read.
    let indexErrors: [(file: String, error: String)]
    let report: (@Sendable (_ file: String, _ error: String) -> Void)?

    // Guarded by `lock`: what has been parsed so far.
    private let lock = PosixMutex()
    private var parsed: [Int: YNLFamily] = [:]
    private var failed: [Int: String] = [:]
    private var families: [String: YNLFamily?] = [:]
    private var rawTables: [Int: RawTable] = [:]

    /// A protocol's message types, from its specs parsed so far (entries before `next`).
    struct RawTable {
        var table: [UInt16: YNLFamily] = [:]
        var names = Set<String>()
        var next = 0
    }

    init(
        directories: [YNLSpecDirectory], entries: [YNLSpecIndexEntry], indexErrors: [(file: String, error: String)],
        parsed: [Int: YNLFamily], report: (@Sendable (String, String) -> Void)?
    ) {
        self.directories = directories
        self.entries = entries
        self.indexErrors = indexErrors
        self.parsed = parsed
        self.report = report
        var byName: [String: [Int]] = [:]
        for (i, e) in entries.enumerated() { byName[e.name, default: []].append(i) }
        self.byName = byName
    }

    /// The family names the index holds, in search order (no file parsed).
    public var familyNames: [String] {
        var seen = Set<String>()
        return entries.compactMap { seen.insert($0.name).inserted ? $0.name : nil }
    }

    /// The files parsed so far.
    public var parsedFiles: [String] {
        lock.withLock { parsed.keys.sorted().map { entries[$0].file } }
    }

    /// Parses entry `i` once; nil (reported) when it does not load. Called with `lock` held.
    private func parseLocked(_ i: Int) -> YNLFamily? {
        if let f = parsed[i] { return f }
        if failed[i] != nil { return nil }
        let e = entries[i]
        do {
            let f = try YNLSpecLoader.load(path: e.file)
            guard f.name == e.name else {
                throw SpecError(
                    file: e.file, line: nil, path: "name",
                    message: "the full parse says '\(f.name)', the file's top-level line '\(e.name)'")
            }
            parsed[i] = f
            return f
        } catch {
            let text = "\(error)"
            failed[i] = text
            report?(e.file, text)
            return nil
        }
    }

    /// The family's spec, parsed on first use: the first file of that name that loads.
    public func family(named name: String) -> YNLFamily? {
        lock.withLock {
            if let f = families[name] { return f }
            var found: YNLFamily?
            for i in byName[name] ?? [] {
                if let f = parseLocked(i) { found = f; break }
            }
            families[name] = .some(found)
            return found
        }
    }

    /// The netlink-raw family of protocol `p` with an operation of message type `type` (the
    /// first spec in search order that has one). That protocol's specs are parsed in search
    /// order until one has the type (rtnetlink's tc is big and rarely needed).
    public func rawFamily(protocol p: Int, type: UInt16) -> YNLFamily? {
        lock.withLock {
            var raw = rawTables[p] ?? RawTable()
            defer { rawTables[p] = raw }
            while raw.table[type] == nil, raw.next < entries.count {
                let i = raw.next
                raw.next += 1
                let e = entries[i]
                guard e.proto == .netlinkRaw, e.protonum == p, !raw.names.contains(e.name),
                    let f = parseLocked(i), f.protonum == p
                else { continue }
                raw.names.insert(e.name)
                for op in f.operations {
                    for v in [op.requestValue, op.replyValue].compactMap({ $0 }) where raw.table[v] == nil {
                        raw.table[v] = f
                    }
                }
            }
            return raw.table[type]
        }
    }

    /// Every spec, each parsed (for listings and generators that need them all).
    public var specs: [YNLLoadedSpec] {
        lock.withLock {
            var out: [YNLLoadedSpec] = []
            var at: [String: Int] = [:]
            for i in entries.indices {
                guard let f = parseLocked(i) else { continue }
                if let j = at[f.name] {
                    out[j].shadowed.append(entries[i].file)
                } else {
                    at[f.name] = out.count
                    out.append(YNLLoadedSpec(family: f, directory: entries[i].directory))
                }
            }
            return out
        }
    }

    /// One per folder that cannot be read and per spec that does not load (all are parsed):
    /// the file and the error that names its key.
    public var errors: [(file: String, error: String)] {
        lock.withLock {
            for i in entries.indices { _ = parseLocked(i) }
            return indexErrors + failed.keys.sorted().map { (entries[$0].file, failed[$0] ?? "") }
        }
    }

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

    /// Indexes every *.yaml of the folders; specs are parsed when used. A folder the user named
    /// that cannot be read is an error in the list (as a bad spec is). `report` hears of each
    /// folder or spec the index cannot read at once, and of each spec that fails to load when it
    /// is first used (the file and the error naming its key); it may be called with the
    /// library's lock held, so it must not call back into the library.
    public static func load(
        _ directories: [YNLSpecDirectory], report: (@Sendable (_ file: String, _ error: String) -> Void)? = nil
    ) -> YNLSpecLibrary {
        var entries: [YNLSpecIndexEntry] = []
        var errors: [(file: String, error: String)] = []
        var parsed: [Int: YNLFamily] = [:]
        let fm = FileManager.default
        for dir in directories {
            guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else {
                errors.append((dir.path, "\(dir.path): cannot read the folder (\(dir.origin))"))
                continue
            }
            for name in names.sorted() where name.hasSuffix(".yaml") {
                let file = dir.path.hasSuffix("/") ? dir.path + name : dir.path + "/" + name
                if let keys = FileReader.read(file).flatMap(topLevelKeys), let family = keys.name {
                    entries.append(
                        YNLSpecIndexEntry(
                            file: file, directory: dir, name: family,
                            proto: YNLProtocol(rawValue: keys.proto ?? "genetlink"), protonum: keys.protonum))
                    continue
                }
                // The line scan could not tell: the full parse (and its error) now.
                do {
                    let f = try YNLSpecLoader.load(path: file)
                    parsed[entries.count] = f
                    entries.append(
                        YNLSpecIndexEntry(
                            file: file, directory: dir, name: f.name, proto: f.proto, protonum: f.protonum))
                } catch {
                    errors.append((file, "\(error)"))
                }
            }
        }
        // What the index could not read is said now: a folder the user mistyped, a spec whose
        // YAML does not parse (the lazy parse reports the rest when their family is used).
        for e in errors { report?(e.file, e.error) }
        return YNLSpecLibrary(
            directories: directories, entries: entries, indexErrors: errors, parsed: parsed, report: report)
    }

    /// `name`, `protocol` and `protonum` from the lines that start a top-level key (column 0) of
    /// the first YAML document, as plain or quoted scalars; nil when a key is there but its value
    /// is not such a scalar (flow style, anchors, a value on the next line), so that the full
    /// parse decides.
    static func topLevelKeys(_ bytes: [UInt8]) -> (name: String?, proto: String?, protonum: Int?)? {
        var name: String?
        var proto: String?
        var protonum: Int?
        var lineStart = 0
        var content = false
        // Every line of every spec on the path is looked at: no allocation per line.
        func starts3(_ line: ArraySlice<UInt8>, _ c: UInt8) -> Bool {
            let s = line.startIndex
            return line.count >= 3 && line[s] == c && line[s + 1] == c && line[s + 2] == c
        }
        while lineStart < bytes.count {
            let end = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let line = bytes[lineStart..<end]
            lineStart = end + 1
            guard let first = line.first else { continue }
            // Most lines are indented: nothing to read in them but that the document has content.
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                content = true
                continue
            }
            // The first document only: a `---` after content, or `...`, ends it.
            if starts3(line, UInt8(ascii: "-")) {
                if content { break }
                continue
            }
            if starts3(line, UInt8(ascii: ".")) { break }
            guard first != UInt8(ascii: "#"), first != UInt8(ascii: "\r") else { continue }
            content = true
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let key = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            guard key == "name" || key == "protocol" || key == "protonum" else { continue }
            guard let value = scalar(line[(colon + 1)...]) else { return nil }
            switch key {
            case "name": if name != nil { return nil } else { name = value }
            case "protocol": if proto != nil { return nil } else { proto = value }
            default:
                guard protonum == nil, let n = Int(value) else { return nil }
                protonum = n
            }
        }
        return (name, proto, protonum)
    }

    /// A one-line plain or quoted scalar, a trailing comment removed; nil for anything else.
    static func scalar(_ raw: ArraySlice<UInt8>) -> String? {
        var s = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if s.hasSuffix("\r") { s.removeLast() }
        guard let c = s.first else { return nil }
        if c == "\"" || c == "'" {
            guard s.count >= 2, s.last == c else { return nil }
            let inner = s.dropFirst().dropLast()
            guard !inner.contains(c), !inner.contains("\\") else { return nil }
            return String(inner)
        }
        if let hash = s.range(of: " #") { s = String(s[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces) }
        guard !s.isEmpty, !"&*!|>{[%@`".contains(c) else { return nil }
        return s
    }
}
