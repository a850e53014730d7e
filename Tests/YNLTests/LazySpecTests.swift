import Foundation
import Testing
@testable import YNL

/// Specs are indexed by their top-level keys and parsed when their family is first used; a bad
/// one is still reported with its file and key, when used and in the full listing.
@Suite struct LazySpecTests {
    static func folder(_ files: [String: String]) throws -> String {
        let dir = NSTemporaryDirectory() + "lazy-specs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    static let good = """
        # SPDX-License-Identifier: GPL-2.0
        ---
        name: "toy-a"
        protocol: genetlink   # a comment
        doc: >-
          name: not-this
        attribute-sets:
          - name: a
            attributes:
              - { name: x, type: u32 }
        operations:
          list:
            - { name: get, value: 1, attribute-set: a, do: { request: { attributes: [ x ] } } }
        """
    static let raw = """
        name: rt-toy
        protocol: netlink-raw
        protonum: 0
        attribute-sets:
          - name: link
            attributes:
              - { name: ifname, type: string, value: 3 }
        operations:
          enum-model: directional
          list:
            - name: newlink
              attribute-set: link
              do:
                request: { value: 16, attributes: [ ifname ] }
        """
    /// A wrong type, in a file whose name is not its family's.
    static let hostile = """
        name: toy-bad
        attribute-sets:
          - name: a
            attributes:
              - { name: x, type: u33 }
        operations:
          list: []
        """
    /// Flow style: the line scan cannot read it, the full parse can.
    static let flow = "{ name: toy-flow, attribute-sets: [], operations: { list: [] } }\n"

    @Test func parsedOnlyWhenUsed() throws {
        let dir = try Self.folder([
            "a.yaml": Self.good, "rt_toy.yaml": Self.raw, "bad.yaml": Self.hostile, "flow.yaml": Self.flow,
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reports = ReportLog()
        let lib = YNLSpecLibrary.load(
            [YNLSpecDirectory(path: dir, origin: "--spec-dir")], report: { f, e in reports.add(f, e) })
        // Indexed without a parse, but for the flow-style file.
        #expect(lib.familyNames == ["toy-a", "toy-bad", "toy-flow", "rt-toy"])
        #expect(lib.parsedFiles == [dir + "/flow.yaml"])
        #expect(reports.all.isEmpty)

        let a = try #require(lib.family(named: "toy-a"))
        #expect(a.proto == .genetlink && a.operation(named: "get") != nil)
        #expect(lib.parsedFiles == [dir + "/a.yaml", dir + "/flow.yaml"])
        // A netlink-raw family by protocol and message type: that protocol's specs parsed.
        #expect(lib.rawFamily(protocol: 0, type: 16)?.name == "rt-toy")
        #expect(lib.rawFamily(protocol: 0, type: 17) == nil && lib.rawFamily(protocol: 12, type: 16) == nil)
        #expect(!lib.parsedFiles.contains(dir + "/bad.yaml"))

        // The hostile spec: nil when used, its error (file and key) reported once.
        #expect(lib.family(named: "toy-bad") == nil)
        #expect(lib.family(named: "toy-bad") == nil)
        #expect(reports.all.count == 1)
        let first = try #require(reports.all.first)
        #expect(first.file == dir + "/bad.yaml")
        #expect(first.error.contains("bad.yaml") && first.error.contains("type") && first.error.contains("u33"))
        // The full listing parses the rest and lists every error.
        #expect(Set(lib.specs.map(\.family.name)) == ["toy-a", "toy-flow", "rt-toy"])
        #expect(lib.errors.map(\.file) == [dir + "/bad.yaml"])
    }

    @Test func firstFileOfAFamilyWinsAndBrokenOnesFallThrough() throws {
        let one = try Self.folder(["x.yaml": Self.hostile])
        let two = try Self.folder(["y.yaml": Self.hostile.replacingOccurrences(of: "u33", with: "u32")])
        defer {
            try? FileManager.default.removeItem(atPath: one)
            try? FileManager.default.removeItem(atPath: two)
        }
        let lib = YNLSpecLibrary.load([
            YNLSpecDirectory(path: one, origin: "--spec-dir"), YNLSpecDirectory(path: two, origin: "kernel"),
        ])
        #expect(lib.family(named: "toy-bad")?.file == two + "/y.yaml")
        #expect(lib.errors.map(\.file) == [one + "/x.yaml"])
    }

    /// What the index itself cannot read (a folder that is not there, a spec whose YAML does not
    /// parse and whose keys the line scan cannot tell) is reported too, at load, with its file:
    /// `show` and `stats` read no `errors` listing, so it would go unsaid.
    @Test func indexErrorsAreReported() throws {
        let dir = try Self.folder(["broken.yaml": "name: [toy-broken\n", "a.yaml": Self.good])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = dir + "/no-such-folder"
        let reports = ReportLog()
        let lib = YNLSpecLibrary.load(
            [YNLSpecDirectory(path: dir, origin: "--spec-dir"), YNLSpecDirectory(path: missing, origin: "--spec-dir")],
            report: { f, e in reports.add(f, e) })
        #expect(reports.all.map(\.file) == [dir + "/broken.yaml", missing])
        #expect(reports.all.first?.error.contains("broken.yaml") == true)
        #expect(reports.all.last?.error.contains("cannot read the folder") == true)
        // Each once: the full listing says them again, the report does not.
        #expect(lib.errors.map(\.file) == [dir + "/broken.yaml", missing])
        #expect(lib.family(named: "toy-a") != nil)
        #expect(reports.all.count == 2)
    }

    @Test func lineScanReadsTheTopLevelKeys() {
        func keys(_ s: String) -> String {
            guard let k = YNLSpecLibrary.topLevelKeys(Array(s.utf8)) else { return "parse" }
            return "\(k.name ?? "-") \(k.proto ?? "-") \(k.protonum.map(String.init) ?? "-")"
        }
        #expect(keys("name: rt-link\nprotocol: netlink-raw\nprotonum: 0\n") == "rt-link netlink-raw 0")
        #expect(keys("name: 'ovs_flow'\r\nprotocol: genetlink-legacy\r\n") == "ovs_flow genetlink-legacy -")
        #expect(keys("doc: x\n  name: nested\nname: top\n") == "top - -")
        // Anything but a one-line scalar, or a key said twice: the full parse decides.
        #expect(keys("name: &a x\n") == "parse")
        #expect(keys("name:\n  x\n") == "parse")
        #expect(keys("name: a\nname: b\n") == "parse")
        #expect(keys("name: a\n---\nname: b\n") == "a - -")
    }
}

final class ReportLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(file: String, error: String)] = []
    func add(_ f: String, _ e: String) { lock.withLock { entries.append((f, e)) } }
    var all: [(file: String, error: String)] { lock.withLock { entries } }
}
