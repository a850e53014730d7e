// The ENCAP request built the way the kernel module builds it (kmod/unft_parts.c,
// unft_put_common): the preamble and FLOWS_ERROR written as u32s, and every other top-level
// attribute of the API request (TABLES … TABLE_GRAPH, FLOWS) copied byte for byte in attribute
// number order. The request was decoded and checked before (the strict decoder is the
// validation); re-encoding the decoded flows only to get the same bytes back was half of the
// twin's work per flow (callgrind on loopback-bench). For a request from this project's
// encoder the result is identical to re-encoding: that writes the same attributes in the same
// order (FlowTableCodec.encode).
import LibFlowTable

extension UnftTwin {
    /// Writes the one-part ENCAP request for the API request `request` (a whole netlink message
    /// whose attributes `attributes` were decoded from) into `writer`. Returns false, with the
    /// writer reset, when the call needs parts or its bytes do not walk cleanly: the caller then
    /// encodes from the model (`encodeEncap`).
    func encodeEncapVerbatim(command: UInt8, sequence: UInt64, attributes a: FlowTableAttributes,
                             request: UnsafeRawBufferPointer) -> Bool {
        // Payload ranges of the copied top-level attributes, by attribute number (3…8).
        var ranges = (tables: 0..<0, headers: 0..<0, actions: 0..<0, headerGraph: 0..<0, tableGraph: 0..<0, flows: 0..<0)
        var present: UInt16 = 0
        let length = request.count
        var off = Netlink.headerLength + 4
        while length - off >= 4 {
            let len = Int(request.loadUnaligned(fromByteOffset: off, as: UInt16.self))
            let type = request.loadUnaligned(fromByteOffset: off + 2, as: UInt16.self) & 0x3FFF
            guard len >= 4, off + len <= length else { return false }
            let payload = (off + 4)..<(off + len)
            switch type {
            case NFL.Attr.tables: ranges.tables = payload
            case NFL.Attr.headers: ranges.headers = payload
            case NFL.Attr.actions: ranges.actions = payload
            case NFL.Attr.headerGraph: ranges.headerGraph = payload
            case NFL.Attr.tableGraph: ranges.tableGraph = payload
            case NFL.Attr.flows: ranges.flows = payload
            default: break
            }
            if type < 16 { present |= 1 << type }
            off += Netlink.align(len)
        }
        writer.reset()
        // Kernel-originated: no NLM_F_REQUEST, nlmsg_seq 0, nlmsg_pid 0 (as encodeEncap).
        let start = writer.beginMessage(type: configuration.hairpinFamilyID, flags: 0, sequence: 0, port: 0)
        writer.genericHeader(command: NFLH.Command.encap.rawValue, version: NFLH.version)
        do throws(EncodeError) {
            let encap = writer.beginNest(NFLH.Attr.encap)
            writer.put(NFLH.EncapAttr.cmdType, u32: NFLH.EncapCmdType.nflCommand)
            writer.put(NFLH.EncapAttr.cmd, u32: UInt32(command))
            writer.put(NFLH.EncapAttr.seq, u64: sequence)
            let attr = writer.beginNest(NFLH.EncapAttr.attr)
            if let v = a.identifierType { writer.put(NFL.Attr.identifierType, u32: v) }
            if let v = a.identifier { writer.put(NFL.Attr.identifier, u32: v) }
            // FLOWS_ERROR is always explicit for a batch, so the listener never guesses.
            if let v = a.errorStrategy ?? (Self.isBatch(command) ? .abort : nil) {
                writer.put(NFL.Attr.flowsError, u32: v.rawValue)
            }
            // Nests in attribute-number order, FLOWS last (3…8), as FlowTableCodec.encode.
            for type in NFL.Attr.tables...NFL.Attr.flows where present & (1 << type) != 0 {
                let range: Range<Int>
                switch type {
                case NFL.Attr.tables: range = ranges.tables
                case NFL.Attr.headers: range = ranges.headers
                case NFL.Attr.actions: range = ranges.actions
                case NFL.Attr.headerGraph: range = ranges.headerGraph
                case NFL.Attr.tableGraph: range = ranges.tableGraph
                default: range = ranges.flows
                }
                // An unpadded payload (legal, but not what an encoder here writes) would leave the
                // next attribute unaligned: let the model encode that request.
                guard range.count % 4 == 0 else { throw EncodeError.invalidMessage("unaligned nest") }
                let n = writer.beginNest(type)
                writer.appendRaw(bytes: UnsafeRawBufferPointer(rebasing: request[range]))
                try writer.endNest(n)
            }
            try writer.endNest(attr)
            try writer.endNest(encap)
        } catch {
            writer.reset()
            return false
        }
        writer.endMessage(start)
        guard writer.count <= Parts.defaultBudget else {
            writer.reset()
            return false
        }
        return true
    }
}
