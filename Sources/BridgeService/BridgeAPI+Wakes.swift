import BridgeCore
import BridgeStore
import Foundation

extension BridgeAPI {
    /// `v1_wake_trigger`: asks the supervisor to wake a thread member now.
    public func triggerWake(
        _ input: WakeTriggerInput,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> WakeTriggerOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .wakeTrigger), context: context)
        let (wake, created, deduplicated) = try await store.requestWake(
            target: input.participant,
            threadID: input.threadID,
            context: context,
            idempotency: idempotency,
            authorize: threadRules(.wakeTrigger, threadID: input.threadID, context: context)
        )
        return WakeTriggerOutput(wake: Self.forAgents(wake), created: created, deduplicated: deduplicated)
    }

    /// `v1_wake_status`: wake requests with their attempts, for a participant (default the caller) and/or a thread.
    public func wakeStatus(_ input: WakeStatusInput, context: CallContext) async throws(BridgeError) -> WakeStatusOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .wakeStatus), context: context)
        let target = input.participant ?? (input.threadID == nil ? context.identity.handle : nil)
        let wakes = try await store.wakeRequests(
            target: target,
            threadID: input.threadID,
            limit: min(max(input.limit ?? 20, 1), 200),
            workspace: context.identity.workspace
        )
        return WakeStatusOutput(wakes: wakes.map(Self.forAgents))
    }

    /// A wake request as agents see it: process output stays with operators (`inspect-thread`).
    static func forAgents(_ wake: WakeRequest) -> WakeRequest {
        var wake = wake
        for index in wake.attempts.indices { wake.attempts[index].outputTail = nil }
        return wake
    }
}
