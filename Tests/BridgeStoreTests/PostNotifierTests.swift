import BridgeCore
import BridgeTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import BridgeStore

/// The post NOTIFY in each of its modes: every committed post's thread is notified to a LISTEN connection in
/// another process's place (a second store), including posts that commit at the same time, and a post whose
/// transaction rolls back notifies nothing.
@Suite struct PostNotifierTests {
    let logger = Logger(label: "notifier-tests")

    @Test(arguments: PostNotifier.Mode.allCases)
    func everyCommittedPostIsNotifiedAndARolledBackOneIsNot(mode: PostNotifier.Mode) async throws {
        let database = try await TestDatabase.create(logger: logger)
        var configuration = PostgresStore.Configuration(endpoint: database.endpoint)
        configuration.postNotify = mode
        configuration.maximumConnections = 8
        configuration.operationTimeout = .seconds(60)
        let writer = PostgresStore(configuration: configuration, logger: logger)
        let listening = database.store(logger: logger)
        let heard = Mutex<[String: Int]>([:])
        let connected = Mutex(false)
        let subscription = listening.listener.subscribe { event in
            switch event {
            case .connected: connected.withLock { $0 = true }
            case .notified(let payload): heard.withLock { $0[payload, default: 0] += 1 }
            case .disconnected: break
            }
        }
        defer { listening.listener.unsubscribe(subscription) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await writer.client.run() }
            group.addTask { try await listening.listener.run() }
            defer { group.cancelAll() }
            try await waitUntil("the listener is connected") { connected.withLock { $0 } }

            let owner = CallContext(identity: Identity(workspace: "local", handle: "owner", role: .coordinator), requestID: "req_test_notify")
            try await writer.ensureParticipant(context: owner)
            var threads: [UUID] = []
            for index in 0..<8 {
                let (created, _) = try await writer.createThread(
                    NewThread(title: "t\(index)", autonomous: false, participants: [], firstMessage: nil),
                    context: owner,
                    idempotency: nil
                )
                threads.append(created.thread.thread.id)
            }
            let allThreads = threads
            // 16 writers at once, two per thread: in `batched` mode their notifications share transactions.
            try await withThrowingTaskGroup(of: Void.self) { posts in
                for writerIndex in 0..<16 {
                    posts.addTask {
                        let message = NewMessage(
                            threadID: allThreads[writerIndex % allThreads.count],
                            kind: .note,
                            to: [],
                            replyToSeq: nil,
                            body: "post \(writerIndex)",
                            payload: .emptyObject,
                            schemaVersion: "1.0"
                        )
                        try await writer.postAsMember(message, context: owner)
                    }
                }
                try await posts.waitForAll()
            }
            try await waitUntil("every thread posted to is notified") {
                heard.withLock { heard in allThreads.allSatisfy { heard[$0.wireString, default: 0] >= 1 } }
            }

            // A post the guards refuse rolls back: its thread hears nothing.
            let (closed, _) = try await writer.createThread(
                NewThread(title: "refused", autonomous: false, participants: [], firstMessage: nil),
                context: owner,
                idempotency: nil
            )
            let refusedThread = closed.thread.thread.id
            let stranger = CallContext(identity: Identity(workspace: "local", handle: "stranger", role: .coordinator), requestID: "req_test_refused")
            try await writer.ensureParticipant(context: stranger)
            await #expect(throws: BridgeError.self) {
                try await writer.postAsMember(
                    NewMessage(
                        threadID: refusedThread,
                        kind: .note,
                        to: [],
                        replyToSeq: nil,
                        body: "not a member",
                        payload: .emptyObject,
                        schemaVersion: "1.0"
                    ),
                    context: stranger
                )
            }
            // A later post to another thread is heard, so the refused one would have been by now.
            let marker = allThreads[0]
            let before = heard.withLock { $0[marker.wireString, default: 0] }
            try await writer.postAsMember(
                NewMessage(threadID: marker, kind: .note, to: [], replyToSeq: nil, body: "marker", payload: .emptyObject, schemaVersion: "1.0"),
                context: owner
            )
            try await waitUntil("the marker post is notified") { heard.withLock { $0[marker.wireString, default: 0] > before } }
            #expect(heard.withLock { $0[refusedThread.wireString] } == nil, "a rolled-back post was notified")
        }
    }
}
