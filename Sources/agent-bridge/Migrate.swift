import ArgumentParser
import BridgeCore
import BridgeStore
import Foundation
import Logging

/// `agent-bridge migrate`: applies pending migrations.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations (safe to rerun; concurrent runs wait for each other)."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = database.bootstrapLogging()
        do {
            let setup = try DatabaseSetup(options: database, logger: logger)
            try await setup.startClusterIfNeeded()
            let applied = try await withStore(setup.endpoint, logger: logger) { store async throws(BridgeError) in
                try await store.migrate()
            }
            let latest = Migrator.latestVersion
            print(
                applied.isEmpty
                    ? "Schema is current (version \(latest)) at \(setup.endpoint.redacted)."
                    : "Applied migrations \(applied.map(String.init).joined(separator: ", ")); schema is at version \(latest) at \(setup.endpoint.redacted)."
            )
        } catch {
            exitWithError(error.message)
        }
    }
}

/// Runs `body` with a store whose pool is running, then shuts the pool down.
func withStore<T: Sendable>(
    _ endpoint: DatabaseEndpoint,
    logger: Logger,
    _ body: @escaping @Sendable (PostgresStore) async throws(BridgeError) -> T
) async throws(BridgeError) -> T {
    let store = PostgresStore(configuration: .init(endpoint: endpoint), logger: logger)
    let result: Result<T, BridgeError> = await withTaskGroup(of: Result<T, BridgeError>?.self) { group in
        group.addTask {
            await store.client.run()
            return nil
        }
        let result: Result<T, BridgeError>
        do throws(BridgeError) {
            result = .success(try await body(store))
        } catch {
            result = .failure(error)
        }
        group.cancelAll()
        return result
    }
    return try result.get()
}
