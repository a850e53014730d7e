// (b) The files as Wireshark's tools see them: tshark decodes every record with the values
// written and names both families, capinfos reports nanosecond precision and the SHB options,
// editcap copies keep FlowTrace's custom options, `editcap -F pcap` output reads back.
// Skipped (reported as skipped) where the tools are not installed.

import Foundation
import Testing
import LibFlowTable
@testable import FlowTrace

let tshark = toolPath("tshark")
let capinfos = toolPath("capinfos")
let editcap = toolPath("editcap")

struct WiresharkToolTests {
    func sampleFile(_ dir: TempDir) throws -> (path: String, records: [StoredTraceRecord]) {
        let path = dir.file("sample.pcapng")
        let records = Sample.preambleRecords(time: Sample.baseTime) + (try Sample.conversation(calls: 4))
        try writeTrace(path, records)
        return (path, records)
    }

    func le16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    func le32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }

    @Test(.enabled(if: tshark != nil, "tshark is not installed"))
    func tsharkDecodesEveryRecordAsWritten() throws {
        let dir = try TempDir()
        let (path, records) = try sampleFile(dir)
        let out = try run(
            tshark ?? "",
            [
                "-r", path, "-T", "fields", "-E", "separator=|",
                "-e", "frame.number", "-e", "frame.packet_flags_direction",
                "-e", "genl.family_id", "-e", "netlink.hdr_seq", "-e", "frame.comment",
                "-e", "frame.interface_name", "-e", "frame.time_epoch",
            ])
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == records.count)
        for (i, (line, r)) in zip(lines, records).enumerated() {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 7 else { Issue.record("line \(i + 1): \(line)"); continue }
            #expect(f[0] == String(i + 1))
            #expect(f[1] == (r.direction == .toKernel ? "0x00000002" : "0x00000001"), "line \(i + 1)")
            let type = le16(r.netlink, 4)
            let seq = le32(r.netlink, 8)
            if type >= 0x10 {
                #expect(f[2] == "0x" + String(format: "%02x", type), "line \(i + 1)")
                #expect(f[3] == String(seq), "line \(i + 1)")
            } else {
                // NLMSG_ERROR: no genl layer; tshark lists the outer and the echoed sequence.
                #expect(f[2] == "", "line \(i + 1)")
                #expect(f[3] == "\(seq),\(le32(r.netlink, 28))", "line \(i + 1)")
            }
            #expect(f[4] == (r.comment ?? ""), "line \(i + 1)")
            #expect(f[5] == (r.interface == 0 ? "api" : "hairpin"))
            let seconds = r.timestamp / 1_000_000_000, nanos = r.timestamp % 1_000_000_000
            #expect(f[6] == "\(seconds)." + String(format: "%09llu", nanos), "line \(i + 1)")
        }
    }

    @Test(.enabled(if: tshark != nil, "tshark is not installed"))
    func tsharkNamesBothFamilies() throws {
        let dir = try TempDir()
        let (path, _) = try sampleFile(dir)
        let out = try run(tshark ?? "", ["-r", path, "-V"])
        #expect(out.status == 0)
        #expect(out.stdout.contains("Family ID: 0x1c (net_flow_nl)"))
        #expect(out.stdout.contains("Family ID: 0x1d (nfl_hairpin)"))
        #expect(!out.stdout.contains("(Unknown)"))
        #expect(out.stdout.contains("Direction: Outbound"))
        // The preamble's NEWFAMILY decodes attribute by attribute.
        let ctrl = try run(
            tshark ?? "",
            [
                "-r", path, "-Y", "genl.ctrl.cmd == 1", "-T", "fields",
                "-e", "genl.ctrl.family_name", "-e", "genl.ctrl.family_id",
            ])
        #expect(ctrl.stdout == "net_flow_nl\t0x001c\nnfl_hairpin\t0x001d\n")
    }

    @Test(.enabled(if: capinfos != nil, "capinfos is not installed"))
    func capinfosAcceptsTheFile() throws {
        let dir = try TempDir()
        let (path, records) = try sampleFile(dir)
        let out = try run(capinfos ?? "", [path])
        #expect(out.status == 0, "\(out.stderr)")
        let text = out.stdout
        for expected in [
            "pcapng", "Linux Netlink", "nanoseconds (9)", "Number of packets:   \(records.count)",
            "Capture hardware:    x86_64", "Capture oper-sys:    Linux 6.1.0-test",
            "Capture application: FlowTrace test", "Capture comment:     session: unit test trace",
            "Name = api", "Name = hairpin", "Description = net_flow_nl (client ↔ unft)",
            "Operating system = Linux test", "Strict time order:   True",
        ] {
            #expect(text.contains(expected), "capinfos lacks \(expected):\n\(text)")
        }
    }

    @Test(.enabled(if: editcap != nil, "editcap is not installed"))
    func editcapCopiesKeepTheCustomOptions() throws {
        let dir = try TempDir()
        let (path, records) = try sampleFile(dir)
        let copy = dir.file("copy.pcapng")
        // Adding a comment to frame 3 makes editcap rewrite that block's options.
        let out = try run(editcap ?? "", ["-a", "3:added by editcap", path, copy])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(try fileBytes(copy) != (try fileBytes(path)))
        let r = readTrace(copy)
        #expect(r.error == nil && r.truncation == nil)
        var expected = records
        expected[2].comment = (expected[2].comment ?? "") + "\nadded by editcap"
        #expect(r.records == expected)
        #expect(r.records[2].pairing == 1000 && r.records[2].leg == .api)
    }

    @Test(.enabled(if: editcap != nil, "editcap is not installed"))
    func editcapClassicPcapReadsBack() throws {
        let dir = try TempDir()
        let (path, records) = try sampleFile(dir)
        for (format, nanosecond) in [("pcap", false), ("nsecpcap", true)] {
            let out = dir.file("classic-\(format).pcap")
            let e = try run(editcap ?? "", ["-F", format, path, out])
            #expect(e.status == 0, "\(e.stderr)")
            let r = readTrace(out)
            #expect(r.error == nil && r.truncation == nil)
            #expect(r.format == .pcap(nanosecond: nanosecond, byteSwapped: false))
            #expect(r.records.map(\.netlink) == records.map(\.netlink))
            #expect(
                r.records.map(\.timestamp) == records.map { nanosecond ? $0.timestamp : $0.timestamp / 1000 * 1000 })
            // The pseudo-header's packet type still says which way each message went.
            #expect(r.records.map(\.direction) == records.map(\.direction))
            // The NEWFAMILY preamble is in the packets, so legs can be told from the families.
            #expect(r.families.flowTableID == Sample.apiID)
            for (got, want) in zip(r.records, records) where want.netlink[4] >= 0x11 {
                StoredTraceRecord(timestamp: 0, direction: got.direction, netlink: got.netlink).withRecord {
                    #expect(r.families.leg(of: $0) == want.leg)
                }
            }
        }
    }

    @Test(.enabled(if: tshark != nil, "tshark is not installed"))
    func tsharkReadsWhatIsBeforeACut() throws {
        let dir = try TempDir()
        let (path, records) = try sampleFile(dir)
        let bytes = try fileBytes(path)
        let cut = dir.file("cut.pcapng")
        try writeBytes(Array(bytes.dropLast(10)), to: cut)
        let out = try run(tshark ?? "", ["-r", cut, "-T", "fields", "-e", "frame.number"])
        #expect(out.stdout.split(separator: "\n").count == records.count - 1)
        let own = readTrace(cut)
        #expect(own.records == Array(records.dropLast()))
        #expect(own.truncation != nil)
    }
}
