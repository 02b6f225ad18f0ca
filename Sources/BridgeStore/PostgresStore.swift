import BridgeCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The PostgreSQL storage of agent-bridge: a small connection pool, prepared hot-path statements,
/// transactions with bounded retry, and the mapping of driver failures to `BridgeError`.
///
/// Run ``client`` and ``notifications`` as services (dependencies first) in the process's `ServiceGroup`.
public final class PostgresStore: Sendable {
    /// Pool size and time limits.
    public struct Configuration: Sendable {
        public var endpoint: DatabaseEndpoint
        /// The most connections this process holds; a `serve` process needs few.
        public var maximumConnections: Int = 4
        /// How long one operation may wait for the database before it reports `UNAVAILABLE`.
        public var operationTimeout: Duration = .seconds(5)
        /// How often a serialization failure or deadlock is retried before `ABORTED`.
        public var conflictRetries: Int = 5
        /// Where a post's NOTIFY is sent (``PostNotifier/Mode``); `AGENT_BRIDGE_POST_NOTIFY` sets it, for the
        /// bench's comparison of the modes. Default: `after_commit`, which measured best (issue 16: `batched` had the
        /// same posts/s at 32 writers but twice the p95 post-to-visible, 12-13 ms against 6.8 ms, in release runs).
        public var postNotify: PostNotifier.Mode = .afterCommit

        public init(endpoint: DatabaseEndpoint) {
            self.endpoint = endpoint
            if let mode = ProcessInfo.processInfo.environment["AGENT_BRIDGE_POST_NOTIFY"].flatMap(PostNotifier.Mode.init(rawValue:)) {
                postNotify = mode
            }
            if let milliseconds = ProcessInfo.processInfo.environment["AGENT_BRIDGE_DB_TIMEOUT_MS"].flatMap(Int.init), milliseconds > 0 {
                operationTimeout = .milliseconds(milliseconds)
            }
        }
    }

    /// The channel every post notifies, with the thread id as payload.
    public static let messageChannel = "agent_bridge_messages"

    public let configuration: Configuration
    /// The connection pool; a `Service` to run.
    public let client: PostgresClient
    /// The process's one LISTEN connection for post notifications (long polls, the supervisor's trigger and lock).
    public let listener: NotificationListener
    /// The LISTEN fan-out for long polls; a `Service` to run (it runs ``listener``).
    public let notifications: NotificationHub
    /// Sends the post notifications after COMMIT.
    let notifier: PostNotifier
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .notice)
        self.client = PostgresClient(
            configuration: configuration.endpoint.clientConfiguration(maximumConnections: configuration.maximumConnections),
            backgroundLogger: poolLogger
        )
        self.listener = NotificationListener(endpoint: configuration.endpoint, channel: Self.messageChannel, logger: logger)
        self.notifications = NotificationHub(listener: listener)
        self.notifier = PostNotifier(mode: configuration.postNotify, client: client, timeout: configuration.operationTimeout, logger: logger)
    }

    /// Runs `body` with a pooled connection inside the operation timeout, mapping every failure to `BridgeError`.
    /// For reads: a write's implicit transaction commits after PostgresNIO has handed back its rows (see ``withTransaction(_:)``).
    func withConnection<Value: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws(BridgeError) -> Value {
        try await run { [client] _ in try await client.withConnection { try await body($0) } }
    }

    /// Runs `body` in a transaction, retrying serialization failures and deadlocks with backoff, and returns
    /// only once PostgreSQL has confirmed the COMMIT: an answer built on the result is an answer about stored data.
    ///
    /// A failure after COMMIT was sent, before its confirmation (the connection or the server went away), leaves the
    /// outcome unknown and is reported as `UNAVAILABLE` / `COMMIT_OUTCOME_UNKNOWN`: retryable, and a retry with the
    /// same idempotency key returns the original result if the write was stored, or writes it once.
    ///
    /// PostgresNIO ends a statement at its CommandComplete, before an implicit transaction's commit at Sync; that is
    /// why every write runs in an explicit transaction, whose COMMIT completes only once it is durable, but an agent's
    /// post, the hot path: one autocommit statement whose commit the next query on its connection confirms
    /// (``PostNotifier/confirmCommit(of:on:)``).
    ///
    /// The threads a post in `body` wrote to are notified after the COMMIT is confirmed (``PostNotifier``), before
    /// this returns; a transaction that rolled back notifies nothing.
    ///
    /// `body` must let every failed statement's error out. PostgreSQL answers the COMMIT of a transaction that a
    /// failed statement aborted with `ROLLBACK` and no error, and `PostgresClient.withTransaction` does not show
    /// COMMIT's command tag: a body that caught such an error and returned would be answered as committed.
    func withTransaction<Value: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws(BridgeError) -> Value {
        let committed = try await run { [client, logger] gate in
            // A fresh set per attempt: a retried attempt's rolled-back posts notify nothing.
            let posted = PostedThreads()
            do {
                let value = try await PostedThreads.$current.withValue(posted) {
                    try await client.withTransaction(logger: logger) { connection in
                        let value = try await body(connection)
                        // A caller that stopped waiting was told nothing was written: keep it so (postgres-nio rolls back).
                        guard gate.beginCommit() else { throw CancellationError() }
                        // postgres-nio sends COMMIT once this returns and keeps its command tag to itself, so the old check
                        // that COMMIT did not answer ROLLBACK is gone; it could only fire for a body that swallowed a failed
                        // statement's error, which no body here does (see above). Checking here instead costs a round trip
                        // on every write, the hot path's post included.
                        return value
                    }
                }
                return (value, posted.all)
            } catch {
                throw Self.transactionFailure(error)
            }
        }
        await notifier.send(committed.1)
        return committed.0
    }

    /// The error a transaction's caller sees: what BEGIN or the body threw, as it was; a COMMIT the server refused,
    /// with the server's error; a COMMIT that failed without one (the connection or the server went away after it
    /// was sent) as `UNAVAILABLE` / `COMMIT_OUTCOME_UNKNOWN`.
    static func transactionFailure(_ error: any Error) -> any Error {
        guard let error = error as? PostgresTransactionError else { return error }
        if let commitError = error.commitError {
            if StoreErrorMapping.sqlState(of: commitError) != nil { return commitError }
            return BridgeError(
                .unavailable,
                .commitOutcomeUnknown,
                "The database went away before confirming the write; it may or may not be stored. Retry with the same idempotency_key.",
                underlying: commitError
            )
        }
        return error.closureError ?? error.beginError ?? error
    }

    /// The retry and timeout envelope around every database operation.
    ///
    /// Each attempt gets the configured operation timeout, cut short by ``OperationDeadline/current``. When the time
    /// is up the caller is answered at once, whatever the driver is doing: `UNAVAILABLE` / `DATABASE_UNAVAILABLE`,
    /// and nothing is written; or `UNAVAILABLE` / `COMMIT_OUTCOME_UNKNOWN` when a write's COMMIT had been sent
    /// (the operation passes it through its ``CommitGate``, one per attempt).
    func run<Value: Sendable>(_ operation: @escaping @Sendable (CommitGate) async throws -> Value) async throws(BridgeError) -> Value {
        var attempt = 0
        while true {
            let gate = CommitGate()
            do {
                return try await BoundedOperation.run(within: attemptTimeout(), abandon: { Self.timeoutError(commitSent: gate.abandon()) }) {
                    try await operation(gate)
                }
            } catch {
                let mapped = StoreErrorMapping.map(error)
                if mapped.reason == .transactionConflict && attempt < configuration.conflictRetries {
                    attempt += 1
                    let backoff = Double(5 << attempt) * Double.random(in: 0.5...1.5)
                    try? await Task.sleep(for: .milliseconds(backoff))
                    continue
                }
                // An idempotency key claimed by a concurrent twin is an expected race that the caller resolves.
                if mapped.code == .internal && !isIdempotencyConflict(error) {
                    logger.error("Database operation failed.", metadata: ["error": "\(String(reflecting: error))"])
                }
                throw mapped
            }
        }
    }

    /// The configured operation timeout, or less when the call's deadline comes sooner (never below 10 ms).
    private func attemptTimeout() -> Duration {
        guard let deadline = OperationDeadline.current else { return configuration.operationTimeout }
        return max(.milliseconds(10), min(configuration.operationTimeout, ContinuousClock.now.duration(to: deadline)))
    }

    private static func timeoutError(commitSent: Bool) -> BridgeError {
        commitSent
            ? BridgeError(
                .unavailable,
                .commitOutcomeUnknown,
                "The database did not confirm the write in time; it may or may not be stored. Retry with the same idempotency_key."
            )
            : BridgeError(.unavailable, .databaseUnavailable, "The database did not answer in time; retry shortly.")
    }

    /// Checks the database answers and its schema is the one this build expects.
    public func schemaVersion() async throws(BridgeError) -> Int {
        try await run { [client, logger] _ in try await Migrator.currentVersion(client, logger: logger) }
    }

    /// Applies pending migrations.
    @discardableResult
    public func migrate() async throws(BridgeError) -> [Int] {
        try await run { [client, logger] _ in try await Migrator(logger: logger).migrate(client) }
    }
}
