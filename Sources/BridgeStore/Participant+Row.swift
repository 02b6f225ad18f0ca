import BridgeCore
import Foundation
import PostgresNIO

/// A participant as the store selects it: ``columns`` (on `participants`) in the statement, then one
/// ``ParticipantRow`` per row.
struct ParticipantRow: StoreRow {
    static let columns = """
        handle, display_name, role, runtime_kind, runtime_managed, session_id, workdir, presence,
        last_heartbeat_at, last_human_input_at, created_at, updated_at
        """

    let participant: Participant

    init(_ cells: PostgresRandomAccessRow) throws {
        participant = Participant(
            handle: try cells.value("handle"),
            displayName: try cells.value("display_name"),
            role: Role(rawValue: try cells.value("role")) ?? .observer,
            runtime: try RuntimeDescriptor(columnsOf: cells),
            presence: Presence(rawValue: try cells.value("presence")) ?? .active,
            lastHeartbeatAt: try cells.value("last_heartbeat_at"),
            lastHumanInputAt: try cells.value("last_human_input_at"),
            createdAt: try cells.value("created_at"),
            updatedAt: try cells.value("updated_at")
        )
    }
}

extension RuntimeDescriptor {
    /// A runtime from a row's `runtime_kind`, `runtime_managed`, `session_id` and `workdir` columns.
    init(columnsOf cells: PostgresRandomAccessRow) throws {
        self.init(
            kind: RuntimeKind(rawValue: try cells.value("runtime_kind")) ?? .none,
            managed: try cells.value("runtime_managed"),
            sessionID: try cells.value("session_id"),
            workdir: try cells.value("workdir")
        )
    }
}
