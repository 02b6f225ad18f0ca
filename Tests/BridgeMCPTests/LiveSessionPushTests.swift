import BridgeTestSupport
import Foundation
import Testing

/// What a live session gets from `serve` while it is open: progress on long calls, cancellation that ends them at
/// once, and (for Claude Code with channels on) each message directed at it pushed as a channel notification.
@Suite struct LiveSessionPushTests {
    static var channelCapabilities: [String: Any] { ["experimental": ["claude/channel": [String: Any]()]] }

    func initialize(_ client: MCPClient, capabilities: [String: Any] = [:], name: String = "tests") async throws -> [String: Any] {
        let response = try await client.request(
            "initialize",
            [
                "protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": ["name": name, "version": "1"],
            ]
        )
        try client.send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        return try #require(response["result"] as? [String: Any], "\(response)")
    }

    @Test func aLongPollWithAProgressTokenGetsProgressUntilItsAnswer() async throws {
        let database = try await TestDatabase.create()
        let alice = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await initialize(alice)
        let created = try await alice.call("v1_thread_create", ["title": "quiet"])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        let id = try await alice.start(
            "tools/call",
            [
                "name": "v1_message_read", "arguments": ["thread_id": thread, "wait_seconds": 11], "_meta": ["progressToken": "poll-1"],
            ]
        )
        let (answer, before) = try await alice.readUntil(timeout: .seconds(20)) { $0["id"] as? Int == id }
        let progress = before.filter { $0["method"] as? String == "notifications/progress" }.compactMap { $0["params"] as? [String: Any] }
        #expect(progress.count >= 2, "progress every 5 s over an 11 s wait: \(before)")
        #expect(progress.allSatisfy { $0["progressToken"] as? String == "poll-1" })
        #expect(progress.compactMap { $0["progress"] as? Int } == Array(1...progress.count), "progress increases: \(progress)")
        #expect((answer["result"] as? [String: Any])?["isError"] as? Bool == false, "\(answer)")

        // Without a token, no progress.
        let quiet = try await alice.start("tools/call", ["name": "v1_message_read", "arguments": ["thread_id": thread, "wait_seconds": 6]])
        let (_, none) = try await alice.readUntil(timeout: .seconds(15)) { $0["id"] as? Int == quiet }
        #expect(none.isEmpty, "\(none)")
        #expect(await alice.closeAndWait() == 0)
    }

    @Test func aCancelledLongPollEndsAtOnceAndIsNeverAnswered() async throws {
        let database = try await TestDatabase.create()
        let log = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cancel-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let alice = try MCPClient(
            databaseURL: database.url,
            participant: "alice",
            extraEnvironment: ["AGENT_BRIDGE_LOG_LEVEL": "info"],
            stderrLog: log
        )
        _ = try await initialize(alice)
        let created = try await alice.call("v1_thread_create", ["title": "quiet"])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        let id = try await alice.start(
            "tools/call",
            [
                "name": "v1_message_read", "arguments": ["thread_id": thread, "wait_seconds": 30], "_meta": ["progressToken": 9],
            ]
        )
        try await Task.sleep(for: .milliseconds(500))
        let cancelled = ContinuousClock.now
        try alice.send(["jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": id, "reason": "user pressed Esc"]])
        // The read's log line says when its waiter was freed.
        func readLogged() -> Bool {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").contains { $0.contains(#""tool":"v1_message_read""#) && $0.contains(#""event":"tool.call""#) }
        }
        // Polled every 2 ms, so the figure printed is close to what the server took.
        while !readLogged(), cancelled.duration(to: .now) < .seconds(5) { try await Task.sleep(for: .milliseconds(2)) }
        let freed = cancelled.duration(to: .now)
        print("A cancelled long poll ended \(freed) after its cancellation.")
        #expect(freed < .seconds(2), "the wait ended long before its 30 s")
        // Nothing more for the cancelled request: the next answer is the ping's.
        let ping = try await alice.start("ping", [:])
        let (answer, before) = try await alice.readUntil(timeout: .seconds(5)) { $0["id"] as? Int == ping }
        #expect(answer["result"] != nil)
        #expect(!before.contains { $0["id"] as? Int == id }, "a cancelled request is not answered: \(before)")
        #expect(await alice.closeAndWait() == 0)
    }

    @Test func directedMessagesArePushedIntoAChannelSessionOnceAndAgainAfterAReconnectUntilRead() async throws {
        let database = try await TestDatabase.create()
        let alice = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await initialize(alice)
        let created = try await alice.call("v1_thread_create", ["title": "push", "participants": [["handle": "bob"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")

        // A client without the capability is not told about it and gets no pushes.
        let plain = try MCPClient(databaseURL: database.url, participant: "bob")
        let plainResult = try await initialize(plain)
        #expect(((plainResult["capabilities"] as? [String: Any])?["experimental"] as? [String: Any])?["claude/channel"] == nil)

        let bob = try MCPClient(databaseURL: database.url, participant: "bob")
        let result = try await initialize(bob, capabilities: Self.channelCapabilities, name: "claude-code")
        #expect(((result["capabilities"] as? [String: Any])?["experimental"] as? [String: Any])?["claude/channel"] != nil, "\(result)")

        var latencies: [Duration] = []
        for index in 1...20 {
            let posted = ContinuousClock.now
            let post = try await alice.call("v1_message_post", ["thread_id": thread, "body": "directed \(index)", "to": ["bob"], "kind": "request"])
            #expect(!post.isError, "\(post.text)")
            let (push, _) = try await bob.readUntil(timeout: .seconds(10)) { $0["method"] as? String == "notifications/claude/channel" }
            latencies.append(posted.duration(to: .now))
            let params = try #require(push["params"] as? [String: Any])
            let meta = try #require(params["meta"] as? [String: String], "meta values are strings: \(params)")
            #expect(params["content"] as? String == "directed \(index)")
            #expect(meta == ["thread_id": thread, "seq": "\(index)", "sender": "alice", "kind": "request"])
        }
        latencies.sort()
        print("Post to channel notification: p50 \(latencies[9]), p95 \(latencies[18]), max \(latencies[19]) (includes the post's own round trip).")
        #expect(latencies[18] < .seconds(2))

        // A broadcast is not directed at bob: not pushed. The next directed one is, once.
        _ = try await alice.call("v1_message_post", ["thread_id": thread, "body": "for everyone"])
        _ = try await alice.call("v1_message_post", ["thread_id": thread, "body": "directed 22", "to": ["bob"]])
        let (next, skipped) = try await bob.readUntil(timeout: .seconds(10)) { $0["method"] as? String == "notifications/claude/channel" }
        #expect((next["params"] as? [String: Any])?["content"] as? String == "directed 22")
        #expect(skipped.isEmpty, "\(skipped)")

        // A wake someone asks for by name is told once, as kind "wake".
        let trigger = try await alice.call("v1_wake_trigger", ["thread_id": thread, "participant": "bob"])
        #expect(!trigger.isError, "\(trigger.text)")
        let (wake, _) = try await bob.readUntil(timeout: .seconds(10)) { $0["method"] as? String == "notifications/claude/channel" }
        let wakeParams = try #require(wake["params"] as? [String: Any])
        #expect((wakeParams["meta"] as? [String: String])?["kind"] == "wake", "\(wakeParams)")
        #expect((wakeParams["meta"] as? [String: String])?["seq"] == "22", "the thread's last seq: \(wakeParams)")
        #expect((wakeParams["content"] as? String)?.contains("v1_message_ack") == true)
        #expect(await bob.closeAndWait() == 0)

        // A new session starts from bob's cursor: the 21 unread directed messages again, in order.
        let again = try MCPClient(databaseURL: database.url, participant: "bob")
        _ = try await initialize(again, capabilities: Self.channelCapabilities, name: "claude-code")
        var bodies: [String] = []
        while bodies.count < 22 {
            let (push, _) = try await again.readUntil(timeout: .seconds(10)) { $0["method"] as? String == "notifications/claude/channel" }
            bodies.append(((push["params"] as? [String: Any])?["content"] as? String) ?? "")
        }
        // The wake, still open, is told to the new session too.
        #expect(Array(bodies.prefix(21)) == (1...20).map { "directed \($0)" } + ["directed 22"])
        #expect(bodies.last?.contains("asks you to look at thread") == true, "\(bodies.last ?? "")")
        // Read and acked: a later session gets nothing.
        #expect(!(try await again.call("v1_message_ack", ["thread_id": thread, "seq": 22])).isError)
        #expect(await again.closeAndWait() == 0)
        let last = try MCPClient(databaseURL: database.url, participant: "bob")
        _ = try await initialize(last, capabilities: Self.channelCapabilities, name: "claude-code")
        let ping = try await last.start("ping", [:])
        try await Task.sleep(for: .seconds(1))
        let (_, early) = try await last.readUntil(timeout: .seconds(5)) { $0["id"] as? Int == ping }
        #expect(early.isEmpty, "nothing unread to push: \(early)")
        #expect(await last.closeAndWait() == 0)
        #expect(await plain.closeAndWait() == 0)
        #expect(await alice.closeAndWait() == 0)
    }
}

extension LiveSessionPushTests {
    /// Claude Code's channel permission relay: the bridge answers what policy decides at once, asks a human
    /// through an approval ticket for the rest, and leaves unanswered what it has no one to ask about.
    @Test func relayedPermissionQuestionsAreAnsweredByPolicyOrByAHuman() async throws {
        let database = try await TestDatabase.create()
        let lead = try MCPClient(databaseURL: database.url, participant: "lead")
        _ = try await initialize(lead)
        let created = try await lead.call("v1_thread_create", ["title": "relay", "participants": [["handle": "worker", "role": "executioner"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        let worker = try MCPClient(
            databaseURL: database.url,
            participant: "worker",
            role: "executioner",
            extraEnvironment: ["AGENT_BRIDGE_WAKE_THREAD_ID": thread]
        )
        let capabilities: [String: Any] = ["experimental": ["claude/channel": [String: Any](), "claude/channel/permission": [String: Any]()]]
        let result = try await initialize(worker, capabilities: capabilities, name: "claude-code")
        let declared = (result["capabilities"] as? [String: Any])?["experimental"] as? [String: Any]
        #expect(declared?["claude/channel"] != nil && declared?["claude/channel/permission"] != nil, "\(result)")
        func ask(_ id: String, _ tool: String, _ preview: String) throws {
            try worker.send([
                "jsonrpc": "2.0", "method": "notifications/claude/channel/permission_request",
                "params": ["request_id": id, "tool_name": tool, "description": "asked by the test", "input_preview": preview],
            ])
        }
        func answer(_ id: String, timeout: Duration = .seconds(10)) async throws -> String? {
            let (message, _) = try await worker.readUntil(timeout: timeout) {
                $0["method"] as? String == "notifications/claude/channel/permission"
                    && ($0["params"] as? [String: Any])?["request_id"] as? String == id
            }
            return (message["params"] as? [String: Any])?["behavior"] as? String
        }

        // A destructive command: denied by policy at once.
        try ask("abcde", "Bash", "rm -rf /tmp/build")
        #expect(try await answer("abcde") == "deny")
        // A read: allowed at once.
        try ask("fghij", "Read", #"{"file_path":"README.md"}"#)
        #expect(try await answer("fghij") == "allow")
        // An edit: a ticket in the wake thread; an operator approves; the relay answers allow.
        try ask("klmno", "Edit", "Sources/App/main.swift")
        var ticket: String?
        try await waitUntil("the relayed edit's ticket is open", timeout: .seconds(10)) {
            let run = try await CommandRun.agentBridge(["approvals", "list", "--json", "--state", "pending", "--database-url", database.url])
            let tickets = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["tickets"] as? [[String: Any]]
            ticket = tickets?.first?["id"] as? String
            return ticket != nil
        }
        let approved = try await CommandRun.agentBridge(
            ["approvals", "approve", "--ticket-id", ticket!, "--database-url", database.url],
            environment: ["USER": "ops-person"]
        )
        #expect(approved.status == 0, "\(approved.stderr)")
        #expect(try await answer("klmno") == "allow")
        #expect(await worker.closeAndWait() == 0)
        #expect(await lead.closeAndWait() == 0)
    }
}
