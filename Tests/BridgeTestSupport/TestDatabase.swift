import BridgeCore
import BridgeStore
import Foundation
import Logging
import PostgresNIO

/// A fresh, migrated PostgreSQL database for one test suite, on a real server.
///
/// The server is `AGENT_BRIDGE_TEST_DATABASE_URL` when set, else an embedded cluster under
/// `$TMPDIR/agent-bridge-tests` that the first suite starts (and later runs reuse).
public struct TestDatabase: Sendable {
    public let endpoint: DatabaseEndpoint

    /// The URL other processes (the `serve` binary) use to reach this database.
    public var url: String { endpoint.url }

    public static func create(logger: Logger = Logger(label: "test")) async throws -> TestDatabase {
        try await Creator.shared.create(logger: logger)
    }

    /// A store on this database whose calls wait longer than production's default: test suites run in
    /// parallel on small CI machines, and a slow answer there is not the failure under test.
    public func store(logger: Logger, maximumConnections: Int = 4) -> PostgresStore {
        var configuration = PostgresStore.Configuration(endpoint: endpoint)
        configuration.operationTimeout = .seconds(60)
        configuration.maximumConnections = maximumConnections
        return PostgresStore(configuration: configuration, logger: logger)
    }

    /// Starts the server once per test process and creates databases one at a time:
    /// concurrent `CREATE DATABASE` calls contend for the template database.
    actor Creator {
        static let shared = Creator()
        private var server: DatabaseEndpoint?

        func create(logger: Logger) async throws -> TestDatabase {
            let base: DatabaseEndpoint
            if let server {
                base = server
            } else {
                base = try await serverEndpoint(logger: logger)
                server = base
            }
            let name = "test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))"
            let admin = TestDatabase(endpoint: base.with(database: "postgres")).store(logger: logger, maximumConnections: 1)
            _ = try await run(admin) { client in
                try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            }
            let database = TestDatabase(endpoint: base.with(database: name))
            let store = database.store(logger: logger, maximumConnections: 1)
            try await run(store) { _ in _ = try await store.migrate() }
            return database
        }
    }

    /// Runs `body` with a store whose pool is running.
    public static func run<T: Sendable>(_ store: PostgresStore, _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await store.client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(store.client)
        }
    }

    static func serverEndpoint(logger: Logger) async throws -> DatabaseEndpoint {
        if let url = ProcessInfo.processInfo.environment["AGENT_BRIDGE_TEST_DATABASE_URL"], !url.isEmpty {
            return try DatabaseEndpoint(url: url)
        }
        let cluster = EmbeddedCluster(configuration: .init(stateDirectory: "\(NSTemporaryDirectory())agent-bridge-tests"), logger: logger)
        try await cluster.ensureRunning()
        return cluster.endpoint
    }

    /// The built `agent-bridge` executable, next to the test bundle in the build folder.
    public static var executableURL: URL {
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("agent-bridge")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/agent-bridge")
    }
}
