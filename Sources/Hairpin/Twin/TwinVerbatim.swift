// The ENCAP request built the way the kernel module builds it (kmod/unft_parts.c,
// unft_put_common, unft_build_part): the preamble and FLOWS_ERROR written as u32s, and every
// other top-level attribute of the API request (TABLES … TABLE_GRAPH, FLOWS) copied byte for
// byte in attribute number order. The request was checked before by the walk that mirrors the
// strict decoder (FlowTableMessage.check, LibFlowTable/Codec/FlowTableCheck.swift);
// re-encoding decoded flows only to get the same bytes back would be most of the twin's work
// per flow. For a request from this project's encoder the result is
// identical to re-encoding: that writes the same attributes in the same order
// (FlowTableCodec.encode).
//
// A batch too big for one message is cut into parts here too, by the module's rule
// (unft_part_end): a FLOW element goes into the current part unless that would pass the
// budget (60 KiB of FLOW elements, each counted padded) and the part has a flow already; a
// batch that makes one part is one message whatever its size. The model's `parts()` cuts the
// same way (Parts.ranges counts each flow's encoding, which is the element's padded size), so
// the bytes are those of `encodeEncap`. A batch filled up to the budget by its sender (as
// `Parts.ranges` does on the client side) used to miss the verbatim path and was encoded from
// the model twice over (a third of the benchmark's batches).
import LibFlowTable

extension UnftTwin {
    /// Writes the ENCAP request (one message, or its parts one after another) for the API
    /// request `request` (a whole, checked netlink message with this preamble; `errorStrategy`
    /// already made explicit for a batch) into `writer`. Returns false, with the writer reset,
    /// when its bytes do not walk cleanly or a nest would not fit: the caller then encodes from
    /// the model (`encodeEncapFromModel`).
    func encodeEncapVerbatim(
        command: UInt8, sequence: UInt64, identifierType: UInt32?, identifier: UInt32?,
        errorStrategy: ErrorStrategy?, request: UnsafeRawBufferPointer
    ) -> Bool {
        // Payload ranges of the copied top-level attributes, by attribute number (3…8).
        var ranges = VerbatimNests()
        let headers = Netlink.headerLength + Netlink.genericHeaderLength
        guard request.count >= headers else { return false }
        var top = AttributeIterator(UnsafeRawBufferPointer(rebasing: request[headers...]), baseOffset: headers)
        while true {
            let next: Attribute?
            do throws(DecodeError) { next = try top.next() } catch { return false }
            guard let a = next else { break }
            if a.type >= NFL.Attr.tables && a.type <= NFL.Attr.flows {
                ranges.set(a.type, a.payloadOffset..<(a.payloadOffset + a.payload.count))
                // An unpadded payload (legal, but not what an encoder here writes) would leave
                // the next attribute unaligned: let the model encode that request.
                guard a.payload.count % 4 == 0 else { return false }
            }
        }
        let batch = Self.isBatch(command)
        let flows = ranges.get(NFL.Attr.flows)
        let budget = Parts.defaultBudget
        // How many parts: the module's cut over the FLOW elements' padded sizes.
        var parts = 0
        if batch && ranges.has(NFL.Attr.flows) {
            var cutter = PartCutter(budget: budget)
            var elements = AttributeIterator(
                UnsafeRawBufferPointer(rebasing: request[flows]), baseOffset: flows.lowerBound)
            while true {
                let next: Attribute?
                do throws(DecodeError) { next = try elements.next() } catch { return false }
                guard let element = next else { break }
                // The element's padded size, as the module counts it.
                if cutter.add(Netlink.align(Netlink.attributeHeaderLength + element.payload.count)) { parts += 1 }
            }
            if cutter.partHasElements { parts += 1 }
        }
        writer.reset()
        let family = configuration.hairpinFamilyID
        do throws(EncodeError) {
            if parts <= 1 {
                try Self.putEncap(
                    into: &writer, family: family, command: command, sequence: sequence, part: nil,
                    more: false, identifierType: identifierType, identifier: identifier,
                    errorStrategy: errorStrategy, request: request, nests: ranges, flows: flows)
                return true
            }
            var e = flows.lowerBound
            for k in 0..<parts {
                // This part's FLOW elements: [first, e).
                let first = e
                var cutter = PartCutter(budget: budget)
                while flows.upperBound - e >= 4 {
                    let n = Netlink.align(Int(request.loadUnaligned(fromByteOffset: e, as: UInt16.self)))
                    if cutter.add(n) { break }
                    e += n
                }
                try Self.putEncap(
                    into: &writer, family: family, command: command, sequence: sequence,
                    part: UInt32(k), more: k < parts - 1, identifierType: identifierType,
                    identifier: identifier, errorStrategy: errorStrategy, request: request,
                    nests: ranges, flows: first..<e)
            }
        } catch {
            writer.reset()
            return false
        }
        return true
    }

    /// One ENCAP request message (unft_build_part) appended to `writer`: FLOWS carries the
    /// bytes `flows` of the request (whole elements), the other nests their whole payload.
    /// Static, on the writer passed in: one exclusive access to the twin's writer for the whole
    /// message instead of one (a runtime check) per attribute.
    private static func putEncap(
        into writer: inout NetlinkWriter, family: UInt16, command: UInt8, sequence: UInt64,
        part: UInt32?, more: Bool, identifierType: UInt32?, identifier: UInt32?,
        errorStrategy: ErrorStrategy?, request: UnsafeRawBufferPointer,
        nests: VerbatimNests, flows: Range<Int>
    ) throws(EncodeError) {
        // Kernel-originated: no NLM_F_REQUEST, nlmsg_seq 0, nlmsg_pid 0 (as encodeEncap).
        let start = writer.beginMessage(type: family, flags: 0, sequence: 0, port: 0)
        writer.genericHeader(command: NFLH.Command.encap.rawValue, version: NFLH.version)
        let encap = writer.beginNest(NFLH.Attr.encap)
        writer.put(NFLH.EncapAttr.cmdType, u32: NFLH.EncapCmdType.nflCommand)
        writer.put(NFLH.EncapAttr.cmd, u32: UInt32(command))
        writer.put(NFLH.EncapAttr.seq, u64: sequence)
        if let part { writer.put(NFLH.EncapAttr.part, u32: part) }
        if more { writer.putFlag(NFLH.EncapAttr.more) }
        let attr = writer.beginNest(NFLH.EncapAttr.attr)
        if let v = identifierType { writer.put(NFL.Attr.identifierType, u32: v) }
        if let v = identifier { writer.put(NFL.Attr.identifier, u32: v) }
        if let v = errorStrategy { writer.put(NFL.Attr.flowsError, u32: v.rawValue) }
        // Nests in attribute-number order, FLOWS last (3…8), as FlowTableCodec.encode.
        for type in NFL.Attr.tables...NFL.Attr.flows where nests.has(type) {
            let n = writer.beginNest(type)
            let range = type == NFL.Attr.flows ? flows : nests.get(type)
            writer.appendRaw(bytes: UnsafeRawBufferPointer(rebasing: request[range]))
            try writer.endNest(n)
        }
        try writer.endNest(attr)
        try writer.endNest(encap)
        writer.endMessage(start)
    }
}

/// Where the request's top-level nests TABLES … FLOWS (3…8) have their payload.
struct VerbatimNests {
    private var ranges = (0..<0, 0..<0, 0..<0, 0..<0, 0..<0, 0..<0)
    private var present: UInt16 = 0

    func has(_ type: UInt16) -> Bool { present & (1 << type) != 0 }

    func get(_ type: UInt16) -> Range<Int> {
        switch type {
        case NFL.Attr.tables: return ranges.0
        case NFL.Attr.headers: return ranges.1
        case NFL.Attr.actions: return ranges.2
        case NFL.Attr.headerGraph: return ranges.3
        case NFL.Attr.tableGraph: return ranges.4
        default: return ranges.5
        }
    }

    mutating func set(_ type: UInt16, _ r: Range<Int>) {
        switch type {
        case NFL.Attr.tables: ranges.0 = r
        case NFL.Attr.headers: ranges.1 = r
        case NFL.Attr.actions: ranges.2 = r
        case NFL.Attr.headerGraph: ranges.3 = r
        case NFL.Attr.tableGraph: ranges.4 = r
        default: ranges.5 = r
        }
        present |= 1 << type
    }
}
