// flowtrace wireshark: the Lua dissector, printed or installed: generated here from every YNL spec
// on the spec path (--spec-dir, $FLOWTRACE_SPEC_PATH, the project's spec/, the kernel's specs), by
// the generator that prints the project's plugin (--builtin, or when no spec is found) from the
// project's specs compiled in.

import ArgumentParser
import FlowTrace
import Posix
import YNL
import YNLWireshark

#if canImport(Glibc)
import Glibc
#endif

struct Wireshark: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The Wireshark plugin that decodes every generic netlink family with a YNL spec by name.",
        subcommands: [Print.self, Install.self])

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the Lua plugin.",
            discussion:
                "Example: flowtrace wireshark print > flowtrace.lua && tshark -X lua_script:flowtrace.lua -r trace.pcapng"
        )

        @OptionGroup var specs: PluginSpecs

        func run() throws {
            let plugin = try specs.plugin()
            print(plugin.lua, terminator: "")
            try plugin.finish()
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the plugin into the personal Lua plugin folder (~/.local/lib/wireshark/plugins).",
            discussion: "Example: flowtrace wireshark install && tshark -r trace.pcapng -V")

        @Option(help: "Install into this folder instead.")
        var directory: String?

        @OptionGroup var specs: PluginSpecs

        func run() throws {
            let dir: String
            if let directory {
                dir = directory
            } else {
                guard let home = getenv("HOME").map({ String(cString: $0) }) else {
                    throw ToolError("HOME is not set: give the folder with --directory")
                }
                dir = home + "/.local/lib/wireshark/plugins"
            }
            try makeDirectories(dir)
            let path = dir + "/" + ProjectPlugin.fileName
            let plugin = try specs.plugin()
            var text = plugin.lua
            if let failed = text.withUTF8({ Sys.writeFile(path, contents: UnsafeRawBufferPointer($0)) }) {
                throw ToolError("cannot write \(path): \(Sys.errorText(failed.errno))")
            }
            print(
                "installed \(path) (\(plugin.families.joined(separator: ", "))); check with: tshark -G plugins | grep \(ProjectPlugin.fileName)"
            )
            try plugin.finish()
        }
    }
}

/// The specs the plugin is generated from, and the generation.
struct PluginSpecs: ParsableArguments {
    @Option(
        name: .customLong("spec-dir"),
        help: ArgumentHelp("Also search this folder for *.yaml specs (repeatable); searched first.", valueName: "dir"))
    var specDirs: [String] = []

    @Flag(help: "The plugin built into this binary (net_flow_nl and nfl_hairpin only), whatever the spec path holds.")
    var builtin = false

    struct Plugin {
        var lua: String
        var families: [String]
        /// Specs that did not load or that the generator cannot print, with the error naming the
        /// file and key.
        var errors: [String]

        /// Exit 1 after the plugin was written when a spec was left out for an error.
        func finish() throws {
            for e in errors { fputs("flowtrace wireshark: \(e)\n", stderr) }
            if !errors.isEmpty { throw ExitCode(1) }
        }
    }

    /// One dissector per generic netlink family found; families Wireshark dissects itself and
    /// netlink-raw families (rt-link: NETLINK_ROUTE is Wireshark's netlink-route) are listed on
    /// stderr and left out. No spec at all: the project's plugin.
    func plugin() throws -> Plugin {
        if builtin {
            guard specDirs.isEmpty else { throw ValidationError("--builtin takes no --spec-dir") }
            return try Self.projectPlugin(errors: [])
        }
        let lib = YNLSpecLibrary.load(YNLSpecLibrary.searchPath(specDirs: specDirs))
        var errors = lib.errors.map { $0.error }
        var families: [YNLFamily] = []
        for spec in lib.specs {
            if let why = LuaEmitter.skipReason(spec.family) {
                fputs("flowtrace wireshark: \(spec.family.name) left to Wireshark: \(why)\n", stderr)
                continue
            }
            families.append(spec.family)
        }
        // A family the generator cannot print is left out alone, named with its error; one that
        // nests another family's set stands or falls with it.
        var good: [YNLFamily] = []
        for family in families {
            let nested = family.attributeSets.flatMap(\.attributes).compactMap(\.nestedFamily?.family)
            let with = families.filter { nested.contains($0.name) && $0.name != family.name }
            do {
                _ = try LuaEmitter.emit([family] + with)
                good.append(family)
            } catch {
                errors.append("left out \(family.file): \(error)")
            }
        }
        guard !good.isEmpty else {
            if lib.specs.isEmpty {
                return try Self.projectPlugin(errors: errors)
            }
            throw ToolError(
                "no family to print a dissector for" + (errors.isEmpty ? "" : ": " + errors.joined(separator: "; ")))
        }
        do {
            return Plugin(lua: try LuaEmitter.emit(good), families: good.map(\.name), errors: errors)
        } catch {
            throw ToolError("cannot print the plugin: \(error)")
        }
    }
}

extension PluginSpecs {
    /// The project's plugin, from the specs compiled into this binary.
    static func projectPlugin(errors: [String]) throws -> Plugin {
        do {
            return Plugin(
                lua: try ProjectPlugin.lua(), families: try ProjectPlugin.families().map(\.name), errors: errors)
        } catch {
            throw ToolError("cannot print the built-in plugin: \(error)")
        }
    }
}

/// mkdir -p
func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw ToolError("cannot create \(current): \(Sys.errorText(errno))")
        }
    }
}
