import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// An OK means committed: writers and long-poll readers on the real binary while the cluster is fast-restarted
/// twice and one `serve` is killed with SIGKILL. Every acknowledged post must be in the database exactly once, seqs
/// stay gapless and are never handed out twice, every waiting read answers by its wait plus 2 s, and the servers
/// recover on their own.
@Suite struct DurabilityTests {
    static let writers = (0..<8).map { "w\($0)" }
    static let readers = ["r0", "r1"]
    /// The long-poll wait of every read; each must answer within it plus ``answerGrace``.
    static let waitSeconds = 2.0
    static let answerGrace = 2.0

    @Test(.timeLimit(.minutes(3)))
    func acknowledgedPostsSurviveFastRestartsAndAKilledServe() async throws {
        // A private cluster: restarting the shared test server would break the suites beside this one.
        let stateDirectory = "\(NSTemporaryDirectory())agent-bridge-durability-\(UUID().uuidString.prefix(8).lowercased())"
        let cluster = EmbeddedCluster(configuration: .init(stateDirectory: stateDirectory), logger: Logger(label: "durability"))
        try await cluster.ensureRunning()
        let fleet = ChaosFleet(stateDirectory: stateDirectory)
        do {
            try await exercise(cluster: cluster, fleet: fleet)
        } catch {
            fleet.terminateAll()
            try? await cluster.stop()
            try? FileManager.default.removeItem(atPath: stateDirectory)
            throw error
        }
        fleet.terminateAll()
        try await cluster.stop()
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }

    private func exercise(cluster: EmbeddedCluster, fleet: ChaosFleet) async throws {
        // Four busy threads with two writers each; r0 follows one of them, r1 waits on a quiet thread, so its every
        // read waits the full time, through the restarts.
        var threads: [String: String] = [:]
        let layout: [(creator: String, members: [String])] = [("w0", ["w1", "r0"]), ("w2", ["w3"]), ("w4", ["w5"]), ("w6", ["w7", "r1"])]
        for (creator, members) in layout {
            let client = try await fleet.clientOrRestart(creator)
            let created = try await client.call("v1_thread_create", ["title": "durability", "participants": members.map { ["handle": $0] }])
            let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
            for handle in [creator] + members where handle != "r1" { threads[handle] = thread }
        }
        let quiet = try await fleet.clientOrRestart("w6").call("v1_thread_create", ["title": "quiet", "participants": [["handle": "r1"]]])
        threads["r1"] = try #require((quiet.structured["thread"] as? [String: Any])?["id"] as? String, "\(quiet.text)")
        for handle in Self.writers.filter({ fleet.client($0) == nil }) + Self.readers { _ = try await fleet.start(handle) }
        try await Self.slowDownCommits(cluster.endpoint)

        let load = DurabilityLoad()
        let threadOf = threads
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in Self.writers {
                group.addTask { try await Self.write(as: writer, thread: threadOf[writer]!, fleet: fleet, load: load) }
            }
            for reader in Self.readers {
                group.addTask { try await Self.read(as: reader, thread: threadOf[reader]!, fleet: fleet, load: load) }
            }
            // The chaos, while the load runs.
            try await Task.sleep(for: .milliseconds(1500))
            try await cluster.restartFast()
            try await Task.sleep(for: .milliseconds(1500))
            try #require(fleet.kill("w7"), "w7's serve was running")
            try await Task.sleep(for: .milliseconds(300))
            try await cluster.restartFast()
            try await Task.sleep(for: .milliseconds(2500))
            load.stop.withLock { $0 = true }
            try await group.waitForAll()
        }

        // The servers recover without a restart: every one that was not killed still runs and posts again.
        for handle in Self.writers where handle != "w7" {
            #expect(fleet.isOriginal(handle), "\(handle)'s first serve process is the one answering")
        }
        #expect(fleet.allRunning, "every serve process still runs")

        let result = load.tally.withLock { $0 }
        let stored = try await Self.storedMessages(cluster.endpoint)
        print(
            "durability: acked \(result.acked.count), stored \(stored.count), retried \(result.retried), unavailable \(result.unavailable), deduplicated replays \(result.deduplicated), waits \(result.waits) (\(result.fullWaits) full), slowest wait \(String(format: "%.2f", result.slowestWait)) s"
        )

        #expect(result.unexpected.isEmpty, "\(result.unexpected.prefix(5))")
        #expect(result.acked.count >= 40, "the writers got through the chaos (\(result.acked.count) acked)")
        #expect(result.unavailable > 0, "the restarts were felt: some call answered UNAVAILABLE")
        #expect(result.waits >= 4 && result.fullWaits >= 3, "the readers long-polled (\(result.waits) reads, \(result.fullWaits) waited it out)")
        #expect(result.lateWaits.isEmpty, "waits past \(Self.waitSeconds + Self.answerGrace) s: \(result.lateWaits.prefix(5))")

        // Every acknowledged post is stored exactly once, with the seq and id it was acknowledged with.
        let byBody = Dictionary(grouping: stored, by: \.body)
        for (key, ack) in result.acked {
            let rows = byBody[key] ?? []
            #expect(rows.count == 1, "\(key) acknowledged as seq \(ack.seq) is stored \(rows.count) times")
            if let row = rows.first {
                #expect(row.seq == ack.seq && row.id == ack.id, "\(key): acknowledged \(ack.seq)/\(ack.id), stored \(row.seq)/\(row.id)")
            }
        }
        #expect(byBody.count == stored.count, "no body is stored twice")
        #expect(Set(byBody.keys) == Set(result.acked.keys), "nothing is stored that no writer saw acknowledged")
        // Per thread, seqs are gapless and each was acknowledged to one post only.
        for (thread, rows) in Dictionary(grouping: stored, by: \.thread) {
            let seqs = rows.map(\.seq).sorted()
            #expect(seqs == Array(1...Int64(seqs.count)), "thread \(thread) seqs are gapless")
            let acked = result.acked.values.filter { $0.thread == thread }.map(\.seq)
            #expect(Set(acked).count == acked.count, "no seq of \(thread) was acknowledged twice")
        }
    }

    // MARK: - Load

    /// Posts with an idempotency key each until told to stop, retrying a key on every retryable error and on a
    /// killed server (a fresh one takes over), as a client that must not lose or double a post does.
    static func write(as handle: String, thread: String, fleet: ChaosFleet, load: DurabilityLoad) async throws {
        var number = 0
        while !load.stop.withLock({ $0 }) && number < 400 {
            let key = "\(handle)-\(number)"
            var attempt = 0
            while true {
                attempt += 1
                guard attempt <= 400 else {
                    load.tally.withLock { $0.unexpected.append("\(key): no answer after 400 attempts") }
                    return
                }
                let result: (isError: Bool, structured: [String: Any], text: String)
                do {
                    let client = try await fleet.clientOrRestart(handle)
                    result = try await client.call("v1_message_post", ["thread_id": thread, "body": key, "idempotency_key": key])
                } catch MCPTestError.closed {
                    // The process was killed mid-call: the answer is unknown; retry the same key on a new process.
                    load.tally.withLock { $0.retried += 1 }
                    continue
                }
                let outcome = Outcome(result)
                if !outcome.isError, let seq = outcome.seq, let id = outcome.messageID {
                    load.tally.withLock {
                        $0.acked[key] = AckedPost(thread: thread.lowercased(), seq: Int64(seq), id: id.lowercased())
                        if outcome.deduplicated { $0.deduplicated += 1 }
                    }
                    break
                }
                guard let code = outcome.code, ["UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"].contains(code) else {
                    load.tally.withLock { $0.unexpected.append("\(key): \(outcome.text)") }
                    return
                }
                load.tally.withLock {
                    $0.retried += 1
                    if code == "UNAVAILABLE" { $0.unavailable += 1 }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            number += 1
        }
    }

    /// Long-polls the thread from its cursor until told to stop, timing every read.
    static func read(as handle: String, thread: String, fleet: ChaosFleet, load: DurabilityLoad) async throws {
        var afterSeq = 0
        while !load.stop.withLock({ $0 }) {
            let client = try await fleet.clientOrRestart(handle)
            let started = ContinuousClock.now
            let result = try await client.call("v1_message_read", ["thread_id": thread, "after_seq": afterSeq, "wait_seconds": waitSeconds])
            let elapsed = started.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let outcome = Outcome(result)
            load.tally.withLock {
                $0.waits += 1
                $0.slowestWait = max($0.slowestWait, seconds)
                if seconds >= waitSeconds { $0.fullWaits += 1 }
                if seconds > waitSeconds + answerGrace {
                    $0.lateWaits.append("\(handle) after \(afterSeq): \(String(format: "%.2f", seconds)) s, \(outcome.code ?? "OK")")
                }
                if let code = outcome.code, code != "UNAVAILABLE" { $0.unexpected.append("read \(handle): \(outcome.text)") }
            }
            if !outcome.isError { afterSeq = result.structured["next_after_seq"] as? Int ?? afterSeq }
            if outcome.isError { try await Task.sleep(for: .milliseconds(100)) }
        }
    }

    // MARK: - The database

    /// Makes every commit of a message spend 20 ms in PostgreSQL's pre-commit phase, after the statement has
    /// completed and before the commit record: the window where a post's CommandComplete is already on its way
    /// and the commit can still fail. In production the same window is a wait for the NOTIFY queue's lock, which
    /// every post takes at commit; here it is wide enough that each fast restart lands in it.
    static func slowDownCommits(_ endpoint: DatabaseEndpoint) async throws {
        let logger = Logger(label: "durability")
        let store = PostgresStore(configuration: .init(endpoint: endpoint), logger: logger)
        try await TestDatabase.run(store) { client in
            try await client.query(
                """
                CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_sleep(0.02); RETURN NULL; END $$
                """,
                logger: logger
            )
            try await client.query(
                """
                CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON messages
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()
                """,
                logger: logger
            )
        }
    }

    // MARK: - What is stored

    struct StoredMessage: Sendable {
        let thread: String
        let seq: Int64
        let id: String
        let body: String
    }

    static func storedMessages(_ endpoint: DatabaseEndpoint) async throws -> [StoredMessage] {
        let logger = Logger(label: "durability")
        let store = PostgresStore(configuration: .init(endpoint: endpoint), logger: logger)
        return try await TestDatabase.run(store) { client in
            var stored: [StoredMessage] = []
            let rows = try await client.query("SELECT thread_id::text, seq, id::text, body FROM messages ORDER BY thread_id, seq", logger: logger)
            for try await (thread, seq, id, body) in rows.decode((String, Int64, String, String).self) {
                stored.append(StoredMessage(thread: thread, seq: seq, id: id, body: body))
            }
            return stored
        }
    }
}

struct AckedPost: Sendable {
    let thread: String
    let seq: Int64
    let id: String
}

/// The shared state of one load run: what it saw, and the signal to stop.
final class DurabilityLoad: Sendable {
    let tally = Mutex(DurabilityTally())
    let stop = Mutex(false)
}

/// What the load saw, for the assertions and the printed counts.
struct DurabilityTally: Sendable {
    /// Acknowledged posts by body (= idempotency key).
    var acked: [String: AckedPost] = [:]
    var retried = 0
    var unavailable = 0
    var deduplicated = 0
    var waits = 0
    /// Reads that waited their whole `wait_seconds` (nothing came).
    var fullWaits = 0
    var slowestWait = 0.0
    var lateWaits: [String] = []
    var unexpected: [String] = []
}

/// One `serve` per participant on the embedded cluster of a state folder; a killed one is replaced on next use.
final class ChaosFleet: Sendable {
    private struct Member {
        var client: MCPClient
        var generation: Int
    }

    let stateDirectory: String
    private let members = Mutex<[String: Member]>([:])
    private let everyClient = Mutex<[MCPClient]>([])

    init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }

    func start(_ handle: String) async throws -> MCPClient {
        let generation = (members.withLock { $0[handle]?.generation } ?? -1) + 1
        // A short database timeout, as in production: calls during the restarts answer UNAVAILABLE in seconds.
        let client = try MCPClient(
            databaseURL: nil,
            participant: handle,
            extraEnvironment: [
                "AGENT_BRIDGE_STATE_DIR": stateDirectory, "AGENT_BRIDGE_DB_TIMEOUT_MS": "3000",
            ]
        )
        everyClient.withLock { $0.append(client) }
        _ = try await client.initialize()
        members.withLock { $0[handle] = Member(client: client, generation: generation) }
        return client
    }

    func client(_ handle: String) -> MCPClient? {
        members.withLock { $0[handle]?.client }
    }

    /// The participant's running serve, or a new one when it was killed.
    func clientOrRestart(_ handle: String) async throws -> MCPClient {
        if let client = client(handle), client.process.isRunning { return client }
        return try await start(handle)
    }

    /// Sends SIGKILL to the participant's serve; returns whether one was running.
    func kill(_ handle: String) -> Bool {
        guard let client = client(handle), client.process.isRunning else { return false }
        return Foundation.kill(client.process.processIdentifier, SIGKILL) == 0
    }

    func isOriginal(_ handle: String) -> Bool {
        members.withLock { $0[handle]?.generation == 0 }
    }

    var allRunning: Bool {
        members.withLock { $0.values.allSatisfy(\.client.process.isRunning) }
    }

    func terminateAll() {
        for client in everyClient.withLock({ $0 }) where client.process.isRunning { client.process.terminate() }
    }
}
