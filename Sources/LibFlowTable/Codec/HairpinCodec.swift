// The hairpin family (NFLH_*): listener registration and ENCAP, which carries one Flow Table
// API NDO call (request) or its result (answer), with the Flow API attributes nested in ATTR.

package enum HairpinCodec {
    static func encode(_ m: HairpinMessage, into w: inout NetlinkWriter) throws(EncodeError) {
        if let e = m.encap {
            let n = w.beginNest(NFLH.Attr.encap)
            w.put(NFLH.EncapAttr.cmdType, u32: e.commandType)
            w.put(NFLH.EncapAttr.cmd, u32: e.command)
            if let s = e.status { w.put(NFLH.EncapAttr.status, u32: s) }
            w.put(NFLH.EncapAttr.seq, u64: e.sequence)
            if let p = e.part { w.put(NFLH.EncapAttr.part, u32: p) }
            if e.more { w.putFlag(NFLH.EncapAttr.more) }
            if let text = e.errorMessage { w.put(NFLH.EncapAttr.errorMessage, string: text) }
            if let results = e.results {
                let r = w.beginNest(NFLH.EncapAttr.results)
                for x in results {
                    let el = w.beginNest(NFL.listElement)
                    w.put(NFLH.ResultAttr.index, u32: x.index)
                    w.put(NFLH.ResultAttr.errno, u32: x.errno)
                    try w.endNest(el)
                }
                try w.endNest(r)
            }
            if let a = e.attributes {
                let inner = w.beginNest(NFLH.EncapAttr.attr)
                try FlowTableCodec.encode(a, layout: e.flowsLayout, into: &w)
                try w.endNest(inner)
            }
            try w.endNest(n)
        }
        if let l = m.listener {
            let n = w.beginNest(NFLH.Attr.listener)
            w.put(NFLH.ListenerAttr.type, u32: l.type)
            if let p = l.port { w.put(NFLH.ListenerAttr.port, u32: p) }
            try w.endNest(n)
        }
    }

    static func decode(
        _ it: AttributeIterator, into m: inout HairpinMessage,
        answerFlowsChecked: Bool = false
    ) throws(DecodeError) {
        var it = it
        var seen = SeenAttributes()
        let names = NFLH.Attr.self
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            do throws(DecodeError) {
                switch attr.type {
                case NFLH.Attr.encap: m.encap = try decodeEncap(attr, answerFlowsChecked: answerFlowsChecked)
                case NFLH.Attr.listener: m.listener = try decodeListener(attr)
                default: throw unknown(attr)
                }
            } catch { throw error.within(names.names[attr.type] ?? "?") }
        }
    }

    static func decodeListener(_ nest: Attribute) throws(DecodeError) -> HairpinListener {
        var it = nest.nested()
        var seen = SeenAttributes()
        let names = NFLH.ListenerAttr.self
        var type: UInt32?, port: UInt32?
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            switch attr.type {
            case NFLH.ListenerAttr.type: type = try attr.u32(in: names)
            case NFLH.ListenerAttr.port: port = try attr.u32(in: names)
            default: throw unknown(attr)
            }
        }
        guard let type else { throw missing("TYPE", in: nest) }
        return HairpinListener(type: type, port: port)
    }

    static func decodeEncap(_ nest: Attribute, answerFlowsChecked: Bool = false) throws(DecodeError) -> HairpinEncap {
        // The header by the one reader (EncapHeader); the typed parts here.
        let h = try EncapHeader(nest)
        let names = NFLH.EncapAttr.self
        var results: [FlowResult]?
        if let attr = h.results {
            results = try FlowTableCodec.wrap(names, attr) { () throws(DecodeError) in
                try decodeList(attr, elementName: "RESULT", depth: 2, decodeResult)
            }
        }
        let text = try h.errorMessage?.string(in: names)
        let (cmdType, cmd) = (h.commandType, h.command)
        // ATTR's FLOWS layout depends on STATUS: decoded once the header is read.
        let inner = h.attributes
        var e = HairpinEncap(
            commandType: cmdType, command: cmd, status: h.status, sequence: h.sequence,
            results: results, part: h.part, more: h.more, errorMessage: text)
        if let inner, answerFlowsChecked, e.isAnswer, cmdType == NFLH.EncapCmdType.nflCommand,
            cmd == UInt32(NFL.Command.getFlows.rawValue)
        {
            var s = FlowTableMessageSummary(
                header: NetlinkHeader(type: 0, flags: 0, sequence: 0, port: 0),
                command: NFL.Command.getFlows.rawValue, version: NFL.version)
            try FlowTableCodec.wrap("ATTR") { () throws(DecodeError) in
                try FlowTableCodec.check(inner.nested(), layout: e.flowsLayout, depth: 2, into: &s)
            }
            e.attributes = s.standIn
        } else if let inner {
            e.attributes = try FlowTableCodec.wrap("ATTR") { () throws(DecodeError) in
                try FlowTableCodec.decode(inner.nested(), layout: e.flowsLayout, depth: 2)
            }
        }
        return e
    }

    static func decodeResult(_ nest: Attribute, depth: Int) throws(DecodeError) -> FlowResult {
        var it = nest.nested()
        var seen = SeenAttributes()
        let names = NFLH.ResultAttr.self
        var index: UInt32?, errno: UInt32?
        while let attr = try it.next() {
            try seen.mark(attr, names: names)
            switch attr.type {
            case NFLH.ResultAttr.index: index = try attr.u32(in: names)
            case NFLH.ResultAttr.errno: errno = try attr.u32(in: names)
            default: throw unknown(attr)
            }
        }
        guard let index else { throw missing("INDEX", in: nest) }
        guard let errno else { throw missing("ERRNO", in: nest) }
        return FlowResult(index: index, errno: errno)
    }
}
