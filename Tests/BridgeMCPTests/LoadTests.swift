import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Load through the real binary: several `agent-bridge serve` processes on one real database, each test bounded
/// in operations and by a deadline (a hang kills the processes and fails the test instead of stalling CI).
///
/// Nothing here is timed: speed belongs to `agent-bridge bench` (ARCHITECTURE.md, Service levels). These tests assert what load must
/// never break: every call answered with success or a documented error, gapless seqs, and no `INTERNAL`.
@Suite struct LoadTests {
    // MARK: - Sustained reads and writes

    @Test func sustainedReadsAndWritesOnSeveralThreadsKeepSeqsGaplessForEveryReader() async throws {
        let database = try await TestDatabase.create()
        let fleet = try ServeFleet(database: database)
        defer { fleet.removeLogs() }
        let writers = ["w0", "w1", "w2", "w3"]
        let readers = ["r0", "r1"]
        let threadCount = 3
        let postsPerWriter = 18
        let clients = try await fleet.start(writers.map { ($0, "executioner") } + readers.map { ($0, "reviewer") })

        let (writes, reads) = try await withDeadline(.seconds(90), fleet) {
            // Several threads created at once, by different processes, each with every participant as a member.
            let threads = try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
                for index in 0..<threadCount {
                    group.addTask {
                        let members = (writers + readers).filter { $0 != writers[index] }.map { ["handle": $0] }
                        let created = try await clients[writers[index]]!.call(
                            "v1_thread_create",
                            ["title": "load \(index)", "participants": members]
                        )
                        return (index, Outcome(created))
                    }
                }
                var threads = [String](repeating: "", count: threadCount)
                for try await (index, outcome) in group {
                    #expect(outcome.code == nil, "thread_create: \(outcome.text)")
                    threads[index] = try #require(outcome.threadID, "\(outcome.text)")
                }
                return threads
            }
            // Which thread each writer's n-th post goes to: a fixed plan, so readers know how much to expect.
            let plan = { @Sendable (writer: Int, post: Int) in (writer + post) % threadCount }
            var expected = [Int](repeating: 0, count: threadCount)
            for writer in writers.indices { for post in 0..<postsPerWriter { expected[plan(writer, post)] += 1 } }
            let expectedPerThread = expected
            let writersFinished = Countdown(writers.count)
            let readersStarted = Countdown(readers.count)

            return try await withThrowingTaskGroup(of: ([WriterReport], [ReaderReport]).self) { group in
                for (index, handle) in writers.enumerated() {
                    group.addTask {
                        defer { writersFinished.countDown() }
                        // Readers start on empty threads, so their first reads are long-polls that a post ends.
                        try await waitUntil("every reader is reading", timeout: .seconds(30)) { readersStarted.isDone }
                        let client = clients[handle]!
                        var report = WriterReport(handle: handle)
                        for post in 0..<postsPerWriter {
                            let thread = threads[plan(index, post)]
                            var arguments: [String: Any] = [
                                "thread_id": thread, "body": "\(handle) says \(post)", "kind": post % 3 == 0 ? "finding" : "note",
                                "idempotency_key": "\(handle)-\(post)",
                            ]
                            if post % 4 == 1 { arguments["to"] = [readers[post % readers.count]] }
                            let posted = try await Self.retryingConflicts { Outcome(try await client.call("v1_message_post", arguments)) }
                            report.note(posted, "v1_message_post")
                            if posted.code == nil, let seq = posted.seq { report.seqs[thread, default: []].append(seq) }
                            if post % 5 == 4 {
                                report.note(Outcome(try await client.call("v1_thread_get", ["thread_id": thread])), "v1_thread_get")
                                report.note(Outcome(try await client.call("v1_inbox", ["limit": 20])), "v1_inbox")
                            }
                        }
                        return ([report], [])
                    }
                }
                for handle in readers {
                    group.addTask {
                        let report = try await Self.follow(
                            threads,
                            expecting: expectedPerThread,
                            as: handle,
                            with: clients[handle]!,
                            started: readersStarted,
                            until: writersFinished
                        )
                        return ([], [report])
                    }
                }
                var writes: [WriterReport] = []
                var reads: [ReaderReport] = []
                for try await (writer, reader) in group {
                    writes += writer
                    reads += reader
                }
                return (writes, reads)
            }
        }

        for report in writes { #expect(report.unexpected.isEmpty, "\(report.handle): \(report.unexpected)") }
        let successfulPosts = writes.reduce(into: [String: [Int]]()) { all, report in all.merge(report.seqs) { $0 + $1 } }
        #expect(successfulPosts.values.reduce(0) { $0 + $1.count } == writers.count * postsPerWriter)
        for report in reads {
            #expect(report.unexpected.isEmpty, "\(report.handle): \(report.unexpected)")
            #expect(report.longPolls > 0 && report.usedPaging, "\(report.handle) should have long-polled and paged")
        }

        // The database holds exactly 1...n per thread, n the successful posts, and every returned seq was unique.
        let stored = try await Self.storedSeqs(database)
        #expect(Set(stored.keys) == Set(successfulPosts.keys))
        for (thread, returned) in successfulPosts {
            let n = returned.count
            #expect(stored[thread]?.seqs == Array(1...n), "thread \(thread)")
            #expect(stored[thread]?.lastSeq == n, "thread \(thread)")
            #expect(returned.sorted() == Array(1...n), "returned seqs of thread \(thread) are unique and gapless")
            for report in reads {
                #expect(report.seen[thread] == Array(1...n), "\(report.handle) read thread \(thread) in order, without a gap")
                #expect(stored[thread]?.cursors[report.handle] == n, "\(report.handle) acked thread \(thread) to its end")
            }
        }
        try await fleet.expectHealthyAndClose()
    }

    /// A reader's view of several threads: it pages with `after_seq` and a small `limit`, long-polls when caught
    /// up, and acks what it read, until it has read `expected` messages of each thread (or, once every writer is
    /// done, until a thread has nothing more to give: a failed post must fail the test, not stall it).
    static func follow(
        _ threads: [String],
        expecting expected: [Int],
        as handle: String,
        with client: MCPClient,
        started: Countdown,
        until writersFinished: Countdown
    ) async throws -> ReaderReport {
        var report = ReaderReport(handle: handle)
        var after = [Int](repeating: 0, count: threads.count)
        // The last seq each read reported: a read from there on is a long-poll, answered by the next post or the wait's end.
        var lastSeq = [Int](repeating: 0, count: threads.count)
        var exhausted: Set<Int> = []
        var turn = 0
        for _ in 0..<600 {
            let open = threads.indices.filter { after[$0] < expected[$0] && !exhausted.contains($0) }
            guard !open.isEmpty else { break }
            let index = open[turn % open.count]
            turn += 1
            let thread = threads[index]
            let writersDone = writersFinished.isDone
            if after[index] == lastSeq[index] { report.longPolls += 1 }
            if turn == 1 { started.countDown() }
            let read = try await client.call("v1_message_read", ["thread_id": thread, "after_seq": after[index], "limit": 5, "wait_seconds": 2])
            let outcome = Outcome(read)
            guard outcome.code == nil else {
                report.unexpected.append("v1_message_read: \(outcome.text)")
                if writersDone { exhausted.insert(index) }
                continue
            }
            lastSeq[index] = read.structured["last_seq"] as? Int ?? lastSeq[index]
            let seqs = ((read.structured["messages"] as? [[String: Any]]) ?? []).compactMap { $0["seq"] as? Int }
            if seqs.isEmpty {
                if writersDone { exhausted.insert(index) }
                continue
            }
            if seqs != Array((after[index] + 1)...(after[index] + seqs.count)) {
                report.unexpected.append("after \(after[index]) of \(thread) read \(seqs)")
            }
            report.seen[thread, default: []] += seqs
            after[index] = seqs.last!
            if read.structured["next_after_seq"] as? Int != after[index] {
                report.unexpected.append("next_after_seq \(read.structured["next_after_seq"] ?? "nil") after reading up to \(after[index])")
            }
            let acked = try await client.call("v1_message_ack", ["thread_id": thread, "seq": after[index]])
            if Outcome(acked).code != nil || acked.structured["cursor_seq"] as? Int != after[index] {
                report.unexpected.append("v1_message_ack \(after[index]): \(acked.text)")
            }
        }
        if after != expected { report.unexpected.append("stopped after \(after), expected \(expected)") }
        // Whether a reader that kept up ever saw `has_more` depends on timing; paging itself must not. Read each
        // thread again from its start, one page of 5: it must say there is more and where the next page begins.
        for (index, thread) in threads.enumerated() where expected[index] > 5 {
            let page = try await client.call("v1_message_read", ["thread_id": thread, "after_seq": 0, "limit": 5])
            let seqs = ((page.structured["messages"] as? [[String: Any]]) ?? []).compactMap { $0["seq"] as? Int }
            if seqs == Array(1...5), page.structured["has_more"] as? Bool == true, page.structured["next_after_seq"] as? Int == 5 {
                report.usedPaging = true
            } else {
                report.unexpected.append("first page of \(thread): \(page.text)")
            }
        }
        return report
    }

    // MARK: - A burst of writes to one thread

    @Test func aConcurrentBurstOfPostsToOneThreadGetsUniqueGaplessSeqsAndReplaysDeduplicate() async throws {
        let database = try await TestDatabase.create()
        let fleet = try ServeFleet(database: database)
        defer { fleet.removeLogs() }
        // 8 participants x 25 posts stays far below the catalog's 600 posts per minute per participant.
        let writers = (0..<8).map { "b\($0)" }
        let postsEach = 25
        let replayed = [0: 3, 1: 20]  // writer index: which of its posts it sends a second time in the same burst
        let owner = try await fleet.start("owner")
        let writerClients = try await fleet.start(writers.map { ($0, "executioner") })
        let created = Outcome(try await owner.call("v1_thread_create", ["title": "hot", "participants": writers.map { ["handle": $0] }]))
        let thread = try #require(created.threadID, "\(created.text)")

        let outcomes = try await withDeadline(.seconds(90), fleet) {
            try await withThrowingTaskGroup(of: [(key: String, outcome: Outcome)].self) { group in
                for (index, handle) in writers.enumerated() {
                    group.addTask {
                        // Every post of a writer is written before any answer is read: all of them are in flight at once.
                        var keys = (0..<postsEach).map { "\(handle)-\($0)" }
                        if let post = replayed[index] { keys.insert(keys[post], at: index == 0 ? post + 1 : postsEach) }
                        let results = try await writerClients[handle]!.pipelined(
                            keys.map { key in
                                ("v1_message_post", ["thread_id": thread, "body": "burst \(key)", "idempotency_key": key])
                            }
                        )
                        return zip(keys, results.map(Outcome.init)).map { ($0, $1) }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }

        for (key, outcome) in outcomes { #expect(outcome.code == nil, "\(key): \(outcome.text)") }
        let total = writers.count * postsEach
        #expect(outcomes.count == total + replayed.count)
        let byKey = Dictionary(grouping: outcomes, by: \.key)
        for (key, sent) in byKey where sent.count > 1 {
            // One of the two calls wrote the message; the other replayed it: same message, same seq.
            #expect(sent.map(\.outcome.deduplicated).sorted { !$0 && $1 } == [false, true], "\(key): \(sent.map(\.outcome.text))")
            #expect(Set(sent.compactMap(\.outcome.seq)).count == 1 && Set(sent.compactMap(\.outcome.messageID)).count == 1, "\(key)")
        }
        let originals = outcomes.filter { !$0.outcome.deduplicated }
        #expect(originals.count == total)
        #expect(originals.compactMap(\.outcome.seq).sorted() == Array(1...total), "every post got its own seq, none skipped")

        let stored = try await Self.storedSeqs(database)
        #expect(stored[thread]?.seqs == Array(1...total), "the replays wrote nothing")
        #expect(stored[thread]?.lastSeq == total)
        try await fleet.expectHealthyAndClose()
    }

    // MARK: - A burst of malformed calls

    /// One malformed call and the error its contract demands.
    struct Malformed {
        let tool: String
        let arguments: [String: Any]
        let code: String
        let reason: String
    }

    /// Malformed arguments across several tools; `thread` is an existing thread with three messages.
    static func malformedCalls(thread: String) -> [Malformed] {
        let post = { (arguments: [String: Any], reason: String) in
            Malformed(tool: "v1_message_post", arguments: arguments.merging(["thread_id": thread]) { $1 }, code: "INVALID_ARGUMENT", reason: reason)
        }
        let invalid = { (tool: String, arguments: [String: Any], reason: String) in
            Malformed(tool: tool, arguments: arguments, code: "INVALID_ARGUMENT", reason: reason)
        }
        return [
            post(["body": 42], "INVALID_FIELD_TYPE"),
            post([:], "MISSING_REQUIRED_FIELD"),
            invalid("v1_message_post", ["body": "no thread"], "MISSING_REQUIRED_FIELD"),
            invalid("v1_message_post", ["thread_id": "not-a-uuid", "body": "x"], "INVALID_FIELD_VALUE"),
            invalid("v1_message_post", ["thread_id": 7, "body": "x"], "INVALID_FIELD_TYPE"),
            post(["body": "x", "kind": "gossip"], "INVALID_ENUM_VALUE"),
            // 32 769 two-byte characters: under the limit in characters, over it in UTF-8 bytes.
            post(["body": String(repeating: "é", count: 32_769)], "BODY_TOO_LARGE"),
            post(["body": "x", "payload": ["blob": String(repeating: "y", count: 70_000)]], "PAYLOAD_TOO_LARGE"),
            post(["body": "x", "payload": [1, 2]], "INVALID_FIELD_TYPE"),
            post(["body": "x", "to": "r0"], "INVALID_FIELD_TYPE"),
            post(["body": "x", "to": ["Not A Handle"]], "INVALID_FIELD_VALUE"),
            post(["body": "x", "to": ["m0", "m0"]], "INVALID_FIELD_VALUE"),
            post(["body": "x", "to": ["nobody"]], "UNKNOWN_RECIPIENT"),
            post(["body": "x", "reply_to_seq": -1], "INVALID_FIELD_VALUE"),
            post(["body": "x", "reply_to_seq": 1.5], "INVALID_FIELD_TYPE"),
            post(["body": "x", "reply_to_seq": Int.max], "REPLY_TO_UNKNOWN_SEQ"),
            post(["body": "x", "schema_version": "2.0"], "UNSUPPORTED_SCHEMA_VERSION"),
            post(["body": "x", "schema_version": "1"], "INVALID_FIELD_VALUE"),
            post(["body": "x", "schema_version": 1.0], "INVALID_FIELD_TYPE"),
            post(["body": "x", "idempotency_key": ""], "INVALID_FIELD_VALUE"),
            post(["body": "x", "idempotency_key": String(repeating: "k", count: 201)], "INVALID_FIELD_VALUE"),
            post(["body": "x", "idempotency_key": ["k"]], "INVALID_FIELD_TYPE"),
            // PostgreSQL cannot store U+0000 in text or jsonb; these were INTERNAL before the store mapped them.
            post(["body": "nul \u{0}"], "INVALID_FIELD_VALUE"),
            post(["body": "x", "payload": ["nul": "\u{0}"]], "INVALID_FIELD_VALUE"),
            invalid("v1_thread_create", ["title": ""], "INVALID_FIELD_VALUE"),
            invalid("v1_thread_create", ["title": "t", "participants": [["handle": 5]]], "INVALID_FIELD_TYPE"),
            invalid("v1_thread_create", ["title": "t", "participants": [["role": "reviewer"]]], "MISSING_REQUIRED_FIELD"),
            invalid("v1_thread_create", ["title": "t", "participants": [["handle": "m1", "role": "king"]]], "INVALID_ENUM_VALUE"),
            invalid("v1_thread_create", ["title": "t", "message": ["body": ["nested": [["garbage": true]]]]], "INVALID_FIELD_TYPE"),
            invalid("v1_thread_create", ["title": "t", "message": ["body": String(repeating: "z", count: 65_537)]], "BODY_TOO_LARGE"),
            invalid("v1_thread_create", ["title": "t", "autonomous": "yes"], "INVALID_FIELD_TYPE"),
            invalid("v1_message_read", ["thread_id": thread, "after_seq": -1], "INVALID_FIELD_VALUE"),
            invalid("v1_message_read", ["thread_id": thread, "after_seq": 1e300], "INVALID_FIELD_TYPE"),
            invalid("v1_message_read", ["thread_id": thread, "limit": 0], "INVALID_FIELD_VALUE"),
            invalid("v1_message_read", ["thread_id": thread, "limit": 100_000], "INVALID_FIELD_VALUE"),
            invalid("v1_message_read", ["thread_id": thread, "wait_seconds": 1e9], "INVALID_FIELD_VALUE"),
            invalid("v1_message_read", ["thread_id": thread, "wait_seconds": "5"], "INVALID_FIELD_TYPE"),
            invalid("v1_message_ack", ["thread_id": thread, "seq": "3"], "INVALID_FIELD_TYPE"),
            invalid("v1_message_ack", ["thread_id": thread, "seq": Int.max], "ACK_BEYOND_LAST_SEQ"),
            invalid("v1_thread_get", ["thread_id": ""], "INVALID_FIELD_VALUE"),
            invalid("v1_thread_get", ["thread_id": "00000000-0000-0000-0000-00000000000g"], "INVALID_FIELD_VALUE"),
            invalid("v1_thread_list", ["status": "open"], "INVALID_ENUM_VALUE"),
            invalid("v1_thread_list", ["page_token": "!!not base64!!"], "INVALID_FIELD_VALUE"),
            // A token for an instant PostgresNIO cannot encode: this one used to crash serve.
            invalid("v1_thread_list", ["page_token": Data("-9223372036854775808/\(thread)".utf8).base64EncodedString()], "INVALID_FIELD_VALUE"),
            invalid("v1_thread_set_status", ["thread_id": thread, "action": "reopen"], "INVALID_ENUM_VALUE"),
            invalid("v1_participant_heartbeat", ["presence": "asleep"], "INVALID_ENUM_VALUE"),
            invalid("v1_participant_heartbeat", ["human_input": "true"], "INVALID_FIELD_TYPE"),
            invalid("v1_participant_register", ["runtime": ["kind": "spaceship"]], "INVALID_ENUM_VALUE"),
            invalid("v1_participant_register", ["runtime": ["managed": true]], "MISSING_REQUIRED_FIELD"),
            invalid(
                "v1_approval_request",
                ["thread_id": thread, "action_class": "Bad Class", "resource": "r", "summary": "s"],
                "INVALID_FIELD_VALUE"
            ),
            invalid(
                "v1_approval_request",
                ["thread_id": thread, "action_class": "fs_write", "resource": "r", "summary": "s", "risk": "extreme"],
                "INVALID_ENUM_VALUE"
            ),
            invalid("v1_inbox", ["limit": -3], "INVALID_FIELD_VALUE"),
        ]
    }

    @Test func aBurstOfMalformedCallsIsRefusedDeterministicallyAndChangesNothing() async throws {
        let database = try await TestDatabase.create()
        let fleet = try ServeFleet(database: database)
        defer { fleet.removeLogs() }
        let senders = ["m0", "m1", "m2", "m3"]
        let clients = try await fleet.start(senders.map { ($0, "coordinator") })
        let owner = clients["m0"]!
        let created = Outcome(
            try await owner.call(
                "v1_thread_create",
                [
                    "title": "untouchable", "participants": senders.dropFirst().map { ["handle": $0] }, "message": ["body": "first"],
                ]
            )
        )
        let thread = try #require(created.threadID, "\(created.text)")
        for body in ["second", "third"] {
            #expect(Outcome(try await owner.call("v1_message_post", ["thread_id": thread, "body": body])).code == nil)
        }
        for client in clients.values { _ = try await client.call("v1_whoami") }
        let before = try await Self.snapshot(database)
        let count = Self.malformedCalls(thread: thread).count
        #expect(count >= 25)

        // Each malformed call goes out twice, from two different processes, all pipelined at once.
        let answers = try await withDeadline(.seconds(90), fleet) {
            try await withThrowingTaskGroup(of: [(index: Int, outcome: Outcome)].self) { group in
                for (position, handle) in senders.enumerated() {
                    group.addTask {
                        let mine = Self.malformedCalls(thread: thread).enumerated().filter {
                            $0.offset % senders.count == position || ($0.offset + 1) % senders.count == position
                        }
                        let results = try await clients[handle]!.pipelined(mine.map { ($0.element.tool, $0.element.arguments) })
                        return zip(mine.map(\.offset), results.map(Outcome.init)).map { ($0, $1) }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }

        let calls = Self.malformedCalls(thread: thread)
        let byCase = Dictionary(grouping: answers, by: \.index)
        #expect(byCase.count == calls.count)
        for (index, call) in calls.enumerated() {
            let label = "#\(index) \(call.tool) \(call.arguments.keys.sorted())"
            let twice = byCase[index]?.map(\.outcome) ?? []
            #expect(twice.count == 2, "\(label)")
            for outcome in twice {
                #expect(outcome.isError, "\(label): \(outcome.text)")
                #expect(outcome.code != "INTERNAL", "\(label): \(outcome.text)")
                #expect(
                    outcome.code == call.code && outcome.reason == call.reason,
                    "\(label): expected \(call.code)/\(call.reason), got \(outcome.text)"
                )
            }
            #expect(Set(twice.map { "\($0.code ?? "")/\($0.reason ?? "")/\($0.field ?? "")" }).count == 1, "\(label) is answered the same way twice")
        }

        #expect(try await Self.snapshot(database) == before, "no malformed call wrote anything")
        #expect(fleet.allRunning, "every serve process survived the burst")
        let after = Outcome(try await clients["m1"]!.call("v1_message_post", ["thread_id": thread, "body": "still serving"]))
        #expect(after.code == nil && after.seq == 4, "\(after.text)")
        // Unknown fields are not malformed: a newer 1.x client may send them (ARCHITECTURE.md, The wire contract).
        let newer = Outcome(try await clients["m2"]!.call("v1_thread_get", ["thread_id": thread, "schema_version": "1.9", "colour": "red"]))
        #expect(newer.code == nil, "\(newer.text)")
        try await fleet.expectHealthyAndClose()
    }

    // MARK: - Shared helpers

    /// Retries a call answered `ABORTED` (documented as retryable), a bounded number of times.
    static func retryingConflicts(_ call: () async throws -> Outcome) async throws -> Outcome {
        var outcome = try await call()
        for _ in 0..<3 where outcome.code == "ABORTED" { outcome = try await call() }
        return outcome
    }

    struct StoredThread {
        var seqs: [Int] = []
        var lastSeq = 0
        var cursors: [String: Int] = [:]
    }

    /// Every thread's message seqs, counter and members' cursors, read from the database itself.
    static func storedSeqs(_ database: TestDatabase) async throws -> [String: StoredThread] {
        let logger = Logger(label: "load-tests")
        return try await TestDatabase.run(database.store(logger: logger, maximumConnections: 1)) { client in
            var threads: [String: StoredThread] = [:]
            for try await (thread, lastSeq) in try await client.query("SELECT id::text, last_seq FROM threads", logger: logger)
                .decode((String, Int64).self)
            {
                threads[thread, default: .init()].lastSeq = Int(lastSeq)
            }
            for try await (thread, seq) in try await client.query("SELECT thread_id::text, seq FROM messages ORDER BY thread_id, seq", logger: logger)
                .decode((String, Int64).self)
            {
                threads[thread, default: .init()].seqs.append(Int(seq))
            }
            for try await (thread, handle, cursor) in try await client.query(
                "SELECT thread_id::text, handle, cursor_seq FROM thread_participants",
                logger: logger
            ).decode((String, String, Int64).self) {
                threads[thread, default: .init()].cursors[handle] = Int(cursor)
            }
            return threads.reduce(into: [:]) { $0[$1.key.uppercased()] = $1.value }
        }
    }

    /// Row counts of every table a call could write, and the messages' content, as one comparable string.
    static func snapshot(_ database: TestDatabase) async throws -> String {
        let logger = Logger(label: "load-tests")
        return try await TestDatabase.run(database.store(logger: logger, maximumConnections: 1)) { client in
            let rows = try await client.query(
                """
                SELECT concat_ws(' ',
                  (SELECT count(*) FROM threads), (SELECT string_agg(id::text || ':' || last_seq || ':' || status, ',' ORDER BY id) FROM threads),
                  (SELECT string_agg(thread_id::text || '/' || seq || '/' || md5(body), ',' ORDER BY thread_id, seq) FROM messages),
                  (SELECT string_agg(handle || '@' || cursor_seq, ',' ORDER BY thread_id, handle) FROM thread_participants),
                  (SELECT count(*) FROM participants), (SELECT count(*) FROM idempotency_keys), (SELECT count(*) FROM audit_events),
                  (SELECT count(*) FROM approval_tickets))
                """,
                logger: logger
            )
            for try await (text, ) in rows.decode((String,).self) { return text }
            return ""
        }
    }
}

/// What a test keeps of one tool result: enough to assert on, and `Sendable`, so it can leave the task that called.
struct Outcome: Sendable {
    let isError: Bool
    /// The error code, or nil on success.
    let code: String?
    let reason: String?
    let field: String?
    let text: String
    let seq: Int?
    let messageID: String?
    let threadID: String?
    let deduplicated: Bool

    init(_ result: (isError: Bool, structured: [String: Any], text: String)) {
        let error = result.structured["error"] as? [String: Any]
        let message = result.structured["message"] as? [String: Any]
        isError = result.isError
        code = result.isError ? (error?["code"] as? String ?? "?") : nil
        reason = error?["reason"] as? String
        field = (error?["details"] as? [String: Any])?["field"] as? String
        text = result.text.count > 600 ? String(result.text.prefix(600)) + "…" : result.text
        seq = message?["seq"] as? Int
        messageID = message?["id"] as? String
        threadID = ((result.structured["thread"] as? [String: Any])?["id"] as? String)?.uppercased()
        deduplicated = result.structured["deduplicated"] as? Bool ?? false
    }
}

struct WriterReport: Sendable {
    let handle: String
    /// The seqs the server returned for this writer's successful posts, by thread.
    var seqs: [String: [Int]] = [:]
    var unexpected: [String] = []

    mutating func note(_ outcome: Outcome, _ tool: String) {
        if outcome.code != nil { unexpected.append("\(tool): \(outcome.text)") }
    }
}

struct ReaderReport: Sendable {
    let handle: String
    /// Every seq read, by thread, in the order read.
    var seen: [String: [Int]] = [:]
    var unexpected: [String] = []
    /// Reads issued with nothing unread, so they waited (`wait_seconds`) for the next post.
    var longPolls = 0
    /// A page of 5 from a thread's start said `has_more` and where the next page begins.
    var usedPaging = false
}

/// Counts concurrent tasks down to done.
final class Countdown: Sendable {
    private let remaining: Mutex<Int>
    init(_ count: Int) { remaining = Mutex(count) }
    var isDone: Bool { remaining.withLock { $0 <= 0 } }
    func countDown() { remaining.withLock { $0 -= 1 } }
}

/// The `serve` processes of one test, each with its own participant and stderr log.
final class ServeFleet: Sendable {
    struct Member: Sendable {
        let handle: String
        let client: MCPClient
        let log: URL
    }

    let database: TestDatabase
    let logDirectory: URL
    private let members = Mutex<[Member]>([])

    init(database: TestDatabase) throws {
        self.database = database
        logDirectory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("agent-bridge-load-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
    }

    /// Starts `serve` for one participant and initializes the MCP session.
    func start(_ handle: String, role: String = "coordinator") async throws -> MCPClient {
        let log = logDirectory.appendingPathComponent("\(handle).log")
        let client = try MCPClient(databaseURL: database.url, participant: handle, role: role, stderrLog: log)
        members.withLock { $0.append(Member(handle: handle, client: client, log: log)) }
        _ = try await client.initialize()
        return client
    }

    /// Starts several at once.
    func start(_ participants: [(handle: String, role: String)]) async throws -> [String: MCPClient] {
        try await withThrowingTaskGroup(of: (String, MCPClient).self) { group in
            for (handle, role) in participants {
                group.addTask { (handle, try await self.start(handle, role: role)) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    var allRunning: Bool { members.withLock { $0.allSatisfy(\.client.process.isRunning) } }

    /// Kills every process, which also ends any read blocked on its stdout.
    func terminateAll() {
        for member in members.withLock({ $0 }) where member.client.process.isRunning { member.client.process.terminate() }
    }

    /// Log lines at error level or worse, prefixed with the participant.
    func errorLines() -> [String] {
        members.withLock { $0 }.flatMap { member -> [String] in
            let text = (try? String(contentsOf: member.log, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
                let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
                let level = object?["level"] as? String
                return object == nil || level == "error" || level == "critical" ? "\(member.handle): \(line)" : nil
            }
        }
    }

    /// Expects every process still running and its log free of errors, then ends each session cleanly.
    func expectHealthyAndClose() async throws {
        #expect(allRunning, "every serve process is still running")
        for member in members.withLock({ $0 }) {
            #expect(await member.client.closeAndWait() == 0, "\(member.handle) exits cleanly")
        }
        let errors = errorLines()
        #expect(errors.isEmpty, "\(errors.prefix(5))")
    }

    func removeLogs() {
        try? FileManager.default.removeItem(at: logDirectory)
    }
}

/// The deadline of a load test ran out: its processes were killed so that it fails instead of hanging.
struct DeadlinePassed: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "The load test did not finish within \(limit); its serve processes were terminated." }
}

/// Runs `body`; if it is still running after `limit`, terminates the fleet's processes (ending every blocked
/// pipe read) and throws ``DeadlinePassed``.
func withDeadline<T: Sendable>(_ limit: Duration, _ fleet: ServeFleet, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        if let value = try await group.next(), let value { return value }
        fleet.terminateAll()
        throw DeadlinePassed(limit: limit)
    }
}

extension MCPClient {
    /// Writes every call before reading any answer, so the server has them all in flight at once; returns the
    /// results in call order. Ids start far above the ones `request` uses.
    func pipelined(_ calls: [(tool: String, arguments: [String: Any])]) async throws -> [(isError: Bool, structured: [String: Any], text: String)] {
        let firstID = 1_000_000
        for (offset, call) in calls.enumerated() {
            try send(["jsonrpc": "2.0", "id": firstID + offset, "method": "tools/call", "params": ["name": call.tool, "arguments": call.arguments]])
        }
        var results: [Int: (isError: Bool, structured: [String: Any], text: String)] = [:]
        while results.count < calls.count {
            let message: [String: Any]
            do {
                message = try await readMessage()
            } catch MCPTestError.closed {
                let unanswered = calls.indices.filter { results[$0] == nil }.map { "\(calls[$0].tool) \(calls[$0].arguments.keys.sorted())" }
                throw MCPTestError.protocolError(
                    "serve closed its stdout (exited?) with \(unanswered.count) calls unanswered: \(unanswered.prefix(8))"
                )
            }
            guard let id = message["id"] as? Int, id >= firstID else { continue }
            guard let result = message["result"] as? [String: Any] else { throw MCPTestError.protocolError("\(message)") }
            let text = ((result["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            results[id - firstID] = (result["isError"] as? Bool ?? false, result["structuredContent"] as? [String: Any] ?? [:], text)
        }
        return (0..<calls.count).map { results[$0]! }
    }
}
