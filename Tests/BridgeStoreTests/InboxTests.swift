import BridgeCore
import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import Testing

/// The inbox walks messages in time order from the oldest point an unread message can have (`InboxStatement`):
/// what it returns must still be exactly the caller's unread broadcasts and directed messages, oldest first.
@Suite struct InboxTests {
    let logger = Logger(label: "inbox-tests")

    func context(_ handle: String) -> CallContext {
        CallContext(identity: Identity(workspace: "local", handle: handle, role: .coordinator), requestID: "req_test_\(UUID().uuidString.prefix(8))")
    }

    func post(_ store: PostgresStore, _ thread: UUID, by author: String, to: [String] = [], _ body: String) async throws -> Message {
        let message = NewMessage(threadID: thread, kind: .note, to: to, replyToSeq: nil, body: body, payload: .emptyObject, schemaVersion: "1.0")
        return try await store.postAsMember(message, context: context(author)).0
    }

    @Test func inboxIsTheUnreadBroadcastsAndDirectedMessagesOldestFirstAcrossThreadsAndFollowsAcks() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = database.store(logger: logger)
        try await TestDatabase.run(store) { _ in
            for handle in ["reader", "alice", "bob"] { try await store.ensureParticipant(context: context(handle)) }
            let members = ["reader", "alice", "bob"].map { ($0, Role.coordinator) }
            func thread(_ title: String) async throws -> UUID {
                try await store.createThread(
                    NewThread(title: title, autonomous: false, participants: members, firstMessage: nil),
                    context: context("alice"),
                    idempotency: nil
                ).0.thread.thread.id
            }
            let old = try await thread("old")
            let busy = try await thread("busy")
            let quiet = try await thread("quiet")
            let reader = context("reader")

            // A long history in "old", read up to its end; then posts in "busy" and "quiet".
            var history: [Message] = []
            for index in 0..<30 { history.append(try await post(store, old, by: "alice", "old \(index)")) }
            _ = try await store.acknowledge(threadID: old, seq: history.last!.seq, context: reader, idempotency: nil)
            #expect(try await store.inbox(limit: 50, context: reader).messages.isEmpty, "everything read: nothing")

            let first = try await post(store, busy, by: "alice", "busy broadcast")
            _ = try await post(store, busy, by: "alice", to: ["bob"], "busy for bob only")
            let directed = try await post(store, quiet, by: "bob", to: ["reader"], "quiet for the reader")
            _ = try await post(store, busy, by: "reader", "the reader's own")
            let late = try await post(store, old, by: "bob", "old, new again")

            let inbox = try await store.inbox(limit: 50, context: reader)
            #expect(inbox.messages.map(\.id) == [first.id, directed.id, late.id])
            #expect(!inbox.hasMore)

            // A page of one says there is more; an ack past a message drops it and nothing else.
            let page = try await store.inbox(limit: 1, context: reader)
            #expect(page.messages.map(\.id) == [first.id] && page.hasMore)
            _ = try await store.acknowledge(threadID: busy, seq: first.seq + 2, context: reader, idempotency: nil)
            #expect(try await store.inbox(limit: 50, context: reader).messages.map(\.id) == [directed.id, late.id])
            _ = try await store.acknowledge(threadID: old, seq: late.seq, context: reader, idempotency: nil)
            _ = try await store.acknowledge(threadID: quiet, seq: directed.seq, context: reader, idempotency: nil)
            #expect(try await store.inbox(limit: 50, context: reader).messages.isEmpty)
        }
    }
}
