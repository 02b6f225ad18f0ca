import BridgeCore
import Foundation
import PostgresNIO

/// A session lease as the store selects it: ``columns`` (on `session_leases`) in the statement, then one
/// ``SessionLeaseRow`` per row.
struct SessionLeaseRow: StoreRow {
    static let columns = """
        id, handle, client_name, client_version, runtime_kind, session_id, pid, host, channel, started_at, renewed_at, expires_at,
        expires_at > now() AS live
        """

    let lease: SessionLease

    init(_ cells: PostgresRandomAccessRow) throws {
        lease = SessionLease(
            id: try cells.value("id"),
            handle: try cells.value("handle"),
            clientName: try cells.value("client_name"),
            clientVersion: try cells.value("client_version"),
            runtime: try cells.value("runtime_kind"),
            sessionID: try cells.value("session_id"),
            pid: try cells.value("pid"),
            host: try cells.value("host"),
            channel: try cells.value("channel"),
            startedAt: try cells.value("started_at"),
            renewedAt: try cells.value("renewed_at"),
            expiresAt: try cells.value("expires_at"),
            live: try cells.value("live")
        )
    }
}
