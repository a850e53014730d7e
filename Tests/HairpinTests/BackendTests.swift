// The backend contract (spec/backend-contract.md), rule by rule for every backend, the batch
// strategies with rollback, and differential runs: seeded random workloads through all four
// backends must give identical answers at every step.
//
// Reproducing a differential failure: the failure message names the seed and the step; run
//   BACKEND_SEED=<seed> swift test --filter HairpinTests.differentialFromEnvironment
import Foundation
import Testing
import LibFlowTable
@testable import Hairpin

// MARK: fixtures

private let ENOENT = Errno.ENOENT, EEXIST = Errno.EEXIST, ENOSPC = Errno.ENOSPC, ECANCELED = Errno.ECANCELED

/// A match on (instance, header, field) with an optional mask.
private func ref(
    _ instance: UInt32, _ header: UInt32, _ field: UInt32, _ type: FieldType,
    _ value: UInt64, mask: UInt64? = nil
) -> FieldRef {
    FieldRef(
        instance: instance, header: header, field: field, maskType: mask == nil ? .exact : .mask,
        type: type, value: FieldValue(value, type: type), mask: mask.map { FieldValue($0, type: type) })
}

private let ipv4 = ref(1, 1, 3, .u16, 0x0800)
private let tcp = ref(2, 3, 10, .u8, 6)
private let udp = ref(2, 3, 10, .u8, 17)
private let out2 = Action(uid: 5, signature: [ActionArg(type: .u32, value: FieldValue(2, type: .u32))])

private func flow(
    _ table: UInt32, _ uid: UInt32, prio: UInt32, _ matches: [FieldRef]? = [ipv4],
    actions: [Action]? = [out2]
) -> Flow {
    Flow(table: table, uid: uid, priority: prio, matches: matches, actions: actions)
}

/// Table 1 unbounded, table 2 holds 3 flows, table 3 holds none.
private let smallTables: [UInt32: UInt32] = [1: Table.unbounded, 2: 3, 3: 0]

private func dump(_ b: any FlowBackend) -> [UInt32: [Flow]] {
    Dictionary(uniqueKeysWithValues: b.tableSizes.keys.map { ($0, b.allFlows(table: $0)) })
}

private func errnos(_ results: [FlowResult]) -> [UInt32] { results.map(\.errno) }

// MARK: insert

@Suite("Backend contract") struct BackendContractTests {
    @Test(arguments: BackendKind.allCases)
    func unknownTableIsENOENT(kind: BackendKind) {
        let b = kind.make(tables: smallTables)
        #expect(b.name == kind.rawValue)
        #expect(b.insert(flow(9, 1, prio: 1)).errno == 2)
        #expect(b.delete(table: 9, uid: 1).errno == 2)
        #expect(b.flows(FlowSelector(table: 9)).errno == 2)
        var called = false
        _ = b.flows(FlowSelector(table: 9)) { _ in called = true }
        #expect(!called)
        #expect(b.count(table: 9) == nil)
        #expect(b.count(table: 1) == 0)
    }

    @Test(arguments: BackendKind.allCases)
    func duplicateUIDIsEEXIST(kind: BackendKind) {
        let b = kind.make(tables: smallTables)
        #expect(b.insert(flow(1, 10, prio: 1, [ipv4])).errno == 0)
        // Same uid, different everything else: still the same uid.
        #expect(b.insert(flow(1, 10, prio: 7, [tcp], actions: nil)).errno == 17)
        // uids are per table.
        #expect(b.insert(flow(2, 10, prio: 1, [ipv4])).errno == 0)
        #expect(b.count(table: 1) == 1)
        #expect(b.allFlows(table: 1) == [flow(1, 10, prio: 1, [ipv4])])
    }

    @Test(arguments: BackendKind.allCases)
    func sameMatchSetAndPriorityIsEEXIST(kind: BackendKind) {
        let b = kind.make(tables: smallTables)
        #expect(b.insert(flow(1, 1, prio: 5, [ipv4, tcp])).errno == 0)
        // Order of matches does not matter.
        #expect(b.insert(flow(1, 2, prio: 5, [tcp, ipv4])).errno == 17)
        // Bits outside the mask do not matter; an absent mask is the full mask.
        // Bits beyond the field's width are outside the mask too.
        let tcpFullMask = ref(2, 3, 10, .u8, 0x06, mask: 0xff)
        let ipv4Wide = ref(1, 1, 3, .u16, 0xF_0800, mask: 0xffff)
        #expect(b.insert(flow(1, 3, prio: 5, [ipv4Wide, tcpFullMask])).errno == 17)
        // Different actions are no different identity.
        #expect(b.insert(flow(1, 4, prio: 5, [ipv4, tcp], actions: nil)).errno == 17)
        // Same match set, other priority: allowed.
        #expect(b.insert(flow(1, 5, prio: 6, [ipv4, tcp])).errno == 0)
        // A subset/superset is a different match set (the original's subset test said the same).
        #expect(b.insert(flow(1, 6, prio: 5, [ipv4])).errno == 0)
        #expect(b.insert(flow(1, 7, prio: 5, [ipv4, udp])).errno == 0)
        // Out-of-mask noise makes a different value irrelevant: 0x16 & 0xf0 == 0x10 & 0xf0.
        #expect(b.insert(flow(1, 8, prio: 5, [ref(2, 3, 10, .u8, 0x16, mask: 0xf0)])).errno == 0)
        #expect(b.insert(flow(1, 9, prio: 5, [ref(2, 3, 10, .u8, 0x10, mask: 0xf0)])).errno == 17)
        // The empty match set (and absent matches) is one identity.
        #expect(b.insert(flow(1, 10, prio: 5, [])).errno == 0)
        #expect(b.insert(flow(1, 11, prio: 5, nil)).errno == 17)
        // The same match set in another table is no conflict.
        #expect(b.insert(flow(2, 1, prio: 5, [ipv4, tcp])).errno == 0)
        #expect(b.allFlows(table: 1).map(\.uid) == [1, 6, 7, 8, 10, 5])
    }

    @Test(arguments: BackendKind.allCases)
    func fullTableIsENOSPC(kind: BackendKind) {
        let b = kind.make(tables: smallTables)
        for uid in UInt32(1)...3 { #expect(b.insert(flow(2, uid, prio: uid)).errno == 0) }
        #expect(b.insert(flow(2, 4, prio: 4)).errno == 28)
        // EEXIST is checked before ENOSPC.
        #expect(b.insert(flow(2, 1, prio: 9)).errno == 17)
        #expect(b.insert(flow(2, 9, prio: 1)).errno == 17)
        // Room again after a delete.
        #expect(b.delete(table: 2, uid: 2).errno == 0)
        #expect(b.insert(flow(2, 4, prio: 4)).errno == 0)
        #expect(b.count(table: 2) == 3)
        // Size 0 holds nothing.
        #expect(b.insert(flow(3, 1, prio: 1)).errno == 28)
        // The unbounded table is not limited by the others.
        for uid in UInt32(1)...100 { #expect(b.insert(flow(1, uid, prio: uid)).errno == 0) }
    }

    @Test(arguments: BackendKind.allCases)
    func failedInsertChangesNothing(kind: BackendKind) {
        let b = kind.make(tables: smallTables)
        #expect(b.insert(flow(2, 1, prio: 1)).errno == 0)
        let before = dump(b)
        _ = b.insert(flow(2, 1, prio: 2, [tcp]))
        _ = b.insert(flow(2, 2, prio: 1))
        _ = b.insert(flow(9, 2, prio: 1))
        #expect(dump(b) == before)
        // The refused uid/identity did not leak into the indexes.
        #expect(b.insert(flow(2, 2, prio: 1, [tcp])).errno == 0)
    }

    @Test(arguments: BackendKind.allCases)
    func deleteIsByTableAndUIDOnly(kind: BackendKind) {
        let b = kind.make(tables: smallTables)
        let stored = flow(1, 1, prio: 3, [ipv4, tcp])
        #expect(b.insert(stored).errno == 0)
        #expect(b.insert(flow(1, 2, prio: 3, [ipv4])).errno == 0)
        #expect(b.insert(flow(1, 3, prio: 4, [ipv4, tcp])).errno == 0)
        #expect(b.insert(flow(2, 1, prio: 3, [ipv4, tcp])).errno == 0)
        // The returned flow is the stored one, whatever the request carried.
        #expect(b.delete(table: 1, uid: 1) == .success(stored))
        // Nothing else went: not the flow with a "subset" match, not the same match at another
        // priority, not the same uid in another table (the original over-deleted).
        #expect(b.allFlows(table: 1).map(\.uid) == [2, 3])
        #expect(b.count(table: 2) == 1)
        #expect(b.delete(table: 1, uid: 1).errno == 2)
        #expect(b.delete(table: 1, uid: 99).errno == 2)
        #expect(b.delete(table: 3, uid: 1).errno == 2)
        // The identity is free again.
        #expect(b.insert(flow(1, 7, prio: 3, [tcp, ipv4])).errno == 0)
    }

    @Test(arguments: BackendKind.allCases)
    func getFlowsOrderAndBounds(kind: BackendKind) throws {
        let b = kind.make(tables: smallTables)
        let spec: [(UInt32, UInt32)] = [(9, 5), (1, 5), (5, 0), (3, 2), (2, 2), (4, 9), (7, .max), (8, 0), (6, 2)]
        for (uid, prio) in spec {
            #expect(b.insert(flow(1, uid, prio: prio, [ref(1, 1, 3, .u16, UInt64(uid))])).errno == 0)
        }
        func uids(_ min: UInt32?, _ max: UInt32?) throws -> [UInt32] {
            try b.flows(FlowSelector(table: 1, minPriority: min, maxPriority: max)).get().map(\.uid)
        }
        #expect(try uids(nil, nil) == [5, 8, 2, 3, 6, 1, 9, 4, 7])
        #expect(try uids(2, 5) == [2, 3, 6, 1, 9])
        #expect(try uids(2, 2) == [2, 3, 6])
        #expect(try uids(nil, 0) == [5, 8])
        #expect(try uids(6, nil) == [4, 7])
        #expect(try uids(.max, nil) == [7])
        #expect(try uids(3, 4) == [])
        #expect(try uids(5, 2) == [])
        #expect(try b.flows(FlowSelector(table: 2)).get() == [])
        // Order survives deletes and re-inserts (lazy caches must notice).
        #expect(b.delete(table: 1, uid: 3).errno == 0)
        #expect(b.insert(flow(1, 3, prio: 0, [ref(1, 1, 3, .u16, 33)])).errno == 0)
        #expect(try uids(nil, 2) == [3, 5, 8, 2, 6])
        #expect(b.delete(table: 1, uid: 7).errno == 0)
        #expect(try uids(5, nil) == [1, 9, 4])
    }

    @Test(arguments: BackendKind.allCases)
    func removeAllKeepsTables(kind: BackendKind) {
        let b = kind.make(tables: smallTables)
        #expect(b.insert(flow(1, 1, prio: 1)).errno == 0)
        #expect(b.insert(flow(2, 1, prio: 1)).errno == 0)
        b.removeAll()
        #expect(b.totalCount == 0)
        #expect(b.count(table: 2) == 0)
        #expect(b.insert(flow(1, 1, prio: 1)).errno == 0)
        #expect(b.allFlows(table: 1) == [flow(1, 1, prio: 1)])
    }

    @Test(arguments: BackendKind.allCases)
    func configuredFromModel(kind: BackendKind) {
        let tables = [
            Table(name: "a", uid: 4, source: 1, size: 1, matches: [], actions: []),
            Table(name: "b", uid: 5, source: 1, size: Table.unbounded, matches: [], actions: []),
        ]
        let b = kind.make(model: tables)
        #expect(b.tableSizes == [4: 1, 5: Table.unbounded])
        #expect(b.insert(flow(4, 1, prio: 1)).errno == 0)
        #expect(b.insert(flow(4, 2, prio: 2)).errno == 28)
        #expect(b.insert(flow(1, 1, prio: 1)).errno == 2)
    }
}

// MARK: lookup

@Suite("Packet lookup") struct LookupTests {
    static let classifiers = BackendKind.allCases.filter(\.classifies)

    @Test func classifierSet() {
        #expect(Self.classifiers == [.dummy, .tss, .tcam])
    }

    private func classifier(_ kind: BackendKind) throws -> any PacketClassifier {
        try #require(kind.make(tables: smallTables) as? any PacketClassifier)
    }

    @Test(arguments: classifiers)
    func priorityThenLowestUID(kind: BackendKind) throws {
        let b = try classifier(kind)
        let ethType = PacketFields.Key(instance: 1, header: 1, field: 3)
        let proto = PacketFields.Key(instance: 2, header: 3, field: 10)
        let tcpPacket: PacketFields = [ethType: 0x0800, proto: 6]
        #expect(b.lookup(table: 1, packet: tcpPacket) == nil)
        #expect(b.insert(flow(1, 20, prio: 1, [ipv4])).errno == 0)
        #expect(b.lookup(table: 1, packet: tcpPacket)?.uid == 20)
        #expect(b.insert(flow(1, 30, prio: 2, [ipv4, tcp])).errno == 0)
        #expect(b.lookup(table: 1, packet: tcpPacket)?.uid == 30)
        // Equal priority: the lower uid wins, whichever tuple it sits in.
        #expect(b.insert(flow(1, 25, prio: 2, [ref(2, 3, 10, .u8, 0x04, mask: 0x0c)])).errno == 0)
        #expect(b.lookup(table: 1, packet: tcpPacket)?.uid == 25)
        #expect(b.insert(flow(1, 40, prio: 2, [])).errno == 0)
        #expect(b.lookup(table: 1, packet: tcpPacket)?.uid == 25)
        // The empty match set matches everything, the UDP packet included.
        #expect(b.lookup(table: 1, packet: [ethType: 0x0800, proto: 17])?.uid == 40)
        #expect(b.delete(table: 1, uid: 25).errno == 0)
        #expect(b.lookup(table: 1, packet: tcpPacket)?.uid == 30)
        #expect(b.delete(table: 1, uid: 30).errno == 0)
        #expect(b.lookup(table: 1, packet: tcpPacket)?.uid == 40)
        #expect(b.delete(table: 1, uid: 40).errno == 0)
        #expect(b.lookup(table: 1, packet: tcpPacket)?.uid == 20)
        #expect(b.lookup(table: 9, packet: tcpPacket) == nil)
    }

    @Test(arguments: classifiers)
    func absentFieldNeverMatches(kind: BackendKind) throws {
        let b = try classifier(kind)
        // Mask 0 still requires the field to be present.
        #expect(b.insert(flow(1, 1, prio: 1, [ref(2, 3, 10, .u8, 0, mask: 0)])).errno == 0)
        let proto = PacketFields.Key(instance: 2, header: 3, field: 10)
        #expect(b.lookup(table: 1, packet: [proto: 99])?.uid == 1)
        #expect(b.lookup(table: 1, packet: [:]) == nil)
        // Same header and field under another instance is another field.
        #expect(b.lookup(table: 1, packet: [PacketFields.Key(instance: 7, header: 3, field: 10): 99]) == nil)
    }

    @Test(arguments: classifiers)
    func maskedMatch(kind: BackendKind) throws {
        let b = try classifier(kind)
        let dst = PacketFields.Key(instance: 2, header: 3, field: 13)
        // 10.0.0.0/8 at priority 1, 10.1.0.0/16 at priority 2.
        #expect(b.insert(flow(1, 1, prio: 1, [ref(2, 3, 13, .u32, 0x0A00_0000, mask: 0xFF00_0000)])).errno == 0)
        #expect(b.insert(flow(1, 2, prio: 2, [ref(2, 3, 13, .u32, 0x0A01_0000, mask: 0xFFFF_0000)])).errno == 0)
        #expect(b.lookup(table: 1, packet: [dst: 0x0A01_0203])?.uid == 2)
        #expect(b.lookup(table: 1, packet: [dst: 0x0A02_0203])?.uid == 1)
        #expect(b.lookup(table: 1, packet: [dst: 0x0B01_0203]) == nil)
    }
}

// MARK: backend-specific

@Suite("TCAM and TSS specifics") struct SpecificTests {
    @Test func tcamCountsEntryMoves() {
        let t = TCAMBackend(tables: [1: Table.unbounded])
        // Descending priority: each new entry goes to the bottom, nothing moves.
        for uid in UInt32(1)...5 {
            #expect(t.insert(flow(1, uid, prio: 100 - uid, [ref(1, 1, 3, .u16, UInt64(uid))])).errno == 0)
        }
        #expect(t.entryMoves == 0)
        // A new top entry shifts all five down.
        #expect(t.insert(flow(1, 6, prio: 1000, [ref(1, 1, 3, .u16, 6)])).errno == 0)
        #expect(t.entryMoves == 5)
        // Equal priority sorts by uid: uid 0 goes before uid 6, moving six entries.
        #expect(t.insert(flow(1, 0, prio: 1000, [ref(1, 1, 3, .u16, 0)])).errno == 0)
        #expect(t.entryMoves == 11)
        // Deleting the top entry shifts the six below it up.
        #expect(t.delete(table: 1, uid: 0).errno == 0)
        #expect(t.entryMoves == 17)
        // Deleting the bottom entry moves nothing.
        #expect(t.delete(table: 1, uid: 5).errno == 0)
        #expect(t.entryMoves == 17)
        #expect(t.entryMoves(table: 1) == 17)
        #expect(t.entryMoves(table: 2) == nil)
        // Failed operations move nothing.
        _ = t.insert(flow(1, 6, prio: 1, [ref(1, 1, 3, .u16, 77)]))
        _ = t.delete(table: 1, uid: 42)
        #expect(t.entryMoves == 17)
    }

    @Test func tcamUnboundedTableGetsDefaultCapacity() {
        #expect(TCAMBackend(tables: [1: Table.unbounded]).capacity(table: 1) == TCAMBackend.defaultCapacity)
        let t = TCAMBackend(tables: [1: Table.unbounded, 2: 5], defaultCapacity: 2)
        #expect(t.capacity(table: 2) == 5)
        #expect(t.insert(flow(1, 1, prio: 1)).errno == 0)
        #expect(t.insert(flow(1, 2, prio: 2)).errno == 0)
        #expect(t.insert(flow(1, 3, prio: 3)).errno == 28)
    }

    @Test func tssGroupsByMaskTuple() throws {
        let t = TSSBackend(tables: [1: Table.unbounded])
        // Same fields and masks, other values: one tuple.
        #expect(t.insert(flow(1, 1, prio: 1, [ipv4, tcp])).errno == 0)
        #expect(t.insert(flow(1, 2, prio: 1, [udp, ipv4])).errno == 0)
        #expect(t.tupleCount(table: 1) == 1)
        // Another mask: another tuple.
        #expect(t.insert(flow(1, 3, prio: 1, [ref(2, 3, 10, .u8, 6, mask: 0x0f)])).errno == 0)
        #expect(t.tupleCount(table: 1) == 2)
        // An emptied tuple goes away.
        #expect(t.delete(table: 1, uid: 3).errno == 0)
        #expect(t.tupleCount(table: 1) == 1)
    }
}

// MARK: batches

@Suite("Batch strategies") struct BatchTests {
    static let kindsAndAborting: [(BackendKind, ErrorStrategy)] =
        BackendKind.allCases.flatMap { k in [(k, ErrorStrategy.abort), (k, .abortLog), (k, ErrorStrategy(rawValue: 9))]
        }
    static let kindsAndContinuing: [(BackendKind, ErrorStrategy)] =
        BackendKind.allCases.flatMap { k in [(k, ErrorStrategy.continue), (k, .continueLog)] }

    private func seeded(_ kind: BackendKind) -> any FlowBackend {
        let b = kind.make(tables: smallTables)
        for uid in UInt32(1)...4 {
            _ = b.insert(flow(1, uid, prio: uid, [ref(1, 1, 3, .u16, UInt64(uid))]))
        }
        _ = b.insert(flow(2, 1, prio: 1))
        return b
    }

    @Test(arguments: kindsAndAborting)
    func abortedSetRollsBack(kind: BackendKind, strategy: ErrorStrategy) {
        let b = seeded(kind)
        let before = dump(b)
        let batch = [
            flow(1, 10, prio: 1, [tcp]), flow(2, 2, prio: 2), flow(1, 11, prio: 9, [udp]),
            flow(1, 3, prio: 1, [ipv4]) /* uid 3 exists */, flow(1, 12, prio: 1, [ipv4, udp]),
        ]
        let results = FlowBatch.apply(op: .set, flows: batch, strategy: strategy, backend: b)
        #expect(results.map(\.index) == [0, 1, 2, 3, 4])
        #expect(errnos(results) == [ECANCELED, ECANCELED, ECANCELED, EEXIST, ECANCELED])
        #expect(dump(b) == before)
    }

    @Test(arguments: kindsAndAborting)
    func abortedDeleteRestoresExactFlows(kind: BackendKind, strategy: ErrorStrategy) {
        let b = seeded(kind)
        let before = dump(b)
        // DEL requests may carry only the identity; what comes back must be the stored flows.
        let batch = [
            Flow(table: 1, uid: 2, priority: 0), Flow(table: 2, uid: 1, priority: 0),
            Flow(table: 1, uid: 4, priority: 0), Flow(table: 1, uid: 2, priority: 0),
        ]
        let results = FlowBatch.apply(op: .del, flows: batch, strategy: strategy, backend: b)
        #expect(errnos(results) == [ECANCELED, ECANCELED, ECANCELED, ENOENT])
        #expect(dump(b) == before)
    }

    @Test(arguments: kindsAndAborting)
    func abortOnFirstFlowAndOnFull(kind: BackendKind, strategy: ErrorStrategy) {
        let b = seeded(kind)
        let before = dump(b)
        let first = FlowBatch.apply(
            op: .set, flows: [flow(9, 1, prio: 1), flow(1, 20, prio: 1, [tcp])],
            strategy: strategy, backend: b)
        #expect(errnos(first) == [ENOENT, ECANCELED])
        // Table 2 holds 3: two more fit, the third is ENOSPC and the two are undone.
        let full = FlowBatch.apply(
            op: .set, flows: [flow(2, 2, prio: 2), flow(2, 3, prio: 3), flow(2, 4, prio: 4)],
            strategy: strategy, backend: b)
        #expect(errnos(full) == [ECANCELED, ECANCELED, ENOSPC])
        #expect(dump(b) == before)
    }

    @Test(arguments: BackendKind.allCases.flatMap { k in ErrorStrategy.all.map { (k, $0) } })
    func successfulBatchAppliesEverything(kind: BackendKind, strategy: ErrorStrategy) {
        let b = seeded(kind)
        let set = FlowBatch.apply(
            op: .set, flows: [flow(1, 10, prio: 1, [tcp]), flow(2, 2, prio: 2)],
            strategy: strategy, backend: b)
        #expect(errnos(set) == [0, 0])
        #expect(b.count(table: 1) == 5 && b.count(table: 2) == 2)
        let del = FlowBatch.apply(
            op: .del, flows: [Flow(table: 1, uid: 10, priority: 0), Flow(table: 1, uid: 1, priority: 0)],
            strategy: strategy, backend: b)
        #expect(errnos(del) == [0, 0])
        #expect(b.allFlows(table: 1).map(\.uid) == [2, 3, 4])
        #expect(FlowBatch.apply(op: .set, flows: [], strategy: strategy, backend: b) == [])
    }

    @Test(arguments: kindsAndContinuing)
    func continueAppliesWhatItCan(kind: BackendKind, strategy: ErrorStrategy) {
        let b = seeded(kind)
        let batch = [
            flow(1, 10, prio: 1, [tcp]), flow(1, 3, prio: 1, [udp]) /* uid exists */,
            flow(9, 1, prio: 1), flow(2, 2, prio: 2), flow(2, 3, prio: 3), flow(2, 4, prio: 4),
            flow(1, 11, prio: 1, [tcp]) /* same match and priority as uid 10 */,
        ]
        let results = FlowBatch.apply(op: .set, flows: batch, strategy: strategy, backend: b)
        #expect(results.map(\.index) == Array(0..<7))
        #expect(errnos(results) == [0, EEXIST, ENOENT, 0, 0, ENOSPC, EEXIST])
        #expect(b.allFlows(table: 1).map(\.uid) == [1, 10, 2, 3, 4])
        #expect(b.count(table: 2) == 3)
        let del = FlowBatch.apply(
            op: .del,
            flows: [
                Flow(table: 1, uid: 10, priority: 0), Flow(table: 1, uid: 10, priority: 0),
                Flow(table: 7, uid: 1, priority: 0), Flow(table: 2, uid: 2, priority: 0),
            ],
            strategy: strategy, backend: b)
        #expect(errnos(del) == [0, ENOENT, ENOENT, 0])
        #expect(b.allFlows(table: 1).map(\.uid) == [1, 2, 3, 4])
    }

    @Test func strategyClassification() {
        #expect(FlowBatch.aborts(.abort) && FlowBatch.aborts(.abortLog))
        #expect(!FlowBatch.aborts(.continue) && !FlowBatch.aborts(.continueLog))
        #expect(FlowBatch.aborts(ErrorStrategy(rawValue: 4)))
    }
}

// MARK: differential

/// SplitMix64 (Steele, Lea, Flood 2014): Hairpin's SeededGenerator, the workloads' own, which
/// is tiny, seedable, and the same stream on every platform. Draws go through `below(_:)`
/// rather than the stdlib's `random(in:using:)`, whose algorithm may change between
/// toolchains, so a seed keeps reproducing.
typealias SplitMix64 = SeededGenerator

extension SeededGenerator {
    /// Uniform enough in 0..<n (modulo bias is irrelevant for n this small).
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
}

/// Generates flows, selectors and packets from small domains so that uids, match sets and
/// priorities collide often, tables fill up, and masks matter.
struct Workload {
    var rng: SplitMix64
    /// Flows generated so far: a source of deliberate collisions.
    var history: [Flow] = []

    /// 1 unbounded, 2 small (fills to ENOSPC often), 3 medium, 4 holds nothing.
    static let tables: [UInt32: UInt32] = [1: Table.unbounded, 2: 6, 3: 40, 4: 0]
    static let unknownTable: UInt32 = 99
    static let fields: [(instance: UInt32, header: UInt32, field: UInt32, type: FieldType)] =
        [(1, 1, 3, .u16), (2, 3, 10, .u8), (2, 3, 12, .u32), (2, 3, 13, .u32), (3, 4, 1, .u32), (7, 3, 10, .u8)]

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func table() -> UInt32 {
        switch rng.below(100) {
        case ..<40: return 1
        case ..<70: return 2
        case ..<95: return 3
        case ..<98: return 4
        default: return Self.unknownTable
        }
    }

    mutating func uid() -> UInt32 { rng.chance(2) ? UInt32(truncatingIfNeeded: rng.next()) : UInt32(1 + rng.below(40)) }

    mutating func priority() -> UInt32 {
        switch rng.below(100) {
        case ..<2: return .max
        case ..<4: return UInt32(truncatingIfNeeded: rng.next())
        default: return UInt32(rng.below(5))
        }
    }

    mutating func fieldRef() -> FieldRef {
        let f = rng.pick(Self.fields)
        // Values up to 15 under masks of 2 bits: bits outside the mask vary, which must not matter.
        let value = UInt64(rng.below(16))
        let mask: UInt64? =
            rng.chance(5)
            ? 0 : rng.pick([nil, f.type.byteWidth.map { $0 >= 8 ? ~0 : (1 << (8 * UInt64($0))) - 1 }, 0x3, 0x1])
        return FieldRef(
            instance: f.instance, header: f.header, field: f.field,
            maskType: mask == nil ? .exact : .mask, type: f.type,
            value: FieldValue(value, type: f.type), mask: mask.map { FieldValue($0, type: f.type) })
    }

    mutating func matches() -> [FieldRef]? {
        if rng.chance(2) { return nil }
        // Few empty sets: a catch-all flow hits every packet and hides the others from lookups.
        let n = rng.chance(3) ? 0 : 1 + rng.below(3)
        return (0..<n).map { _ in fieldRef() }
    }

    mutating func actions() -> [Action]? {
        if rng.chance(10) { return nil }
        return [
            Action(
                uid: UInt32(1 + rng.below(7)),
                signature: [ActionArg(type: .u32, value: FieldValue(UInt64(rng.below(4)), type: .u32))])
        ]
    }

    mutating func flow() -> Flow {
        var f: Flow
        if !history.isEmpty, rng.chance(35) {
            f = rng.pick(history)
            switch rng.below(5) {
            case 0: f.uid = uid()  // same match and priority, new uid
            case 1:
                f.matches = f.matches.map { $0.reversed() }  // same set, other order
                f.uid = uid()
            case 2:
                f.priority = priority()  // same match, maybe other priority
                f.uid = uid()
            case 3: f.matches = matches()  // same uid, other match
            default: f.actions = actions()  // an exact repeat, other actions
            }
            if rng.chance(10) { f.table = table() }
        } else {
            f = Flow(table: table(), uid: uid(), priority: priority(), matches: matches(), actions: actions())
        }
        history.append(f)
        if history.count > 300 { history.removeFirst(100) }
        return f
    }

    mutating func selector() -> FlowSelector {
        let t = rng.chance(3) ? Self.unknownTable : table()
        let a = rng.chance(30) ? nil : priority()
        let b = rng.chance(30) ? nil : priority()
        return FlowSelector(table: t, minPriority: a, maxPriority: b)
    }

    mutating func packet() -> PacketFields {
        var p = PacketFields()
        for f in Self.fields where rng.chance(85) {
            p[f.instance, f.header, f.field] = UInt64(rng.below(16))
        }
        return p
    }
}

/// What a backend answered, comparable across backends.
enum Answer: Equatable, CustomStringConvertible {
    case insert(Int32)
    case delete(Result<Flow, BackendError>)
    case flows(Result<[Flow], BackendError>)
    case batch([FlowResult])
    case counts([Int?])
    case lookup(Flow?)
    case dump([UInt32: [Flow]])

    var description: String {
        switch self {
        case .insert(let e): return "insert → \(e)"
        case .delete(let r): return "delete → \(r)"
        case .flows(let r):
            return "flows → \((try? r.get().map { "\($0.priority)/\($0.uid)" }).map { "\($0)" } ?? "\(r)")"
        case .batch(let r): return "batch → \(r.map(\.errno))"
        case .counts(let c): return "counts → \(c)"
        case .lookup(let f): return "lookup → \(f.map { "\($0.priority)/\($0.uid)" } ?? "nil")"
        case .dump(let d):
            return "dump → "
                + d.keys.sorted().map { t in "\(t): \(d[t, default: []].map { "\($0.priority)/\($0.uid)" })" }
                .joined(separator: ", ")
        }
    }
}

/// What a differential run saw: the first divergence, if any, and how often each interesting case
/// came up (agreement on a workload that never fills a table proves little about ENOSPC).
struct DifferentialReport {
    var divergence: String?
    var insertErrnos: [Int32: Int] = [:]
    var deleteErrnos: [Int32: Int] = [:]
    var batchErrnos: [UInt32: Int] = [:]
    var nonEmptyGets = 0
    var lookupHits = 0
    var lookupMisses = 0
}

/// Runs `steps` random operations through every backend `make()` returns and compares each answer
/// with the first backend's, stopping at the first difference. The divergence message names seed,
/// step and operation: a failure must be reproducible from its message.
func runDifferential(seed: UInt64, steps: Int, make: () -> [any FlowBackend]) -> DifferentialReport {
    let backends = make()
    let classifiers = backends.compactMap { $0 as? any PacketClassifier }
    var w = Workload(seed: seed)
    var report = DifferentialReport()
    let allTables = Workload.tables.keys.sorted() + [Workload.unknownTable]

    func compare(_ step: Int, _ what: String, _ answers: [Answer], _ names: [String]) -> String? {
        guard let reference = answers.first else { return nil }
        for (answer, name) in zip(answers, names).dropFirst() where answer != reference {
            return "seed \(seed) (0x\(String(seed, radix: 16))) step \(step) \(what): "
                + "\(names[0]) \(reference) but \(name) \(answer)"
        }
        return nil
    }
    let names = backends.map(\.name)

    for step in 0..<steps {
        let roll = w.rng.below(100)
        var divergence: String?
        switch roll {
        case ..<35:
            let f = w.flow()
            let answers = backends.map { $0.insert(f).errno }
            report.insertErrnos[answers[0], default: 0] += 1
            divergence = compare(
                step, "insert \(f.table)/\(f.uid) prio \(f.priority)", answers.map(Answer.insert), names)
        case ..<55:
            // Mostly uids that are stored (taken from the reference), sometimes anything.
            let table = w.table()
            let stored = backends[0].allFlows(table: table)
            let uid = !stored.isEmpty && w.rng.chance(70) ? w.rng.pick(stored).uid : w.uid()
            let answers = backends.map { $0.delete(table: table, uid: uid) }
            report.deleteErrnos[answers[0].errno, default: 0] += 1
            divergence = compare(step, "delete \(table)/\(uid)", answers.map(Answer.delete), names)
        case ..<68:
            let s = w.selector()
            let answers = backends.map { $0.flows(s) }
            if case .success(let fs) = answers[0], !fs.isEmpty { report.nonEmptyGets += 1 }
            divergence = compare(step, "get \(s)", answers.map(Answer.flows), names)
        case ..<80:
            let op: FlowOp = w.rng.chance(60) ? .set : .del
            let strategy = w.rng.pick(ErrorStrategy.all)
            let flows = (0..<(1 + w.rng.below(6))).map { _ in w.flow() }
            let before = dump(backends[0])
            let answers = backends.map { FlowBatch.apply(op: op, flows: flows, strategy: strategy, backend: $0) }
            for r in answers[0] { report.batchErrnos[r.errno, default: 0] += 1 }
            let what = "batch \(op) \(strategy) of \(flows.count)"
            divergence =
                compare(step, what, answers.map(Answer.batch), names)
                ?? compare(step, "state after batch", backends.map { .dump(dump($0)) }, names)
            // FlowBatch is shared by all backends, so agreement alone cannot catch its bugs: check
            // the strategy's contract against the reference too.
            let errnos = answers[0].map(\.errno)
            if divergence == nil, FlowBatch.aborts(strategy), errnos.contains(where: { $0 != 0 }) {
                let failures = errnos.filter { $0 != 0 && $0 != ECANCELED }
                if failures.count != 1 || errnos.count(where: { $0 == ECANCELED }) != errnos.count - 1 {
                    divergence = "seed \(seed) step \(step) \(what): aborted batch results \(errnos)"
                } else if dump(backends[0]) != before {
                    divergence = "seed \(seed) step \(step) \(what): aborted batch changed the state"
                }
            }
        case ..<98:
            let table = w.rng.chance(3) ? Workload.unknownTable : w.table()
            let p = w.packet()
            let answers = classifiers.map { $0.lookup(table: table, packet: p) }
            if answers.first.flatMap({ $0 }) == nil { report.lookupMisses += 1 } else { report.lookupHits += 1 }
            let fields = p.values.map { "\($0.key.instance).\($0.key.header).\($0.key.field)=\($0.value)" }.sorted()
            divergence = compare(step, "lookup \(table) \(fields)", answers.map(Answer.lookup), classifiers.map(\.name))
        default:
            for b in backends { b.removeAll() }
        }
        if divergence == nil {
            divergence = compare(
                step, "counts", backends.map { b in .counts(allTables.map { b.count(table: $0) }) }, names)
        }
        if divergence == nil, step % 50 == 49 || step == steps - 1 {
            divergence = compare(step, "state", backends.map { .dump(dump($0)) }, names)
        }
        if let divergence {
            report.divergence = divergence
            return report
        }
    }
    return report
}

@Suite("Differential") struct DifferentialTests {
    static let seeds: [UInt64] = [1, 2, 3, 42, 20_150_209, 0xDEAD_BEEF, 0x5EED_F10B_7AB1_E000]
    static let steps = 4000

    private static func allBackends() -> [any FlowBackend] {
        BackendKind.allCases.map { $0.make(tables: Workload.tables) }
    }

    @Test(arguments: seeds)
    func allBackendsAgree(seed: UInt64) {
        let divergence = runDifferential(seed: seed, steps: Self.steps, make: Self.allBackends).divergence
        if let divergence { print("BACKEND_SEED=\(seed): \(divergence)") }
        #expect(divergence == nil, Comment(rawValue: divergence ?? ""))
    }

    /// The workload must reach the interesting cases, or agreement proves little.
    @Test func workloadCoversTheContract() {
        let r = runDifferential(seed: Self.seeds[0], steps: Self.steps, make: Self.allBackends)
        #expect(r.divergence == nil)
        #expect(Set(r.insertErrnos.keys).isSuperset(of: [0, 2, 17, 28]), "insert errnos \(r.insertErrnos)")
        #expect(Set(r.deleteErrnos.keys).isSuperset(of: [0, 2]), "delete errnos \(r.deleteErrnos)")
        #expect(Set(r.batchErrnos.keys).isSuperset(of: [0, 2, 17, 28, 125]), "batch errnos \(r.batchErrnos)")
        #expect(r.nonEmptyGets > 100)
        #expect(r.lookupHits > 100 && r.lookupMisses > 100, "lookups: \(r.lookupHits) hit, \(r.lookupMisses) missed")
    }

    /// tss keys its subtables and buckets by 64-bit mixes; with the mixes cut to one bit or none,
    /// every tuple shares a chain and every match set of a tuple shares a bucket, and the answers
    /// must not change.
    @Test(arguments: seeds.prefix(3))
    func tssAgreesWhenItsMixesCollide(seed: UInt64) {
        let divergence = runDifferential(seed: seed, steps: Self.steps) {
            [
                DummyBackend(tables: Workload.tables), TSSBackend(tables: Workload.tables, hashMask: 0),
                TSSBackend(tables: Workload.tables, hashMask: 1),
            ]
        }.divergence
        #expect(divergence == nil, Comment(rawValue: divergence ?? ""))
    }

    /// Reproduces one seed: BACKEND_SEED=<n> swift test --filter differentialFromEnvironment
    @Test(.enabled(if: ProcessInfo.processInfo.environment["BACKEND_SEED"] != nil))
    func differentialFromEnvironment() throws {
        let text = ProcessInfo.processInfo.environment["BACKEND_SEED"] ?? ""
        let seed = try #require(text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text))
        let steps = ProcessInfo.processInfo.environment["BACKEND_STEPS"].flatMap { Int($0) } ?? Self.steps
        let divergence = runDifferential(seed: seed, steps: steps, make: Self.allBackends).divergence
        #expect(divergence == nil, Comment(rawValue: divergence ?? ""))
    }

    /// The harness must be able to fail: each planted bug is caught.
    @Test(arguments: Mutation.allCases)
    func harnessCatchesPlantedBugs(mutation: Mutation) {
        let caught = Self.seeds.prefix(3).contains { seed in
            runDifferential(seed: seed, steps: Self.steps) {
                [DummyBackend(tables: Workload.tables), MutantBackend(mutation, tables: Workload.tables)]
            }.divergence != nil
        }
        #expect(caught, "mutation \(mutation) went unnoticed")
    }
}

// MARK: mutants

enum Mutation: String, CaseIterable, Sendable {
    /// Duplicate check on the match set alone, ignoring priority.
    case identityIgnoresPriority
    /// Equal priorities listed by descending uid.
    case tiesByDescendingUID
    /// One slot less than the table size.
    case sizeOffByOne
    /// delete returns only the identifying fields (a rollback would restore a hollow flow).
    case deleteReturnsSkeleton
    /// Lookup prefers the higher uid among equal priorities.
    case lookupTieByHighestUID
    /// The original's delete: every flow of the table with the same match set goes.
    case deleteByMatchSet
}

/// A correct backend with one planted bug.
final class MutantBackend: PacketClassifier {
    let mutation: Mutation
    let inner: DummyBackend
    var name: String { "mutant-\(mutation.rawValue)" }
    var tableSizes: [UInt32: UInt32] { inner.tableSizes }

    init(_ mutation: Mutation, tables: [UInt32: UInt32]) {
        self.mutation = mutation
        inner = DummyBackend(tables: tables)
    }

    convenience init(tables: [UInt32: UInt32]) { self.init(.identityIgnoresPriority, tables: tables) }

    func insert(_ flow: Flow) -> Result<Void, BackendError> {
        switch mutation {
        case .identityIgnoresPriority:
            let set = MatchSet(flow.matches ?? [])
            if inner.allFlows(table: flow.table).contains(where: {
                $0.uid != flow.uid && MatchSet($0.matches ?? []) == set
            }) {
                return .failure(.exists)
            }
        case .sizeOffByOne:
            if let size = tableSizes[flow.table], size != Table.unbounded, size > 0,
                inner.count(table: flow.table) == Int(size) - 1,
                !inner.allFlows(table: flow.table).contains(where: {
                    $0.uid == flow.uid || MatchPriority($0) == MatchPriority(flow)
                })
            {
                return .failure(.noSpace)
            }
        default: break
        }
        return inner.insert(flow)
    }

    // The byte path's calls (ByteService) are the reference's: the mutations plant bugs in the
    // typed contract, which these tests hold a backend to.
    func insert(_ view: FlowView) -> Bool { inner.insert(view) }
    func remove(table: UInt32, uid: UInt32) -> RemovedFlow? { inner.remove(table: table, uid: uid) }
    func restore(_ removed: RemovedFlow) { inner.restore(removed) }

    func delete(table: UInt32, uid: UInt32) -> Result<Flow, BackendError> {
        switch mutation {
        case .deleteReturnsSkeleton:
            return inner.delete(table: table, uid: uid).map {
                Flow(table: $0.table, uid: $0.uid, priority: $0.priority)
            }
        case .deleteByMatchSet:
            let result = inner.delete(table: table, uid: uid)
            if case .success(let gone) = result {
                let set = MatchSet(gone.matches ?? [])
                for f in inner.allFlows(table: table) where MatchSet(f.matches ?? []) == set {
                    _ = inner.delete(table: table, uid: f.uid)
                }
            }
            return result
        default:
            return inner.delete(table: table, uid: uid)
        }
    }

    func flows(_ selector: FlowSelector, into body: (Flow) -> Void) -> Result<Void, BackendError> {
        guard mutation == .tiesByDescendingUID else { return inner.flows(selector, into: body) }
        var all: [Flow] = []
        let r = inner.flows(selector) { all.append($0) }
        for f in all.sorted(by: { ($0.priority, UInt32.max - $0.uid) < ($1.priority, UInt32.max - $1.uid) }) { body(f) }
        return r
    }

    func count(table: UInt32) -> Int? { inner.count(table: table) }
    func removeAll() { inner.removeAll() }

    func lookup(table: UInt32, packet: PacketFields) -> Flow? {
        guard mutation == .lookupTieByHighestUID else { return inner.lookup(table: table, packet: packet) }
        return inner.allFlows(table: table).filter { packet.matches(MatchSet($0.matches ?? [])) }
            .max { ($0.priority, $0.uid) < ($1.priority, $1.uid) }
    }
}
