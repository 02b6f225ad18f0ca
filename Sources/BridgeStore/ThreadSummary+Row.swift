import BridgeCore
import Foundation
import PostgresNIO

/// A thread row as the store selects it: ``columns`` (on `threads t`) in the statement, then one ``ThreadRow`` per row.
struct ThreadRow: StoreRow {
    static let columns = """
        t.id, t.title, t.status, t.status_reason, t.outcome, t.autonomous, t.created_by, t.last_seq, t.created_at, t.updated_at
        """

    let summary: ThreadSummary

    init(_ cells: PostgresRandomAccessRow) throws {
        summary = ThreadSummary(
            id: try cells.value("id"),
            title: try cells.value("title"),
            status: ThreadStatus(rawValue: try cells.value("status")) ?? .active,
            statusReason: try cells.value("status_reason"),
            outcome: try cells.value("outcome"),
            autonomous: try cells.value("autonomous"),
            createdBy: try cells.value("created_by"),
            lastSeq: try cells.value("last_seq"),
            createdAt: try cells.value("created_at"),
            updatedAt: try cells.value("updated_at")
        )
    }
}
