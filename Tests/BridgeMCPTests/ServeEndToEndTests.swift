import BridgeCore
import BridgeMCP
import BridgeTestSupport
import Foundation
import MCP
import Testing

/// End-to-end: the built `agent-bridge serve`, spoken to over its pipes against a fresh real database.
@Suite struct ServeEndToEndTests {
    let catalog = try! ToolCatalog.bundled()

    func errorOf(_ structured: [String: Any]) -> (code: String, reason: String)? {
        guard let error = structured["error"] as? [String: Any] else { return nil }
        return (error["code"] as? String ?? "", error["reason"] as? String ?? "")
    }

    /// Checks a successful result against the tool's published output schema and that the text block holds the same JSON.
    func expectConforms(_ tool: String, _ result: (isError: Bool, structured: [String: Any], text: String)) throws {
        #expect(!result.isError, "\(tool) failed: \(result.text)")
        let value = try JSONValue(parsing: JSONSerialization.data(withJSONObject: result.structured))
        let validate = try #require(catalog.outputValidator(for: tool))
        #expect(throws: Never.self, "\(tool) output must match its schema") { try validate(value) }
        let fromText = try JSONValue(parsing: Data(result.text.utf8))
        #expect(fromText == value)
    }

    @Test func initializeListsExactlyThePublishedTools() async throws {
        let database = try await TestDatabase.create()
        let client = try MCPClient(databaseURL: database.url, participant: "alice")
        let initialized = try await client.initialize()
        let result = try #require(initialized["result"] as? [String: Any])
        #expect(result["protocolVersion"] as? String == "2025-11-25")
        let tools = try #require((try await client.request("tools/list")["result"] as? [String: Any])?["tools"] as? [[String: Any]])
        let names = Set(tools.compactMap { $0["name"] as? String })
        #expect(names == Set(BridgeOperation.allCases.map(\.rawValue)))
        for tool in tools {
            #expect(tool["inputSchema"] is [String: Any] && tool["outputSchema"] is [String: Any])
            let schemaText = String(decoding: try JSONSerialization.data(withJSONObject: tool["inputSchema"]!), as: UTF8.self)
            #expect(!schemaText.contains("$ref"), "schemas served to clients are self-contained")
        }
        #expect(await client.closeAndWait() == 0)
    }

    @Test func everyToolsHappyPathConformsToItsSchema() async throws {
        let database = try await TestDatabase.create()
        let alice = try MCPClient(databaseURL: database.url, participant: "alice")
        let bob = try MCPClient(databaseURL: database.url, participant: "bob", role: "reviewer")
        _ = try await alice.initialize()
        _ = try await bob.initialize()

        try expectConforms("v1_whoami", try await alice.call("v1_whoami"))
        try expectConforms(
            "v1_participant_register",
            try await bob.call(
                "v1_participant_register",
                [
                    "display_name": "Bob", "runtime": ["kind": "codex_cli", "managed": true, "session_id": "s-1", "workdir": "/tmp"],
                ]
            )
        )
        try expectConforms("v1_participant_heartbeat", try await bob.call("v1_participant_heartbeat", ["presence": "idle", "human_input": true]))
        let created = try await alice.call(
            "v1_thread_create",
            [
                "title": "Review the parser", "participants": [["handle": "bob", "role": "reviewer"]],
                "message": ["body": "please review", "kind": "request", "to": ["bob"], "payload": ["fileName": "Parser.swift"]],
            ]
        )
        try expectConforms("v1_thread_create", created)
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String)
        let firstPayload = (created.structured["message"] as? [String: Any])?["payload"] as? [String: Any]
        #expect(firstPayload?["fileName"] as? String == "Parser.swift", "payload keys are stored as sent")

        try expectConforms("v1_thread_get", try await bob.call("v1_thread_get", ["thread_id": thread]))
        try expectConforms("v1_thread_list", try await bob.call("v1_thread_list", ["limit": 10]))
        let inbox = try await bob.call("v1_inbox")
        try expectConforms("v1_inbox", inbox)
        #expect((inbox.structured["messages"] as? [Any])?.count == 1)

        let posted = try await bob.call(
            "v1_message_post",
            ["thread_id": thread, "body": "found a bug", "kind": "finding", "to": ["alice"], "reply_to_seq": 1]
        )
        try expectConforms("v1_message_post", posted)
        #expect((posted.structured["message"] as? [String: Any])?["seq"] as? Int == 2)

        let read = try await alice.call("v1_message_read", ["thread_id": thread, "after_seq": 0])
        try expectConforms("v1_message_read", read)
        #expect(((read.structured["messages"] as? [[String: Any]]) ?? []).compactMap { $0["seq"] as? Int } == [1, 2])
        let acked = try await alice.call("v1_message_ack", ["thread_id": thread, "seq": 2])
        try expectConforms("v1_message_ack", acked)
        #expect(acked.structured["unread"] as? Int == 0)

        let carol = try MCPClient(databaseURL: database.url, participant: "carol", role: "executioner")
        _ = try await carol.initialize()
        try expectConforms("v1_thread_join", try await carol.call("v1_thread_join", ["thread_id": thread]))
        try expectConforms("v1_thread_leave", try await carol.call("v1_thread_leave", ["thread_id": thread]))
        try expectConforms(
            "v1_thread_set_status",
            try await bob.call("v1_thread_set_status", ["thread_id": thread, "action": "escalate", "reason": "stuck"])
        )
        let blockedPost = try await bob.call("v1_message_post", ["thread_id": thread, "body": "more"])
        #expect(errorOf(blockedPost.structured)?.reason == "THREAD_BLOCKED")
        let closed = try await alice.call("v1_thread_set_status", ["thread_id": thread, "action": "close", "reason": "fixed in #12"])
        try expectConforms("v1_thread_set_status", closed)
        let afterClose = try await alice.call("v1_message_post", ["thread_id": thread, "body": "late"])
        #expect(errorOf(afterClose.structured)?.code == "FAILED_PRECONDITION")
        #expect(errorOf(afterClose.structured)?.reason == "THREAD_CLOSED")
        for client in [alice, bob, carol] { #expect(await client.closeAndWait() == 0) }
    }

    @Test func requestsWrittenBeforeStdinClosesAreAllAnswered() async throws {
        let database = try await TestDatabase.create()
        let client = try MCPClient(databaseURL: database.url, participant: "alice")
        try client.send([
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": [
                "protocolVersion": "2025-11-25", "capabilities": [:], "clientInfo": ["name": "pipe", "version": "1"],
            ],
        ])
        try client.send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        for id in 2...6 {
            try client.send([
                "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": ["name": "v1_thread_create", "arguments": ["title": "t\(id)"]],
            ])
        }
        client.closeInput()
        var answered: Set<Int> = []
        for _ in 1...6 {
            let message = try await client.readMessage()
            if let id = message["id"] as? Int { answered.insert(id) }
            #expect(message["error"] == nil)
        }
        #expect(answered == Set(1...6))
        #expect(await client.closeAndWait() == 0)
    }

    @Test func longPollReturnsWhenAMessageIsCommitted() async throws {
        let database = try await TestDatabase.create()
        let reader = try MCPClient(databaseURL: database.url, participant: "reader")
        let writer = try MCPClient(databaseURL: database.url, participant: "writer")
        _ = try await reader.initialize()
        _ = try await writer.initialize()
        let created = try await writer.call("v1_thread_create", ["title": "poll", "participants": [["handle": "reader"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String)
        let waited = Task.detached { () async throws -> Int in
            let result = try await reader.call("v1_message_read", ["thread_id": thread, "after_seq": 0, "wait_seconds": 30])
            #expect(!result.isError, "\(result.text)")
            return ((result.structured["messages"] as? [[String: Any]]) ?? []).count
        }
        try await Task.sleep(for: .milliseconds(500))
        let posted = try await writer.call("v1_message_post", ["thread_id": thread, "body": "wake up"])
        #expect(!posted.isError, "\(posted.text)")
        // Had the NOTIFY been ignored, the read would have waited the full 30 seconds and come back empty.
        #expect(try await waited.value == 1)
        #expect(await reader.closeAndWait() == 0)
        #expect(await writer.closeAndWait() == 0)
    }

    @Test func badInputIsRefusedWithAReasonAndWritesNothing() async throws {
        let database = try await TestDatabase.create()
        let client = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await client.initialize()
        let created = try await client.call("v1_thread_create", ["title": "errors"])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String)
        let escalated = try await client.call("v1_thread_create", ["title": "already blocked"])
        let blocked = try #require((escalated.structured["thread"] as? [String: Any])?["id"] as? String)
        #expect(try await client.call("v1_thread_set_status", ["thread_id": blocked, "action": "escalate", "reason": "stuck"]).isError == false)
        let cases: [(String, [String: Any], String, String)] = [
            ("v1_message_post", ["thread_id": thread, "body": 42], "INVALID_ARGUMENT", "INVALID_FIELD_TYPE"),
            ("v1_message_post", ["thread_id": thread], "INVALID_ARGUMENT", "MISSING_REQUIRED_FIELD"),
            ("v1_message_post", ["thread_id": thread, "body": "x", "kind": "gossip"], "INVALID_ARGUMENT", "INVALID_ENUM_VALUE"),
            ("v1_message_post", ["thread_id": thread, "body": String(repeating: "x", count: 70_000)], "INVALID_ARGUMENT", "BODY_TOO_LARGE"),
            (
                "v1_message_post", ["thread_id": thread, "body": "x", "payload": ["blob": String(repeating: "y", count: 70_000)]], "INVALID_ARGUMENT",
                "PAYLOAD_TOO_LARGE"
            ),
            ("v1_message_post", ["thread_id": thread, "body": "x", "schema_version": "2.0"], "INVALID_ARGUMENT", "UNSUPPORTED_SCHEMA_VERSION"),
            ("v1_message_post", ["thread_id": UUID().uuidString, "body": "x"], "NOT_FOUND", "THREAD_NOT_FOUND"),
            ("v1_message_post", ["thread_id": "not-a-uuid", "body": "x"], "INVALID_ARGUMENT", "INVALID_FIELD_VALUE"),
            ("v1_message_post", ["thread_id": thread, "body": "x", "to": ["nobody"]], "INVALID_ARGUMENT", "UNKNOWN_RECIPIENT"),
            ("v1_message_post", ["thread_id": thread, "body": "x", "reply_to_seq": 99], "INVALID_ARGUMENT", "REPLY_TO_UNKNOWN_SEQ"),
            ("v1_message_ack", ["thread_id": thread, "seq": 5], "INVALID_ARGUMENT", "ACK_BEYOND_LAST_SEQ"),
            ("v1_thread_set_status", ["thread_id": blocked, "action": "escalate"], "FAILED_PRECONDITION", "INVALID_STATUS_TRANSITION"),
            ("v1_thread_set_status", ["thread_id": blocked, "action": "unblock"], "PERMISSION_DENIED", "ROLE_NOT_PERMITTED"),
            ("v1_thread_set_status", ["thread_id": thread, "action": "reopen"], "INVALID_ARGUMENT", "INVALID_ENUM_VALUE"),
        ]
        for (tool, arguments, code, reason) in cases {
            let result = try await client.call(tool, arguments)
            #expect(result.isError)
            #expect(errorOf(result.structured)?.code == code, "\(tool) \(arguments.keys.sorted())")
            #expect(errorOf(result.structured)?.reason == reason, "\(tool) \(arguments.keys.sorted())")
            let error = try #require(result.structured["error"] as? [String: Any])
            #expect((error["request_id"] as? String)?.hasPrefix("req_") == true)
        }
        let read = try await client.call("v1_message_read", ["thread_id": thread])
        #expect((read.structured["messages"] as? [Any])?.isEmpty == true, "no refused call wrote a message")
        let unknown = try await client.request("tools/call", ["name": "v1_nope", "arguments": [:]])
        #expect((unknown["error"] as? [String: Any])?["code"] as? Int == -32602)
        #expect(await client.closeAndWait() == 0)
    }

    @Test func aBurstOfMalformedCallsIsAnsweredAndTheServerKeepsServing() async throws {
        let database = try await TestDatabase.create()
        let client = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await client.initialize()
        let shapes: [[String: Any]] = [
            ["body": 1], ["thread_id": 7, "body": "x"], ["thread_id": "zz", "body": "x"], [:],
            ["thread_id": UUID().uuidString, "body": "x", "kind": 3], ["thread_id": UUID().uuidString, "body": "x", "to": "bob"],
            ["thread_id": UUID().uuidString, "body": "x", "reply_to_seq": -1], ["thread_id": UUID().uuidString, "body": "x", "payload": [1, 2]],
        ]
        for index in 0..<520 {
            let result = try await client.call("v1_message_post", shapes[index % shapes.count])
            #expect(result.isError && errorOf(result.structured)?.code == "INVALID_ARGUMENT")
            #expect(errorOf(result.structured)?.reason.isEmpty == false)
        }
        let created = try await client.call("v1_thread_create", ["title": "still alive"])
        #expect(!created.isError)
        #expect(await client.closeAndWait() == 0)
    }

    @Test func concurrentServeProcessesKeepSeqsGapless() async throws {
        let database = try await TestDatabase.create()
        let owner = try MCPClient(databaseURL: database.url, participant: "owner")
        _ = try await owner.initialize()
        let writers = 16
        let posts = 15
        let created = try await owner.call("v1_thread_create", ["title": "hot", "participants": (0..<writers).map { ["handle": "w\($0)"] }])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String)
        let internalErrors = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let client = try MCPClient(databaseURL: database.url, participant: "w\(writer)", role: "executioner")
                    _ = try await client.initialize()
                    var failures = 0
                    for post in 0..<posts {
                        let result = try await client.call("v1_message_post", ["thread_id": thread, "body": "w\(writer)-\(post)"])
                        if result.isError { failures += 1 }
                    }
                    _ = await client.closeAndWait()
                    return failures
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(internalErrors == 0)
        var seqs: [Int] = []
        var after = 0
        while true {
            let page = try await owner.call("v1_message_read", ["thread_id": thread, "after_seq": after, "limit": 500])
            let messages = (page.structured["messages"] as? [[String: Any]]) ?? []
            seqs += messages.compactMap { $0["seq"] as? Int }
            after = page.structured["next_after_seq"] as? Int ?? after
            if page.structured["has_more"] as? Bool != true { break }
        }
        #expect(seqs == Array(1...(writers * posts)))
        #expect(await owner.closeAndWait() == 0)
    }

    @Test func withoutAnIdentityEveryCallIsUnauthenticated() async throws {
        let database = try await TestDatabase.create()
        let client = try MCPClient(databaseURL: database.url, participant: nil)
        _ = try await client.initialize()
        let result = try await client.call("v1_whoami")
        #expect(errorOf(result.structured)?.code == "UNAUTHENTICATED")
        #expect(errorOf(result.structured)?.reason == "IDENTITY_MISSING")
        #expect(await client.closeAndWait() == 0)
    }
}
