import BridgeCore
import BridgeService
import BridgeStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// One bench run on its scratch database: the writers' and the reader's stores and services, the
/// participants and threads every step uses, and the error tally. Each measurement is an extension.
final class BenchSession: Sendable {
    /// The participants and threads of the latency and throughput steps.
    struct Fixture: Sendable {
        static let workspace = "bench"
        static let writer = "bench-writer"
        static let reader = "bench-reader"
        /// The wire step's `serve` participant; it creates its own thread.
        static let wire = "bench-wire"
        /// The inbox step's reader, a member of every inbox thread; its `serve` child calls `v1_inbox`.
        static let inbox = "bench-inbox"
        /// The memory step's `serve` participant; it creates its own thread.
        static let memory = "bench-memory"

        var latencyThread: UUID
        /// `bench-w01`…: one distinct participant per concurrent writer.
        var writers: [String]
        var hotThread: UUID
        var spreadThreads: [UUID]
    }

    let configuration: Benchmark.Configuration
    let endpoint: DatabaseEndpoint
    let logger: Logger
    /// The writers' pool, big enough for the largest writer count; the raw baseline uses its client too.
    let writerStore: PostgresStore
    /// The long-poll reader's own pool and LISTEN connection.
    let readerStore: PostgresStore
    let service: BridgeAPI
    let readerService: BridgeAPI
    let tally = ErrorTally()
    private let step = Atomic<Int>(0)
    private let fixtureBox = Mutex<Fixture?>(nil)

    init(configuration: Benchmark.Configuration, endpoint: DatabaseEndpoint, logger: Logger) {
        self.configuration = configuration
        self.endpoint = endpoint
        self.logger = logger
        var writerConfiguration = PostgresStore.Configuration(endpoint: endpoint)
        writerConfiguration.maximumConnections = (configuration.writerCounts.max() ?? 1) + 4
        writerConfiguration.operationTimeout = .seconds(30)
        writerStore = PostgresStore(configuration: writerConfiguration, logger: logger)
        var readerConfiguration = PostgresStore.Configuration(endpoint: endpoint)
        readerConfiguration.maximumConnections = 4
        readerConfiguration.operationTimeout = .seconds(30)
        readerStore = PostgresStore(configuration: readerConfiguration, logger: logger)
        var serviceConfiguration = BridgeAPI.Configuration(serverVersion: "bench", catalog: configuration.catalog)
        serviceConfiguration.serverName = "agent-bridge-bench"
        service = BridgeAPI(configuration: serviceConfiguration, store: writerStore, logger: logger)
        readerService = BridgeAPI(configuration: serviceConfiguration, store: readerStore, logger: logger)
    }

    /// The steps a run reports progress for.
    var totalSteps: Int { (configuration.writerCounts.count + configuration.mcpProcessCounts.count) * 2 + 9 }

    /// Reports that the next step starts.
    func begin(_ label: String) {
        let number = step.add(1, ordering: .relaxed).newValue
        configuration.progress(.init(step: number, total: totalSteps, label: label))
    }

    var fixture: Fixture {
        get throws {
            guard let fixture = fixtureBox.withLock({ $0 }) else { throw BridgeError(.internal, .internalError, "The bench fixture was not set up.") }
            return fixture
        }
    }

    /// Runs `body` while both stores' pools and the reader's LISTEN fan-out run.
    func withRunningStores<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await self.writerStore.client.run()
                return nil
            }
            group.addTask {
                await self.readerStore.client.run()
                return nil
            }
            group.addTask {
                try await self.readerStore.notifications.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// A participant's call context in `workspace`, with a fresh request id.
    func context(_ handle: String, workspace: String = Fixture.workspace) -> CallContext {
        CallContext(
            identity: Identity(workspace: workspace, handle: handle, role: .coordinator),
            requestID: "req_bench_\(UUID().wireString.prefix(8).lowercased())"
        )
    }

    /// Creates the participants and threads of the latency and throughput steps.
    func setUp() async throws {
        let store = writerStore
        let writers = (1...(configuration.writerCounts.max() ?? 1)).map { String(format: "bench-w%02d", $0) }
        for handle in [Fixture.writer, Fixture.reader] + writers {
            try await store.ensureParticipant(context: context(handle))
        }
        func thread(_ title: String, by creator: String, members: [String]) async throws -> UUID {
            let new = NewThread(title: title, autonomous: false, participants: members.map { ($0, Role.coordinator) }, firstMessage: nil)
            return try await store.createThread(new, context: context(creator), idempotency: nil).0.thread.thread.id
        }
        let latency = try await thread("post-to-visible", by: Fixture.writer, members: [Fixture.reader])
        let hot = try await thread("hot", by: writers[0], members: writers)
        var spread: [UUID] = []
        for index in 0..<configuration.spreadThreads {
            spread.append(try await thread("spread \(index)", by: writers[0], members: writers))
        }
        let fixture = Fixture(latencyThread: latency, writers: writers, hotThread: hot, spreadThreads: spread)
        fixtureBox.withLock { $0 = fixture }
    }

    /// The server's version and the settings that bound commit rates, for the machine line.
    func serverFacts() async throws -> (version: String, settings: String) {
        let rows = try await writerStore.client.query(
            """
            SELECT current_setting('server_version'),
                   'fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit')
                   || ', shared_buffers=' || current_setting('shared_buffers')
            """,
            logger: logger
        )
        for try await facts in rows.decode((String, String).self) { return facts }
        return ("unknown", "unknown")
    }

    // MARK: - Inputs, decoded as the MCP layer decodes tool arguments

    static func postInput(thread: UUID, body: String, to: [String] = []) throws -> MessagePostInput {
        try decode(["thread_id": thread.wireString, "body": body, "to": to])
    }

    static func readInput(thread: UUID, afterSeq: Int64, limit: Int, waitSeconds: Double) throws -> MessageReadInput {
        try decode(["thread_id": thread.wireString, "after_seq": afterSeq, "limit": limit, "wait_seconds": waitSeconds])
    }

    private static func decode<T: Decodable>(_ object: [String: Any]) throws -> T {
        try JSONDecoder().decode(T.self, from: try JSONSerialization.data(withJSONObject: object))
    }
}
