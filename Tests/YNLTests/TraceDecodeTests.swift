import Foundation
import FlowTrace
import LibFlowTable
import Testing
@testable import YNL

let tracesDir: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("traces").path

/// Our traces, every message of our two families: the interpreter (from spec/ at run time) must
/// decode what LibFlowTable's generated codec decodes, to the same operation and values.
@Suite struct TraceDecodeTests {
    let lib = YNLSpecLibrary.load([YNLSpecDirectory(path: projectSpecDir, origin: "project")])

    @Test(arguments: [
        "demo-session.pcapng", "batched-session.pcapng", "error-session.pcapng",
        "error-session-acked-answers.pcapng",
    ])
    func traceMessagesDecode(_ file: String) throws {
        let flow = YNLDecoder(try #require(lib.family(named: "net_flow_nl")), strict: true)
        let hairpin = YNLDecoder(try #require(lib.family(named: "nfl_hairpin")), strict: true)
        let reader = try TraceReader(path: tracesDir + "/" + file)
        var decoded = 0
        while let rec = try reader.next() {
            let frame = reader.frameNumber
            var it = NetlinkMessageIterator(rec.netlink)
            while let m = try it.next() {
                let name = reader.families.name(forID: m.header.type)
                if name == "net_flow_nl" {
                    let typed = try FlowTableMessage.decode(m, requireShape: false)
                    let y: YNLMessage
                    do { y = try flow.decode(m) } catch {
                        Issue.record("\(file) frame \(frame): \(error)"); continue
                    }
                    #expect(UInt8(y.command) == typed.command)
                    compare(y.attributes, typed.attributes, "\(file) frame \(frame)")
                    decoded += 1
                } else if name == "nfl_hairpin" {
                    let typed = try HairpinMessage.decode(m)
                    let y: YNLMessage
                    do { y = try hairpin.decode(m) } catch {
                        Issue.record("\(file) frame \(frame): \(error)"); continue
                    }
                    #expect(UInt8(y.command) == typed.command)
                    if let l = typed.listener {
                        #expect(
                            y.attributes.first { $0.name == "listener" }?.value["port"]
                                == l.port.map { .unsigned(UInt64($0)) })
                    }
                    decoded += 1
                }
            }
        }
        #expect(decoded > 0, "no message of our families in \(file)")
    }

    /// The typed decode's values against the interpreter's, attribute by attribute where the
    /// model keeps the wire's shape.
    func compare(_ y: [YNLField], _ t: FlowTableAttributes, _ at: String) {
        func field(_ n: String) -> YNLValue? { y.first { $0.name == n }?.value }
        #expect(field("identifier-type").flatMap(Self.uint) == t.identifierType.map(UInt64.init), "\(at)")
        #expect(field("identifier").flatMap(Self.uint) == t.identifier.map(UInt64.init), "\(at)")
        if let tables = t.tables {
            let items = Self.children(field("tables"))
            #expect(items.count == tables.count, "\(at): tables")
            for (i, table) in tables.enumerated() where i < items.count {
                #expect(items[i]["uid"].flatMap(Self.uint) == UInt64(table.uid), "\(at): table \(i) uid")
                #expect(items[i]["name"] == .string(table.name), "\(at): table \(i) name")
            }
        }
        if let flows = t.flows {
            let items = Self.children(field("flows"))
            #expect(items.count == flows.count, "\(at): flows")
            for (i, f) in flows.enumerated() where i < items.count {
                #expect(items[i]["uid"].flatMap(Self.uint) == UInt64(f.uid), "\(at): flow \(i) uid")
                #expect(items[i]["table"].flatMap(Self.uint) == UInt64(f.table), "\(at): flow \(i) table")
                #expect(items[i]["priority"].flatMap(Self.uint) == UInt64(f.priority), "\(at): flow \(i) priority")
            }
        }
    }

    static func uint(_ v: YNLValue) -> UInt64? {
        switch v {
        case .unsigned(let u), .enumerated(let u, _): return u
        default: return nil
        }
    }

    /// The members of a list nest (each a nest of its own).
    static func children(_ v: YNLValue?) -> [YNLValue] {
        guard case .fields(let f)? = v else { return [] }
        return f.map(\.value)
    }
}
