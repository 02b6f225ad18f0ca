import BridgeCore
import BridgeService
import BridgeTestSupport
import Foundation
import Logging
import Testing

/// The post's SQL guards and the policy's rule table agree, on a real database: every rule, tripped alone,
/// refuses with its own reason (never a `TRANSACTION_CONFLICT`, which is what a guard refusing what the
/// rules allow would look like), and a refused post writes nothing.
@Suite struct PostGuardTests {
    let logger = Logger(label: "post-guard-tests")

    func call(_ handle: String, _ role: Role) -> CallContext {
        CallContext(identity: Identity(workspace: "local", handle: handle, role: role), requestID: "req_guard_\(handle)")
    }

    func post(_ api: BridgeAPI, _ arguments: [String: JSONValue], as context: CallContext) async throws -> Result<MessagePostOutput, BridgeError> {
        let input = try JSONValueDecoder().decode(MessagePostInput.self, from: .object(arguments))
        do throws(BridgeError) {
            return .success(try await api.post(input, schemaVersion: "1.0", context: context, idempotency: nil))
        } catch {
            return .failure(error)
        }
    }

    @Test func everyRuleTrippedAloneGivesItsReasonAndWritesNothing() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = database.store(logger: logger)
        var catalog = try CatalogLoader.load(directory: nil)
        catalog.postRateLimit = .init(count: 3, window: .seconds(3600))
        let api = BridgeAPI(configuration: .init(serverVersion: "test", catalog: catalog), store: store, logger: logger)
        let (lead, worker, approver, stranger) = (
            call("lead", .coordinator), call("worker", .executioner),
            call("gatekeeper", .approver), call("stranger", .executioner)
        )
        try await TestDatabase.run(store) { _ in
            for context in [lead, worker, approver, stranger] { try await api.ensureParticipant(context: context) }
            let create = try JSONValueDecoder().decode(
                ThreadCreateInput.self,
                from: .object([
                    "title": .string("guarded"),
                    "participants": .array([
                        .object(["handle": .string("worker")]), .object(["handle": .string("gatekeeper"), "role": .string("approver")]),
                    ]),
                ])
            )
            let thread = try await api.createThread(create, schemaVersion: "1.0", context: lead, idempotency: nil).thread.thread.id
            let id = JSONValue.string(thread.uuidString)
            func refusal(_ arguments: [String: JSONValue], as context: CallContext) async throws -> Reason? {
                let before = try await database.scalar("SELECT last_seq::text FROM threads WHERE id = '\(thread.uuidString)'")
                let outcome = try await post(api, arguments, as: context)
                guard case .failure(let error) = outcome else { return nil }
                #expect(error.reason != .transactionConflict, "a guard refused what the rules allow: \(error)")
                #expect(try await database.scalar("SELECT last_seq::text FROM threads WHERE id = '\(thread.uuidString)'") == before)
                return error.reason
            }

            #expect(try await refusal(["thread_id": id, "body": .string("first")], as: worker) == nil)
            #expect(try await refusal(["thread_id": id, "body": .string("hello?")], as: stranger) == .notAMember)
            #expect(
                try await refusal(["thread_id": id, "body": .string("psst"), "to": .array([.string("stranger")])], as: worker) == .unknownRecipient
            )
            #expect(try await refusal(["thread_id": id, "body": .string("re"), "reply_to_seq": .integer(2)], as: worker) == .replyToUnknownSeq)
            #expect(try await refusal(["thread_id": id, "body": .string("re"), "reply_to_seq": .integer(1)], as: worker) == nil)
            #expect(try await refusal(["thread_id": id, "body": .string("third")], as: worker) == nil)
            // The worker's allowance is 3: the two refused posts above spent none of it (a post runs in autocommit,
            // so nothing rolls a spent unit back), and "first", the reply and "third" spent all of it.
            #expect(try await refusal(["thread_id": id, "body": .string("fourth")], as: worker) == .rateLimited)

            _ = try await api.setThreadStatus(.init(threadID: thread, action: .escalate, reason: "stuck"), context: lead, idempotency: nil)
            #expect(try await refusal(["thread_id": id, "body": .string("still there?")], as: lead) == .threadBlocked)
            #expect(try await refusal(["thread_id": id, "body": .string("looking into it")], as: approver) == nil)
            _ = try await api.setThreadStatus(.init(threadID: thread, action: .close, reason: "done"), context: lead, idempotency: nil)
            #expect(try await refusal(["thread_id": id, "body": .string("one more thing")], as: approver) == .threadClosed)

            // Posts, the escalation and the close each left one row: 4 posts, 2 system messages.
            #expect(try await database.scalar("SELECT count(*)::text FROM messages WHERE thread_id = '\(thread.uuidString)'") == "6")
            #expect(try await database.scalar("SELECT count(*)::text FROM audit_events WHERE action = 'message.post'") == "4")
        }
    }
}
