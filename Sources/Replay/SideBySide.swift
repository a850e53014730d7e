// Two JSON texts side by side with their differing lines marked: a line diff (Myers) so that
// one flow missing from a GET_FLOWS answer shows as one missing flow, not as every later flow
// shifted by one. Common head and tail lines are stripped first; a middle too large to diff
// (a hostile answer) falls back to pairing lines by position.

public struct SideBySide: Sendable {
    public enum Mark: String, Sendable {
        case same = " "
        case changed = "≠"
        /// Only in the recorded answer.
        case onlyLeft = "<"
        /// Only in the replayed answer.
        case onlyRight = ">"
    }

    public struct Row: Sendable {
        public var mark: Mark
        public var left: String?
        public var right: String?
    }

    public let rows: [Row]

    /// Diffs the lines of `left` against those of `right`.
    public init(left: [String], right: [String], maxMiddle: Int = 40_000, maxEdits: Int = 4_000) {
        var head = 0
        while head < left.count && head < right.count && left[head] == right[head] { head += 1 }
        var tail = 0
        while tail < left.count - head && tail < right.count - head
            && left[left.count - 1 - tail] == right[right.count - 1 - tail]
        { tail += 1 }
        let a = Array(left[head..<(left.count - tail)])
        let b = Array(right[head..<(right.count - tail)])
        var rows: [Row] = []
        rows.reserveCapacity(head + tail + max(a.count, b.count))
        for i in 0..<head { rows.append(Row(mark: .same, left: left[i], right: right[i])) }
        let middle: [Row]
        if a.count + b.count <= maxMiddle, let script = Self.myers(a, b, maxEdits: maxEdits) {
            middle = Self.rows(script, a, b)
        } else {
            middle = (0..<max(a.count, b.count)).map { i in
                let l = i < a.count ? a[i] : nil, r = i < b.count ? b[i] : nil
                return Row(
                    mark: l == nil ? .onlyRight : r == nil ? .onlyLeft : l == r ? .same : .changed, left: l, right: r)
            }
        }
        rows.append(contentsOf: middle)
        for i in 0..<tail {
            rows.append(Row(mark: .same, left: left[left.count - tail + i], right: right[right.count - tail + i]))
        }
        self.rows = rows
    }

    /// Rows that are not the same.
    public var changes: [Row] { rows.filter { $0.mark != .same } }

    enum Edit { case keep, delete, insert }

    /// The shortest edit script from a to b, or nil when it needs more than `maxEdits` edits.
    static func myers(_ a: [String], _ b: [String], maxEdits: Int) -> [Edit]? {
        let n = a.count, m = b.count
        let maxD = min(n + m, maxEdits)
        // Lines compared as integers: equal strings get equal ids.
        var ids: [String: Int] = [:]
        let ai = a.map { s -> Int in
            if let i = ids[s] { return i }; let i = ids.count; ids[s] = i; return i
        }
        let bi = b.map { s -> Int in
            if let i = ids[s] { return i }; let i = ids.count; ids[s] = i; return i
        }
        let offset = maxD + 1
        var v = [Int](repeating: 0, count: 2 * maxD + 3)
        // The V of each round, only its [-d, d] window: O(D²) memory in all.
        var trace: [[Int]] = []
        var found = false
        outer: for d in 0...maxD {
            trace.append(Array(v[(offset - d)...(offset + d)]))
            var k = -d
            while k <= d {
                var x: Int
                if k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) {
                    x = v[offset + k + 1]
                } else {
                    x = v[offset + k - 1] + 1
                }
                var y = x - k
                while x < n && y < m && ai[x] == bi[y] {
                    x += 1
                    y += 1
                }
                v[offset + k] = x
                if x >= n && y >= m {
                    found = true
                    break outer
                }
                k += 2
            }
        }
        guard found else { return nil }
        // Walk back through the saved rounds.
        var edits: [Edit] = []
        var x = n, y = m
        for d in stride(from: trace.count - 1, through: 0, by: -1) {
            let saved = trace[d]
            func at(_ k: Int) -> Int { saved[k + d] }  // saved holds V[-d…d]
            let k = x - y
            let prevK: Int
            if d == 0 {
                prevK = 0
            } else if k == -d || (k != d && at(k - 1) < at(k + 1)) {
                prevK = k + 1
            } else {
                prevK = k - 1
            }
            let prevX = d == 0 ? 0 : at(prevK)
            let prevY = prevX - prevK
            while x > prevX && y > prevY {
                edits.append(.keep)
                x -= 1
                y -= 1
            }
            if d > 0 {
                edits.append(x == prevX ? .insert : .delete)
            }
            x = prevX
            y = prevY
        }
        return edits.reversed()
    }

    /// Pairs each run of deletions with the insertions that follow as changed rows.
    static func rows(_ script: [Edit], _ a: [String], _ b: [String]) -> [Row] {
        var out: [Row] = []
        var i = 0, j = 0, s = 0
        while s < script.count {
            if script[s] == .keep {
                out.append(Row(mark: .same, left: a[i], right: b[j]))
                i += 1; j += 1; s += 1
                continue
            }
            var dels: [String] = [], ins: [String] = []
            while s < script.count && script[s] != .keep {
                if script[s] == .delete { dels.append(a[i]); i += 1 } else { ins.append(b[j]); j += 1 }
                s += 1
            }
            for k in 0..<max(dels.count, ins.count) {
                let l = k < dels.count ? dels[k] : nil, r = k < ins.count ? ins[k] : nil
                out.append(Row(mark: l == nil ? .onlyRight : r == nil ? .onlyLeft : .changed, left: l, right: r))
            }
        }
        return out
    }

    /// The rows as text: two columns of `width` characters, a mark between them, runs of equal
    /// lines beyond `context` around a change folded into one line.
    public func render(
        width: Int = 60, context: Int = 3, leftTitle: String = "recorded",
        rightTitle: String = "replayed", maxChanges: Int = 200
    ) -> String {
        func cell(_ s: String?) -> String {
            let t = s ?? ""
            if t.count > width { return String(t.prefix(width - 1)) + "…" }
            return t + String(repeating: " ", count: width - t.count)
        }
        var keep = [Bool](repeating: false, count: rows.count)
        for (i, r) in rows.enumerated() where r.mark != .same {
            for k in max(0, i - context)...min(rows.count - 1, i + context) { keep[k] = true }
        }
        var out = ["  " + cell(leftTitle) + "   " + rightTitle]
        var skipped = 0
        var shownChanges = 0
        for (i, r) in rows.enumerated() {
            guard keep[i] else { skipped += 1; continue }
            if skipped > 0 {
                out.append("  ⋯ \(skipped) equal line\(skipped == 1 ? "" : "s") ⋯")
                skipped = 0
            }
            if r.mark != .same {
                shownChanges += 1
                if shownChanges > maxChanges {
                    out.append("  ⋯ and \(changes.count - maxChanges) more differing lines ⋯")
                    return out.joined(separator: "\n")
                }
            }
            out.append("  " + cell(r.left) + " " + r.mark.rawValue + " " + (r.right ?? ""))
        }
        if skipped > 0 { out.append("  ⋯ \(skipped) equal line\(skipped == 1 ? "" : "s") ⋯") }
        return out.joined(separator: "\n")
    }
}
