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

    /// What posts in a throughput step: the service (`BridgeAPI.post`, as an MCP call does after decoding) or one
    /// of the raw-PostgreSQL baselines.
    enum Poster: Hashable, Sendable {
        case service
        case baseline(PostBaseline)

        var label: String {
            switch self {
            case .service: "service"
            case .baseline(let baseline): baseline.rawValue
            }
        }
    }

    /// Every poster at the same concurrency for the step duration each, run in halves in the order given and then
    /// reversed (service, a, b, c, c, b, a, service), so a drift over the step (the tables grow, autovacuum
    /// starts) weighs on all alike.
    func measureThroughputSet(
        writers: Int,
        layout: Layout,
        posters: [Poster] = [.service] + PostBaseline.allCases.map(Poster.baseline)
    ) async throws -> [Poster: StepResult] {
        let half = configuration.stepDuration / 2
        var results: [Poster: StepResult] = [:]
        for poster in posters + posters.reversed() {
            let result = try await measureThroughput(writers: writers, layout: layout, poster: poster, duration: half)
            results[poster] = results[poster].map { $0 + result } ?? result
        }
        return results
    }

    /// Posts/s with `writers` concurrent writers, each a distinct participant, for `duration`.
    /// Each writer posts once before the clock starts, so connections and prepared statements exist.
    func measureThroughput(writers: Int, layout: Layout, poster: Poster, duration: Duration) async throws -> StepResult {
        let fixture = try fixture
        let threads = layout == .hot ? [fixture.hotThread] : fixture.spreadThreads
        let inputs = try threads.map { try Self.postInput(thread: $0, body: "throughput sample") }
        let bodyHash = ContentHash.sha256Hex("throughput sample")
        let step = "posts_\(poster.label)_\(layout.rawValue)_\(writers)"
        let kind: ErrorTally.Kind = poster == .service ? .post : .rawPost

        @Sendable func post(_ writer: Int, _ count: Int) async throws {
            let index = (writer + count * writers) % threads.count
            let handle = fixture.writers[writer]
            switch poster {
            case .baseline(let baseline):
                let written = try await writerStore.postBaseline(
                    baseline,
                    threadID: threads[index],
                    workspace: Fixture.workspace,
                    author: handle,
                    body: "throughput sample",
                    bodyHash: bodyHash,
                    requestID: "req_bench_raw"
                )
                if !written { throw BridgeError(.aborted, .transactionConflict, "The raw post wrote no row.") }
            case .service:
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
