// ynl-gen: spec/*.yaml (plain YNL, genetlink-legacy) and their hints (spec/hints/) -> the Swift
// constants of LibFlowTable, the C uapi header and the netlink tables of the kernel module, and the
// specs' text, from which `flowtrace` prints the Wireshark Lua plugin. The specs are the single
// source of truth;
// `--check` is how the tests and CI notice generated files that were edited by hand or not
// regenerated.
//
//   swift run ynl-gen            (re)write every generated file that differs
//   swift run ynl-gen --check    write nothing; exit 1 naming each stale file
//   ... --root DIR               the package root (default: found upwards from the current directory)

import Foundation
import YNL
import YNLWireshark

struct GeneratedFile {
    /// Relative to the package root.
    var path: String
    var content: String
}

enum Generator {
    static let swiftDirectory = "Sources/LibFlowTable/Protocol/Generated"
    static let cDirectory = "kmod/include/uapi"
    /// Generator hints, one file per spec with the spec's file name (spec/hints/net_flow_nl.yaml).
    static let hintsDirectory = "hints"

    static func loadFamilies(root: URL) throws -> [Family] {
        let specDirectory = root.appendingPathComponent("spec")
        let names = try FileManager.default.contentsOfDirectory(atPath: specDirectory.path)
            .filter { $0.hasSuffix(".yaml") }
            .sorted()  // a stable order keeps the output stable
        guard !names.isEmpty else {
            throw SpecError(file: "spec/", line: nil, path: "", message: "no *.yaml spec found")
        }
        let families = try names.map { name -> Family in
            let file = "spec/\(name)"
            let text: String
            do {
                text = try String(contentsOf: specDirectory.appendingPathComponent(name), encoding: .utf8)
            } catch {
                throw SpecError(file: file, line: nil, path: "", message: "cannot read: \(error.localizedDescription)")
            }
            let family = try SpecLoader.load(yaml: text, file: file)
            let hintsFile = "spec/\(hintsDirectory)/\(name)"
            guard let hints = try? String(contentsOf: root.appendingPathComponent(hintsFile), encoding: .utf8) else {
                return family
            }
            return try HintsLoader.apply(yaml: hints, file: hintsFile, to: family)
        }
        // A hints file without its spec would be ignored silently: a renamed spec loses its hints.
        let hintsNames =
            (try? FileManager.default.contentsOfDirectory(
                atPath: specDirectory.appendingPathComponent(hintsDirectory).path)) ?? []
        for hints in hintsNames.sorted() where !names.contains(hints) {
            throw SpecError(
                file: "spec/\(hintsDirectory)/\(hints)", line: nil, path: "",
                message: "no spec spec/\(hints) for these hints")
        }
        try Validation.check(families)
        return families
    }

    /// The texts of spec/*.yaml and their hints, which ProjectSpecs.swift embeds for the plugin.
    static func loadTexts(root: URL) throws -> [ProjectPlugin.SpecText] {
        let specDirectory = root.appendingPathComponent("spec")
        let names = try FileManager.default.contentsOfDirectory(atPath: specDirectory.path)
            .filter { $0.hasSuffix(".yaml") }
            .sorted()
        return try names.map { name in
            let text = try String(contentsOf: specDirectory.appendingPathComponent(name), encoding: .utf8)
            let hints = try? String(
                contentsOf: root.appendingPathComponent("spec/\(hintsDirectory)/\(name)"), encoding: .utf8)
            return ProjectPlugin.SpecText(name: name, spec: text, hints: hints)
        }
    }

    static func files(for families: [Family], texts: [ProjectPlugin.SpecText]) throws -> [GeneratedFile] {
        var files: [GeneratedFile] = []
        for family in families {
            guard let namespace = family.swiftName else { continue }
            files.append(
                GeneratedFile(
                    path: "\(swiftDirectory)/\(namespace).swift",
                    content: SwiftEmitter.emit(family, namespace: namespace)))
        }
        // Families that name the same uapi-header share one C header.
        var headers: [String] = []
        for family in families where !headers.contains(family.uapiHeader) {
            headers.append(family.uapiHeader)
        }
        for header in headers {
            let result = CEmitter.emit(
                header: header, families: dependenciesFirst(families.filter { $0.uapiHeader == header }))
            try Validation.checkCNames(result.names)
            files.append(GeneratedFile(path: "\(cDirectory)/\(header)", content: result.text))
        }
        // The specs' texts, from which ProjectPlugin prints the project's Wireshark plugin at run
        // time; printing it here fails generation when the runtime's NEED no longer resolves.
        _ = try LuaEmitter.emit(try ProjectPlugin.families(texts))
        files.append(GeneratedFile(path: ProjectPlugin.specsPath, content: ProjectPlugin.specsFile(texts)))
        files += try KmodEmitter.files(for: dependenciesFirst(families))
        files.append(try DescriptorEmitter.file(for: families))
        let paths = files.map(\.path)
        if let twice = paths.first(where: { path in paths.filter { $0 == path }.count > 1 }) {
            throw SpecError(
                file: "spec/", line: nil, path: "", message: "two specs generate \(twice) (swift-name or uapi-header)")
        }
        return files
    }

    /// A family whose set another one nests (net_flow_nl inside hairpin's encap) comes first: the
    /// header then reads in the order the protocols build on each other. Stable otherwise.
    static func dependenciesFirst(_ families: [Family]) -> [Family] {
        var rest = families
        var ordered: [Family] = []
        while !rest.isEmpty {
            let ready =
                rest.firstIndex { family in
                    !family.attributeSets.flatMap(\.attributes).contains { nested in
                        rest.contains { $0.name == nested.nestedFamily && $0.name != family.name }
                    }
                } ?? 0  // a cycle: keep the file order
            ordered.append(rest.remove(at: ready))
        }
        return ordered
    }

    /// The first line where two texts differ, to point at the stale spot.
    static func firstDifference(_ a: String, _ b: String) -> Int {
        let left = a.split(separator: "\n", omittingEmptySubsequences: false)
        let right = b.split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(left.count, right.count) {
            if index >= left.count || index >= right.count || left[index] != right[index] { return index + 1 }
        }
        return 0
    }
}

/// The package root: the nearest directory upwards that holds Package.swift and spec/.
func findRoot(from start: URL) -> URL? {
    var directory = start.standardizedFileURL
    while true {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.appendingPathComponent("Package.swift").path),
            fm.fileExists(atPath: directory.appendingPathComponent("spec").path)
        {
            return directory
        }
        let parent = directory.deletingLastPathComponent()
        if parent.path == directory.path { return nil }
        directory = parent
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("ynl-gen: \(message)\n".utf8))
}

func run(_ arguments: [String]) -> Int32 {
    var check = false
    var rootArgument: String?
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        switch argument {
        case "--check": check = true
        case "--root":
            guard let value = rest.popFirst() else { printError("--root needs a directory"); return 2 }
            rootArgument = value
        case "-h", "--help":
            print("usage: ynl-gen [--check] [--root DIR]")
            return 0
        default:
            printError("unknown argument \(argument); usage: ynl-gen [--check] [--root DIR]")
            return 2
        }
    }
    let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    guard let root = rootArgument.map({ URL(fileURLWithPath: $0, relativeTo: cwd) }) ?? findRoot(from: cwd) else {
        printError("no package root (a directory with Package.swift and spec/) above \(cwd.path); use --root")
        return 2
    }

    let files: [GeneratedFile]
    do {
        files = try Generator.files(
            for: try Generator.loadFamilies(root: root),
            texts: try Generator.loadTexts(root: root))
    } catch {
        printError("\(error)")
        return 2
    }

    var stale = 0
    for file in files {
        let url = root.appendingPathComponent(file.path)
        let current = try? String(contentsOf: url, encoding: .utf8)
        if current == file.content {
            if !check { print("unchanged \(file.path)") }
            continue
        }
        if check {
            let detail =
                current.map { "differs from the spec at line \(Generator.firstDifference($0, file.content))" }
                ?? "is missing"
            printError("stale: \(file.path) \(detail); run `swift run ynl-gen`")
            stale += 1
            continue
        }
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            // Only changed files are written, so an unchanged spec does not trigger a rebuild.
            try file.content.write(to: url, atomically: true, encoding: .utf8)
            print("wrote \(file.path)")
        } catch {
            printError("cannot write \(file.path): \(error.localizedDescription)")
            return 2
        }
    }
    if check {
        if stale > 0 { return 1 }
        print("ynl-gen: \(files.count) generated files match spec/")
    }
    return 0
}

exit(run(Array(CommandLine.arguments.dropFirst())))
