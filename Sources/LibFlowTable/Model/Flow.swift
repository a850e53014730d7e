// Flows (the original's "rules") and the GET_FLOWS selector.

/// A flow: `NFL_ATTR_*` inside `NFL_FLOW`. All matches must hold; actions apply in order.
public struct Flow: Hashable, Sendable {
    /// Per-flow errno in error reports (NFL_ATTR_ERROR); nil in requests.
    public var error: UInt32?
    public var table: UInt32
    public var uid: UInt32
    public var priority: UInt32
    /// nil when the attribute is absent (a DEL_FLOWS request may carry only what identifies).
    public var matches: [FieldRef]?
    public var actions: [Action]?

    public init(
        error: UInt32? = nil, table: UInt32, uid: UInt32, priority: UInt32,
        matches: [FieldRef]? = nil, actions: [Action]? = nil
    ) {
        self.error = error
        self.table = table
        self.uid = uid
        self.priority = priority
        self.matches = matches
        self.actions = actions
    }
}

/// The GET_FLOWS request's selector (`NFL_TABLE_FLOWS_*`): flows of `table` with
/// `minPriority ≤ priority ≤ maxPriority`; an absent bound is unbounded.
public struct FlowSelector: Hashable, Sendable {
    public var table: UInt32
    public var minPriority: UInt32?
    public var maxPriority: UInt32?

    public init(table: UInt32, minPriority: UInt32? = nil, maxPriority: UInt32? = nil) {
        self.table = table
        self.minPriority = minPriority
        self.maxPriority = maxPriority
    }

    public func admits(_ priority: UInt32) -> Bool {
        if let lo = minPriority, priority < lo { return false }
        if let hi = maxPriority, priority > hi { return false }
        return true
    }
}
