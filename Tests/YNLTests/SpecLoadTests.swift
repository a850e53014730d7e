import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import YNL

/// The kernel's specs, from the cache scripts/install-deps.sh --specs fills (nil: not unpacked).
func kernelSpecDir() -> String? {
    guard let dir = YNLSpecLibrary.kernelSpecDirectory(environment: ProcessInfo.processInfo.environment),
        FileManager.default.fileExists(atPath: dir)
    else { return nil }
    return dir
}

/// The project's spec/ folder, found from this source file.
let projectSpecDir: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("spec").path

@Suite struct SpecLoadTests {
    @Test func everyKernelSpecLoads() throws {
        guard let dir = kernelSpecDir() else {
            print("YNLTests: no kernel specs (run scripts/install-deps.sh --specs); skipping the kernel spec load")
            return
        }
        let lib = YNLSpecLibrary.load([YNLSpecDirectory(path: dir, origin: "kernel")])
        for e in lib.errors { Issue.record("\(e.file): \(e.error)") }
        #expect(lib.specs.count >= 19)
        let names = Set(lib.specs.map(\.family.name))
        for f in ["devlink", "ethtool", "netdev", "rt-link", "nlctrl", "ovs_flow", "nftables", "tc"] {
            #expect(names.contains(f), "\(f) missing from \(names.sorted())")
        }
    }

    @Test func ourSpecsLoad() throws {
        let lib = YNLSpecLibrary.load([YNLSpecDirectory(path: projectSpecDir, origin: "project")])
        #expect(lib.errors.isEmpty, "\(lib.errors)")
        #expect(Set(lib.specs.map(\.family.name)) == ["net_flow_nl", "nfl_hairpin"])
    }
}

@Suite struct SpecPathTests {
    @Test func orderAndShadowing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ynl-path-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A user's own net_flow_nl spec, searched before the project's.
        let own = try String(contentsOfFile: projectSpecDir + "/net_flow_nl.yaml", encoding: .utf8)
        try own.write(toFile: dir + "/mine.yaml", atomically: true, encoding: .utf8)
        let path = YNLSpecLibrary.searchPath(
            specDirs: ["/a"], environment: ["FLOWTRACE_SPEC_PATH": dir + ":/b", "HOME": "/nonexistent"],
            executable: projectSpecDir + "/../.build/debug/flowtrace")
        #expect(path.map(\.origin) == ["--spec-dir", "FLOWTRACE_SPEC_PATH", "FLOWTRACE_SPEC_PATH", "project"])
        #expect(path.map(\.path).prefix(3) == ["/a", dir, "/b"])
        let lib = YNLSpecLibrary.load(Array(path.dropFirst()))
        let flow = try #require(lib.specs.first { $0.family.name == "net_flow_nl" })
        #expect(flow.family.file == dir + "/mine.yaml")
        #expect(flow.shadowed.count == 1)
        #expect(lib.errors.map(\.file) == ["/b"])
    }
}
