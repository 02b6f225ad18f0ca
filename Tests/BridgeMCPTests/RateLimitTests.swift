import BridgeTestSupport
import Foundation
import Testing

/// The per-participant post rate limit from the catalog, through the real binary.
@Suite struct RateLimitTests {
    /// A copy of the repository's catalog with `rate_limits.message_post` set to `count` per `window`.
    static func catalog(postCount count: Int, window: String) throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/BridgeService/catalog")
        let copy = "\(NSTemporaryDirectory())agent-bridge-catalog-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.copyItem(atPath: source.path, toPath: copy)
        let policy = "\(copy)/policy.yaml"
        var text = try String(contentsOfFile: policy, encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: "message_post:\\n    count: \\d+\\n    window: \\S+")
        let range = NSRange(text.startIndex..., in: text)
        #expect(pattern.firstMatch(in: text, range: range) != nil, "policy.yaml changed shape; update this test")
        text = pattern.stringByReplacingMatches(in: text, range: range, withTemplate: "message_post:\n    count: \(count)\n    window: \(window)")
        try text.write(toFile: policy, atomically: true, encoding: .utf8)
        return copy
    }

    @Test func postsBeyondTheLimitAreRefusedPerParticipantAndWriteNothing() async throws {
        let database = try await TestDatabase.create()
        let catalog = try Self.catalog(postCount: 3, window: "1h")
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let alice = try MCPClient(databaseURL: database.url, participant: "alice", extraEnvironment: ["AGENT_BRIDGE_CATALOG": catalog])
        let bob = try MCPClient(databaseURL: database.url, participant: "bob", extraEnvironment: ["AGENT_BRIDGE_CATALOG": catalog])
        _ = try await alice.initialize()
        _ = try await bob.initialize()
        let created = try await alice.call("v1_thread_create", ["title": "chatty", "participants": [["handle": "bob"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")

        for index in 1...3 {
            let posted = try await alice.call("v1_message_post", ["thread_id": thread, "body": "within the limit \(index)"])
            #expect(!posted.isError, "\(posted.text)")
        }
        let refused = try await alice.call("v1_message_post", ["thread_id": thread, "body": "one too many"])
        let error = refused.structured["error"] as? [String: Any]
        #expect(refused.isError)
        #expect(error?["code"] as? String == "RESOURCE_EXHAUSTED", "\(refused.text)")
        #expect(error?["reason"] as? String == "RATE_LIMITED", "\(refused.text)")
        #expect(error?["retryable"] as? Bool == true, "\(refused.text)")

        // The limit is per participant: bob still posts, and takes the next seq (the refused post left no gap).
        let bobs = try await bob.call("v1_message_post", ["thread_id": thread, "body": "my turn"])
        #expect(((bobs.structured["message"] as? [String: Any])?["seq"] as? Int) == 4, "\(bobs.text)")
        let read = try await bob.call("v1_message_read", ["thread_id": thread])
        let bodies = ((read.structured["messages"] as? [[String: Any]]) ?? []).compactMap { $0["body"] as? String }
        #expect(!bodies.contains("one too many"))
        #expect(await alice.closeAndWait() == 0)
        #expect(await bob.closeAndWait() == 0)
    }
}
