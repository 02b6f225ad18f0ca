import BridgeCore
import BridgeService
import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import Testing

/// A permission prompt's wait for a human, cancelled as the server cancels a call whose client went away:
/// it ends at once, not at the ticket's TTL, and leaves the ticket open for a retry of the same tool use.
@Suite struct PermissionPromptCancellationTests {
    let logger = Logger(label: "permission-prompt-tests")

    @Test func aCancelledWaitEndsAtOnce() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = database.store(logger: logger)
        let worker = CallContext(identity: Identity(workspace: "local", handle: "worker", role: .executioner), requestID: "req_permission_cancel")
        let catalog = try CatalogLoader.load(directory: nil)
        let logger = self.logger
        try await TestDatabase.run(store) { _ in
            try await store.ensureParticipant(context: worker)
            let (created, _) = try await store.createThread(
                NewThread(title: "edit", autonomous: false, participants: [], firstMessage: nil),
                context: worker,
                idempotency: nil
            )
            let threadID = created.thread.thread.id
            var configuration = BridgeAPI.Configuration(serverVersion: "test", catalog: catalog)
            configuration.wakeThreadID = threadID
            let service = BridgeAPI(configuration: configuration, store: store, logger: logger)
            let input = try JSONValueDecoder().decode(
                PermissionPromptInput.self,
                from: .object([
                    "tool_name": .string("Edit"), "tool_use_id": .string("toolu_c1"),
                    "input": .object(["file_path": .string("a.swift"), "old_string": .string("a"), "new_string": .string("b")]),
                ])
            )
            let prompt = Task { try await service.answerPermissionPrompt(input, context: worker, idempotency: nil) }
            try await waitUntil("the ticket is open", timeout: .seconds(20)) {
                try await !store.tickets(state: .pending, threadID: threadID, limit: 5, context: worker).isEmpty
            }
            let cancelled = ContinuousClock.now
            prompt.cancel()
            let answer = try await prompt.value
            let elapsed = cancelled.duration(to: .now)
            #expect(elapsed < .milliseconds(500), "the wait ends at once, not at the 30 min TTL: \(elapsed)")
            guard case .deny(let message) = answer else {
                Issue.record("a cancelled wait must not allow: \(answer)")
                return
            }
            #expect(message.hasSuffix("(PERMISSION_WAIT_CANCELLED)"), "\(message)")
            #expect(try await store.tickets(state: .pending, threadID: threadID, limit: 5, context: worker).count == 1, "the ticket stays open")
        }
    }
}
