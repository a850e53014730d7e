// A line buffer with indentation, shared by the emitters.

struct CodeWriter {
    private(set) var text = ""
    private var depth = 0
    private let unit: String

    init(indent unit: String) { self.unit = unit }

    mutating func line(_ s: String = "") {
        text += s.isEmpty ? "\n" : String(repeating: unit, count: depth) + s + "\n"
    }

    mutating func indented(_ body: (inout CodeWriter) -> Void) {
        depth += 1
        body(&self)
        depth -= 1
    }
}

/// A spec doc as lines: trailing blanks cut, so that `|` blocks and one-liners print alike.
func docLines(_ doc: String?) -> [String] {
    guard let doc else { return [] }
    var lines = doc.split(separator: "\n", omittingEmptySubsequences: false).map {
        String($0.reversed().drop(while: { $0 == " " }).reversed())
    }
    while lines.last?.isEmpty == true { lines.removeLast() }
    return lines
}
