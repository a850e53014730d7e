// The hash backend's index: a multimap with linear probing and backward-shift deletion. Held
// against a Dictionary of arrays under random churn, with keys drawn from a tiny range so that
// many slots share a key (as colliding fingerprints do) and probe runs wrap and overlap.
@testable import Hairpin
import LibFlowTable
import Testing

@Suite("SlotIndex")
struct SlotIndexTests {
    @Test func churnMatchesADictionaryOfSlots() {
        var index = SlotIndex()
        var reference: [UInt64: Set<Int>] = [:]
        var rng = SystemRandomNumberGenerator()
        var nextSlot = 0
        for step in 0..<40_000 {
            let key = UInt64.random(in: 0..<64, using: &rng)
            if Bool.random(using: &rng) || reference[key, default: []].isEmpty {
                index.insert(key, slot: nextSlot)
                reference[key, default: []].insert(nextSlot)
                nextSlot += 1
            } else if let victim = reference[key]?.randomElement(using: &rng) {
                let removed = index.remove(key, slot: victim)
                #expect(removed)
                reference[key]?.remove(victim)
            }
            if step % 997 == 0 {
                for k in 0..<UInt64(64) {
                    var found: Set<Int> = []
                    _ = index.first(k) {
                        found.insert($0); return false
                    }
                    #expect(found == reference[k, default: []], "key \(k) at step \(step)")
                }
            }
        }
        #expect(index.count == reference.values.reduce(0) { $0 + $1.count })
        let removedMissing = index.remove(999, slot: 0)
        #expect(!removedMissing)
    }

    @Test func moveChangesOnlyTheNamedEntry() {
        var index = SlotIndex()
        index.insert(5, slot: 1)
        index.insert(5, slot: 2)
        let moved = index.move(5, from: 2, to: 7)
        let movedAgain = index.move(5, from: 2, to: 8)
        #expect(moved)
        #expect(!movedAgain)
        var found: [Int] = []
        _ = index.first(5) {
            found.append($0); return false
        }
        #expect(found.sorted() == [1, 7])
    }

    @Test func fingerprintIgnoresOrderAndBitsOutsideTheMask() {
        let a = FieldRef(
            instance: 1, header: 2, field: 3, maskType: .lpm, type: .u32,
            value: FieldValue(rawBits: 0x0A00_00FF, byteCount: 4), mask: FieldValue(rawBits: 0xFF00_0000, byteCount: 4))
        let aOutside = FieldRef(
            instance: 1, header: 2, field: 3, maskType: .lpm, type: .u32,
            value: FieldValue(rawBits: 0x0A12_3400, byteCount: 4), mask: FieldValue(rawBits: 0xFF00_0000, byteCount: 4))
        let b = FieldRef(
            instance: 1, header: 2, field: 4, maskType: .exact, type: .u16,
            value: FieldValue(rawBits: 80, byteCount: 2))
        #expect(FlowIdentity.fingerprint([a, b], priority: 3) == FlowIdentity.fingerprint([b, aOutside], priority: 3))
        #expect(FlowIdentity.fingerprint([a, b], priority: 3) != FlowIdentity.fingerprint([a, b], priority: 4))
        #expect(FlowIdentity.fingerprint([a, b], priority: 3) != FlowIdentity.fingerprint([a], priority: 3))
        #expect(FlowIdentity.fingerprint([a, a], priority: 3) != FlowIdentity.fingerprint([a], priority: 3))
    }
}
