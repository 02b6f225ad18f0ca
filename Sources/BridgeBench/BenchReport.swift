import Foundation

/// What one `agent-bridge bench` run measured, written as JSON (snake_case keys) and shown as a table.
///
/// Every latency is in milliseconds, every rate in posts per second. `serviceLevels` puts each figure
/// next to its DESIGN §10 target with a pass or miss.
public struct BenchReport: Codable, Sendable {
    /// The report format; bumped when a field changes meaning.
    public var format = "agent-bridge.bench/1"
    public var startedAt: Date
    public var elapsedSeconds: Double
    public var settings: Settings
    public var machine: MachineInfo
    /// A writer posts through `BridgeService.post`; a reader on its own store long-polls `read` with `wait_seconds`.
    public var postToVisible: LatencySummary
    /// A dormant managed participant gets a directed post; an in-process supervisor starts its wake.
    public var wakeTrigger: WakeTriggerResult
    /// Non-waiting `read` calls of the latest page of the hot thread.
    public var readLatency: LatencySummary
    /// Posts per second through the service and as the raw statement, per writer count and layout.
    public var throughput: [ThroughputResult]
    /// A fresh `agent-bridge serve` process, from spawn to its reply to MCP `initialize`.
    public var serveInitialize: LatencySummary
    public var errors: ErrorCounts
    public var gaplessSeq: GaplessCheck
    public var serviceLevels: [ServiceLevel]

    /// The sizes this run used.
    public struct Settings: Codable, Sendable {
        public var quick: Bool
        public var stepSeconds: Double
        public var latencySamples: Int
        public var wakeSamples: Int
        public var serveSamples: Int
        public var writerCounts: [Int]
        public var spreadThreads: Int
    }

    /// The wake latency, measured two ways.
    public struct WakeTriggerResult: Codable, Sendable {
        /// From just before the post call until the wake attempt's row is visible to the bench (it polls
        /// every 2 ms): the SLI figure.
        public var clientObserved: LatencySummary
        /// `wake_attempts.started_at − messages.created_at`. The first is the supervisor's clock when the
        /// tick that started the attempt began, the second the database's transaction time; on one host
        /// they are one clock. It leaves out the part of the tick before the claim, so it reads low.
        public var databaseStamps: LatencySummary
        /// Where the latency comes from, in words.
        public var method: String
    }

    /// One throughput step pair: the service and the raw statement at the same concurrency.
    public struct ThroughputResult: Codable, Sendable {
        public var writers: Int
        /// `hot`: every writer posts to one thread; `spread`: writers rotate over `spread_threads` threads.
        public var layout: String
        public var oursPostsPerSecond: Double
        public var rawPostsPerSecond: Double
        /// ours ÷ raw.
        public var ratio: Double
        public var oursPosts: Int
        public var rawPosts: Int
        public var oursErrors: Int
        public var rawErrors: Int
    }

    /// Errors by step and by code (`BridgeError` code for the service, SQLSTATE for the raw statement).
    public struct ErrorCounts: Codable, Sendable {
        public var total: Int
        public var byStep: [String: [String: Int]]
        /// Calls made by every step, for the success rates.
        public var posts: Int
        public var reads: Int
    }

    /// Every thread's messages must carry seqs 1…n with no gap or duplicate, and n must be its `last_seq`.
    public struct GaplessCheck: Codable, Sendable {
        public var threads: Int
        public var messages: Int
        public var violatingThreads: Int
        public var pass: Bool
    }

    /// One DESIGN §10 line.
    public struct ServiceLevel: Codable, Sendable {
        public var sli: String
        public var measured: String
        public var target: String
        public var pass: Bool
    }

    /// The JSON form: sorted snake_case keys, ISO-8601 times.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Reads a report written by ``json()``.
    public static func decode(_ data: Data) throws -> BenchReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(BenchReport.self, from: data)
    }
}
