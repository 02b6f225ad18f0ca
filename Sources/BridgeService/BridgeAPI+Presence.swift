import BridgeCore
import BridgeStore

/// What `serve` records of its callers and calls off the request path: participant rows, presence and the
/// API call counts behind `/metrics`.
///
/// None of these is a tool call: they pass no policy check.
extension BridgeAPI {
    /// Makes sure the caller has a participant row with its current role; audited when it changes anything.
    public func ensureParticipant(context: CallContext) async throws(BridgeError) {
        try await store.ensureParticipant(context: context)
    }

    /// Records that the caller was just seen (any authenticated call counts), creating its row if it is missing.
    public func markSeen(context: CallContext) async throws(BridgeError) {
        try await store.markSeen(context: context)
    }

    /// Adds a `serve` process's API call tallies (drained from ``APIRequestStats``) to the hour's counts.
    public func recordAPIRequests(_ tallies: [APIRequestStats.Key: APIRequestStats.Tally], workspace: String) async throws(BridgeError) {
        try await store.recordAPIRequests(tallies, workspace: workspace)
    }
}
