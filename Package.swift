// swift-tools-version:6.1
import PackageDescription

// The targets already in the Swift 6 language mode, with its complete concurrency checking:
// every library, ynl-gen, the fuzz targets but fuzz-encap, and the benchmarks but loopback-bench
// and replay-bench. The others (the three tools, those three, the tests) stay in Swift 5 mode
// (the package default below) until they are moved one by one.
// No unsafeFlags anywhere: a package that depends on this one by version refuses them. The hot
// paths opt out of runtime exclusivity checks per property with @exclusivity(unchecked).
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// FlowTrace: a record/replay tracing tool for hardware flow-table offload
// (the Flow Table API, the unft loopback driver and its hairpin backend).
let package = Package(
    name: "FlowTrace",
    platforms: [.macOS(.v13)],
    // The one product other packages use. The tools (flowtrace, flow-table-ctl,
    // flow-table-hairpind) are executable targets, built and run from this package as its own
    // products are; declared as products here, they would make every package that depends on
    // LibFlowTable resolve and fetch their dependencies (argument parser, Histogram) too.
    products: [
        .library(name: "LibFlowTable", targets: ["LibFlowTable"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libnl-genl-3-dev, libpcap-dev, zlib1g-dev).
        .systemLibrary(
            name: "CLibNL", path: "Sources/CLibNL", pkgConfig: "libnl-genl-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev"])]),
        .systemLibrary(
            name: "CLibPcap", path: "Sources/CLibPcap", pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]),
        // zlib (Debian: zlib1g-dev): gzip-compressed traces are read transparently, as tshark does.
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // The one POSIX layer (clocks, the lock, threads, file read/write loops, errno text):
        // Glibc only and not a product; LibFlowTable imports it internally, so its public API
        // stays the Flow Table model.
        .target(name: "Posix", dependencies: ["CPosix"], path: "Sources/Posix", swiftSettings: swift6),
        // The C half of the Posix layer (header only): what Swift's Glibc module does not import.
        .systemLibrary(name: "CPosix", path: "Sources/CPosix"),
        // The Flow Table API and hairpin families: model, netlink codec, JSON, compare/validate.
        // Swift 6 mode (strict concurrency), as a library others depend on must build cleanly in it.
        .target(name: "LibFlowTable", dependencies: ["Posix"], path: "Sources/LibFlowTable", swiftSettings: swift6),
        // The user-space half of the loopback: backends (ftbe), the hairpin daemon core, unft's twin.
        .target(
            name: "Hairpin", dependencies: ["LibFlowTable", "Posix", "CLibNL"], path: "Sources/Hairpin",
            swiftSettings: swift6),
        // The trace files: pcapng and pcap reading and writing, records, summaries, stats, audit,
        // repair. Knows the Flow Table model only, not the hairpin daemon or its backends.
        .target(
            name: "FlowTrace",
            dependencies: [
                "LibFlowTable", "Posix", .product(name: "Histogram", package: "hdrhistogram-swift"), "CLibPcap",
                "CZlib",
            ], path: "Sources/FlowTrace", swiftSettings: swift6),
        // Traces taken live: the loopback session (unft's twin and the hairpin daemon in one
        // process, recording both legs) and the nlmon capture of a real kernel's netlink.
        .target(
            name: "LiveCapture", dependencies: ["FlowTrace", "Hairpin", "LibFlowTable", "Posix", "CLibPcap"],
            path: "Sources/LiveCapture", swiftSettings: swift6),
        // Feeding traces back into a target.
        .target(
            name: "Replay",
            dependencies: [
                "LibFlowTable", "Posix", "FlowTrace", "LiveCapture", "Hairpin",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/Replay", swiftSettings: swift6),

        .executableTarget(
            name: "flow-table-ctl",
            dependencies: [
                "LibFlowTable", "Posix", "Hairpin", "FlowTrace", "LiveCapture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/flow-table-ctl"),
        .executableTarget(
            name: "flow-table-hairpind",
            dependencies: [
                "LibFlowTable", "Posix", "FlowTrace", "LiveCapture", "Hairpin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/flow-table-hairpind"),
        .executableTarget(
            name: "flowtrace",
            dependencies: [
                "LibFlowTable", "Posix", "FlowTrace", "LiveCapture", "Replay", "Hairpin", "YNL", "YNLWireshark",
                "AnyFamily",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/flowtrace"),
        // The YNL spec interpreter: loads any family's YNL spec at run time and decodes its
        // messages (issue 16). Holds the strict YAML reader ynl-gen uses too; LibFlowTable stays
        // free of YAML.
        .target(
            name: "YNL", dependencies: ["LibFlowTable", "Posix", "Yams"], path: "Sources/YNL", swiftSettings: swift6),
        // The Wireshark Lua dissector generated from the interpreter's model of any family's spec:
        // ynl-gen writes the project's plugin with it, `flowtrace wireshark` one for every spec found.
        .target(
            name: "YNLWireshark", dependencies: ["YNL", "LibFlowTable"], path: "Sources/YNLWireshark",
            swiftSettings: swift6),
        // Every family of a trace named and decoded from the YNL specs (show, stats): the bridge
        // between FlowTrace's records and the interpreter.
        .target(
            name: "AnyFamily", dependencies: ["YNL", "FlowTrace", "LibFlowTable", "Posix"], path: "Sources/AnyFamily",
            swiftSettings: swift6),
        // Generates the Swift constants (and later the C header and Lua tables) from spec/*.yaml.
        .executableTarget(
            name: "ynl-gen",
            dependencies: ["Yams", "YNL", "YNLWireshark"],
            path: "Sources/ynl-gen", swiftSettings: swift6),
        // Codec benchmark: prints numbers, never a pass/fail test.
        .executableTarget(
            name: "codec-bench", dependencies: ["LibFlowTable", "Posix"], path: "Benchmarks/codec-bench",
            swiftSettings: swift6),
        .executableTarget(
            name: "backend-bench", dependencies: ["LibFlowTable", "Posix", "Hairpin"], path: "Benchmarks/backend-bench",
            swiftSettings: swift6),
        .executableTarget(
            name: "trace-bench", dependencies: ["LibFlowTable", "Posix", "Hairpin", "FlowTrace"],
            path: "Benchmarks/trace-bench", swiftSettings: swift6),
        .executableTarget(
            name: "loopback-bench", dependencies: ["LibFlowTable", "Posix", "Hairpin", "FlowTrace", "LiveCapture"],
            path: "Benchmarks/loopback-bench"),
        // YNL interpreter decode rate with a runtime spec.
        .executableTarget(
            name: "ynl-bench", dependencies: ["YNL", "LibFlowTable", "FlowTrace"], path: "Benchmarks/ynl-bench",
            swiftSettings: swift6),
        // Reading and mapping a ClassBench-like filter set (flowtrace gen --from classbench).
        .executableTarget(
            name: "import-bench", dependencies: ["Hairpin", "LibFlowTable", "Posix"], path: "Benchmarks/import-bench"),
        // Replay throughput and memory: preloaded vs streaming into backend:hash.
        .executableTarget(
            name: "replay-bench", dependencies: ["Replay", "FlowTrace", "Hairpin", "LibFlowTable", "Posix"],
            path: "Benchmarks/replay-bench"),

        // Fuzzing (issue 7, docs/fuzzing.md): one libFuzzer target per hostile-input path. Built
        // normally each is a corpus runner (FILE|DIR... through the same checks); scripts/fuzz.sh
        // builds them with --sanitize fuzzer --sanitize address -D FUZZING, where libFuzzer
        // provides main (Fuzz/FuzzSupport/FuzzTarget.swift). fuzz-corpus cuts the seed corpora
        // (Fuzz/corpus/) out of traces/.
        .systemLibrary(name: "CFuzzEntry", path: "Fuzz/CFuzzEntry"),
        .target(
            name: "FuzzSupport", dependencies: ["Posix", "LibFlowTable", "CFuzzEntry"], path: "Fuzz/FuzzSupport",
            swiftSettings: swift6),
        .executableTarget(
            name: "fuzz-netlink", dependencies: ["LibFlowTable", "FuzzSupport"], path: "Fuzz/fuzz-netlink",
            swiftSettings: swift6),
        .executableTarget(
            name: "fuzz-pcapng", dependencies: ["FlowTrace", "LibFlowTable", "FuzzSupport"],
            path: "Fuzz/fuzz-pcapng", swiftSettings: swift6),
        .executableTarget(
            name: "fuzz-json", dependencies: ["LibFlowTable", "FuzzSupport"], path: "Fuzz/fuzz-json",
            swiftSettings: swift6),
        .executableTarget(
            name: "fuzz-encap", dependencies: ["Hairpin", "LibFlowTable", "FuzzSupport"],
            path: "Fuzz/fuzz-encap"),
        .executableTarget(
            name: "fuzz-ynl", dependencies: ["YNL", "LibFlowTable", "FuzzSupport"], path: "Fuzz/fuzz-ynl",
            swiftSettings: swift6),
        // The importers of `flowtrace gen --from` (ClassBench filter sets and traces, ovs-ofctl dump-flows).
        .executableTarget(
            name: "fuzz-classbench", dependencies: ["Hairpin", "LibFlowTable", "FuzzSupport"],
            path: "Fuzz/fuzz-classbench"),
        .executableTarget(
            name: "fuzz-ovs", dependencies: ["Hairpin", "LibFlowTable", "FuzzSupport"], path: "Fuzz/fuzz-ovs"),
        .executableTarget(
            name: "fuzz-corpus", dependencies: ["FlowTrace", "LibFlowTable", "FuzzSupport", "Posix"],
            path: "Fuzz/fuzz-corpus", swiftSettings: swift6),

        .testTarget(
            name: "HairpinTests",
            dependencies: [
                "Hairpin", "LibFlowTable", "Posix",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/HairpinTests"),
        // With LiveCapture: some tests take their traces from a loopback session.
        .testTarget(
            name: "FlowTraceTests",
            dependencies: ["FlowTrace", "LiveCapture", "Hairpin", "LibFlowTable", "Posix", "YNLWireshark"],
            path: "Tests/FlowTraceTests"),
        .testTarget(
            name: "LibFlowTableTests",
            dependencies: [
                "LibFlowTable", "Yams", "YNLWireshark",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/LibFlowTableTests"),
        .testTarget(
            name: "YNLTests",
            dependencies: ["YNL", "YNLWireshark", "LibFlowTable", "FlowTrace", "AnyFamily"],
            path: "Tests/YNLTests"),
        .testTarget(
            name: "ReplayTests",
            dependencies: ["Replay", "FlowTrace", "LiveCapture", "Hairpin", "LibFlowTable", "Posix"],
            path: "Tests/ReplayTests"),
    ],
    swiftLanguageModes: [.v5]
)
