import BridgeCore
import BridgeStore
import Foundation

/// What a live `serve` session needs besides the v1 tools: its lease, and what it pushes into a channel.
///
/// None of these is a tool call: the MCP layer makes them on the session's behalf, with the identity it
/// resolved, and they pass no policy check.
extension BridgeAPI {
    /// Takes or renews this process's session lease: it expires `ttl` after now on the database's clock.
    public func renewSessionLease(_ claim: SessionLeaseClaim, ttl: Duration, workspace: String) async throws(BridgeError) {
        try await store.renewSessionLease(claim, ttl: ttl, workspace: workspace)
    }

    /// Ends the lease `id` at once (the process is exiting, or serves another identity now).
    public func releaseSessionLease(id: UUID, workspace: String) async throws(BridgeError) {
        try await store.releaseSessionLease(id: id, workspace: workspace)
    }

    /// Messages directed at `handle` that it has not read, oldest first, past `pushed` (the highest seq already
    /// pushed per thread this session); at most `limit`.
    public func unreadDirectedMessages(
        to handle: String,
        after pushed: [UUID: Int64],
        limit: Int = 100,
        workspace: String
    ) async throws(BridgeError) -> [Message] {
        try await store.unreadDirectedMessages(to: handle, after: pushed, limit: limit, workspace: workspace)
    }

    /// The open wake requests someone asked for by name for `handle`, oldest first, leaving out `known`.
    public func requestedWakes(for handle: String, excluding known: Set<UUID>, workspace: String) async throws(BridgeError) -> [RequestedWake] {
        try await store.requestedWakes(for: handle, excluding: known, workspace: workspace)
    }

    /// Registers for new-post notifications on any thread. Call it before querying, so a post committed in
    /// between still ends the next ``MessageWaiter/wait(timeout:)``; unregister when done.
    public func messageWaiter() -> MessageWaiter {
        MessageWaiter(hub: store.notifications)
    }
}
