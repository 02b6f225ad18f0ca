import BridgeCore
import Foundation
import Logging
import PostgresNIO

extension PostgresStore {
    /// Runs `body` in a transaction guarded by an idempotency key.
    ///
    /// The key row is claimed first (a concurrent twin waits on it); a stored result with the same request
    /// fingerprint is replayed with `deduplicated: true`; a different fingerprint is `IDEMPOTENCY_KEY_REUSED`.
    func idempotentTransaction<Result: Codable & Sendable>(
        _ scope: IdempotencyScope?,
        context: CallContext,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws(BridgeError) -> (Result, deduplicated: Bool) {
        guard let scope else {
            return (try await withTransaction(body), false)
        }
        let workspace = context.identity.workspace
        let caller = context.identity.handle
        return try await withTransaction { connection in
            let claimed = try await connection.query(
                """
                INSERT INTO idempotency_keys (workspace_id, caller, tool, key, request_hash)
                VALUES (\(workspace), \(caller), \(scope.tool), \(scope.key), \(scope.requestHash))
                ON CONFLICT DO NOTHING RETURNING 1
                """,
                logger: self.logger
            )
            var isNew = false
            for try await _ in claimed { isNew = true }
            if !isNew {
                let rows = try await connection.query(
                    """
                    SELECT request_hash, result::text AS result FROM idempotency_keys
                     WHERE workspace_id = \(workspace) AND caller = \(caller) AND tool = \(scope.tool) AND key = \(scope.key)
                    """,
                    logger: self.logger
                )
                for try await row in rows {
                    let cells = row.makeRandomAccess()
                    let hash: String = try cells.value("request_hash")
                    let stored: String? = try cells.value("result")
                    guard hash == scope.requestHash, let stored else { throw Self.keyReused(scope) }
                    return (try WireCoding.decode(Result.self, from: stored.utf8), true)
                }
                throw BridgeError(.aborted, .transactionConflict, "The idempotency key changed while in use; retry.")
            }
            let result = try await body(connection)
            let encoded = String(decoding: try WireCoding.encode(result), as: UTF8.self)
            try await connection.query(
                """
                UPDATE idempotency_keys SET result = \(encoded)::jsonb
                 WHERE workspace_id = \(workspace) AND caller = \(caller) AND tool = \(scope.tool) AND key = \(scope.key)
                """,
                logger: self.logger
            )
            return (result, false)
        }
    }

    /// The stored fingerprint and result reference of a key, read after a conflicting insert.
    func storedIdempotentResult(
        _ scope: IdempotencyScope,
        context: CallContext
    ) async throws(BridgeError) -> (String, UUID?, String?) {
        let workspace = context.identity.workspace
        let caller = context.identity.handle
        let found = try await withConnection { connection -> (String, UUID?, String?)? in
            let rows = try await connection.query(
                """
                SELECT request_hash, result_ref, result::text AS result FROM idempotency_keys
                 WHERE workspace_id = \(workspace) AND caller = \(caller) AND tool = \(scope.tool) AND key = \(scope.key)
                """,
                logger: self.logger
            )
            for try await row in rows {
                let cells = row.makeRandomAccess()
                return (try cells.value("request_hash"), try cells.value("result_ref"), try cells.value("result"))
            }
            return nil
        }
        guard let found else { throw BridgeError(.aborted, .transactionConflict, "The idempotency key changed while in use; retry.") }
        return found
    }

    /// Whether an error is the unique violation of the idempotency key table.
    func isIdempotencyConflict(_ error: (any Error)?) -> Bool {
        guard let error else { return false }
        return StoreErrorMapping.sqlState(of: error) == .uniqueViolation && StoreErrorMapping.constraint(of: error) == "idempotency_keys_pkey"
    }

    static func keyReused(_ scope: IdempotencyScope) -> BridgeError {
        BridgeError(
            .alreadyExists,
            .idempotencyKeyReused,
            "idempotency_key \(scope.key) was already used for a different \(scope.tool) request.",
            details: ["field": "idempotency_key"]
        )
    }

    /// Appends an audit event on the transaction's connection.
    static func audit(
        _ connection: PostgresConnection,
        context: CallContext,
        action: String,
        target: String,
        before: [String: JSONValue]? = nil,
        after: [String: JSONValue]? = nil,
        reason: String? = nil,
        logger: Logger
    ) async throws {
        let beforeJSON = before.map { String(decoding: JSONValue.object($0).serialized(), as: UTF8.self) }
        let afterJSON = after.map { String(decoding: JSONValue.object($0).serialized(), as: UTF8.self) }
        try await connection.query(
            """
            INSERT INTO audit_events (workspace_id, actor, action, target, before, after, reason, request_id)
            VALUES (\(context.identity.workspace), \(context.identity.auditActor), \(action), \(target),
                    \(beforeJSON)::jsonb, \(afterJSON)::jsonb, \(reason), \(context.requestID))
            """,
            logger: logger
        )
    }
}
