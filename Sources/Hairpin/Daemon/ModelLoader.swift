// Loading the pipeline model a device advertises from a directory of libflow-table JSON files,
// and writing one back. The original hairpind took five file options, echoed the files and never
// checked them against each other; here the five files are read, each must hold exactly
// its one top-level key, and the assembled model is cross-validated (PipelineModel.validate())
// before the daemon answers anything from it. Every problem names its file, the JSON path and,
// when the text is at hand, line and column, so a broken model is fixed in one pass.
import LibFlowTable
import Posix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One problem of a model directory.
public struct ModelProblem: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The directory or a file cannot be read or written.
        case io
        /// A file is not valid JSON or not valid libflow-table JSON for its key.
        case json(JSONError.Kind)
        /// The files parse, but the model contradicts itself.
        case validation(ModelValidationError.Kind)
    }

    public var kind: Kind
    /// The file the problem is in (the directory itself for a directory problem).
    public var file: String
    /// The JSON path inside the file, e.g. `tables[2].table.matches[0].field_ref`; nil when the
    /// problem is about the whole file.
    public var path: String?
    /// 1-based line and column of the offending text, when known.
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(
        kind: Kind, file: String, path: String? = nil, line: Int? = nil, column: Int? = nil,
        message: String
    ) {
        self.kind = kind
        self.file = file
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    /// Compiler style: `models/x/tables.json:12:9: tables[1].table.size: <message>`.
    public var description: String {
        var out = file + ":"
        if let line {
            out += "\(line):"
            if let column { out += "\(column):" }
        }
        out += " "
        if let path, !path.isEmpty { out += path + ": " }
        return out + message
    }
}

/// A model directory that cannot be used. Holds every problem found (not only the first), in
/// file order; `description` is one line per problem, ready for stderr.
public struct ModelLoadError: Error, Hashable, Sendable, CustomStringConvertible {
    public var directory: String
    public var problems: [ModelProblem]

    public init(directory: String, problems: [ModelProblem]) {
        self.directory = directory
        self.problems = problems
    }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}

/// Reads and writes pipeline model directories: `tables.json`, `headers.json`, `actions.json`,
/// `header-graph.json`, `table-graph.json`, each a libflow-table JSON document with exactly its
/// one top-level key (the files the original flow-table-hairpind took as options).
public enum ModelLoader {
    /// The five files and the single key each must hold.
    public enum Part: String, CaseIterable, Sendable {
        case tables, headers, actions
        case headerGraph = "header_graph"
        case tableGraph = "table_graph"

        /// The JSON key, as in libflow-table.
        public var key: String { rawValue }

        public var fileName: String {
            switch self {
            case .tables: return "tables.json"
            case .headers: return "headers.json"
            case .actions: return "actions.json"
            case .headerGraph: return "header-graph.json"
            case .tableGraph: return "table-graph.json"
            }
        }
    }

    /// Loads the model of `directory` and cross-validates it. Throws every problem found: files
    /// that cannot be read or parsed, then (when all five parse) every validation error.
    public static func load(directory: String) throws(ModelLoadError) -> PipelineModel {
        let loaded = try read(directory: directory)
        let errors = loaded.model.validate()
        guard errors.isEmpty else {
            throw ModelLoadError(directory: directory, problems: errors.map { loaded.problem(for: $0) })
        }
        return loaded.model
    }

    /// Loads the model without cross-validating it (tooling: to inspect or repair a model).
    public static func loadUnvalidated(directory: String) throws(ModelLoadError) -> PipelineModel {
        try read(directory: directory).model
    }

    /// Writes `model` as the five files of `directory` (created if missing; existing files are
    /// replaced), in the pretty json-c style libflow-table wrote. The model is written as it is:
    /// validating it is the caller's choice.
    public static func write(_ model: PipelineModel, to directory: String) throws(ModelLoadError) {
        if !isDirectory(directory) {
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                throw ModelLoadError(
                    directory: directory,
                    problems: [
                        ModelProblem(kind: .io, file: directory, message: "cannot create the directory: \(errnoText())")
                    ])
            }
        }
        var problems: [ModelProblem] = []
        for part in Part.allCases {
            let file = join(directory, part.fileName)
            do throws(JSONError) {
                try FlowTableJSON.write(attributes(of: model, part).json(), toFile: file)
            } catch {
                problems.append(ModelProblem(kind: .io, file: file, message: error.message))
            }
        }
        if !problems.isEmpty { throw ModelLoadError(directory: directory, problems: problems) }
    }

    /// The attributes holding one part of a model (what one file contains).
    public static func attributes(of model: PipelineModel, _ part: Part) -> FlowTableAttributes {
        switch part {
        case .tables: return FlowTableAttributes(tables: model.tables)
        case .headers: return FlowTableAttributes(headers: model.headers)
        case .actions: return FlowTableAttributes(actions: model.actions)
        case .headerGraph: return FlowTableAttributes(headerGraph: model.headerGraph)
        case .tableGraph: return FlowTableAttributes(tableGraph: model.tableGraph)
        }
    }

    // MARK: reading

    /// The parsed files, kept to point validation errors at their text.
    struct Loaded {
        var model = PipelineModel()
        var files: [Part: (path: String, text: [UInt8], document: JSONValue)] = [:]

        /// A validation error as a problem in the file that holds the offending element.
        func problem(for error: ModelValidationError) -> ModelProblem {
            let (part, steps) = ModelLoader.jsonSteps(of: error, in: model)
            let kind = ModelProblem.Kind.validation(error.kind)
            guard let file = files[part] else {
                return ModelProblem(kind: kind, file: part.fileName, message: error.description)
            }
            let path = ModelLoader.path(steps, in: file.document)
            // JSONError knows how to find a path in the text; borrow it for line and column.
            let located = JSONError(kind: .outOfRange, path: path, message: "").located(in: file.text)
            return ModelProblem(
                kind: kind, file: file.path, path: path.description, line: located.line,
                column: located.column, message: error.description)
        }
    }

    static func read(directory: String) throws(ModelLoadError) -> Loaded {
        guard isDirectory(directory) else {
            let why = access(directory, F_OK) == 0 ? "not a directory" : "no such directory"
            throw ModelLoadError(
                directory: directory,
                problems: [
                    ModelProblem(kind: .io, file: directory, message: "cannot load a model: \(why)")
                ])
        }
        var loaded = Loaded()
        var problems: [ModelProblem] = []
        // Every file is read even after a failure, so one run reports all broken files.
        for part in Part.allCases {
            let file = join(directory, part.fileName)
            do throws(JSONError) {
                let text = try FlowTableJSON.readFile(file)
                let document = try FlowTableJSON.parse(bytes: text, file: file)
                let attributes: FlowTableAttributes
                do throws(JSONError) {
                    try FlowTableJSON.requireSingleKey(document, expected: part.key)
                    attributes = try FlowTableAttributes(json: document)
                } catch {
                    // Mapping errors know only the JSON path: find it in the text.
                    throw error.located(in: text, file: file)
                }
                loaded.files[part] = (file, text, document)
                switch part {
                case .tables: loaded.model.tables = attributes.tables ?? []
                case .headers: loaded.model.headers = attributes.headers ?? []
                case .actions: loaded.model.actions = attributes.actions ?? []
                case .headerGraph: loaded.model.headerGraph = attributes.headerGraph ?? []
                case .tableGraph: loaded.model.tableGraph = attributes.tableGraph ?? []
                }
            } catch {
                problems.append(problem(from: error, file: file))
            }
        }
        if !problems.isEmpty { throw ModelLoadError(directory: directory, problems: problems) }
        return loaded
    }

    static func problem(from error: JSONError, file: String) -> ModelProblem {
        ModelProblem(
            kind: error.kind == .io ? .io : .json(error.kind), file: error.file ?? file,
            path: error.kind == .io ? nil : (error.path.isRoot ? "top level" : error.path.description),
            line: error.line, column: error.column, message: error.message)
    }

    // MARK: validation errors → JSON paths

    /// One step of a path as the files spell it: an object key or an array index.
    enum Step {
        case key(String)
        case index(Int)
    }

    /// Which file holds the element a validation error is about, and the path to it. Elements
    /// are found by uid; for a duplicate, the second element with that uid is the culprit.
    static func jsonSteps(of error: ModelValidationError, in model: PipelineModel) -> (Part, [Step]) {
        let duplicate = error.kind == .duplicate
        func position<T>(_ items: [T], _ uid: (T) -> UInt32, _ wanted: UInt32, last: Bool = false) -> Int? {
            let hits = items.indices.filter { uid(items[$0]) == wanted }
            return (last && hits.count > 1) ? hits[1] : hits.first
        }
        func element(_ list: String, _ element: String, _ i: Int?) -> [Step] {
            guard let i else { return [.key(list)] }
            return [.key(list), .index(i), .key(element)]
        }
        switch error.location {
        case .header(let h):
            return (.headers, element("headers", "header", position(model.headers, \.uid, h, last: duplicate)))
        case .field(let h, let f):
            let hi = position(model.headers, \.uid, h)
            var steps = element("headers", "header", hi)
            if let hi, let fi = position(model.headers[hi].fields, \.uid, f, last: duplicate) {
                steps += [.key("fields"), .index(fi), .key("field")]
            }
            return (.headers, steps)
        case .action(let a):
            return (.actions, element("actions", "action", position(model.actions, \.uid, a, last: duplicate)))
        case .actionArgument(let a, let k):
            let ai = position(model.actions, \.uid, a)
            var steps = element("actions", "action", ai)
            if ai != nil { steps += [.key("signature"), .index(k), .key("action_arg")] }
            return (.actions, steps)
        case .table(let t):
            return (.tables, element("tables", "table", position(model.tables, \.uid, t, last: duplicate)))
        case .tableMatch(let t, let k):
            let ti = position(model.tables, \.uid, t)
            var steps = element("tables", "table", ti)
            if ti != nil { steps += [.key("matches"), .index(k), .key("field_ref")] }
            return (.tables, steps)
        case .tableAction(let t, let k):
            let ti = position(model.tables, \.uid, t)
            var steps = element("tables", "table", ti)
            if ti != nil { steps += [.key("actions"), .index(k), .key("uid")] }
            return (.tables, steps)
        case .headerNode(let n):
            return (
                .headerGraph,
                element(
                    "header_graph", "header_graph_node",
                    position(model.headerGraph, \.uid, n, last: duplicate))
            )
        case .headerNodeHeader(let n, let k):
            let ni = position(model.headerGraph, \.uid, n)
            var steps = element("header_graph", "header_graph_node", ni)
            if ni != nil { steps += [.key("hdrs"), .index(k), .key("value")] }
            return (.headerGraph, steps)
        case .headerNodeJump(let n, let k):
            let ni = position(model.headerGraph, \.uid, n)
            var steps = element("header_graph", "header_graph_node", ni)
            if ni != nil { steps += [.key("jump"), .index(k), .key("jump_entry")] }
            return (.headerGraph, steps)
        case .tableNode(let n):
            return (
                .tableGraph,
                element(
                    "table_graph", "table_graph_node",
                    position(model.tableGraph, \.uid, n, last: duplicate))
            )
        case .tableNodeJump(let n, let k):
            let ni = position(model.tableGraph, \.uid, n)
            var steps = element("table_graph", "table_graph_node", ni)
            if ni != nil { steps += [.key("jump"), .index(k), .key("jump_entry")] }
            return (.tableGraph, steps)
        }
    }

    /// The steps as a JSONPath of `document`: keys get their member index (which the text
    /// search needs); the path stops where the document no longer has the step.
    static func path(_ steps: [Step], in document: JSONValue) -> JSONPath {
        var path = JSONPath.root
        var value = document
        for step in steps {
            switch step {
            case .key(let k):
                guard let members = value.members, let i = members.firstIndex(where: { $0.key == k }) else {
                    return path
                }
                path = path.appending(key: k, memberIndex: i)
                value = members[i].value
            case .index(let i):
                guard let elements = value.elements, elements.indices.contains(i) else { return path }
                path = path.appending(index: i)
                value = elements[i]
            }
        }
        return path
    }

    // MARK: file system

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func errnoText() -> String {
        Sys.errorText(errno)
    }
}
