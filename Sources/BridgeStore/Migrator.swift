import BridgeCore
import Foundation
import Logging
import PostgresNIO

/// Applies `migrations/NNNN_name.sql` in order, each in its own transaction, recorded in `schema_migrations`.
///
/// Two processes migrating at once serialise on a PostgreSQL advisory lock; rerunning is a no-op.
/// An applied migration whose file has changed since stops the run: history is never rewritten silently.
public struct Migrator: Sendable {
    /// One SQL file of the schema history.
    public struct Migration: Sendable, Hashable {
        public let version: Int
        public let name: String
        public let sql: String
        public var checksum: String { ContentHash.sha256Hex(sql) }
    }

    /// The migrations shipped with this build, ordered by version.
    public static let bundled: [Migration] = loadBundled()

    /// The newest schema version this build knows.
    public static var latestVersion: Int { bundled.last?.version ?? 0 }

    // A fixed key for pg_advisory_lock: "agent-bridge migrate".
    static let advisoryLockKey: Int64 = 0x6167_656E_7462_7267

    let migrations: [Migration]
    let logger: Logger

    public init(migrations: [Migration] = Migrator.bundled, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Applies every pending migration and returns the versions it applied.
    @discardableResult
    public func migrate(_ client: PostgresClient) async throws -> [Int] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))", logger: logger)
            do {
                let applied = try await apply(on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
                throw error
            }
        }
    }

    /// The highest applied version, or 0 on an empty database.
    public static func currentVersion(_ client: PostgresClient, logger: Logger) async throws -> Int {
        // Two statements: one that names a missing table fails at parse time, whatever its WHERE says.
        let exists = try await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
        for try await found in exists.decode(Bool.self) where !found { return 0 }
        let rows = try await client.query("SELECT coalesce(max(version), 0) FROM schema_migrations", logger: logger)
        for try await version in rows.decode(Int.self) { return version }
        return 0
    }

    private func apply(on connection: PostgresConnection) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            logger: logger
        )
        var recorded: [Int: String] = [:]
        for try await row in try await connection.query("SELECT version, checksum FROM schema_migrations", logger: logger) {
            let cells = row.makeRandomAccess()
            recorded[try cells.value("version")] = try cells.value("checksum", as: String.self)
        }
        var appliedNow: [Int] = []
        for migration in migrations {
            if let checksum = recorded[migration.version] {
                guard checksum == migration.checksum else {
                    throw BridgeError(
                        .failedPrecondition,
                        .schemaNotCurrent,
                        "Migration \(migration.version)_\(migration.name) was changed after it was applied; restore the original file."
                    )
                }
                continue
            }
            logger.info("Applying migration.", metadata: ["db.migration": "\(migration.version)_\(migration.name)"])
            let version = migration.version
            let name = migration.name
            let checksum = migration.checksum
            try await connection.withTransaction(logger: logger) { tx in
                for statement in SQLScript.statements(in: migration.sql) {
                    try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await tx.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(version), \(name), \(checksum))",
                    logger: logger
                )
            }
            appliedNow.append(version)
        }
        return appliedNow
    }

    private static func loadBundled() -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "migrations", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        else { return [] }
        return files.compactMap { file -> Migration? in
            guard file.hasSuffix(".sql"), let underscore = file.firstIndex(of: "_"),
                let version = Int(file[..<underscore]),
                let sql = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            else { return nil }
            let name = String(file[file.index(after: underscore)...].dropLast(4))
            return Migration(version: version, name: name, sql: sql)
        }.sorted { $0.version < $1.version }
    }
}
