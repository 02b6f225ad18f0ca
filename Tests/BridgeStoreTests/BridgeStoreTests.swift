import BridgeCore
import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

@Suite struct PostgresStoreTests {
    let logger = Logger(label: "store-tests")

    func context(_ handle: String, role: Role = .coordinator) -> CallContext {
        CallContext(identity: Identity(workspace: "local", handle: handle, role: role), requestID: "req_test_\(UUID().uuidString.prefix(8))")
    }

    @Test func migratingTwiceIsANoOp() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = database.store(logger: logger)
        let (applied, version) = try await TestDatabase.run(store) { _ in (try await store.migrate(), try await store.schemaVersion()) }
        #expect(applied.isEmpty)
        #expect(version == Migrator.latestVersion)
    }

    @Test func concurrentWritersGetGaplessSeqsOnOneAndManyThreads() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = database.store(logger: logger, maximumConnections: 16)
        let writers = 32
        let postsPerWriter = 25
        let counts = try await TestDatabase.run(store) { client -> [UUID: Int64] in
            let owner = context("owner")
            try await store.ensureParticipant(context: owner)
            var threads: [UUID] = []
            for index in 0..<4 {
                let (created, _) = try await store.createThread(
                    NewThread(title: "t\(index)", autonomous: false, participants: [], firstMessage: nil),
                    context: owner,
                    idempotency: nil
                )
                threads.append(created.thread.thread.id)
            }
            let hot = threads[0]
            let allThreads = threads
            let failures = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var failures = 0
                        for post in 0..<postsPerWriter {
                            // Half the posts hammer one hot thread; the rest spread over all four.
                            let thread = post % 2 == 0 ? hot : allThreads[(writer + post) % allThreads.count]
                            do {
                                _ = try await store.postAsMember(
                                    NewMessage(
                                        threadID: thread,
                                        kind: .note,
                                        to: [],
                                        replyToSeq: nil,
                                        body: "w\(writer) p\(post)",
                                        payload: .emptyObject,
                                        schemaVersion: "1.0"
                                    ),
                                    context: owner
                                )
                            } catch {
                                failures += 1
                                Issue.record("post failed: \(error)")
                            }
                        }
                        return failures
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(failures == 0)
            var counts: [UUID: Int64] = [:]
            for thread in threads {
                let rows = try await client.query(
                    """
                    SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0), count(DISTINCT seq),
                           (SELECT last_seq FROM threads WHERE id = \(thread))
                      FROM messages WHERE thread_id = \(thread)
                    """,
                    logger: logger
                )
                for try await (count, minSeq, maxSeq, distinct, lastSeq) in rows.decode((Int64, Int64, Int64, Int64, Int64).self) {
                    #expect(count == distinct, "duplicate seqs")
                    #expect(count == 0 || minSeq == 1, "seqs start at 1")
                    #expect(maxSeq == count, "no gaps: max seq equals the count")
                    #expect(lastSeq == count, "the counter row matches")
                    counts[thread] = count
                }
            }
            return counts
        }
        #expect(counts.values.reduce(0, +) == Int64(writers * postsPerWriter))
    }

    @Test func idempotentPostReplaysAndRefusesADifferentPayload() async throws {
        let database = try await TestDatabase.create(logger: logger)
        let store = database.store(logger: logger)
        try await TestDatabase.run(store) { client in
            let owner = context("owner")
            try await store.ensureParticipant(context: owner)
            let (created, _) = try await store.createThread(
                NewThread(title: "idem", autonomous: false, participants: [], firstMessage: nil),
                context: owner,
                idempotency: nil
            )
            let thread = created.thread.thread.id
            let message = NewMessage(
                threadID: thread,
                kind: .note,
                to: [],
                replyToSeq: nil,
                body: "once",
                payload: .emptyObject,
                schemaVersion: "1.0"
            )
            let scope = IdempotencyScope(tool: "v1_message_post", key: "k", requestHash: "h1")
            let (first, firstDup) = try await store.postAsMember(message, context: owner, idempotency: scope)
            let (second, secondDup) = try await store.postAsMember(message, context: owner, idempotency: scope)
            #expect(!firstDup && secondDup)
            #expect(first.id == second.id && first.seq == second.seq)
            do {
                _ = try await store.postAsMember(
                    message,
                    context: owner,
                    idempotency: IdempotencyScope(tool: "v1_message_post", key: "k", requestHash: "h2")
                )
                Issue.record("a reused key with another payload must be refused")
            } catch {
                #expect((error as? BridgeError)?.reason == .idempotencyKeyReused)
            }
            let rows = try await client.query("SELECT count(*) FROM messages WHERE thread_id = \(thread)", logger: logger)
            for try await count in rows.decode(Int64.self) { #expect(count == 1) }
            let audits = try await client.query(
                "SELECT count(*) FROM audit_events WHERE action = 'message.post' AND target = \("thread:" + thread.uuidString.lowercased())",
                logger: logger
            )
            for try await count in audits.decode(Int64.self) { #expect(count == 1) }
        }
    }

    @Test func databaseURLParsesTheUnixSocketFormLibpqWrites() throws {
        let endpoint = try DatabaseEndpoint(url: "postgres://bridge@localhost/agent?host=/var/run/pg")
        #expect(endpoint.address == .unixSocket(path: "/var/run/pg/.s.PGSQL.5432"))
        #expect(endpoint.database == "agent" && endpoint.username == "bridge")
        let tcp = try DatabaseEndpoint(url: "postgresql://u:p%40ss@db.example:6543/app?sslmode=disable")
        #expect(tcp.address == .tcp(host: "db.example", port: 6543))
        #expect(tcp.password == "p@ss" && tcp.tls == .disable)
        #expect(throws: BridgeError.self) { try DatabaseEndpoint(url: "mysql://x") }
    }
}
