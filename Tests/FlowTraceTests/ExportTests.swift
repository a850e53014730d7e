// flowtrace export: the trace-event JSON parses (Foundation, as Perfetto's importer would) into
// one slice per call and leg it used, on named tracks; the CSV has a header and one row per call.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

@Suite struct ExportTests {
    @Test func perfettoSlicesAreTheCalls() throws {
        let calls = try CallExport.calls(paths: [Fixtures.trace("demo-session.pcapng")])
        #expect(calls.count == 47)
        let text = CallExport.perfetto(calls, name: "demo").serialized(style: .compact)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let slices = events.filter { $0["ph"] as? String == "X" }
        let meta = events.filter { $0["ph"] as? String == "M" }
        // Every leg a call used is one slice; the three calls unft answered itself have none on the hairpin leg.
        #expect(slices.count == calls.count * 2 - 3)
        var seen = Set<[Int]>()
        for s in slices {
            let args = try #require(s["args"] as? [String: Any])
            let id = try #require(args["call"] as? Int)
            // The ids are show's: nlctrl's calls take ids too, and are not exported.
            let c = try #require(calls.first { $0.id == id })
            #expect(s["name"] as? String == c.commandName)
            let pid = try #require(s["pid"] as? Int), tid = try #require(s["tid"] as? Int)
            #expect(tid == Int(c.ifindex ?? 0))
            #expect(seen.insert([id, pid]).inserted, "call \(id) twice on track \(pid)")
            let start = pid == 1 ? c.apiStart : c.encapStart, end = pid == 1 ? c.apiEnd : c.encapEnd
            let ts = try #require(s["ts"] as? Double), dur = try #require(s["dur"] as? Double)
            let origin = calls.compactMap(\.start).min() ?? 0
            #expect(abs(ts - Double(try #require(start) - origin) / 1000) < 0.001)
            #expect(abs(dur - Double(try #require(end) - (start ?? 0)) / 1000) < 0.001)
            #expect(args["status"] as? String == ((c.outcome ?? 0) == 0 ? "ok" : "error"))
            #expect(args["flows"] as? Int == c.flows)
            #expect(args["first_frame"] as? Int == c.firstFrame && args["last_frame"] as? Int == c.lastFrame)
            // Each track is named.
            #expect(
                meta.contains {
                    $0["name"] as? String == "thread_name" && $0["pid"] as? Int == pid && $0["tid"] as? Int == tid
                })
            #expect(meta.contains { $0["name"] as? String == "process_name" && $0["pid"] as? Int == pid })
        }
        // The EOPNOTSUPP answer to UPDATE_FLOWS is in its slice.
        #expect(
            slices.contains {
                ($0["name"] as? String) == "UPDATE_FLOWS"
                    && (($0["args"] as? [String: Any])?["errno"] as? Int) == Int(EOPNOTSUPP)
            })
    }

    @Test func csvHasOneRowPerCall() throws {
        let calls = try CallExport.calls(paths: [Fixtures.trace("demo-session.pcapng")])
        let rows = CallExport.csv(calls).split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        #expect(
            rows.first == [
                "call", "command", "device", "start_ns", "api_latency_ns", "hairpin_latency_ns", "status", "errno",
                "flows", "first_frame", "last_frame",
            ])
        #expect(rows.count == calls.count + 1)
        for (row, c) in zip(rows.dropFirst(), calls) {
            #expect(row.count == 11)
            #expect(
                row[0] == "\(c.id)" && row[1] == c.commandName && row[9] == "\(c.firstFrame)"
                    && row[10] == "\(c.lastFrame)")
            #expect(row[4] == (c.apiLatency.map { "\($0)" } ?? ""))
            #expect(row[5] == (c.hairpinLatency.map { "\($0)" } ?? ""), "call \(c.id)")
        }
        let getTables = rows.dropFirst().filter { $0[1] == "GET_TABLES" }.map { $0[7] }
        #expect(getTables.sorted() == ["", "EINVAL", "ENOTCONN"])
        // A GET_FLOWS call counts the flows it read back.
        #expect(rows.dropFirst().contains { $0[1] == "GET_FLOWS" && $0[8] == "202" })
    }
}
