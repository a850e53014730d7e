// Name mapping from YNL's kebab-case. C follows YNL (upper case, '-' to '_'); Swift uses
// lowerCamelCase unless the spec gives a `swift-name` (the Swift API predates the spec, and some
// of its names are not mechanical: minprio is minPriority).

import YNLWireshark

enum Naming {
    static func cUpper(_ name: String) -> String { YNLNames.cUpper(name) }

    static func cLower(_ name: String) -> String { YNLNames.cLower(name) }

    static func lowerCamel(_ name: String) -> String {
        let words = name.split(separator: "-", omittingEmptySubsequences: true)
        guard let first = words.first else { return name }
        return first.lowercased() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    static func isSwiftIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
    }

    static func isCIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first,
            first == "_" || ("a"..."z").contains(first) || ("A"..."Z").contains(first)
        else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
        }
    }

    /// Words that cannot name a member without backquotes (those that can, like `type`, are left alone).
    static let swiftKeywords: Set<String> = [
        "associatedtype", "break", "case", "catch", "class", "continue", "default", "defer", "deinit", "do",
        "else", "enum", "extension", "fallthrough", "false", "fileprivate", "for", "func", "guard", "if",
        "import", "in", "init", "inout", "internal", "is", "let", "nil", "operator", "private", "protocol",
        "public", "repeat", "rethrows", "return", "self", "Self", "static", "struct", "subscript", "super",
        "switch", "throw", "throws", "true", "try", "typealias", "var", "where", "while",
    ]

    static func swiftMember(_ name: String) -> String {
        swiftKeywords.contains(name) ? "`\(name)`" : name
    }
}

extension Attribute {
    var swiftMemberName: String { swiftName ?? Naming.lowerCamel(name) }
}

extension Entry {
    var swiftMemberName: String { swiftName ?? Naming.lowerCamel(name) }
}

extension Operation {
    var swiftCaseName: String { swiftName ?? Naming.lowerCamel(name) }
}
