// GET_FLOWS reply pages built the way the kernel module builds them (kmod/unft_parts.c,
// unft_reply_pages, unft_page_new): every FLOW element of the listener's answer (all parts,
// in PART order) is copied byte for byte, padded to 4, into one buffer; the pages are cut
// from it: an element goes into the current page unless that would pass UNFT_PAGE_FLOWS
// (4096 bytes of FLOW elements, each counted padded) and the page has one already; no flows
// give one page with an empty FLOWS. Every page is NLM_F_MULTI with the request's preamble,
// then NLMSG_DONE (NLM_F_MULTI, error 0). Re-encoding the decoded flows only to get the same
// bytes back was the second half of the twin's work per flow on GET_FLOWS; for our daemon's
// answers (FlowTableCodec.encode on both sides) the bytes are the same (TwinReplyPagesTests).
import LibFlowTable

extension UnftTwin {
    /// The module's UNFT_PAGE_FLOWS: bytes of FLOW elements per GET_FLOWS reply page.
    static let pageFlowBytes = 4096

    /// The payload range of ENCAP.ATTR.FLOWS in an ENCAP message (whole, headers included),
    /// or nil when it has none (or is malformed: it was decoded strictly before).
    static func answerFlowsRange(_ m: UnsafeRawBufferPointer) -> Range<Int>? {
        guard let attr = EncapHeader.peek(m)?.attributes else { return nil }
        return child(m, attr.payloadOffset..<(attr.payloadOffset + attr.payload.count), NFL.Attr.flows)
    }

    /// The payload of the first attribute of `type` among those in `region`.
    static func child(_ m: UnsafeRawBufferPointer, _ region: Range<Int>, _ type: UInt16) -> Range<Int>? {
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[region]), baseOffset: region.lowerBound)
        while let a = try? it.next() {
            if a.type == type { return a.payloadOffset..<(a.payloadOffset + a.payload.count) }
        }
        return nil
    }

    /// Appends the FLOW elements in `region` of `m` to `flows`, each padded to 4 with zeros
    /// (the module's unft_buf_append_attr). False if the region does not walk cleanly.
    static func appendFlowElements(_ m: UnsafeRawBufferPointer, _ region: Range<Int>, to flows: inout [UInt8]) -> Bool {
        var it = AttributeIterator(UnsafeRawBufferPointer(rebasing: m[region]), baseOffset: region.lowerBound)
        while true {
            let next: Attribute?
            do throws(DecodeError) { next = try it.next() } catch { return false }
            guard let a = next else { return true }
            let len = Netlink.attributeHeaderLength + a.payload.count
            flows.append(contentsOf: UnsafeRawBufferPointer(rebasing: m[a.offset..<(a.offset + len)]))
            for _ in len..<Netlink.align(len) { flows.append(0) }
        }
    }

    /// One reply page with the FLOW elements of `flows` (padded, back to back) from byte
    /// `start` on, cut by the module's rule; returns where the next page starts.
    static func putVerbatimFlowsPage(
        _ flows: UnsafeRawBufferPointer, from start: Int, into writer: inout NetlinkWriter,
        header: NetlinkHeader, command: UInt8, ifindex: UInt32,
        budget: Int = pageFlowBytes,
        flags: UInt16 = Netlink.flagMulti
    ) throws(EncodeError) -> Int {
        var end = start
        while flows.count - end >= 4 {
            let n = Netlink.align(Int(flows.loadUnaligned(fromByteOffset: end, as: UInt16.self)))
            if end > start && end - start + n > budget { break }
            end += max(n, 4)
        }
        end = min(end, flows.count)
        let begin = writer.beginMessage(
            type: header.type, flags: flags, sequence: header.sequence,
            port: header.port)
        writer.genericHeader(command: command, version: NFL.version)
        writer.put(NFL.Attr.identifierType, u32: NFL.IdentifierType.ifindex)
        writer.put(NFL.Attr.identifier, u32: ifindex)
        let nest = writer.beginNest(NFL.Attr.flows)
        writer.appendRaw(bytes: UnsafeRawBufferPointer(rebasing: flows[start..<end]))
        try writer.endNest(nest)
        writer.endMessage(begin)
        return end
    }

    /// The GET_FLOWS reply pages for `client`'s collected answer flows, each its own packet.
    func sendVerbatimPages(
        _ flows: [UInt8], to client: TwinConnection, header: NetlinkHeader, command: UInt8,
        ifindex: UInt32, call: UInt64
    ) throws(EncodeError) {
        let failure: EncodeError? = flows.withUnsafeBytes { b in
            var i = 0
            repeat {
                writer.reset()
                do throws(EncodeError) {
                    i = try Self.putVerbatimFlowsPage(
                        b, from: i, into: &writer, header: header, command: command,
                        ifindex: ifindex)
                } catch { return error }
                emit(client, call: call)
            } while i < b.count
            return nil
        }
        if let failure { throw failure }
    }
}
