import BridgeCore
import Foundation
import PostgresNIO

extension PostgresStore {
    /// Records the session a spawned attempt started, as soon as its output names it: on the attempt, and as
    /// the target's session, so the next wake resumes it even if the process is still in its first turn (or
    /// the supervisor that runs it dies). Recording the same id again changes nothing and audits nothing.
    public func recordSpawnedSession(_ claimed: ClaimedAttempt, target: String, sessionID: String, context: CallContext) async throws(BridgeError) {
        _ = try await withTransaction { connection in
            try await connection.query(
                """
                UPDATE wake_attempts SET session_id = \(sessionID)
                 WHERE request_id = \(claimed.requestID) AND attempt = \(claimed.attempt)
                """,
                logger: self.logger
            )
            try await Self.adoptSpawnedSession(connection, claimed, target: target, sessionID: sessionID, context: context, logger: self.logger)
            return true
        }
    }

    /// Makes a spawn's session the target's session, audited as `participant.session`, unless it already is.
    static func adoptSpawnedSession(
        _ connection: PostgresConnection,
        _ claimed: ClaimedAttempt,
        target: String,
        sessionID: String,
        context: CallContext,
        logger: Logger
    ) async throws {
        guard claimed.action == .spawn else { return }
        let changed = try await connection.query(
            """
            UPDATE participants SET session_id = \(sessionID), updated_at = now()
             WHERE workspace_id = \(context.identity.workspace) AND handle = \(target) AND session_id IS DISTINCT FROM \(sessionID)
            RETURNING 1
            """,
            logger: logger
        )
        var adopted = false
        for try await _ in changed { adopted = true }
        guard adopted else { return }
        try await audit(
            connection,
            context: context,
            action: "participant.session",
            target: "participant:\(target)",
            after: ["session_id": .string(sessionID), "wake_id": .string(claimed.requestID.wireString)],
            logger: logger
        )
    }
}
