// A map from UInt64 keys (pairing keys, ENCAP sequence numbers) to small values, for the
// per-record lookups of `flowtrace stats`: linear probing in a power-of-two array kept at
// most half full, deletion by backward shift (no tombstones, so a long trace with millions
// of calls keeps short probe runs). A Dictionary costs a large share of `stats` in hashing (SipHash)
// and bucket bookkeeping; this is a multiply and usually one probe. Memory grows only with
// the number of keys present at once (open calls), never with the trace's length.

struct FlatTable<Value> {
    struct Entry {
        var key: UInt64
        var value: Value
        var used: Bool
    }

    private var entries: [Entry]
    private var mask: Int
    private let empty: Entry
    private(set) var count = 0

    /// `placeholder` fills free slots (never returned).
    init(placeholder: Value, capacity: Int = 512) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        empty = Entry(key: 0, value: placeholder, used: false)
        entries = Array(repeating: empty, count: size)
        mask = size - 1
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        // Fibonacci hashing: sequence numbers are consecutive, the multiply spreads them.
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    /// The slot holding `key`, or -1.
    @inline(__always)
    func find(_ key: UInt64) -> Int {
        var i = home(key)
        while entries[i].used {
            if entries[i].key == key { return i }
            i = (i + 1) & mask
        }
        return -1
    }

    @inline(__always)
    subscript(key: UInt64) -> Value? {
        let slot = find(key)
        return slot >= 0 ? entries[slot].value : nil
    }

    /// The value at a slot `find` or `set` returned.
    @inline(__always)
    func value(at slot: Int) -> Value { entries[slot].value }

    /// Mutates the value at a slot `find` or `set` returned, in place.
    @inline(__always)
    mutating func update(slot: Int, _ body: (inout Value) -> Void) {
        body(&entries[slot].value)
    }

    /// Inserts or replaces; returns the slot.
    @discardableResult
    mutating func set(_ key: UInt64, _ value: Value) -> Int {
        if (count + 1) * 2 > entries.count { grow() }
        var i = home(key)
        while entries[i].used {
            if entries[i].key == key {
                entries[i].value = value
                return i
            }
            i = (i + 1) & mask
        }
        entries[i] = Entry(key: key, value: value, used: true)
        count += 1
        return i
    }

    mutating func remove(slot: Int) {
        guard slot >= 0, entries[slot].used else { return }
        var hole = slot
        var i = slot
        // Backward shift: a later member of the run moves into the hole unless its home slot
        // lies cyclically in (hole, i], where it would no longer be found.
        while true {
            i = (i + 1) & mask
            guard entries[i].used else { break }
            let h = home(entries[i].key)
            let staysPut = hole <= i ? (h > hole && h <= i) : (h > hole || h <= i)
            if !staysPut {
                entries[hole] = entries[i]
                hole = i
            }
        }
        entries[hole] = empty
        count -= 1
    }

    mutating func remove(_ key: UInt64) {
        remove(slot: find(key))
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: empty, count: old.count * 2)
        mask = entries.count - 1
        count = 0
        for e in old where e.used { set(e.key, e.value) }
    }
}
