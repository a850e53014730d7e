// Codec benchmark: how many one-flow SET_FLOWS requests per second one core parses into the
// typed model, encodes, and walks as raw attributes. Prints numbers; asserts nothing.
//
//   swift run -c release codec-bench [iterations]

import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#endif

func now() -> Double { Double(MonotonicClock.now()) / 1e9 }

/// Runs `body` `n` times, best of `rounds`, and returns operations per second.
func measure(_ n: Int, rounds: Int = 5, _ body: (Int) -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<rounds {
        let t0 = now()
        body(n)
        best = min(best, now() - t0)
    }
    return Double(n) / best
}

let arguments = Array(CommandLine.arguments.dropFirst())
let iterations = arguments.first.flatMap { Int($0) } ?? 1_000_000
/// `codec-bench N decode` (or `check`) runs only that part (for instruction-count profiles).
let only = arguments.dropFirst().first

// A realistic flow: match on ethertype and IPv4 destination prefix, two actions with args.
let flow = Flow(
    table: 2, uid: 1001, priority: 10,
    matches: [
        FieldRef(
            instance: 1, header: 1, field: 3, maskType: .exact, type: .u16,
            value: FieldValue(0x0800, type: .u16), mask: FieldValue(0xffff, type: .u16)),
        FieldRef(
            instance: 3, header: 3, field: 13, maskType: .lpm, type: .u32,
            value: FieldValue(0x0a00_0000, type: .u32), mask: FieldValue(0xff00_0000, type: .u32)),
    ],
    actions: [
        Action(uid: 5, signature: [ActionArg(name: "port", type: .u32, value: FieldValue(2, type: .u32))]),
        Action(uid: 1, signature: [ActionArg(name: "vlan_id", type: .u16, value: FieldValue(100, type: .u16))]),
    ])
var attrs = FlowTableAttributes.device(7)
attrs.flows = [flow]
let message = FlowTableMessage(
    familyID: 0x1c, command: .setFlows, isRequest: true, sequence: 1, port: 42,
    attributes: attrs)
let bytes: [UInt8]
do { bytes = try message.encoded() } catch { fatalError("cannot encode the benchmark message: \(error)") }

var sink = 0

let decodeRate = measure(iterations) { n in
    bytes.withUnsafeBytes { raw in
        for _ in 0..<n {
            if let m = try? FlowTableMessage.decode(raw, familyID: 0x1c) { sink &+= m.attributes.flows?.count ?? 0 }
        }
    }
}

if only == "decode" {
    print("decode into model  : \(Int(1e9 / decodeRate)) ns/msg")
    exit(0)
}

/// Every rule of decode, nothing built: what unft's twin does before forwarding a request.
let checkRate = measure(iterations) { n in
    bytes.withUnsafeBytes { raw in
        for _ in 0..<n {
            if let s = try? FlowTableMessage.check(raw, familyID: 0x1c) { sink &+= s.flowCount }
        }
    }
}

if only == "check" {
    print("check, no model    : \(Int(1e9 / checkRate)) ns/msg")
    exit(0)
}

var writer = NetlinkWriter(capacity: 1024)
let encodeRate = measure(iterations) { n in
    for i in 0..<n {
        writer.reset()
        var m = message
        m.header.sequence = UInt32(truncatingIfNeeded: i)
        try? m.encode(into: &writer)
        sink &+= writer.count
    }
}

/// Visits every attribute at every depth without building the model: what a filter or a
/// summary line needs.
func walk(_ it: AttributeIterator, depth: Int) -> Int {
    var it = it
    var count = 0
    while let a = try? it.next() {
        count += 1
        // Nests are recognised by NLA_F_NESTED, which our encoder sets.
        if a.isNestedFlagSet && depth < Netlink.maxNestingDepth { count += walk(a.nested(), depth: depth + 1) }
    }
    return count
}

let walkRate = measure(iterations) { n in
    bytes.withUnsafeBytes { raw in
        for _ in 0..<n {
            guard let view = try? NetlinkMessageView.single(raw), let (_, attrs) = try? view.generic() else { continue }
            sink &+= walk(attrs, depth: 0)
        }
    }
}

func fmt(_ rate: Double) -> String {
    let m = rate / 1e6
    return String(Int((m * 100).rounded())).count > 0 ? "\(Double(Int((m * 100).rounded())) / 100) M msg/s" : ""
}

print("message: one-flow SET_FLOWS request, \(bytes.count) bytes; \(iterations) iterations, best of 5")
print("decode into model  : \(fmt(decodeRate))  (\(Int(1e9 / decodeRate)) ns/msg)")
print("encode from model  : \(fmt(encodeRate))  (\(Int(1e9 / encodeRate)) ns/msg)")
print("check, no model    : \(fmt(checkRate))  (\(Int(1e9 / checkRate)) ns/msg)")
print("walk attributes    : \(fmt(walkRate))  (\(Int(1e9 / walkRate)) ns/msg)")
if sink == 42 { print("") }  // keeps the work observable
