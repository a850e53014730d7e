// What the fuzz targets share: failing a check loudly (libFuzzer saves the input that made
// the process abort), and the corpus runner each target becomes when it is built without the
// fuzzer (`swift build`): it runs every file given through the same function as libFuzzer would.
// docs/fuzzing.md says how the two builds differ.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LibFlowTable
import Posix

public enum Fuzz {
    /// The input being run, named in failure messages (the corpus runner sets it; under
    /// libFuzzer the input is the one libFuzzer saves as crash-…). Unguarded: a fuzz target
    /// runs its inputs one after another on one thread, the only one that sets or reads it.
    nonisolated(unsafe) public static var currentInput = "the fuzzer's input"

    /// A broken oracle: says which and aborts, so libFuzzer records the input as a crash and the
    /// corpus runner exits non-zero.
    public static func fail(_ message: String) -> Never {
        standardError("FUZZ CHECK FAILED on \(currentInput): \(message)")
        abort()
    }

    @inline(__always)
    public static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    /// Flows an importer made are valid for the model and unique per (table, uid).
    public static func checkImported(_ flows: [Flow], _ index: ValidationIndex) {
        var seen = Set<FlowIdentity>()
        for f in flows {
            let errors = index.validate(f, for: .set)
            check(errors.isEmpty, "an imported flow is not valid for the model: \(errors)\n\(f)")
            check(seen.insert(FlowIdentity(f)).inserted, "two imported flows share \(FlowIdentity(f))")
        }
    }

    /// A text reader's error names one of the input's lines.
    public static func checkErrorLine(_ line: Int, of lines: Int, _ error: some Error) {
        check(line >= 1 && line <= lines, "error at line \(line) of a \(lines)-line input: \(error)")
    }

    /// The number of lines of a text input (its newlines plus one).
    public static func lineCount(_ bytes: [UInt8]) -> Int { bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) } }

    public static func standardError(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    }

    /// The corpus runner: every file named (directories: every file below them, in name order)
    /// goes through `body`. Prints "<tool>: N inputs passed" and returns the exit status: 0, or 2
    /// for unusable arguments. A failing input aborts the process inside `body`.
    public static func runCorpus(
        tool: String, arguments: [String],
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Int32 {
        if arguments.isEmpty || arguments.contains("-h") || arguments.contains("--help") {
            print(
                """
                usage: \(tool) FILE|DIR...
                Runs every input through the \(tool) checks (the same function libFuzzer calls in the
                fuzz build, scripts/fuzz.sh). Example: \(tool) Fuzz/corpus/\(tool)
                """)
            return arguments.isEmpty ? 2 : 0
        }
        var files: [String] = []
        for a in arguments {
            guard collect(a, into: &files) else {
                standardError("\(tool): cannot read \(a): \(Sys.errorText(errno))")
                return 2
            }
        }
        for path in files {
            let read = Sys.readFile(path)
            guard let bytes = read.bytes else {
                standardError("\(tool): cannot read \(path): \(Sys.errorText(read.errno))")
                return 2
            }
            currentInput = path
            bytes.withUnsafeBytes { body($0) }
        }
        currentInput = "the fuzzer's input"
        print("\(tool): \(files.count) inputs passed")
        return 0
    }

    /// Whether `path` names a file or directory that exists.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// The package root of a fuzz target's source file (`#filePath` of Fuzz/<target>/X.swift).
    public static func packageRoot(ofSource filePath: String) -> String {
        var parts = filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(min(3, parts.count))
        return parts.joined(separator: "/")
    }

    /// The process environment, NAME → value.
    public static var environment: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { out[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            p += 1
        }
        return out
    }

    /// Files at `path`: itself, or everything below it when it is a directory (dot files skipped).
    static func collect(_ path: String, into files: inout [String]) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        if st.st_mode & S_IFMT != S_IFDIR {
            files.append(path)
            return true
        }
        guard let dir = opendir(path) else { return false }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        closedir(dir)
        for name in names.sorted() {
            guard collect(path + "/" + name, into: &files) else { return false }
        }
        return true
    }
}
