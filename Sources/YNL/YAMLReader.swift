// Strict reading of a YAML tree, shared by ynl-gen and the YNL interpreter. The specs are input:
// every mistake must come out as an error that names the file, the line and the key path, never
// as a crash or a silently ignored key.

import Yams

public struct SpecError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int?
    public var path: String
    public var message: String

    public init(file: String, line: Int?, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// A YAML document's root node: nil for an empty document; YAML that does not parse is a
/// SpecError naming the file.
public func composeYAML(_ text: String, file: String) throws -> Node? {
    do { return try Yams.compose(yaml: text) } catch {
        throw SpecError(file: file, line: nil, path: "", message: "not valid YAML: \(error)")
    }
}

/// The root node of a document that must not be empty (a spec).
public func composeNonEmptyYAML(_ text: String, file: String) throws -> Node {
    guard let root = try composeYAML(text, file: file) else {
        throw SpecError(file: file, line: nil, path: "", message: "empty file")
    }
    return root
}

/// One YAML mapping being read. It records which keys were read so that `finish()` can reject the
/// rest: a mistyped key (`mult-attr`) would otherwise be ignored and change the output silently.
public final class MapReader {
    public let file: String
    public let path: String
    private let mapping: Node.Mapping
    public private(set) var read: Set<String> = []

    /// Where the mapping is named, when a key names it (`field:` in a hints file): errors about
    /// the whole mapping point there rather than at its first key.
    private let keyLine: Int?

    public init(file: String, path: String, node: Node, keyLine: Int? = nil) throws {
        guard case .mapping(let mapping) = node else {
            throw SpecError(file: file, line: keyLine ?? node.mark?.line, path: path, message: "expected a mapping")
        }
        self.file = file
        self.path = path
        self.mapping = mapping
        self.keyLine = keyLine
    }

    public var line: Int? { keyLine ?? mapping.mark?.line }

    public func error(_ key: String?, _ message: String) -> SpecError {
        let node = key.flatMap { mapping[$0] }
        return SpecError(file: file, line: node?.mark?.line ?? line, path: childPath(key), message: message)
    }

    public func childPath(_ key: String?) -> String {
        guard let key else { return path }
        return path.isEmpty ? key : "\(path).\(key)"
    }

    public func has(_ key: String) -> Bool { mapping[key] != nil }

    public func node(_ key: String) -> Node? {
        read.insert(key)
        return mapping[key]
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let scalar) = node else { throw error(key, "expected a string") }
        return scalar.string
    }

    public func string(_ key: String) throws -> String {
        guard let value = try optionalString(key) else { throw error(nil, "missing key '\(key)'") }
        return value
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard let node = node(key) else { return nil }
        guard let value = node.int else { throw error(key, "expected an integer") }
        return value
    }

    public func bool(_ key: String, default value: Bool = false) throws -> Bool {
        guard let node = node(key) else { return value }
        guard let bool = node.bool else { throw error(key, "expected true or false") }
        return bool
    }

    public func strings(_ key: String) throws -> [String] {
        guard let node = node(key) else { return [] }
        guard case .sequence(let items) = node else { throw error(key, "expected a list of strings") }
        return try items.map { item in
            guard case .scalar(let scalar) = item else {
                throw SpecError(file: file, line: item.mark?.line, path: childPath(key), message: "expected a string")
            }
            return scalar.string
        }
    }

    /// The items of a list of mappings, each with a path that names it.
    public func mappings(_ key: String, required: Bool = false) throws -> [MapReader] {
        guard let node = node(key) else {
            if required { throw error(nil, "missing key '\(key)'") }
            return []
        }
        guard case .sequence(let items) = node else { throw error(key, "expected a list") }
        return try items.enumerated().map { index, item in
            try MapReader(file: file, path: "\(childPath(key))[\(Self.label(of: item) ?? String(index))]", node: item)
        }
    }

    public func mapping(_ key: String) throws -> MapReader? {
        guard let node = node(key) else { return nil }
        return try MapReader(file: file, path: childPath(key), node: node)
    }

    /// A mapping keyed by names (the hints files: `field: { required: [...] }`), each value a
    /// mapping read with a path that names it. Keys come in file order.
    public func keyedMappings(_ key: String) throws -> [(name: String, reader: MapReader)] {
        guard let node = node(key) else { return [] }
        guard case .mapping(let items) = node else { throw error(key, "expected a mapping of names") }
        return try items.map { item in
            let name = item.key.string ?? "?"
            return (
                name,
                try MapReader(
                    file: file, path: "\(childPath(key)).\(name)", node: item.value,
                    keyLine: item.key.mark?.line)
            )
        }
    }

    /// A mapping of names to strings (`{ next-node: reason }`), in file order.
    public func keyedStrings(_ key: String) throws -> [(name: String, value: String)] {
        guard let map = try mapping(key) else { return [] }
        return try map.mapping.map { item in
            let name = item.key.string ?? "?"
            guard case .scalar(let scalar) = item.value else {
                throw SpecError(
                    file: file, line: item.value.mark?.line ?? item.key.mark?.line,
                    path: map.childPath(name), message: "expected a string")
            }
            map.read.insert(name)
            return (name, scalar.string)
        }
    }

    /// A mapping of names to lists of strings (`{ flow: [ table, uid ] }`), in file order.
    public func keyedStringLists(_ key: String) throws -> [(name: String, values: [String])] {
        guard let map = try mapping(key) else { return [] }
        return try map.mapping.map { item in
            let name = item.key.string ?? "?"
            return (name, try map.strings(name))
        }
    }

    /// The line of `key`'s value (or of this mapping), for errors found after reading.
    public func line(of key: String) -> Int? { mapping[key]?.mark?.line ?? line }

    /// Marks keys as known but of no use to the reader (docs, C names), so `finish()` accepts them.
    public func ignore(_ keys: [String]) {
        for key in keys { read.insert(key) }
    }

    /// Rejects every key that was not read; `hint` says which reader refused it.
    public func finish(hint: String = "not YNL or not supported by ynl-gen, see spec/README.md") throws {
        for (key, _) in mapping {
            let name = key.string ?? "?"
            if !read.contains(name) {
                throw SpecError(
                    file: file, line: key.mark?.line, path: childPath(name),
                    message: "unknown key (\(hint))")
            }
        }
    }

    /// A list item's `name`, to name it in paths: "attributes[uid]" reads better than "attributes[3]".
    public static func label(of node: Node) -> String? {
        switch node {
        case .scalar(let scalar): return scalar.string
        case .mapping(let mapping): return mapping["name"]?.string
        case .sequence: return nil
        }
    }
}
