import BridgeCore
import BridgeStore
import Foundation
import Logging

/// Resolves where the database is and prepares it: the embedded cluster is started and migrated on demand;
/// an explicit DATABASE_URL is used as given.
struct DatabaseSetup {
    let endpoint: DatabaseEndpoint
    let cluster: EmbeddedCluster?

    init(options: DatabaseOptions, logger: Logger) throws(BridgeError) {
        if let url = options.explicitURL {
            endpoint = try DatabaseEndpoint(url: url)
            cluster = nil
        } else {
            let cluster = EmbeddedCluster(configuration: .fromEnvironment(), logger: logger)
            endpoint = cluster.endpoint
            self.cluster = cluster
        }
    }

    /// Starts the embedded cluster if it does not look up; a no-op for an external database.
    func startClusterIfNeeded() async throws(BridgeError) {
        guard let cluster, !cluster.looksRunning else { return }
        try await cluster.ensureRunning()
    }

    /// Brings the schema up to date for the embedded cluster, or checks it for an external database.
    /// When the first attempt cannot connect to the embedded cluster (a stale pid file after a reboot),
    /// it starts the cluster properly and tries again.
    func prepareSchema(_ store: PostgresStore, logger: Logger) async throws(BridgeError) {
        do {
            try await checkOrMigrate(store, logger: logger)
        } catch  where error.reason == .databaseUnavailable && cluster != nil {
            try await cluster?.ensureRunning()
            try await checkOrMigrate(store, logger: logger)
        }
    }

    private func checkOrMigrate(_ store: PostgresStore, logger: Logger) async throws(BridgeError) {
        let version = try await store.schemaVersion()
        guard version < Migrator.latestVersion else { return }
        if cluster != nil {
            try await store.migrate()
        } else {
            throw BridgeError(
                .unavailable,
                .schemaNotCurrent,
                "The database schema is at version \(version); this build needs \(Migrator.latestVersion). Run: agent-bridge migrate"
            )
        }
    }
}
