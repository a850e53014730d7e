// The plugin's flowtrace.call, run in tshark, against the call ids `flowtrace show --json`
// prints (CallTracker), frame by frame: on our recordings and on copies without FlowTrace's
// metadata (as an nlmon capture of the kernel module has none). And its links between a
// call's request and final answer (flowtrace.request_in / answer_in, two passes).

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace
import YNLWireshark

@Suite(.enabled(if: tshark != nil, "tshark is not installed"))
struct WiresharkCallTests {
    /// tshark -T fields with the generated plugin: one array of values per frame.
    func fields(_ path: String, _ names: [String], twoPass: Bool = false, dir: TempDir) throws -> [[String]] {
        let plugin = dir.file(ProjectPlugin.fileName)
        if !FileManager.default.fileExists(atPath: plugin) {
            try ProjectPlugin.lua().write(toFile: plugin, atomically: true, encoding: .utf8)
        }
        let out = try run(
            tshark ?? "",
            ["-X", "lua_script:\(plugin)"] + (twoPass ? ["-2"] : []) + ["-r", path, "-T", "fields"]
                + names.flatMap { ["-e", $0] })
        #expect(out.status == 0, "\(out.stderr)")
        #expect(!out.stderr.contains("Lua"), "\(out.stderr)")
        return out.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    func bareCopy(_ path: String, dir: TempDir) throws -> String {
        let bare = dir.file("bare-" + URL(fileURLWithPath: path).lastPathComponent)
        _ = try writeTrace(
            bare,
            try callIDs(path).map { r in
                var x = r.record
                x.leg = .unknown
                x.pairing = nil
                x.synthetic = false
                return x
            })
        return bare
    }

    // Two fixtures (tshark with the plugin takes seconds a run): the demo, and the session whose
    // answers were ACKed (hairpin ACKs belong to calls).
    @Test(arguments: ["demo-session.pcapng", "error-session-acked-answers.pcapng"])
    func pluginNumbersCallsAsShowDoes(_ name: String) throws {
        let dir = try TempDir()
        for path in [Fixtures.trace(name), try bareCopy(Fixtures.trace(name), dir: dir)] {
            let expected = try callIDs(path).map(\.call)
            let rows = try fields(path, ["frame.number", "flowtrace.call"], dir: dir)
            #expect(rows.count == expected.count, "\(path)")
            for (i, (row, call)) in zip(rows, expected).enumerated() {
                #expect(row == ["\(i + 1)", call > 0 ? "\(call)" : ""], "\(path) frame \(i + 1)")
            }
        }
    }

    @Test func requestAndAnswerLinkEachOther() throws {
        let dir = try TempDir()
        let path = Fixtures.trace("demo-session.pcapng")
        var log = CallLog()
        let reader = try TraceReader(path: path)
        while let r = try reader.next() { log.add(r, families: reader.families, frame: reader.frameNumber) }
        let rows = try fields(
            path, ["frame.number", "flowtrace.request_in", "flowtrace.answer_in"], twoPass: true, dir: dir)
        func row(_ frame: Int) -> [String] { frame >= 1 && frame <= rows.count ? rows[frame - 1] : [] }
        for c in log.calls {
            #expect(row(c.apiRequestFrame) == ["\(c.apiRequestFrame)", "", "\(c.apiFinalFrame)"], "call \(c.id)")
            #expect(row(c.apiFinalFrame) == ["\(c.apiFinalFrame)", "\(c.apiRequestFrame)", ""], "call \(c.id)")
            if c.encapRequestFrame > 0 {
                #expect(
                    row(c.encapRequestFrame) == ["\(c.encapRequestFrame)", "", "\(c.encapAnswerFrame)"], "call \(c.id)")
                #expect(
                    row(c.encapAnswerFrame) == ["\(c.encapAnswerFrame)", "\(c.encapRequestFrame)", ""], "call \(c.id)")
            }
        }
        // A display filter on the field shows the whole call, both legs.
        let one = try run(
            tshark ?? "",
            [
                "-X", "lua_script:\(dir.file(ProjectPlugin.fileName))", "-r", path,
                "-Y", "flowtrace.call == 10", "-T", "fields", "-e", "frame.number",
            ])
        let frames = one.stdout.split(separator: "\n").compactMap { Int($0) }
        let c = log.calls[9]
        #expect(
            frames.first == c.firstFrame && frames.last == c.lastFrame && frames.count == c.lastFrame - c.firstFrame + 1
        )
    }
}
