import Foundation

/// Whether the agent-bridge deployment can do its work: what `/ready` and `agent-bridge status` report (ARCHITECTURE.md, Observability).
public struct HealthReport: Sendable, Codable, Hashable {
    /// The state of the supervisor's LISTEN connection, as one supervisor process sees it.
    public enum Listener: String, Sendable, Codable, Hashable {
        /// This supervisor leads and its LISTEN connection is up.
        case connected
        /// This supervisor stands by on a live lock connection; it listens once it leads.
        case standby
        /// The lock and LISTEN connection is down (reconnecting with backoff), or a leader is not yet listening.
        case disconnected
        /// Listening is turned off (`--no-listen`); polling alone finds work.
        case off
        /// Not observed: the report was made outside a supervisor process (`agent-bridge status`).
        case unknown
    }

    /// The database answered within the probe's timeout.
    public var databaseReachable: Bool
    /// The applied schema version; nil when the database did not answer.
    public var schemaVersion: Int?
    /// The schema version this build needs.
    public var requiredSchemaVersion: Int
    /// The schema is at least the one this build needs.
    public var schemaCurrent: Bool
    public var listener: Listener
    /// Whether this process leads; nil outside a supervisor process.
    public var leader: Bool?
    /// Whether some supervisor holds the workspace's leader lock (seen in `pg_locks`); nil when unknown.
    public var supervisorLeading: Bool?

    public init(
        databaseReachable: Bool,
        schemaVersion: Int?,
        requiredSchemaVersion: Int,
        listener: Listener,
        leader: Bool?,
        supervisorLeading: Bool?
    ) {
        self.databaseReachable = databaseReachable
        self.schemaVersion = schemaVersion
        self.requiredSchemaVersion = requiredSchemaVersion
        self.schemaCurrent = (schemaVersion ?? 0) >= requiredSchemaVersion
        self.listener = listener
        self.leader = leader
        self.supervisorLeading = supervisorLeading
    }

    /// What is down, by name: `database`, `schema`, `listener`. Empty when ready.
    public var problems: [String] {
        var problems: [String] = []
        if !databaseReachable { problems.append("database") }
        if databaseReachable && !schemaCurrent { problems.append("schema") }
        if listener == .disconnected { problems.append("listener") }
        return problems
    }

    /// Ready to work: the database is reachable, its schema current, and a listener that should be up is up.
    public var isReady: Bool { problems.isEmpty }

    enum CodingKeys: String, CodingKey {
        case listener, leader
        case databaseReachable = "database_reachable"
        case schemaVersion = "schema_version"
        case requiredSchemaVersion = "required_schema_version"
        case schemaCurrent = "schema_current"
        case supervisorLeading = "supervisor_leading"
    }
}
