// The get-flows order for backends whose storage is unordered (hash, tss): a sorted array of
// (priority, uid) packed in one UInt64, rebuilt lazily.
//
// Why lazy: keeping a sorted array up to date costs O(n) per insert/delete, which would defeat
// the O(1) hash paths. Instead a mutation only marks the array stale (O(1)), and the next
// get-flows re-sorts: O(n log n) after a change, O(log n + k) while nothing changed. The two
// common bulk patterns stay cheap without a re-sort: appending a flow that sorts after every
// other (ascending priority loads) and deleting the flow that sorts last. A priority range read
// right after a change sorts only the flows in the range and leaves the array stale.
import LibFlowTable

struct PriorityOrder {
    /// Sorted ascending; valid only while `stale` is false.
    private var keys: [UInt64] = []
    private var stale = false
    /// Reads since the last change: a second one in a row sorts (the table is being read, not
    /// changed), the first one only sorts its range.
    private var readsSinceChange = 0
    /// A ranged read's keys (reused).
    private var selected: [UInt64] = []

    /// Priority in the high half so that integer order is (priority, uid) order.
    @inline(__always) static func key(priority: UInt32, uid: UInt32) -> UInt64 {
        UInt64(priority) << 32 | UInt64(uid)
    }

    mutating func inserted(priority: UInt32, uid: UInt32) {
        readsSinceChange = 0
        guard !stale else { return }
        let k = Self.key(priority: priority, uid: uid)
        if let last = keys.last, last > k { stale = true } else { keys.append(k) }
    }

    mutating func deleted(priority: UInt32, uid: UInt32) {
        readsSinceChange = 0
        guard !stale else { return }
        if keys.last == Self.key(priority: priority, uid: uid) { keys.removeLast() } else { stale = true }
    }

    mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        stale = false
    }

    /// Calls `body` with the uid of each flow `selector` admits, in (priority, uid) order.
    /// `all` hands every (priority, uid) of the table to the closure it is given, for a rebuild
    /// (no array of the whole table is asked for: a ranged read keeps only its range).
    mutating func forEach(
        _ selector: FlowSelector, keys all: (_ each: (UInt64) -> Void) -> Void, _ body: (UInt32) -> Void
    ) {
        let lo = Self.key(priority: selector.minPriority ?? 0, uid: 0)
        let hi = Self.key(priority: selector.maxPriority ?? .max, uid: .max)
        guard lo <= hi else { return }
        readsSinceChange += 1
        if stale && readsSinceChange == 1 && (selector.minPriority != nil || selector.maxPriority != nil) {
            // A priority range read between changes (the usual get-flows of a busy table):
            // sorting only the flows in range is a fraction of sorting the table, which the
            // next change would make stale again.
            if !selected.isEmpty { selected.removeAll(keepingCapacity: true) }
            all { k in if k &- lo <= hi &- lo { selected.append(k) } }
            selected.sort()
            for k in selected { body(UInt32(truncatingIfNeeded: k)) }
            return
        }
        if stale {
            keys.removeAll(keepingCapacity: true)
            all { keys.append($0) }
            keys.sort()
            stale = false
        }
        // Lower bound of lo.
        var first = 0, last = keys.count
        while first < last {
            let mid = (first + last) / 2
            if keys[mid] < lo { first = mid + 1 } else { last = mid }
        }
        var i = first
        while i < keys.count, keys[i] <= hi {
            body(UInt32(truncatingIfNeeded: keys[i]))
            i += 1
        }
    }
}
