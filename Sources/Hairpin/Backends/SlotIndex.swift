// An open-addressing multimap from a 64-bit key to a slot number, for the hash backend.
//
// Why not a Dictionary: a Swift Dictionary keeps keys and values in separate arrays beside an
// occupancy bitmap, and hashes with SipHash, so one lookup at a million entries touches three
// cold cache lines and pays SipHash before the first miss. Here an entry is one
// 16-byte (key, slot) pair in one array and the hash is one multiply-xorshift mix of the key
// with a per-index random seed (distinct keys cannot be chosen to aim at one bucket), so a
// lookup is usually one cache line.
//
// Keys may repeat (several slots under one key): the identity index keys flows by a 64-bit
// fingerprint of their match set and priority, and two different identities may share one.
// `first(_:where:)` visits the slots stored under a key until the caller's check (the real
// identity) accepts one. Linear probing with backward-shift deletion: no tombstones, so a table that churns
// (insert, delete, insert …) never degrades.
import LibFlowTable

struct SlotIndex {
    private struct Entry {
        var key: UInt64
        /// The slot number; -1 marks an empty entry.
        var slot: Int32
    }

    private var entries: [Entry]
    private var mask: Int
    private let seed: UInt64
    private(set) var count = 0

    init() {
        entries = [Entry](repeating: Entry(key: 0, slot: -1), count: 16)
        mask = 15
        seed = UInt64.random(in: .min ... .max)
    }

    @inline(__always) private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: mix64(key ^ seed)) & mask
    }

    /// Adds (key, slot). Does not look for an existing entry with the key: callers check first.
    mutating func insert(_ key: UInt64, slot: Int) {
        if (count + 1) * 4 > entries.count * 3 { grow() }
        let mask = self.mask
        let start = home(key)
        entries.withUnsafeMutableBufferPointer { e in
            var i = start
            while e[i].slot >= 0 { i = (i + 1) & mask }
            e[i] = Entry(key: key, slot: Int32(truncatingIfNeeded: slot))
        }
        count += 1
    }

    /// The first slot stored under `key` for which `matches` is true, or nil.
    @inline(__always)
    func first(_ key: UInt64, where matches: (Int) -> Bool) -> Int? {
        entries.withUnsafeBufferPointer { e in
            var i = home(key)
            while e[i].slot >= 0 {
                if e[i].key == key, matches(Int(e[i].slot)) { return Int(e[i].slot) }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// Changes the entry (key, old) to (key, new). Returns whether it was there.
    @discardableResult
    mutating func move(_ key: UInt64, from old: Int, to new: Int) -> Bool {
        let mask = self.mask
        let start = home(key)
        return entries.withUnsafeMutableBufferPointer { e in
            var i = start
            while e[i].slot >= 0 {
                if e[i].key == key, Int(e[i].slot) == old {
                    e[i].slot = Int32(truncatingIfNeeded: new)
                    return true
                }
                i = (i + 1) & mask
            }
            return false
        }
    }

    /// Removes the entry (key, slot). Returns whether it was there.
    @discardableResult
    mutating func remove(_ key: UInt64, slot: Int) -> Bool {
        let mask = self.mask
        let seed = self.seed
        let removed: Bool = entries.withUnsafeMutableBufferPointer { e in
            var i = Int(truncatingIfNeeded: mix64(key ^ seed)) & mask
            while e[i].slot >= 0 {
                if e[i].key == key, Int(e[i].slot) == slot { break }
                i = (i + 1) & mask
            }
            guard e[i].slot >= 0 else { return false }
            // Backward shift: pull later entries of the probe run into the hole when their home
            // is not between the hole and themselves (cyclically).
            var hole = i
            var j = (i + 1) & mask
            while e[j].slot >= 0 {
                let h = Int(truncatingIfNeeded: mix64(e[j].key ^ seed)) & mask
                let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
                if !stays {
                    e[hole] = e[j]
                    hole = j
                }
                j = (j + 1) & mask
            }
            e[hole].slot = -1
            return true
        }
        if removed { count -= 1 }
        return removed
    }

    mutating func removeAll() {
        for i in entries.indices { entries[i].slot = -1 }
        count = 0
    }

    private mutating func grow() {
        let old = entries
        entries = [Entry](repeating: Entry(key: 0, slot: -1), count: old.count * 2)
        mask = entries.count - 1
        count = 0
        for e in old where e.slot >= 0 { insert(e.key, slot: Int(e.slot)) }
    }
}

/// A multiply-xorshift step (the SplitMix64 finaliser): fast and well spread.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &* 0xBF58_476D_1CE4_E5B9
    z ^= z >> 31
    z = z &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 29)
}

enum FlowIdentity {
    /// A 64-bit fingerprint of (canonical match set, priority) computed straight from the
    /// matches, without building the sorted MatchSet (an array allocation and a sort per flow).
    /// Order-independent (a wrapping sum of per-match mixes), so flows whose matches differ only
    /// in order or in bits outside the mask get the same fingerprint, exactly as their MatchSets
    /// are equal. Different identities may collide: callers confirm with `MatchPriority`.
    @inline(__always)
    static func fingerprint(_ matches: [FieldRef]?, priority: UInt32) -> UInt64 {
        var sum: UInt64 = 0
        var n: UInt64 = 0
        if let matches {
            for ref in matches {
                sum &+= mix(ref)
                n += 1
            }
        }
        return mix64(sum ^ mix64(UInt64(priority) << 32 | n))
    }

    /// The same fingerprint for matches read into a buffer (the byte-level path): equal to
    /// `fingerprint(Array(matches), priority:)`.
    @inline(__always)
    static func fingerprint(_ matches: UnsafeBufferPointer<FieldRef>, priority: UInt32) -> UInt64 {
        var sum: UInt64 = 0
        for ref in matches { sum &+= mix(ref) }
        return mix64(sum ^ mix64(UInt64(priority) << 32 | UInt64(matches.count)))
    }

    @inline(__always)
    private static func mix(_ ref: FieldRef) -> UInt64 {
        let k = MatchKey(ref)
        var h = mix64(0x9E37_79B9_7F4A_7C15 ^ (UInt64(k.instance) << 32 | UInt64(k.header)))
        h = mix64(h ^ UInt64(k.field))
        h = mix64(h ^ k.value)
        return mix64(h ^ k.mask)
    }
}
