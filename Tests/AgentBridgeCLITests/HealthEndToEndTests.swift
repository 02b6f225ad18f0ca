import BridgeStore
import BridgeSupervisor
import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// Observability with real processes: `serve` persists its call counts, `supervise` answers `/health`, `/ready` and
/// `/metrics` on loopback, `/ready` follows the database down and back, and `agent-bridge status` says so too.
@Suite struct HealthEndToEndTests {
    /// Every metric name runbooks and drills rely on.
    static let metricNames = [
        "agent_bridge_messages_posted_total", "agent_bridge_read_latency_seconds", "agent_bridge_delivery_failures_total",
        "agent_bridge_threads", "agent_bridge_escalations_total", "agent_bridge_loop_guard_trips_total", "agent_bridge_wake_attempts_total",
        "agent_bridge_approval_tickets", "agent_bridge_api_requests_total", "agent_bridge_api_request_duration_seconds_total",
        "agent_bridge_unread_messages", "agent_bridge_oldest_unread_seconds", "agent_bridge_wake_start_latency_seconds",
        "agent_bridge_listener_connected", "agent_bridge_supervisor_leader", "agent_bridge_database_up", "agent_bridge_schema_current",
        "agent_bridge_supervisor_ticks_total",
    ]

    @Test func serveCountsEveryCallByToolAndCodeAndPersistsThemWhenItStops() async throws {
        let logger = Logger(label: "health-e2e")
        let database = try await TestDatabase.create(logger: logger)
        let agent = try MCPClient(databaseURL: database.url, participant: "counted")
        _ = try await agent.initialize()
        for _ in 0..<2 { #expect(try await agent.call("v1_whoami").isError == false) }
        let missing = try await agent.call("v1_thread_get", ["thread_id": UUID().uuidString.lowercased()])
        #expect(missing.isError)
        #expect((missing.structured["error"] as? [String: Any])?["code"] as? String == "NOT_FOUND")
        // The last flush happens on the way out: no waiting for the 2 s timer.
        #expect(await agent.closeAndWait() == 0)

        let store = database.store(logger: logger)
        let text = try await TestDatabase.run(store) { _ in
            let metrics = try await store.workspaceMetrics(workspace: "local", attemptsSince: .distantPast)
            #expect(metrics.apiRequests.first { $0.tool == "v1_whoami" && $0.code == "OK" }?.count == 2)
            #expect(metrics.apiRequests.first { $0.tool == "v1_thread_get" && $0.code == "NOT_FOUND" }?.count == 1)
            #expect(metrics.apiRequests.allSatisfy { $0.durationSeconds > 0 })
            return await MetricsExporter(store: store, configuration: .init(workspace: "local")).prometheusText()
        }
        #expect(text.contains(#"agent_bridge_api_requests_total{tool="v1_whoami",code="OK"} 2"#), "\(text)")
        #expect(text.contains(#"agent_bridge_api_requests_total{tool="v1_thread_get",code="NOT_FOUND"} 1"#))
        #expect(text.contains(#"agent_bridge_api_request_duration_seconds_total{tool="v1_whoami",code="OK"} "#))
    }

    @Test func superviseAnswersHealthReadyAndMetricsAndReadyFollowsTheDatabaseDownAndBack() async throws {
        let logger = Logger(label: "health-e2e")
        let database = try await TestDatabase.create(logger: logger)
        let name = database.endpoint.database
        let directory = "\(NSTemporaryDirectory())agent-bridge-health-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let environment = ["DATABASE_URL": database.url, "AGENT_BRIDGE_LOG_LEVEL": "info", "AGENT_BRIDGE_DB_TIMEOUT_MS": "30000"]

        // Something to count: a thread with a directed message its member has not read.
        let agent = try MCPClient(databaseURL: database.url, participant: "lead")
        _ = try await agent.initialize()
        let created = try await agent.call("v1_thread_create", ["title": "health", "participants": [["handle": "reader"]]])
        let threadID = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        #expect(
            try await agent.call("v1_message_post", ["thread_id": threadID, "body": "please look", "to": ["reader"], "kind": "request"]).isError
                == false
        )
        #expect(await agent.closeAndWait() == 0)

        let supervisor = try SuperviseEndToEndTests.SupervisorProcess(id: "sup-health", environment: environment, directory: directory)
        defer { if supervisor.process.isRunning { kill(supervisor.process.processIdentifier, SIGKILL) } }
        try await waitUntil("the supervisor serves HTTP") { supervisor.httpPort != nil }
        let port = try #require(supervisor.httpPort)

        #expect(try await HTTPGet.fetch(port: port, path: "/health").status == 200)
        try await waitUntil("/ready is 200") { try await HTTPGet.fetch(port: port, path: "/ready").status == 200 }
        let metrics = try await HTTPGet.fetch(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.headers.lowercased().contains("content-type: text/plain; version=0.0.4"))
        for name in Self.metricNames {
            #expect(metrics.body.contains("\n\(name){") || metrics.body.contains("\n\(name) "), "\(name) missing from /metrics")
        }
        #expect(metrics.body.contains(#"agent_bridge_messages_posted_total{kind="request"} 1"#))
        #expect(metrics.body.contains("agent_bridge_unread_messages 1.0"))
        #expect(metrics.body.contains(#"agent_bridge_threads{status="active"} 1.0"#))
        #expect(metrics.body.contains("agent_bridge_database_up 1.0"))
        #expect(metrics.body.contains("agent_bridge_supervisor_leader 1.0"))
        #expect(metrics.body.contains("agent_bridge_listener_connected 1.0"))

        let healthy = try await CommandRun.agentBridge(["status"], environment: ["DATABASE_URL": database.url])
        #expect(healthy.status == 0, "\(healthy.stdout)\(healthy.stderr)")
        #expect(healthy.stdout.contains("leading"))
        let json = try await CommandRun.agentBridge(["status", "--json"], environment: ["DATABASE_URL": database.url])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        #expect(report["healthy"] as? Bool == true)
        #expect((report["metrics"] as? [String: Any])?["unread_messages"] as? Int == 1)

        // The database refuses this database's connections and drops the open ones; the shared server runs on.
        let admin = database.endpoint.with(database: "postgres")
        _ = try await TestDatabase.run(Self.store(admin, logger: logger)) { client in
            try await client.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) ALLOW_CONNECTIONS false"), logger: logger)
            try await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name)", logger: logger)
        }
        do {
            try await waitUntil("/ready is 503 naming the database", timeout: .seconds(60)) {
                let ready = try await HTTPGet.fetch(port: port, path: "/ready")
                return ready.status == 503 && ready.body.contains("\"database\"")
            }
            #expect(try await HTTPGet.fetch(port: port, path: "/health").status == 200)
            let down = try await HTTPGet.fetch(port: port, path: "/metrics")
            #expect(down.status == 200)
            #expect(down.body.contains("agent_bridge_database_up 0.0"))
            let unhealthy = try await CommandRun.agentBridge(["status", "--timeout", "2"], environment: ["DATABASE_URL": database.url])
            #expect(unhealthy.status == 3, "\(unhealthy.stdout)\(unhealthy.stderr)")
            #expect(unhealthy.stdout.contains("UNREACHABLE"))
        } catch {
            try? await Self.allowConnections(admin, name: name, logger: logger)
            throw error
        }

        try await Self.allowConnections(admin, name: name, logger: logger)
        try await waitUntil("/ready is 200 again", timeout: .seconds(60)) { try await HTTPGet.fetch(port: port, path: "/ready").status == 200 }
        let back = try await HTTPGet.fetch(port: port, path: "/metrics")
        #expect(back.body.contains("agent_bridge_database_up 1.0"))
    }

    /// A one-connection store on `endpoint`; each runs once.
    private static func store(_ endpoint: DatabaseEndpoint, logger: Logger) -> PostgresStore {
        var configuration = PostgresStore.Configuration(endpoint: endpoint)
        configuration.maximumConnections = 1
        return PostgresStore(configuration: configuration, logger: logger)
    }

    private static func allowConnections(_ admin: DatabaseEndpoint, name: String, logger: Logger) async throws {
        _ = try await TestDatabase.run(store(admin, logger: logger)) { client in
            try await client.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) ALLOW_CONNECTIONS true"), logger: logger)
        }
    }
}

/// A minimal HTTP GET over a loopback socket, off the cooperative pool (the reads block).
struct HTTPGet: Sendable {
    var status: Int
    var headers: String
    var body: String

    enum Failure: Error {
        case connect(Int32)
        case malformed(String)
    }

    static func fetch(port: Int, path: String) async throws -> HTTPGet {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try fetchBlocking(port: port, path: path) })
            }
        }
    }

    private static func fetchBlocking(port: Int, path: String) throws -> HTTPGet {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure.connect(errno) }
        defer { close(socket) }
        var timeout = timeval(tv_sec: 45, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure.connect(errno) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16384)
        // Read until the body is complete (Content-Length) or the server closes.
        while !isComplete(response) {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n"), let status = Int(text.split(separator: " ").dropFirst().first ?? "") else {
            throw Failure.malformed(text)
        }
        return HTTPGet(status: status, headers: String(text[..<split.lowerBound]), body: String(text[split.upperBound...]))
    }

    private static func isComplete(_ response: [UInt8]) -> Bool {
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return false }
        let length = text[..<split.lowerBound].split(separator: "\r\n").lazy
            .compactMap { line -> Int? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }.first
        guard let length else { return false }
        return text[split.upperBound...].utf8.count >= length
    }
}
