import Foundation
import LBStore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing
@testable import LBServer

/// Backends on 127.0.0.1:9001... with the given weights, ids 1, 2, 3..., up and enabled.
private func weightedBackends(_ weights: [Int]) -> [BackendRuntime] {
    weights.enumerated().map { index, weight in
        BackendRuntime(id: Int64(index + 1), url: try! BackendURL(parsing: "http://127.0.0.1:\(9001 + index)"),
                       slot: index, health: .up, weight: weight, adminState: .enabled)
    }
}

/// How many of `picks` went to each backend id (ids missing from the picks count 0).
private func tally(_ picks: [Int64?], ids: ClosedRange<Int64>) -> [Int64: Int] {
    var counts = Dictionary(uniqueKeysWithValues: ids.map { ($0, 0) })
    for case let id? in picks { counts[id, default: 0] += 1 }
    return counts
}

private func share(_ counts: [Int64: Int], _ id: Int64) -> Double {
    Double(counts[id] ?? 0) / Double(max(1, counts.values.reduce(0, +)))
}

/// A balancer given `backends`, with nothing excluded and no key.
private func picks(_ count: Int, from balancer: any Balancer, key: (Int) -> BalancingKey? = { _ in nil }) -> [Int64?] {
    (0..<count).map { balancer.nextBackend(for: key($0))?.id }
}

/// A clock a test moves by hand, in `NIODeadline` uptime nanoseconds.
private final class ManualClock: Sendable {
    private let value = NIOLockedValueBox<UInt64>(1_000_000_000_000)
    var now: UInt64 { value.withLockedValue { $0 } }
    func set(_ nanoseconds: UInt64) { value.withLockedValue { $0 = nanoseconds } }
    func slowStart(_ duration: TimeAmount) -> SlowStart { SlowStart(duration: duration, clock: { self.now }) }
}

/// A closed-loop load test without threads: `concurrency` requests are always outstanding; each
/// backend takes `serviceTicks[i]` ticks per request, serving any number at once. Returns the
/// picks per backend id over `ticks` ticks. A load-aware algorithm favours the fast backends.
private func simulateLoad(_ balancer: any Balancer, backends: [BackendRuntime], serviceTicks: [Int],
                          concurrency: Int, ticks: Int) -> [Int64: Int] {
    var finishing: [[BackendRuntime]] = Array(repeating: [], count: ticks + serviceTicks.max()! + 1)
    var outstanding = 0
    var counts: [Int64: Int] = [:]
    for tick in 0..<ticks {
        for backend in finishing[tick] {
            backend.inFlight.wrappingSubtract(1, ordering: .relaxed)
            outstanding -= 1
        }
        while outstanding < concurrency, let backend = balancer.nextBackend(for: nil) {
            backend.inFlight.wrappingAdd(1, ordering: .relaxed)
            outstanding += 1
            counts[backend.id, default: 0] += 1
            finishing[tick + serviceTicks[Int(backend.id) - 1]].append(backend)
        }
    }
    return counts
}

@Suite struct BalancingAlgorithmTests {
    // MARK: weighted

    @Test func weightedFollowsNginxsSmoothSequence() {
        let balancer = SmoothWeightedRoundRobin()
        balancer.replace(with: BackendSnapshot(weightedBackends([5, 1, 1])))
        // nginx's own example: weights 5, 1, 1 give a a b a c a a.
        #expect(picks(14, from: balancer) == [1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 3, 1, 1])
    }

    @Test func weightedSharesAreExactOverWholeCycles() {
        let balancer = SmoothWeightedRoundRobin()
        balancer.replace(with: BackendSnapshot(weightedBackends([3, 2, 1])))
        let counts = tally(picks(6_000, from: balancer), ids: 1...3)
        print("weighted 3:2:1 over 6000 picks: \(counts.sorted { $0.key < $1.key })")
        #expect(counts == [1: 3_000, 2: 2_000, 3: 1_000])
    }

    @Test func weightedSkipsDownDrainedExcludedAndWeightlessBackends() {
        let all = weightedBackends([1, 1, 1, 0, 2])
        _ = all[1].transition(to: .down)
        all[2].adminState = .drained  // still in this snapshot: the atomic alone must keep it out
        let balancer = SmoothWeightedRoundRobin()
        balancer.replace(with: BackendSnapshot(all))
        #expect(tally(picks(300, from: balancer), ids: 1...5) == [1: 100, 2: 0, 3: 0, 4: 0, 5: 200])
        #expect(balancer.nextBackend(for: nil, excluding: [1])?.id == 5)
        #expect(balancer.nextBackend(for: nil, excluding: [1, 5]) == nil)
        // A health flip counts at once, without a new snapshot.
        _ = all[1].transition(to: .up)
        #expect(Set(picks(8, from: balancer)).contains(2))
    }

    @Test func weightedKeepsExactSharesUnderConcurrentPicks() {
        let balancer = SmoothWeightedRoundRobin()
        balancer.replace(with: BackendSnapshot(weightedBackends([3, 2, 1])))
        let threads = 4
        let perThread = 30_000
        let counts = NIOLockedValueBox([Int64: Int]())
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let local = tally(picks(perThread, from: balancer), ids: 1...3)
            counts.withLockedValue { $0.merge(local, uniquingKeysWith: +) }
        }
        let total = counts.withLockedValue { $0 }
        print("weighted 3:2:1, \(threads) threads × \(perThread) picks: \(total.sorted { $0.key < $1.key })")
        // Racing picks may pick differently, but the atomics keep the sum exact: the shares
        // stay within a few picks of 3:2:1.
        let all = Double(threads * perThread)
        for (id, weight) in [(Int64(1), 3.0), (2, 2.0), (3, 1.0)] {
            #expect(abs(Double(total[id] ?? 0) - all * weight / 6) <= 50, "\(total)")
        }
    }

    // MARK: least-connections

    @Test func leastConnectionsPicksTheFewestInFlightForTheWeight() {
        let all = weightedBackends([1, 1, 1])
        for (backend, load) in zip(all, [3, 1, 2]) { backend.inFlight.store(load, ordering: .relaxed) }
        let balancer = LeastConnections()
        balancer.replace(with: BackendSnapshot(all))
        #expect(picks(5, from: balancer) == [2, 2, 2, 2, 2])
        #expect(balancer.nextBackend(for: nil, excluding: [2])?.id == 3)
        _ = all[1].transition(to: .down)
        #expect(balancer.nextBackend(for: nil)?.id == 3)

        // 3 in flight on weight 2 (1.5 each) is less loaded than 2 on weight 1.
        let weighted = weightedBackends([2, 1])
        weighted[0].inFlight.store(3, ordering: .relaxed)
        weighted[1].inFlight.store(2, ordering: .relaxed)
        balancer.replace(with: BackendSnapshot(weighted))
        #expect(balancer.nextBackend(for: nil)?.id == 1)
    }

    @Test func leastConnectionsSharesIdleBackendsByWeight() {
        let balancer = LeastConnections()
        balancer.replace(with: BackendSnapshot(weightedBackends([3, 1])))
        #expect(tally(picks(4_000, from: balancer), ids: 1...2) == [1: 3_000, 2: 1_000])
    }

    @Test func leastConnectionsSendsMoreToFasterBackendsUnderLoad() {
        let all = weightedBackends([1, 1, 1])
        let balancer = LeastConnections()
        balancer.replace(with: BackendSnapshot(all))
        let counts = simulateLoad(balancer, backends: all, serviceTicks: [1, 2, 4], concurrency: 14, ticks: 4_000)
        print("least-connections, service times 1:2:4 ticks, 14 outstanding: \(counts.sorted { $0.key < $1.key })")
        // Throughput in proportion to speed, 4:2:1, when each keeps an equal queue.
        #expect(abs(share(counts, 1) - 4.0 / 7) < 0.05, "\(counts)")
        #expect(abs(share(counts, 2) - 2.0 / 7) < 0.05, "\(counts)")
        #expect(abs(share(counts, 3) - 1.0 / 7) < 0.05, "\(counts)")
    }

    // MARK: p2c

    @Test func p2cTakesTheLessLoadedOfTwoDistinctRandomChoices() {
        let all = weightedBackends([1, 1, 1])
        for (backend, load) in zip(all, [0, 5, 10]) { backend.inFlight.store(load, ordering: .relaxed) }
        let balancer = PowerOfTwoChoices(random: SplitMixRandom(seed: 42))
        balancer.replace(with: BackendSnapshot(all))
        let counts = tally(picks(30_000, from: balancer), ids: 1...3)
        print("p2c, in flight 0:5:10, seed 42: \(counts.sorted { $0.key < $1.key })")
        // Two distinct of three: the idle one is in 2 of 3 pairs, the busiest never wins.
        #expect(abs(share(counts, 1) - 2.0 / 3) < 0.02, "\(counts)")
        #expect(abs(share(counts, 2) - 1.0 / 3) < 0.02, "\(counts)")
        #expect(counts[3] == 0)
    }

    @Test func p2cSharesIdleBackendsByWeightAndRepeatsWithTheSameSeed() {
        let all = weightedBackends([3, 1])
        let first = PowerOfTwoChoices(random: SplitMixRandom(seed: 7))
        let second = PowerOfTwoChoices(random: SplitMixRandom(seed: 7))
        first.replace(with: BackendSnapshot(all))
        second.replace(with: BackendSnapshot(all))
        let sequence = picks(40_000, from: first)
        #expect(sequence == picks(40_000, from: second))
        let counts = tally(sequence, ids: 1...2)
        print("p2c idle, weights 3:1, seed 7: \(counts.sorted { $0.key < $1.key })")
        #expect(abs(share(counts, 1) - 0.75) < 0.01, "\(counts)")
    }

    @Test func p2cSkipsDownDrainedAndExcludedBackends() {
        let all = weightedBackends([1, 1, 1, 1])
        _ = all[0].transition(to: .down)
        all[1].adminState = .disabled
        let balancer = PowerOfTwoChoices(random: SplitMixRandom(seed: 1))
        balancer.replace(with: BackendSnapshot(all))
        #expect(Set(picks(200, from: balancer)) == [3, 4])
        #expect(Set((0..<50).map { _ in balancer.nextBackend(for: nil, excluding: [3])?.id }) == [4])
        #expect(balancer.nextBackend(for: nil, excluding: [3, 4]) == nil)
    }

    @Test func p2cSendsMoreToFasterBackendsUnderLoad() {
        let all = weightedBackends([1, 1, 1])
        let balancer = PowerOfTwoChoices(random: SplitMixRandom(seed: 3))
        balancer.replace(with: BackendSnapshot(all))
        let counts = simulateLoad(balancer, backends: all, serviceTicks: [1, 2, 4], concurrency: 14, ticks: 4_000)
        print("p2c, service times 1:2:4 ticks, 14 outstanding, seed 3: \(counts.sorted { $0.key < $1.key })")
        // Less sharp than least-connections, far from round robin's thirds.
        #expect(share(counts, 1) > 0.45 && share(counts, 3) < 0.2, "\(counts)")
        #expect(share(counts, 1) > share(counts, 2) && share(counts, 2) > share(counts, 3), "\(counts)")
    }

    // MARK: hash

    private func userKey(_ index: Int) -> BalancingKey { BalancingKey(bytes: "user-\(index)".utf8) }

    /// Where each of `count` user keys goes.
    private func placement(_ balancer: ConsistentHash, keys count: Int = 20_000) -> [Int64?] {
        (0..<count).map { balancer.nextBackend(for: userKey($0))?.id }
    }

    @Test func hashSpreadsKeysByWeightAndKeepsEachKeyOnOneBackend() {
        let balancer = ConsistentHash()
        balancer.replace(with: BackendSnapshot(weightedBackends([1, 1, 1, 1, 1])))
        let placed = placement(balancer)
        let counts = tally(placed, ids: 1...5)
        print("hash, 5 equal backends, 20000 keys: \(counts.sorted { $0.key < $1.key })")
        for id in Int64(1)...5 { #expect(share(counts, id) > 0.15 && share(counts, id) < 0.25, "\(counts)") }
        #expect(placement(balancer) == placed)
        // The same ring from a new balancer (a restarted daemon) places every key the same way.
        let restarted = ConsistentHash()
        restarted.replace(with: BackendSnapshot(weightedBackends([1, 1, 1, 1, 1])))
        #expect(placement(restarted) == placed)

        balancer.replace(with: BackendSnapshot(weightedBackends([3, 1])))
        let weighted = tally(placement(balancer), ids: 1...2)
        print("hash, weights 3:1, 20000 keys: \(weighted.sorted { $0.key < $1.key })")
        #expect(abs(share(weighted, 1) - 0.75) < 0.05, "\(weighted)")
    }

    @Test func hashMovesAboutOneNthOfTheKeysWhenABackendJoinsOrLeaves() {
        let five = weightedBackends([1, 1, 1, 1, 1])
        let balancer = ConsistentHash()
        balancer.replace(with: BackendSnapshot(Array(five.prefix(4))))
        let before = placement(balancer)
        balancer.replace(with: BackendSnapshot(five))
        let after = placement(balancer)
        let moved = zip(before, after).filter { $0 != $1 }
        let joinFraction = Double(moved.count) / Double(before.count)
        print("hash, 4 -> 5 backends: \(String(format: "%.3f", joinFraction)) of keys moved (ideal 0.200)")
        #expect(joinFraction > 0.14 && joinFraction < 0.26)
        #expect(moved.allSatisfy { $0.1 == 5 }, "a key moved between two old backends")

        // Backend 2 leaves: its keys, and only its keys, move.
        balancer.replace(with: BackendSnapshot(five.filter { $0.id != 2 }))
        let left = placement(balancer)
        let leaveFraction = Double(zip(after, left).filter { $0 != $1 }.count) / Double(after.count)
        print("hash, 5 -> 4 backends: \(String(format: "%.3f", leaveFraction)) of keys moved (ideal 0.200)")
        #expect(leaveFraction > 0.14 && leaveFraction < 0.26)
        #expect(zip(after, left).allSatisfy { old, new in old == 2 ? new != 2 : new == old })
    }

    @Test func hashPassesTheKeysOfADownOrExcludedBackendToTheNextOnTheRingAndTakesThemBack() {
        let all = weightedBackends([1, 1, 1, 1])
        let balancer = ConsistentHash()
        balancer.replace(with: BackendSnapshot(all))
        let placed = placement(balancer, keys: 5_000)
        _ = all[2].transition(to: .down)
        let whileDown = placement(balancer, keys: 5_000)
        #expect(zip(placed, whileDown).allSatisfy { old, new in old == 3 ? new != 3 && new != nil : new == old })
        _ = all[2].transition(to: .up)
        #expect(placement(balancer, keys: 5_000) == placed)

        // A retry excluding the first choice lands where a down first choice would send it.
        for index in 0..<200 where placed[index] == 3 {
            #expect(balancer.nextBackend(for: userKey(index), excluding: [3])?.id == whileDown[index])
        }
        all[0].adminState = .drained
        #expect(!placement(balancer, keys: 2_000).contains(1))
        #expect(balancer.nextBackend(for: userKey(0), excluding: [2, 3, 4]) == nil)
    }

    // MARK: slow start

    @Test func slowStartRampsTheEffectiveWeightLinearlyFromASmallShare() {
        let clock = ManualClock()
        let slowStart = clock.slowStart(.seconds(30))
        let backend = weightedBackends([2])[0]
        let start = clock.now
        backend.startRamp(at: start)
        var ramp: [Int] = []
        for elapsed in [0, 3, 15, 27] as [UInt64] {
            clock.set(start + elapsed * 1_000_000_000)
            var now: UInt64 = 0
            ramp.append(slowStart.effectiveWeight(of: backend, now: &now))
        }
        print("slow start 30s, weight 2, effective weight (thousandths) at 0/3/15/27 s: \(ramp)")
        #expect(ramp == [1, 200, 1_000, 1_800])
        clock.set(start + 30_000_000_000)
        var now: UInt64 = 0
        #expect(slowStart.effectiveWeight(of: backend, now: &now) == 2_000)
        #expect(backend.rampStart == nil)
        backend.startRamp(at: clock.now)
        now = 0
        #expect(SlowStart.off.effectiveWeight(of: backend, now: &now) == 2_000)
    }

    @Test func onlyADownBackendComingBackUpStartsARamp() {
        let backend = BackendRuntime(id: 1, url: try! BackendURL(parsing: "http://127.0.0.1:9001"), slot: 0,
                                     health: .unknown, weight: 1, adminState: .enabled)
        _ = backend.transition(to: .up)
        #expect(backend.rampStart == nil)
        _ = backend.transition(to: .down)
        #expect(backend.rampStart == nil)
        let before = NIODeadline.now().uptimeNanoseconds
        _ = backend.transition(to: .up)
        let start = try! #require(backend.rampStart)
        #expect(start >= before && start <= NIODeadline.now().uptimeNanoseconds)
    }

    @Test(arguments: [BalancingAlgorithm.weighted, .leastConnections, .powerOfTwoChoices, .hash])
    func slowStartRampsTheShareOfABackendThatCameBackUp(algorithm: BalancingAlgorithm) {
        let clock = ManualClock()
        let all = weightedBackends([1, 1])
        let start = clock.now
        all[1].startRamp(at: start)
        let balancer = algorithm == .powerOfTwoChoices
            ? PowerOfTwoChoices(random: SplitMixRandom(seed: 11), slowStart: clock.slowStart(.seconds(10)))
            : algorithm.makeBalancer(cursor: 0, slowStart: clock.slowStart(.seconds(10)))
        balancer.replace(with: BackendSnapshot(all))
        var shares: [Double] = []
        for second in [0, 2, 5, 8, 10] as [UInt64] {
            clock.set(start + second * 1_000_000_000)
            let counts = tally(picks(10_000, from: balancer, key: { BalancingKey(bytes: "user-\($0)".utf8) }),
                               ids: 1...2)
            shares.append(share(counts, 2))
        }
        print("slow start 10s, \(algorithm.rawValue): share of the ramping backend at 0/2/5/8/10 s: "
              + shares.map { String(format: "%.3f", $0) }.joined(separator: " "))
        // Weights 1 and r (its ramp): a share of r / (1 + r); for hash, about r of its arcs.
        let expected: [Double] = algorithm == .hash
            ? [0, 0.2, 0.5, 0.8, 1].map { $0 * shares[4] }
            : [0, 0.2, 0.5, 0.8, 1].map { $0 / (1 + $0) }
        for (share, wanted) in zip(shares, expected) { #expect(abs(share - wanted) < 0.04, "\(shares)") }
        #expect(shares[0] < 0.01)
    }

    // MARK: wiring

    @Test func roundRobinStaysTheDefaultAndOnlyItKeepsACursor() {
        let settings = BalancingSettings()
        #expect(settings.algorithm == .roundRobin)
        #expect(settings.requestKey == nil)
        #expect(settings.makeBalancer(cursor: 5).cursorToSave == 5)
        for algorithm in BalancingAlgorithm.allCases where algorithm != .roundRobin {
            #expect(algorithm.makeBalancer(cursor: 5, slowStart: .off).cursorToSave == nil)
        }
        #expect(BalancingSettings(algorithm: .hash, hashKey: .cookie("s")).requestKey == .cookie("s"))
    }
}

@Suite struct HashKeyTests {
    private func head(_ headers: [(String, String)]) -> RequestHead {
        let text = "GET / HTTP/1.1\r\nHost: x\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        return try! RequestHead.parse(ByteBuffer(string: text), limits: RequestHead.Limits())
    }

    @Test func formsAreReadAndBadOnesRefused() {
        #expect(HashKey(parsing: "client-address") == .clientAddress)
        #expect(HashKey(parsing: "header:X-User") == .header("X-User"))
        #expect(HashKey(parsing: "cookie:session_id") == .cookie("session_id"))
        for bad in ["", "client", "header:", "cookie:a b", "query:x", "header:a:b", "Header:x"] {
            #expect(HashKey(parsing: bad) == nil, "\(bad)")
        }
        #expect(HashKey.cookie("s").description == "cookie:s")
    }

    @Test func aRequestIsKeyedByItsHeaderOrCookieElseByItsClientAddress() {
        let address = BalancingKey(bytes: "10.0.0.7".utf8)
        let user = BalancingKey(bytes: "alice".utf8)
        #expect(HashKey.clientAddress.key(for: head([("X-User", "alice")]), clientAddress: "10.0.0.7") == address)
        #expect(HashKey.header("x-user").key(for: head([("X-User", "alice")]), clientAddress: "10.0.0.7") == user)
        #expect(HashKey.header("x-user").key(for: head([]), clientAddress: "10.0.0.7") == address)
        #expect(HashKey.header("x-user").key(for: head([("X-User", "")]), clientAddress: "10.0.0.7") == address)
        let cookies = head([("Cookie", "theme=dark;  session=alice"), ("Cookie", "other=1")])
        #expect(HashKey.cookie("session").key(for: cookies, clientAddress: "10.0.0.7") == user)
        #expect(HashKey.cookie("Session").key(for: cookies, clientAddress: "10.0.0.7") == address)
        #expect(HashKey.cookie("other").key(for: cookies, clientAddress: "x") == BalancingKey(bytes: "1".utf8))
        #expect(HashKey.cookie("sess").key(for: cookies, clientAddress: "10.0.0.7") == address)
    }

    @Test func theKeyHashIsStableAcrossRuns() {
        // FNV-1a + SplitMix64's finalizer, fixed: a change here moves every client on upgrade.
        #expect(BalancingKey(bytes: "".utf8).hash == SplitMixRandom.mix(0xcbf2_9ce4_8422_2325))
        #expect(BalancingKey(bytes: "alice".utf8) == BalancingKey(bytes: Array("alice".utf8)))
        #expect(BalancingKey(bytes: "alice".utf8) != BalancingKey(bytes: "alicf".utf8))
    }
}
