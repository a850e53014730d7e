import Foundation
import Testing
@testable import YNL

/// The kernel's specs, from the cache scripts/install-deps.sh --specs fills (nil: not unpacked).
func kernelSpecDir() -> String? {
    guard let dir = YNLSpecLibrary.kernelSpecDirectory(environment: ProcessInfo.processInfo.environment),
          FileManager.default.fileExists(atPath: dir) else { return nil }
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
