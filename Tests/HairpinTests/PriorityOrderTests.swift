// The get-flows order of the hash and tss backends (PriorityOrder): under random inserts and
// deletes interleaved with reads of the whole table and of priority ranges (read once or again
// with no change between), every read gives exactly the selected (priority, uid) pairs in
// ascending order, as a sorted filter of the live set does.
@testable import Hairpin
import LibFlowTable
import Testing

@Suite("PriorityOrder")
struct PriorityOrderTests {
    @Test func readsMatchASortedFilterUnderChurn() {
        var order = PriorityOrder()
        var live: [UInt32: UInt32] = [:]  // uid → priority
        var uids: [UInt32] = []  // live's keys, in a seeded order
        var rng = SplitMix64(seed: 14)
        var reads = 0, ranged = 0
        for step in 0..<20_000 {
            switch rng.below(10) {
            case 0...4:
                let uid = UInt32(rng.below(600))
                guard live[uid] == nil else { continue }
                // Mostly ascending priorities (the appended fast path), some anywhere.
                let priority = rng.chance(30) ? UInt32(step / 20) : UInt32(rng.below(1000))
                live[uid] = priority
                uids.append(uid)
                order.inserted(priority: priority, uid: uid)
            case 5...7:
                guard !uids.isEmpty else { continue }
                let i = rng.below(uids.count)
                let uid = uids[i]
                uids.swapAt(i, uids.count - 1)
                uids.removeLast()
                order.deleted(priority: live.removeValue(forKey: uid)!, uid: uid)
            default:
                var selector = FlowSelector(table: 1)
                if rng.chance(80) {
                    let lo = UInt32(rng.below(1000))
                    selector.minPriority = rng.chance(90) ? lo : nil
                    selector.maxPriority = lo + UInt32(rng.below(rng.chance(10) ? 2000 : 16))
                }
                let lo = selector.minPriority ?? 0, hi = selector.maxPriority ?? .max
                let expected = live.filter { $0.value >= lo && $0.value <= hi }
                    .map { PriorityOrder.key(priority: $0.value, uid: $0.key) }.sorted()
                    .map { UInt32(truncatingIfNeeded: $0) }
                // Read once or twice in a row (the second read of an unchanged table sorts it).
                for _ in 0..<(rng.chance(30) ? 2 : 1) {
                    var got: [UInt32] = []
                    order.forEach(
                        selector,
                        keys: { each in
                            for (uid, priority) in live { each(PriorityOrder.key(priority: priority, uid: uid)) }
                        }
                    ) { got.append($0) }
                    #expect(got == expected, "step \(step), \(selector)")
                    reads += 1
                    if selector.minPriority != nil || selector.maxPriority != nil { ranged += 1 }
                }
            }
        }
        #expect(reads > 1_000 && ranged > 500)
    }
}
