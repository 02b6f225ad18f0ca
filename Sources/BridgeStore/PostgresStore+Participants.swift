import BridgeCore
import Foundation
import PostgresNIO

/// What a participant says of itself when registering.
public struct ParticipantRegistration: Sendable {
    public var displayName: String?
    public var runtime: RuntimeDescriptor?

    public init(displayName: String?, runtime: RuntimeDescriptor?) {
        self.displayName = displayName
        self.runtime = runtime
    }
}

/// A liveness report.
public struct Heartbeat: Sendable {
    public var presence: Presence
    /// The human at this agent's terminal typed just now (drives collision deferral).
    public var humanInput: Bool
    public var sessionID: String?

    public init(presence: Presence, humanInput: Bool, sessionID: String?) {
        self.presence = presence
        self.humanInput = humanInput
        self.sessionID = sessionID
    }
}

/// A participant row and whether the call created it.
public struct ParticipantChange: Codable, Sendable {
    public var participant: Participant
    public var created: Bool
}

extension PostgresStore {
    /// Makes sure the caller has a participant row with its current role; audited when it changes anything.
    public func ensureParticipant(context: CallContext) async throws(BridgeError) {
        let identity = context.identity
        _ = try await withTransaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO participants (workspace_id, handle, role, last_seen_at)
                VALUES (\(identity.workspace), \(identity.handle), \(identity.role.rawValue), now())
                ON CONFLICT (workspace_id, handle) DO UPDATE SET role = EXCLUDED.role, updated_at = now()
                 WHERE participants.role <> EXCLUDED.role
                RETURNING (xmax = 0)
                """,
                logger: self.logger
            )
            for try await inserted in rows.decode(Bool.self) {
                try await Self.audit(
                    connection,
                    context: context,
                    action: inserted ? "participant.create" : "participant.role_change",
                    target: "participant:\(identity.handle)",
                    after: ["role": .string(identity.role.rawValue)],
                    logger: self.logger
                )
            }
            return true
        }
    }

    /// Records that the caller was just seen (any authenticated call counts), creating its row if it is missing.
    public func markSeen(context: CallContext) async throws(BridgeError) {
        let identity = context.identity
        let updated = try await withTransaction { connection -> Bool in
            let rows = try await connection.query(
                """
                UPDATE participants SET last_seen_at = now() WHERE workspace_id = \(identity.workspace) AND handle = \(identity.handle)
                RETURNING 1
                """,
                logger: self.logger
            )
            for try await _ in rows { return true }
            return false
        }
        if !updated { try await ensureParticipant(context: context) }
    }

    /// The caller's own participant row.
    public func participant(handle: String, context: CallContext) async throws(BridgeError) -> Participant {
        let workspace = context.identity.workspace
        let found = try await withConnection { connection -> Participant? in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: ParticipantRow.columns) FROM participants WHERE workspace_id = \(workspace) AND handle = \(handle)
                """,
                logger: self.logger
            )
            for try await row in rows { return try ParticipantRow(row).participant }
            return nil
        }
        guard let found else {
            throw BridgeError(.notFound, .participantNotFound, "No participant \(handle) in this workspace.", details: ["handle": handle])
        }
        return found
    }

    /// Registers or updates the caller: display name and runtime descriptor.
    public func registerParticipant(
        _ registration: ParticipantRegistration,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> (ParticipantChange, deduplicated: Bool) {
        let identity = context.identity
        let runtime = registration.runtime
        return try await idempotentTransaction(idempotency, context: context) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO participants (workspace_id, handle, role, display_name, runtime_kind, runtime_managed, session_id, workdir)
                VALUES (\(identity.workspace), \(identity.handle), \(identity.role.rawValue), \(registration.displayName),
                        coalesce(\(runtime?.kind.rawValue), 'none'), coalesce(\(runtime?.managed), false),
                        \(runtime?.sessionID), \(runtime?.workdir))
                ON CONFLICT (workspace_id, handle) DO UPDATE SET
                    role = EXCLUDED.role,
                    display_name = coalesce(\(registration.displayName), participants.display_name),
                    runtime_kind = coalesce(\(runtime?.kind.rawValue), participants.runtime_kind),
                    runtime_managed = coalesce(\(runtime?.managed), participants.runtime_managed),
                    session_id = CASE WHEN \(runtime != nil) THEN \(runtime?.sessionID) ELSE participants.session_id END,
                    workdir = CASE WHEN \(runtime != nil) THEN \(runtime?.workdir) ELSE participants.workdir END,
                    updated_at = now()
                RETURNING (xmax = 0) AS created, \(unescaped: ParticipantRow.columns)
                """,
                logger: self.logger
            )
            for try await row in rows {
                let cells = row.makeRandomAccess()
                let created: Bool = try cells.value("created")
                let participant = try ParticipantRow(cells).participant
                try await Self.audit(
                    connection,
                    context: context,
                    action: created ? "participant.create" : "participant.update",
                    target: "participant:\(identity.handle)",
                    after: [
                        "display_name": registration.displayName.map(JSONValue.string) ?? .null,
                        "runtime_kind": .string(participant.runtime.kind.rawValue),
                    ],
                    logger: self.logger
                )
                return ParticipantChange(participant: participant, created: created)
            }
            throw StoreErrorMapping.internalError(BridgeError(.internal, .internalError, "register returned no row"))
        }
    }

    /// Records liveness and, when flagged, human input at the agent's terminal.
    public func heartbeat(
        _ heartbeat: Heartbeat,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> (Participant, deduplicated: Bool) {
        let identity = context.identity
        return try await idempotentTransaction(idempotency, context: context) { connection in
            let rows = try await connection.query(
                """
                UPDATE participants SET presence = \(heartbeat.presence.rawValue), last_heartbeat_at = now(), last_seen_at = now(),
                       last_human_input_at = CASE WHEN \(heartbeat.humanInput) THEN now() ELSE last_human_input_at END,
                       session_id = coalesce(\(heartbeat.sessionID), session_id), updated_at = now()
                 WHERE workspace_id = \(identity.workspace) AND handle = \(identity.handle)
                RETURNING \(unescaped: ParticipantRow.columns)
                """,
                logger: self.logger
            )
            for try await row in rows {
                let participant = try ParticipantRow(row).participant
                try await Self.audit(
                    connection,
                    context: context,
                    action: "participant.heartbeat",
                    target: "participant:\(identity.handle)",
                    after: ["presence": .string(heartbeat.presence.rawValue), "human_input": .bool(heartbeat.humanInput)],
                    logger: self.logger
                )
                return participant
            }
            throw BridgeError(
                .notFound,
                .participantNotFound,
                "No participant \(identity.handle) in this workspace.",
                details: ["handle": identity.handle]
            )
        }
    }
}
