// The entry every fuzz target shares, so a target's file says only what it fuzzes:
//
//     @main enum NetlinkFuzz: FuzzTarget {
//         static let name = "fuzz-netlink"
//         static func run(_ input: UnsafeRawBufferPointer) { … }
//     }
//
// Normal build (`swift build`): main() is the corpus runner (Fuzz.runCorpus). SwiftPM links every
// executable into the test bundle under a renamed entry point, so no target may define a fixed
// global symbol there.
// Fuzz build (scripts/fuzz.sh, -D FUZZING): libFuzzer's own main is linked in, so the script
// renames the target's @main entry to fuzz_target_main. libFuzzer calls LLVMFuzzerInitialize
// (below), which runs that entry; main() then only registers the target's oracle, which
// LLVMFuzzerTestOneInput calls for every input. docs/fuzzing.md.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if FUZZING
import CFuzzEntry
#endif

public protocol FuzzTarget {
    /// The target's name (its folder under Fuzz/ and its corpus Fuzz/corpus/<name>/).
    static var name: String { get }
    /// One input through the target's checks; a broken oracle ends in Fuzz.fail.
    static func run(_ input: UnsafeRawBufferPointer)
}

extension FuzzTarget {
    public static func main() {
        #if FUZZING
        Fuzz.oracle = run
        #else
        exit(Fuzz.runCorpus(tool: name, arguments: Array(CommandLine.arguments.dropFirst()), run))
        #endif
    }
}

extension Fuzz {
    /// The running target's `run`, set by its main() in the fuzz build.
    nonisolated(unsafe) static var oracle: ((UnsafeRawBufferPointer) -> Void)?
}

#if FUZZING
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    _ = fuzz_target_main(argc.pointee, argv.pointee)
    Fuzz.check(Fuzz.oracle != nil, "the fuzz target's main did not register its oracle")
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Fuzz.oracle!(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#endif
