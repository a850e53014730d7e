// flowtrace wireshark: the Lua dissector generated from spec/ (ynl-gen), printed or installed.

import ArgumentParser
import FlowTrace
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct Wireshark: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The Wireshark plugin that decodes net_flow_nl and nfl_hairpin by name.",
        subcommands: [Print.self, Install.self])

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the Lua plugin.",
            discussion: "Example: flowtrace wireshark print > flowtrace.lua && tshark -X lua_script:flowtrace.lua -r trace.pcapng")

        func run() throws {
            print(WiresharkPlugin.lua, terminator: "")
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the plugin into the personal Lua plugin folder (~/.local/lib/wireshark/plugins).",
            discussion: "Example: flowtrace wireshark install && tshark -r trace.pcapng -V")

        @Option(help: "Install into this folder instead.")
        var directory: String?

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
            let path = dir + "/" + WiresharkPlugin.fileName
            var text = WiresharkPlugin.lua
            if let failed = text.withUTF8({ Sys.writeFile(path, contents: UnsafeRawBufferPointer($0)) }) {
                throw ToolError("cannot write \(path): \(Sys.errorText(failed.errno))")
            }
            print("installed \(path); check with: tshark -G plugins | grep \(WiresharkPlugin.fileName)")
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
