import BridgeCore
import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// What a write answers when the database is slow to commit or to start: the caller is answered within the
/// operation timeout, told exactly what it can know, and an idempotent retry settles the rest.
@Suite struct CommitOutcomeTests {
    let logger = Logger(label: "commit-outcome")
    let owner = CallContext(identity: Identity(workspace: "local", handle: "owner", role: .coordinator), requestID: "req_commit_outcome")

    /// A store that gives up on an operation after half a second.
    func impatientStore(_ database: TestDatabase) -> PostgresStore {
        var configuration = PostgresStore.Configuration(endpoint: database.endpoint)
        configuration.operationTimeout = .milliseconds(500)
        return PostgresStore(configuration: configuration, logger: logger)
    }

    func note(_ thread: UUID, _ body: String) -> NewMessage {
        NewMessage(threadID: thread, kind: .note, to: [], replyToSeq: nil, body: body, payload: .emptyObject, schemaVersion: "1.0")
    }

    /// A new thread of the owner's, on a store whose pool runs.
    func makeThread(_ store: PostgresStore, title: String) async throws -> UUID {
        try await store.ensureParticipant(context: owner)
        let (created, _) = try await store.createThread(
            NewThread(title: title, autonomous: false, participants: [], firstMessage: nil),
            context: owner,
            idempotency: nil
        )
        return created.thread.thread.id
    }

    func storedBodies(_ client: PostgresClient, _ thread: UUID) async throws -> [String] {
        var bodies: [String] = []
        for try await (body, ) in try await client.query("SELECT body FROM messages WHERE thread_id = \(thread) ORDER BY seq", logger: logger)
            .decode((String,).self)
        { bodies.append(body) }
        return bodies
    }

    @Test func aCommitStillRunningAtTheTimeoutIsUnknownAndTheRetryWithItsKeyReturnsTheStoredPost() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = impatientStore(database)
        try await TestDatabase.run(store) { client in
            let thread = try await makeThread(store, title: "slow commit")
            // Work at commit time (a deferred trigger) takes 1.5 s: the COMMIT is sent and not yet confirmed at 0.5 s.
            try await client.query(
                """
                CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$
                """,
                logger: logger
            )
            try await client.query(
                """
                CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON messages DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION slow_commit()
                """,
                logger: logger
            )
            let scope = IdempotencyScope(tool: "v1_message_post", key: "k1", requestHash: "h1")

            let started = ContinuousClock.now
            await #expect {
                _ = try await store.postAsMember(note(thread, "slow"), context: owner, idempotency: scope)
            } throws: { error in
                let error = error as? BridgeError
                return error?.code == .unavailable && error?.reason == .commitOutcomeUnknown && error?.retryable == true
            }
            #expect(started.duration(to: .now) < .seconds(1.4), "the caller is answered at the timeout, not when the commit ends")

            // The commit did go through, after the caller stopped waiting.
            try await waitUntil("the abandoned commit is stored", timeout: .seconds(10)) { try await storedBodies(client, thread) == ["slow"] }
            try await client.query("DROP TRIGGER slow_commit ON messages", logger: logger)
            let (retried, deduplicated) = try await store.postAsMember(note(thread, "slow"), context: owner, idempotency: scope)
            #expect(deduplicated, "the retry with the same key replays the stored post")
            #expect(retried.seq == 1)
            #expect(try await storedBodies(client, thread) == ["slow"], "written exactly once")
        }
    }

    @Test func aWriteStillWaitingAtTheTimeoutIsUnavailableAndIsNeverCommittedBehindTheCallersBack() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = impatientStore(database)
        try await TestDatabase.run(store) { client in
            let thread = try await makeThread(store, title: "locked")
            _ = try await store.postAsMember(note(thread, "first"), context: owner)
            // Another session holds the owner's cursor row for 1.5 s; the ack's transaction waits for it past the timeout.
            let holder = Task {
                try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: logger)
                    try await connection.query(
                        "SELECT 1 FROM thread_participants WHERE thread_id = \(thread) AND handle = 'owner' FOR UPDATE",
                        logger: logger
                    )
                    try await Task.sleep(for: .milliseconds(1500))
                    try await connection.query("COMMIT", logger: logger)
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            await #expect {
                _ = try await store.acknowledge(threadID: thread, seq: 1, context: owner, idempotency: nil)
            } throws: { error in
                let error = error as? BridgeError
                return error?.code == .unavailable && error?.reason == .databaseUnavailable
            }
            try await holder.value
            // The abandoned transaction ran once the lock was free, and rolled back.
            try await Task.sleep(for: .milliseconds(500))
            let cursor = try await database.scalar(
                "SELECT cursor_seq::text FROM thread_participants WHERE thread_id = '\(thread)' AND handle = 'owner'"
            )
            #expect(cursor == "0", "nothing was written after the caller was told UNAVAILABLE")
        }
    }

    /// An agent's post is one autocommit statement: once it is sent it may commit, so a caller who stops waiting for
    /// it is told the outcome is unknown, never that nothing was written.
    @Test func aPostStillWaitingForTheThreadAtTheTimeoutIsUnknownAndItsRetryReplaysIt() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = impatientStore(database)
        try await TestDatabase.run(store) { client in
            let thread = try await makeThread(store, title: "locked")
            // Another session holds the thread row for 1.5 s; the post's statement waits for it past the timeout.
            let holder = Task {
                try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: logger)
                    try await connection.query("SELECT 1 FROM threads WHERE id = \(thread) FOR UPDATE", logger: logger)
                    try await Task.sleep(for: .milliseconds(1500))
                    try await connection.query("COMMIT", logger: logger)
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            let scope = IdempotencyScope(tool: "v1_message_post", key: "late-1", requestHash: "h-late")
            await #expect {
                _ = try await store.postAsMember(note(thread, "late"), context: owner, idempotency: scope)
            } throws: { error in
                let error = error as? BridgeError
                return error?.code == .unavailable && error?.reason == .commitOutcomeUnknown && error?.retryable == true
            }
            try await holder.value
            try await waitUntil("the post sent before the timeout is stored", timeout: .seconds(10)) {
                try await storedBodies(client, thread) == ["late"]
            }
            let (retried, deduplicated) = try await store.postAsMember(note(thread, "late"), context: owner, idempotency: scope)
            #expect(deduplicated && retried.seq == 1, "the retry with the same key replays the stored post")
            #expect(try await storedBodies(client, thread) == ["late"], "written exactly once")
        }
    }

    /// The commit of an autocommit post happens after PostgresNIO has handed back the statement's row; a commit that
    /// fails there must not be answered as a stored post.
    @Test func aPostWhoseCommitFailsAfterItsStatementCompletedIsNotAnsweredAsStored() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = PostgresStore(configuration: .init(endpoint: database.endpoint), logger: logger)
        try await TestDatabase.run(store) { client in
            let thread = try await makeThread(store, title: "failing commit")
            try await client.query(
                """
                CREATE FUNCTION failing_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.body = 'doomed' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$
                """,
                logger: logger
            )
            try await client.query(
                """
                CREATE CONSTRAINT TRIGGER failing_commit AFTER INSERT ON messages DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION failing_commit()
                """,
                logger: logger
            )
            await #expect {
                _ = try await store.postAsMember(note(thread, "doomed"), context: owner)
            } throws: { error in
                // The statement's row came back; the commit's failure closed its connection before it was confirmed.
                let error = error as? BridgeError
                return error?.code == .unavailable && error?.reason == .commitOutcomeUnknown && error?.retryable == true
            }
            #expect(try await storedBodies(client, thread).isEmpty)
            let (next, _) = try await store.postAsMember(note(thread, "fine"), context: owner)
            #expect(next.seq == 1, "the failed commit's seq was never stored")
        }
    }
}
