import BridgeCore
import Foundation
import Logging
import PostgresNIO

/// A throw-away database on the same server as `base`, for `bench` and `drill`: created and migrated
/// by `create`, dropped by `drop`. Its name starts with `agent_bridge_scratch_`, so a leftover from a
/// killed run is easy to recognise.
public struct ScratchDatabase: Sendable {
    /// Where the scratch database lives.
    public let endpoint: DatabaseEndpoint
    let base: DatabaseEndpoint

    /// Creates and migrates a new scratch database next to `base`'s database.
    public static func create(on base: DatabaseEndpoint, purpose: String, logger: Logger) async throws(BridgeError) -> ScratchDatabase {
        let suffix = UUID().wireString.replacingOccurrences(of: "-", with: "").prefix(12)
        let safePurpose = purpose.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(16)
        let name = "agent_bridge_scratch_\(safePurpose)_\(suffix)"
        try await withAdmin(base, logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        let scratch = ScratchDatabase(endpoint: base.with(database: name), base: base)
        do {
            let store = PostgresStore(configuration: .init(endpoint: scratch.endpoint), logger: logger)
            try await store.withRunningPool { _ = try await store.migrate() }
        } catch {
            await scratch.drop(logger: logger)
            throw error
        }
        return scratch
    }

    /// Drops the scratch database, ending any session still connected to it. Never throws: a failed
    /// drop is logged, and the name says what it was.
    public func drop(logger: Logger) async {
        do throws(BridgeError) {
            try await Self.withAdmin(base, logger: logger) { client in
                try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(endpoint.database) WITH (FORCE)"), logger: logger)
            }
        } catch {
            logger.warning(
                "Could not drop the scratch database.",
                metadata: [
                    "event": "scratch.drop_failed", "database": "\(endpoint.database)", "error": "\(error.message)",
                ]
            )
        }
    }

    /// Runs `body` on a one-connection pool to the server's `postgres` database.
    static func withAdmin(
        _ base: DatabaseEndpoint,
        logger: Logger,
        _ body: @escaping @Sendable (PostgresClient) async throws -> Void
    ) async throws(BridgeError) {
        var configuration = PostgresStore.Configuration(endpoint: base.with(database: "postgres"))
        configuration.maximumConnections = 1
        configuration.operationTimeout = .seconds(60)
        let admin = PostgresStore(configuration: configuration, logger: logger)
        try await admin.withRunningPool { try await body(admin.client) }
    }
}

extension PostgresStore {
    /// Runs `body` while this store's pool runs, then stops the pool. For one-shot commands and tools
    /// that do not run a `ServiceGroup`. Any failure comes back as a `BridgeError`.
    public func withRunningPool<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws(BridgeError) -> T {
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    await self.client.run()
                    return nil
                }
                defer { group.cancelAll() }
                // Give the pool's run loop a moment to start, so the first lease does not warn that it has not.
                try await Task.sleep(for: .milliseconds(20))
                return try await body()
            }
        } catch let error as BridgeError {
            throw error
        } catch {
            throw BridgeError(
                .unavailable,
                .databaseUnavailable,
                "The database could not be reached: \(String(describing: error))",
                underlying: error
            )
        }
    }
}
