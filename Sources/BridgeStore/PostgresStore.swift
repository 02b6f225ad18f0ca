import Foundation
import BridgeCore
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

        public init(endpoint: DatabaseEndpoint) {
            self.endpoint = endpoint
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
    /// The LISTEN fan-out for long polls; a `Service` to run.
    public let notifications: NotificationHub
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .notice)
        self.client = PostgresClient(
            configuration: configuration.endpoint.clientConfiguration(maximumConnections: configuration.maximumConnections),
            backgroundLogger: poolLogger)
        self.notifications = NotificationHub(client: client, channel: Self.messageChannel, logger: logger)
    }

    /// Runs `body` with a pooled connection inside the operation timeout, mapping every failure to `BridgeError`.
    func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws(BridgeError) -> Result {
        try await run { [client] in try await client.withConnection { try await body($0) } }
    }

    /// Runs `body` in a transaction, retrying serialization failures and deadlocks with backoff.
    func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws(BridgeError) -> Result {
        try await run { [client, logger] in
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let result = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// The retry and timeout envelope around every database operation.
    func run<Result: Sendable>(_ operation: @escaping @Sendable () async throws -> Result) async throws(BridgeError) -> Result {
        var attempt = 0
        while true {
            do {
                return try await withTimeout(configuration.operationTimeout, operation)
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

    private func withTimeout<Result: Sendable>(
        _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw BridgeError(.unavailable, .databaseUnavailable, "The database did not answer in time; retry shortly.")
            }
            return result
        }
    }

    /// Checks the database answers and its schema is the one this build expects.
    public func schemaVersion() async throws(BridgeError) -> Int {
        try await run { [client, logger] in try await Migrator.currentVersion(client, logger: logger) }
    }

    /// Applies pending migrations.
    @discardableResult
    public func migrate() async throws(BridgeError) -> [Int] {
        try await run { [client, logger] in try await Migrator(logger: logger).migrate(client) }
    }
}
