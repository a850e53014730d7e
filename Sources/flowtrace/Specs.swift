// flowtrace specs: the YNL specs the interpreter loads (--spec-dir, $FLOWTRACE_SPEC_PATH, the
// project's spec/, the kernel's specs from `scripts/install-deps.sh --specs`) and from where.

import ArgumentParser
import Foundation
import YNL

struct Specs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the YNL specs loaded (family, protocol, operations, attribute sets, file).",
        discussion: """
            Searched in order: each --spec-dir, then $FLOWTRACE_SPEC_PATH (colon-separated), then the \
            project's spec/ and the kernel's specs unpacked by scripts/install-deps.sh --specs. The first \
            spec of a family wins. A spec that does not load is reported with its file and key, and the \
            exit status is 1.
            Example: flowtrace specs --spec-dir ~/my-specs
            """)

    @Option(
        name: .customLong("spec-dir"),
        help: ArgumentHelp("Also search this folder for *.yaml specs (repeatable); searched first.", valueName: "dir"))
    var specDirs: [String] = []

    func run() throws {
        let lib = YNLSpecLibrary.load(YNLSpecLibrary.searchPath(specDirs: specDirs))
        print("search path:")
        for d in lib.directories { print("  \(d.path) (\(d.origin))") }
        let rows = lib.specs.map { s in
            [
                s.family.name, s.family.proto.rawValue, String(s.family.operations.count),
                String(s.family.attributeSets.count), s.directory.origin, s.family.file,
            ]
        }
        let header = ["family", "protocol", "ops", "sets", "from", "file"]
        let widths = (0..<header.count).map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { c, v in
                c == r.count - 1 ? v : v.padding(toLength: widths[c], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  ")
        }
        print(line(header))
        for r in rows { print(line(r)) }
        for s in lib.specs {
            for f in s.shadowed { print("shadowed: \(f) (\(s.family.name) comes from \(s.family.file))") }
        }
        for e in lib.errors { fputs("flowtrace specs: \(e.error)\n", stderr) }
        if !lib.errors.isEmpty { throw ExitCode(1) }
    }
}
