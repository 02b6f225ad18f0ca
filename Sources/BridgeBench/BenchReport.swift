import Foundation

/// What one `agent-bridge bench` run measured, written as JSON (snake_case keys) and shown as a table.
///
/// Every latency is in milliseconds, every rate in posts per second. `serviceLevels` puts each figure
/// next to its service-level target with a pass or miss.
public struct BenchReport: Codable, Sendable {
    /// The report format; bumped when a field changes meaning.
    public var format = "agent-bridge.bench/2"
    public var startedAt: Date
    public var elapsedSeconds: Double
    public var settings: Settings
    public var machine: MachineInfo
    /// A writer posts through `BridgeAPI.post`; a reader on its own store long-polls `read` with `wait_seconds`.
    public var postToVisible: LatencySummary
    /// A dormant managed participant gets a directed post; an in-process supervisor starts its wake.
    public var wakeTrigger: WakeTriggerResult
    /// Non-waiting `read` calls of the latest page of the hot thread.
    public var readLatency: LatencySummary
    /// Posts per second through the service and as each raw-PostgreSQL baseline, per writer count and layout.
    public var throughput: [ThroughputResult]
    /// Posts per second through real `serve` processes over their stdio, per process count and layout, next to
    /// baselines (a) and (b) at as many writers.
    public var mcpThroughput: [MCPThroughputResult]
    /// A fresh `agent-bridge serve` process, from spawn to its reply to MCP `initialize`.
    public var serveInitialize: LatencySummary
    /// One `agent-bridge serve` child driven over its pipes by a raw JSON-RPC client: posts and reads of the
    /// latest page, timed at the client and by the server's own `tool.call` log lines.
    public var wire: WireResult
    /// `v1_inbox` through one real `serve` process on a seeded mailbox of many threads, none of it read.
    public var inbox: InboxResult
    /// One real `serve` process's resident memory, idle and after a load of posts and reads.
    public var memory: MemoryResult
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
        public var wireSamples: Int
        public var inboxThreads: Int
        public var memoryCalls: Int
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

    /// One poster's posts/s in a step, with its ratios to the step's baselines (b) and (a).
    public struct PostsFigure: Codable, Sendable {
        public var postsPerSecond: Double
        public var posts: Int
        public var errors: Int
        /// ÷ baseline (b), the store's post statement without notify; 0 when (b) is missing.
        public var vsStatement: Double
        /// ÷ baseline (a), the minimal append; 0 when (a) is missing.
        public var vsMinimalAppend: Double

        init(_ result: BenchSession.StepResult, statement: Double, minimalAppend: Double) {
            postsPerSecond = result.postsPerSecond
            posts = result.posts
            errors = result.errors
            vsStatement = statement > 0 ? result.postsPerSecond / statement : 0
            vsMinimalAppend = minimalAppend > 0 ? result.postsPerSecond / minimalAppend : 0
        }
    }

    /// One throughput step: every poster at the same concurrency, in one run on the same threads.
    public struct ThroughputResult: Codable, Sendable {
        public var writers: Int
        /// `hot`: every writer posts to one thread; `spread`: writers rotate over `spread_threads` threads.
        public var layout: String
        /// By poster: `service` (`BridgeAPI.post`, as an MCP call after decoding), `minimal_append` (a),
        /// `statement` (b), `statement_with_notify` (c); see `PostBaseline`.
        public var figures: [String: PostsFigure]
    }

    /// One MCP posts/s step: `processes` `serve` children, each posting over its stdio as a distinct writer, and
    /// baselines (a) and (b) with as many writers, in halves MCP, (b), (a), (a), (b), MCP.
    public struct MCPThroughputResult: Codable, Sendable {
        public var processes: Int
        public var layout: String
        /// `mcp`, `statement` (b) and `minimal_append` (a); empty when the children did not start.
        public var figures: [String: PostsFigure]
    }

    /// The wire step: posts and reads through one real `serve` process, as an MCP client makes them.
    public struct WireResult: Codable, Sendable {
        /// `v1_message_post` calls, each with a distinct body, kind `note`, one at a time.
        public var post: WireOperation
        /// Non-waiting `v1_message_read` calls of the latest page of the thread the posts went to.
        public var read: WireOperation
        /// Messages each read returned (the page size, 50).
        public var messagesPerRead: Int
        /// The serve process's CPU time (user + system, all threads, `/proc/PID/stat`) over the post loop ÷ posts.
        public var serveCpuPerPostMs: Double
        /// The same over the read loop ÷ reads. `/proc` counts in clock ticks (usually 10 ms), so this is a
        /// mean over the loop, not a per-call figure.
        public var serveCpuPerReadMs: Double
        /// The store's page query of a read, sent alone over PostgresNIO from the bench's own client for the
        /// same thread and page: what PostgreSQL and one round trip cost, with no service around it.
        public var postgresPageQuery: LatencySummary
        /// `serve_cpu_per_read_ms ÷ postgres_page_query.p50_ms`: how much work serve does per read, measured
        /// in PostgreSQL page times. 0 when either is missing.
        public var cpuPerReadToPageQuery: Double
        /// How the figures were taken, in words.
        public var method: String
    }

    /// The inbox step: non-waiting `v1_inbox` calls of a reader who is a member of every seeded thread.
    public struct InboxResult: Codable, Sendable {
        public var threads: Int
        /// Messages in the mailbox's threads.
        public var messages: Int
        /// Of those, the reader's unread: broadcasts and messages directed to it.
        public var unread: Int
        /// Messages each call returned (the default limit, 50).
        public var messagesPerCall: Int
        /// From just before the request line is written until the reply line is read.
        public var roundTrip: LatencySummary
        /// `duration_ms` of serve's `tool.call` log lines for the successful calls.
        public var serverSide: LatencySummary
        /// The store's inbox statement sent alone over PostgresNIO by the bench.
        public var postgresQuery: LatencySummary
        public var method: String
    }

    /// The memory step's two readings of one `serve` process.
    public struct MemoryResult: Codable, Sendable {
        /// After `initialize`, before any tool call.
        public var idle: ResidentMemory
        /// After the posts and reads.
        public var afterLoad: ResidentMemory
        public var posts: Int
        public var reads: Int
        public var method: String
    }

    /// `RssAnon` and `RssFile` of `/proc/PID/status`, in KiB: the heap and stacks, and the mapped binary and libraries.
    public struct ResidentMemory: Codable, Sendable {
        public var rssAnonKib: Int
        public var rssFileKib: Int
    }

    /// One wire operation, timed twice.
    public struct WireOperation: Codable, Sendable {
        /// From just before the request line is written to serve's stdin until its reply line is read.
        public var roundTrip: LatencySummary
        /// `duration_ms` of serve's `tool.call` log lines for the successful calls: from when its tool router
        /// takes the call (identity, argument checks, participant upkeep, the operation) until the result is
        /// encoded. It leaves out JSON-RPC framing and decoding and the write of the reply.
        public var serverSide: LatencySummary
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

    /// One service-level line.
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
