import BridgeCore
import BridgeService
import BridgeStore
import Foundation
import PostgresNIO

extension BenchSession {
    /// Messages the bench posts to each inbox thread.
    static let inboxMessagesPerThread = 20

    /// What the inbox script saw of its serve child.
    struct InboxTranscript: Sendable {
        var calls = 0
        var roundTrips: [Duration] = []
        var messagesPerCall = 0
        var toolCalls: [WireClient.ToolCallLine] = []
    }

    /// The inbox step: a mailbox of `inboxThreads` threads with ``inboxMessagesPerThread`` messages each, posted
    /// through the service by two other members, all unread by ``Fixture/inbox``; then one `serve` child as that
    /// participant calls `v1_inbox` (no wait) `wireSamples` times, and the store's inbox statement is sent alone.
    func measureInbox() async throws -> BenchReport.InboxResult {
        let fixture = try fixture
        let threads = configuration.inboxThreads
        let authors = Array(fixture.writers.prefix(2))
        let unread = try await seedInbox(threads: threads, authors: authors)
        let stop = WireStopRequest()
        let transcript = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: self.runInboxScript(stop: stop)) }
            }
        } onCancel: {
            stop.request()
        }
        try Task.checkCancellation()
        let raw = try await measureInboxQuery(samples: configuration.wireSamples)
        let serverSide = transcript.toolCalls.filter { $0.tool == "v1_inbox" && $0.code == "OK" }
            .map { Duration.nanoseconds(Int64($0.durationMs * 1_000_000)) }
        return BenchReport.InboxResult(
            threads: threads,
            messages: threads * Self.inboxMessagesPerThread,
            unread: unread,
            messagesPerCall: transcript.messagesPerCall,
            roundTrip: LatencySummary(transcript.roundTrips),
            serverSide: LatencySummary(serverSide),
            postgresQuery: LatencySummary(raw),
            method: """
                \(threads) threads, each with \(Self.inboxMessagesPerThread) messages posted through the service by two \
                other members (a quarter directed to the reader, a quarter to the other author, the rest broadcasts), \
                none acknowledged. One `agent-bridge serve --log-level info` child as the reader makes \
                \(transcript.calls) non-waiting v1_inbox calls (default limit, 50), one at a time; timed at the client \
                and by its tool.call log lines. PostgreSQL: the store's inbox statement sent alone over PostgresNIO.
                """
        )
    }

    /// Creates the inbox threads and posts their messages, eight threads at a time; returns how many of them the
    /// reader's inbox holds (broadcasts and those directed to it).
    private func seedInbox(threads: Int, authors: [String]) async throws -> Int {
        let reader = Fixture.inbox
        try await writerStore.ensureParticipant(context: context(reader))
        let members = ([reader] + authors).map { ($0, Role.coordinator) }
        let unread = try await withThrowingTaskGroup(of: Int.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    var unread = 0
                    for index in stride(from: lane, to: threads, by: 8) {
                        try Task.checkCancellation()
                        let new = NewThread(title: "inbox \(index)", autonomous: false, participants: members, firstMessage: nil)
                        let thread = try await self.writerStore.createThread(new, context: self.context(authors[0]), idempotency: nil).0.thread.thread
                            .id
                        for seq in 1...Self.inboxMessagesPerThread {
                            let author = authors[seq % 2]
                            let to: [String] =
                                switch seq % 4 {
                                case 1: [reader]
                                case 2: [authors[1]]
                                default: []
                                }
                            if to.isEmpty || to == [reader] { unread += 1 }
                            let input = try Self.postInput(thread: thread, body: "inbox message \(seq) of thread \(index)", to: to)
                            do {
                                _ = try await self.service.post(
                                    input,
                                    schemaVersion: SchemaVersion.current,
                                    context: self.context(author),
                                    idempotency: nil
                                )
                                self.tally.record(step: "inbox_seed", kind: .post, error: nil)
                            } catch {
                                self.tally.record(step: "inbox_seed", kind: .post, error: error)
                            }
                        }
                    }
                    return unread
                }
            }
            return try await group.reduce(0, +)
        }
        return unread
    }

    /// Starts the reader's serve child and calls `v1_inbox` `wireSamples` times. Blocks; bounded by a time budget.
    private func runInboxScript(stop: WireStopRequest) -> InboxTranscript {
        let calls = configuration.wireSamples
        let budget = Duration.seconds(30) + .milliseconds(200) * calls
        let deadline = ContinuousClock.now + budget
        var transcript = InboxTranscript()
        let client: WireClient
        do {
            client = try WireClient(
                executable: configuration.executablePath,
                databaseURL: endpoint.url,
                workspace: Fixture.workspace,
                participant: Fixture.inbox,
                lifetime: budget + .seconds(15)
            )
        } catch {
            tally.add(step: "inbox", kind: .serve, calls: 0, failures: [(error as? WireClient.Failure)?.code ?? "SERVE_NOT_STARTED": 1])
            return transcript
        }
        do {
            guard try client.initialize(timeout: .seconds(10)) else {
                tally.add(step: "inbox", kind: .serve, calls: 0, failures: ["NO_INITIALIZE_REPLY": 1])
                transcript.toolCalls = client.stop()
                return transcript
            }
            for _ in 0..<calls {
                if stop.isRequested { break }
                if ContinuousClock.now >= deadline {
                    tally.add(step: "inbox", kind: .serve, calls: 0, failures: ["TIME_BUDGET_EXCEEDED": 1])
                    break
                }
                let reply = try client.callTool("v1_inbox", arguments: ["wait_seconds": 0], timeout: .seconds(10))
                tally.add(step: "inbox", kind: .read, calls: 1, failures: reply.errorCode.map { [$0: 1] } ?? [:])
                transcript.calls += 1
                guard reply.errorCode == nil else { continue }
                transcript.roundTrips.append(reply.roundTrip)
                transcript.messagesPerCall = (reply.structured["messages"] as? [Any])?.count ?? 0
            }
        } catch {
            tally.add(step: "inbox", kind: .read, calls: 1, failures: [(error as? WireClient.Failure)?.code ?? "NO_REPLY": 1])
        }
        transcript.toolCalls = client.stop()
        return transcript
    }

    /// The store's inbox statement (``InboxStatement``, prepared) for the reader, sent
    /// alone on the writers' client, `samples` times after one untimed call; each until its last row is in.
    private func measureInboxQuery(samples: Int) async throws -> [Duration] {
        let statement = InboxStatement(limit: 50, handle: Fixture.inbox, workspace: Fixture.workspace)
        var latencies: [Duration] = []
        for index in 0...samples {
            try Task.checkCancellation()
            let start = ContinuousClock.now
            do {
                let rows = try await writerStore.client.execute(statement, logger: logger)
                for try await _ in rows {}
                if index > 0 { latencies.append(start.duration(to: .now)) }
                tally.record(step: "inbox_query", kind: .rawRead, error: nil)
            } catch {
                tally.record(step: "inbox_query", kind: .rawRead, error: error)
            }
        }
        return latencies
    }
}
