import ArgumentParser
import BridgeCore
import BridgeStore
import Foundation
import Logging

/// `agent-bridge db start|stop|status`: the embedded PostgreSQL cluster.
struct Database: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the embedded PostgreSQL cluster (used when no DATABASE_URL is set).",
        subcommands: [Start.self, Stop.self, Status.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create (first time), start and migrate the embedded cluster.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = database.bootstrapLogging()
            let cluster = EmbeddedCluster(configuration: .fromEnvironment(), logger: logger)
            do {
                try await cluster.ensureRunning()
                _ = try await withStore(cluster.endpoint, logger: logger) { store async throws(BridgeError) in
                    try await store.migrate()
                }
            } catch {
                exitWithError(error.message)
            }
            print("Embedded PostgreSQL is running: \(cluster.endpoint.url)")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the embedded cluster (data is kept).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = database.bootstrapLogging()
            let cluster = EmbeddedCluster(configuration: .fromEnvironment(), logger: logger)
            do {
                try await cluster.stop()
            } catch {
                exitWithError(error.message)
            }
            print("Embedded PostgreSQL is stopped (data in \(cluster.dataDirectory)).")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show whether the embedded cluster exists and runs, and its connection URL.",
            discussion: "Exit status: 0 running, 3 stopped or not created."
        )
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = database.bootstrapLogging()
            let cluster = EmbeddedCluster(configuration: .fromEnvironment(), logger: logger)
            let state: EmbeddedCluster.State
            do {
                state = try await cluster.status()
            } catch {
                exitWithError(error.message)
            }
            print("state:     \(state.rawValue)")
            print("data:      \(cluster.dataDirectory)")
            print("url:       \(cluster.endpoint.url)")
            if database.explicitURL != nil {
                print("note:      DATABASE_URL is set, so other commands use that database, not this cluster.")
            }
            if state != .running { throw ExitCode(3) }
        }
    }
}
