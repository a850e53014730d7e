// A line buffer with indentation, shared by the emitters (ynl-gen's and the Lua dissector's).

public struct CodeWriter {
    public private(set) var text = ""
    private var depth = 0
    private let unit: String

    public init(indent unit: String) { self.unit = unit }

    public mutating func line(_ s: String = "") {
        text += s.isEmpty ? "\n" : String(repeating: unit, count: depth) + s + "\n"
    }

    public mutating func indented(_ body: (inout CodeWriter) -> Void) {
        depth += 1
        body(&self)
        depth -= 1
    }

    public mutating func indentedThrowing(_ body: (inout CodeWriter) throws -> Void) throws {
        var failure: Error?
        indented { w in
            do { try body(&w) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// A spec doc as lines: trailing blanks cut, so that `|` blocks and one-liners print alike.
public func docLines(_ doc: String?) -> [String] {
    guard let doc else { return [] }
    var lines = doc.split(separator: "\n", omittingEmptySubsequences: false).map {
        String($0.reversed().drop(while: { $0 == " " }).reversed())
    }
    while lines.last?.isEmpty == true { lines.removeLast() }
    return lines
}
