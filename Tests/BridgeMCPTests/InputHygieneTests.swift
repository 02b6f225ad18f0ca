import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// Text that only looks right is refused, and ids have one form: through the real binary and a real database.
@Suite struct InputHygieneTests {
    /// Handles that pass a pattern check anchored with ICU's `$` (which also matches before a final newline), or
    /// that look like a valid handle to a human.
    static let lookAlikeHandles = [
        "ok\n", "ok\r\n", "ok\r", "o\u{0}k", "ok\u{0}", "\nok",
        "\u{043E}k",  // Cyrillic о
        "\u{FF4F}\u{FF4B}",  // fullwidth ｏｋ
        "ok\u{200B}",  // zero-width space
        "o\u{0301}k",  // combining acute accent
        "ok\u{2028}",  // line separator
        "ok ",
    ]

    @Test func handlesWithLineBreaksNULOrLookAlikeLettersAreRefusedAndNotStored() async throws {
        let database = try await TestDatabase.create()
        let alice = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await alice.initialize()
        let created = try await alice.call("v1_thread_create", ["title": "handles", "participants": [["handle": "ok"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")

        for handle in Self.lookAlikeHandles {
            let calls: [(String, [String: Any], String)] = [
                ("v1_thread_create", ["title": "t", "participants": [["handle": handle]]], "participants[0].handle"),
                ("v1_message_post", ["thread_id": thread, "body": "x", "to": [handle]], "to[0]"),
                ("v1_wake_trigger", ["thread_id": thread, "participant": handle], "participant"),
            ]
            for (tool, arguments, field) in calls {
                let result = try await alice.call(tool, arguments)
                let error = result.structured["error"] as? [String: Any]
                #expect(result.isError, "\(tool) accepted the handle \(handle.debugDescription)")
                #expect(error?["code"] as? String == "INVALID_ARGUMENT", "\(tool) \(handle.debugDescription): \(result.text)")
                #expect((error?["details"] as? [String: Any])?["field"] as? String == field, "\(tool) \(handle.debugDescription): \(result.text)")
            }
        }
        // The session survived every refusal, and none of the handles reached a table.
        #expect(try await alice.call("v1_whoami").isError == false)
        let logger = Logger(label: "hygiene")
        let handles = try await TestDatabase.run(database.store(logger: logger, maximumConnections: 1)) { client in
            var handles: [String] = []
            for try await (handle, ) in try await client.query(
                "SELECT handle FROM participants UNION SELECT handle FROM thread_participants UNION SELECT unnest(to_handles) FROM messages",
                logger: logger
            ).decode((String,).self) { handles.append(handle) }
            return handles
        }
        #expect(Set(handles) == ["alice", "ok"], "stored handles: \(handles.map(\.debugDescription))")
    }

    @Test func everyIDOnTheWireIsLowercaseAndEitherCaseIsAccepted() async throws {
        let database = try await TestDatabase.create()
        let alice = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await alice.initialize()
        let created = try await alice.call(
            "v1_thread_create",
            [
                "title": "ids", "participants": [["handle": "bob", "role": "approver"]],
                "message": ["body": "first"],
            ]
        )
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        // Uppercase input is the same thread.
        let results = [
            created,
            try await alice.call("v1_message_post", ["thread_id": thread.uppercased(), "body": "upper"]),
            try await alice.call("v1_message_read", ["thread_id": thread.uppercased()]),
            try await alice.call("v1_thread_get", ["thread_id": thread.uppercased()]),
            try await alice.call("v1_thread_list"),
            try await alice.call("v1_inbox"),
            try await alice.call(
                "v1_approval_request",
                [
                    "thread_id": thread.uppercased(), "action_class": "fs_write",
                    "resource": "src/main.swift", "summary": "edit",
                ]
            ),
            try await alice.call("v1_approval_list"),
            try await alice.call("v1_wake_trigger", ["thread_id": thread, "participant": "bob"]),
            try await alice.call("v1_wake_status", ["participant": "bob"]),
        ]
        var ids = 0
        for result in results {
            #expect(!result.isError, "\(result.text)")
            for text in Self.strings(in: result.structured) + Self.strings(in: Self.json(result.text)) where UUID(uuidString: text) != nil {
                ids += 1
                #expect(text == text.lowercased(), "an id on the wire is uppercase: \(text) in \(result.text.prefix(300))")
            }
        }
        #expect(ids >= 10, "the results carry ids (\(ids))")
        // Errors name the id in the same form, even when the client sent it uppercase.
        let missing = UUID().uuidString
        let refused = try await alice.call("v1_thread_get", ["thread_id": missing])
        let details = try #require((refused.structured["error"] as? [String: Any])?["details"] as? [String: Any], "\(refused.text)")
        #expect(details["thread_id"] as? String == missing.lowercased())
        #expect(!refused.text.contains(missing), "the message repeats the id lowercase: \(refused.text)")
    }

    static func json(_ text: String) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) ?? [:]
    }

    /// Every string value in a JSON object graph.
    static func strings(in value: Any) -> [String] {
        switch value {
        case let text as String: [text]
        case let array as [Any]: array.flatMap(strings(in:))
        case let object as [String: Any]: object.values.flatMap(strings(in:))
        default: []
        }
    }
}
