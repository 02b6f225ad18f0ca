import BridgeCore
import BridgeService
import BridgeStore
import Foundation

extension BenchSession {
    /// Where a step's writers post.
    enum Layout: String, Sendable {
        /// Every writer on one thread: they queue on its row lock.
        case hot
        /// Writer `i`'s `k`-th post goes to spread thread `(i + k·writers) mod count`.
        case spread
    }

    /// How one step went.
    struct StepResult: Sendable {
        var posts: Int
        var errors: Int
        var seconds: Double
        var postsPerSecond: Double { seconds > 0 ? Double(posts) / seconds : 0 }

        static func + (left: StepResult, right: StepResult) -> StepResult {
            StepResult(posts: left.posts + right.posts, errors: left.errors + right.errors, seconds: left.seconds + right.seconds)
        }
    }

    /// The service and the raw statement at the same concurrency, each for the step duration, run in halves
    /// in the order service, raw, raw, service, so a drift over the step (the tables grow, autovacuum starts)
    /// weighs on both alike.
    func measureThroughputPair(writers: Int, layout: Layout) async throws -> (ours: StepResult, raw: StepResult) {
        let half = configuration.stepDuration / 2
        let ours1 = try await measureThroughput(writers: writers, layout: layout, raw: false, duration: half)
        let raw1 = try await measureThroughput(writers: writers, layout: layout, raw: true, duration: half)
        let raw2 = try await measureThroughput(writers: writers, layout: layout, raw: true, duration: half)
        let ours2 = try await measureThroughput(writers: writers, layout: layout, raw: false, duration: half)
        return (ours1 + ours2, raw1 + raw2)
    }

    /// Posts/s with `writers` concurrent writers, each a distinct participant, for `duration`.
    /// Each writer posts once before the clock starts, so connections and prepared statements exist.
    /// `raw` sends the store's post statement straight over PostgresNIO instead of calling the service.
    func measureThroughput(writers: Int, layout: Layout, raw: Bool, duration: Duration) async throws -> StepResult {
        let fixture = try fixture
        let threads = layout == .hot ? [fixture.hotThread] : fixture.spreadThreads
        let inputs = try threads.map { try Self.postInput(thread: $0, body: "throughput sample") }
        let bodyHash = ContentHash.sha256Hex("throughput sample")
        let step = "posts_\(raw ? "raw" : "ours")_\(layout.rawValue)_\(writers)"
        let kind: ErrorTally.Kind = raw ? .rawPost : .post

        @Sendable func post(_ writer: Int, _ count: Int) async throws {
            let index = (writer + count * writers) % threads.count
            let handle = fixture.writers[writer]
            if raw {
                let written = try await writerStore.postBaseline(
                    threadID: threads[index],
                    workspace: Fixture.workspace,
                    author: handle,
                    body: "throughput sample",
                    bodyHash: bodyHash,
                    requestID: "req_bench_raw"
                )
                if !written { throw BridgeError(.aborted, .transactionConflict, "The raw post wrote no row.") }
            } else {
                _ = try await service.post(inputs[index], schemaVersion: SchemaVersion.current, context: context(handle), idempotency: nil)
            }
        }

        // Warm-up: one untimed post per writer.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    do {
                        try await post(writer, 0)
                        self.tally.record(step: step, kind: kind, error: nil)
                    } catch {
                        self.tally.record(step: step, kind: kind, error: error)
                    }
                }
            }
            try await group.waitForAll()
        }
        try Task.checkCancellation()

        let start = ContinuousClock.now
        let deadline = start + duration
        let outcomes = try await withThrowingTaskGroup(of: (posts: Int, failures: [String: Int], end: ContinuousClock.Instant).self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var posts = 0
                    var count = 1
                    var failures: [String: Int] = [:]
                    // Bounded by count as well as by time.
                    while count < 1_000_000, ContinuousClock.now < deadline, !Task.isCancelled {
                        do {
                            try await post(writer, count)
                            posts += 1
                        } catch {
                            failures[ErrorTally.code(of: error), default: 0] += 1
                        }
                        count += 1
                    }
                    return (posts, failures, ContinuousClock.now)
                }
            }
            var all: [(posts: Int, failures: [String: Int], end: ContinuousClock.Instant)] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        let posts = outcomes.map(\.posts).reduce(0, +)
        var failures: [String: Int] = [:]
        for outcome in outcomes { failures.merge(outcome.failures, uniquingKeysWith: +) }
        let errors = failures.values.reduce(0, +)
        tally.add(step: step, kind: kind, calls: posts + errors, failures: failures)
        let elapsed = start.duration(to: outcomes.map(\.end).max() ?? start).milliseconds / 1000
        return StepResult(posts: posts, errors: errors, seconds: elapsed)
    }
}
