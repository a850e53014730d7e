// flowtrace explain: which flows a packet hits on its way through a device's pipeline, table by
// table, as `ovs-appctl ofproto/trace` tells it (Sources/Replay/Explain.swift).

import ArgumentParser
import FlowTrace
import Hairpin
import LibFlowTable
import Replay

#if canImport(Glibc)
import Glibc
#endif

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract:
            "Walk a packet through a device's pipeline: at each table the flow it hits, its actions, the next table.",
        discussion: """
            The flows are those a trace leaves installed (the trace replayed into the dummy backend,
            from its snapshot) or a flows JSON file (libflow-table format, as flow-table-ctl
            set-flows takes) on a model (default: the built-in one). The walk starts at the table
            graph's ingress root; at each table the flow with the highest priority (then the lowest
            uid) whose every match holds; drop ends the walk, goto_table picks the next table,
            set_metadata / set_vlan_id / set_eth_src / set_eth_dst / pop_vlan change the packet for
            the tables after; otherwise the table graph's first jump that applies leads on.

            The packet: name=value pairs, comma-separated. Names are the model's (header.field, or a
            field name only one header has) or ovs-ofctl's (in_port, eth_type, eth_src, eth_dst,
            dl_vlan, nw_src, nw_dst, ip_proto, ipv6_src, ipv6_dst, tcp_src, tcp_dst, udp_src,
            udp_dst, metadata). Values: decimal, 0x hex, a.b.c.d, a MAC, an IPv6 address. Or a frame
            of a pcap/pcapng capture of Ethernet packets (--pcap F --frame N), its headers parsed;
            fields given as well are added to it (in_port, say).

            Examples:
              flowtrace explain t.pcapng in_port=1,eth_type=0x800,ipv4_dst=10.0.0.1,tcp_dst=80
              flowtrace explain --flows models/default/examples/flows.json vlan.vid=100,ethernet.dst_mac=00:00:02:00:00:01
              flowtrace explain t.pcapng --pcap packets.pcap --frame 3 in_port=2 --json
            """)

    @Argument(help: ArgumentHelp("The trace (unless --flows), then the packet's fields.", valueName: "trace|packet"))
    var positional: [String] = []

    @Option(help: ArgumentHelp("A flows JSON file instead of a trace.", valueName: "file"))
    var flows: String?

    @Option(
        help: ArgumentHelp(
            "The model directory of --flows, and of devices a trace does not describe (default: built in).",
            valueName: "dir"))
    var model: String?

    @Option(help: ArgumentHelp("Take the packet from this pcap/pcapng capture of Ethernet frames.", valueName: "file"))
    var pcap: String?

    @Option(help: ArgumentHelp("The frame of --pcap (from 1).", valueName: "n"))
    var frame: Int?

    @Option(help: "The device (ifindex) of a trace with several.")
    var device: UInt32?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        var defaultModel = DefaultModel.model
        if let model {
            do { defaultModel = try ModelLoader.load(directory: model) } catch { fail("\(error)") }
        }
        var args = positional
        let deviceModel: PipelineModel
        let installed: [Flow]
        var header: [String] = []
        if let flows {
            deviceModel = defaultModel
            let attributes: FlowTableAttributes
            do { attributes = try FlowTableJSON.loadAttributes(file: flows, expectedKey: "flows") } catch {
                fail("\(error)")
            }
            installed = attributes.flows ?? []
            header.append("Flows: \(installed.count) from \(flows)")
        } else {
            guard !args.isEmpty else { fail("explain needs a trace, or --flows FILE: see flowtrace explain --help") }
            let trace = args.removeFirst()
            let devices: [InstalledDevice]
            do { devices = try InstalledFlows.read(path: trace, defaultModel: defaultModel) } catch {
                fail("\(trace): \(error)")
            }
            guard !devices.isEmpty else { fail("\(trace): the trace has no device") }
            let chosen: InstalledDevice
            if let device {
                guard let d = devices.first(where: { $0.ifindex == device }) else {
                    fail(
                        "\(trace): no device \(device); the trace has \(devices.map { String($0.ifindex) }.joined(separator: ", "))"
                    )
                }
                chosen = d
            } else {
                guard devices.count == 1 else {
                    fail(
                        "\(trace) has \(devices.count) devices (\(devices.map { String($0.ifindex) }.joined(separator: ", "))): choose one with --device"
                    )
                }
                chosen = devices[0]
            }
            deviceModel = chosen.model
            installed = chosen.flows
            header.append("Device: \(chosen.ifindex), \(installed.count) flows installed at the end of \(trace)")
        }
        guard args.count <= 1 else {
            fail("give the packet as one argument: name=value,name=value (got \(args.count))")
        }
        let names = ModelFieldNames(model: deviceModel)
        var packet = PacketFields()
        if let pcap {
            guard let frame, frame >= 1 else { fail("--pcap needs --frame N (from 1)") }
            do {
                let frames = try LookupPackets.frames(path: pcap)
                guard frame <= frames.count else { fail("\(pcap): no frame \(frame): the capture has \(frames.count)") }
                let f = frames[frame - 1]
                guard f.linkType == PacketParser.linkTypeEthernet else {
                    fail("\(pcap): frame \(frame): link type \(f.linkType) is not Ethernet (1)")
                }
                packet = f.bytes.withUnsafeBytes { PacketParser.packet(ethernet: $0, names: names) }
                header.append("From \(pcap) frame \(frame)")
            } catch { fail("\(error)") }
        } else if frame != nil {
            fail("--frame needs --pcap FILE")
        }
        if let spec = args.first {
            do {
                let extra = try names.parse(spec)
                for (k, v) in extra.values { packet.values[k] = v }
            } catch { fail("\(error)") }
        } else if pcap == nil {
            fail(
                "give the packet: name=value,name=value (e.g. in_port=1,eth_type=0x800,ipv4_dst=10.0.0.1,tcp_dst=80) or --pcap F --frame N"
            )
        }
        let backend = DummyBackend(model: deviceModel.tables)
        for (i, f) in installed.enumerated() {
            if case .failure(let e) = backend.insert(f) {
                warn("flow \(i + 1) (table \(f.table) uid \(f.uid)) not installed: \(e)")
            }
        }
        let e = Explain.walk(model: deviceModel, backend: backend, packet: packet, names: names)
        if json {
            print(Explain.json(e, model: deviceModel, names: names).serialized(style: .pretty))
        } else {
            print(Explain.text(e, model: deviceModel, names: names, header: header))
        }
    }
}

/// "flowtrace: …" on stderr; the command goes on.
func warn(_ text: String) {
    var line = "flowtrace: \(text)\n"
    line.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}
