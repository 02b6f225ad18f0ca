import BridgeTestSupport
import Foundation
import Testing

/// What the one post path decides, seen through the real binary: the operator's membership bypass, and a
/// refused post that keeps nothing of itself.
@Suite struct PostPolicyEndToEndTests {
    /// An operator posts to and reads a thread it never joined (`bypass_membership`), but has no cursor there to move.
    @Test func anOperatorPostsAndReadsWithoutJoiningButCannotAck() async throws {
        let database = try await TestDatabase.create()
        let alice = try MCPClient(databaseURL: database.url, participant: "alice")
        let ops = try MCPClient(databaseURL: database.url, participant: "ops", role: "operator")
        let eve = try MCPClient(databaseURL: database.url, participant: "eve", role: "reviewer")
        for client in [alice, ops, eve] { _ = try await client.initialize() }
        let created = try await alice.call("v1_thread_create", ["title": "steered"])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")

        let posted = try await ops.call("v1_message_post", ["thread_id": thread, "body": "operator here: pause the deploy"])
        #expect(!posted.isError, "\(posted.text)")
        #expect(((posted.structured["message"] as? [String: Any])?["seq"] as? Int) == 1, "\(posted.text)")
        let read = try await ops.call("v1_message_read", ["thread_id": thread])
        let bodies = ((read.structured["messages"] as? [[String: Any]]) ?? []).compactMap { $0["body"] as? String }
        #expect(bodies == ["operator here: pause the deploy"], "\(read.text)")

        let ack = try await ops.call("v1_message_ack", ["thread_id": thread, "seq": 1])
        #expect((ack.structured["error"] as? [String: Any])?["reason"] as? String == "NOT_A_MEMBER", "\(ack.text)")
        // The same rule table refuses a reviewer who did not join, and names the thread.
        let refused = try await eve.call("v1_message_post", ["thread_id": thread, "body": "let me in"])
        let error = try #require(refused.structured["error"] as? [String: Any], "\(refused.text)")
        #expect(error["reason"] as? String == "NOT_A_MEMBER")
        #expect((error["details"] as? [String: Any])?["thread_id"] as? String == thread)
        let unread = try await eve.call("v1_message_read", ["thread_id": thread])
        #expect((unread.structured["error"] as? [String: Any])?["reason"] as? String == "NOT_A_MEMBER", "\(unread.text)")
        for client in [alice, ops, eve] { #expect(await client.closeAndWait() == 0) }
    }

    /// A post its guards refuse is rolled back whole: no seq, no audit row, and none of the author's rate allowance.
    @Test func aRefusedPostSpendsNoAllowanceAndLeavesNoTrace() async throws {
        let database = try await TestDatabase.create()
        let catalog = try RateLimitTests.catalog(postCount: 2, window: "1h")
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let alice = try MCPClient(databaseURL: database.url, participant: "alice", extraEnvironment: ["AGENT_BRIDGE_CATALOG": catalog])
        _ = try await alice.initialize()
        let created = try await alice.call("v1_thread_create", ["title": "careful"])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")

        let strangers = try await alice.call("v1_message_post", ["thread_id": thread, "body": "hi", "to": ["zed", "bob"]])
        let error = try #require(strangers.structured["error"] as? [String: Any], "\(strangers.text)")
        #expect(error["reason"] as? String == "UNKNOWN_RECIPIENT")
        #expect((error["details"] as? [String: Any])?["handles"] as? String == "bob,zed")
        let beyond = try await alice.call("v1_message_post", ["thread_id": thread, "body": "re", "reply_to_seq": 5])
        #expect((beyond.structured["error"] as? [String: Any])?["reason"] as? String == "REPLY_TO_UNKNOWN_SEQ", "\(beyond.text)")

        // Both refusals left the allowance of 2 whole.
        for index in 1...2 {
            let posted = try await alice.call("v1_message_post", ["thread_id": thread, "body": "ok \(index)"])
            #expect(((posted.structured["message"] as? [String: Any])?["seq"] as? Int) == index, "\(posted.text)")
        }
        let limited = try await alice.call("v1_message_post", ["thread_id": thread, "body": "one too many"])
        #expect((limited.structured["error"] as? [String: Any])?["reason"] as? String == "RATE_LIMITED", "\(limited.text)")
        let audited = try await database.scalar("SELECT count(*)::text FROM audit_events WHERE action = 'message.post'")
        #expect(audited == "2")
        #expect(await alice.closeAndWait() == 0)
    }
}
