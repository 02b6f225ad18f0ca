import BridgeCore
import BridgeStore

extension PostgresStore {
    /// Posts as a plain member, straight through the store (no service, no catalog): a refusal says which
    /// facts the statement's guards refused on, so a store test that expected the write fails with them.
    @discardableResult
    public func postAsMember(
        _ message: NewMessage,
        context: CallContext,
        idempotency: IdempotencyScope? = nil
    ) async throws(BridgeError) -> (Message, deduplicated: Bool) {
        try await postMessage(
            message,
            permissions: PolicyCatalog.RolePermissions(tools: [.messagePost], transitions: []),
            context: context,
            idempotency: idempotency
        ) { thread, post throws(BridgeError) in
            throw BridgeError(.failedPrecondition, .internalError, "The post statement refused: \(thread), \(post).")
        }
    }
}
