import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The supervisor's loopback HTTP endpoints (ARCHITECTURE.md, Observability), as a `Service`:
///
/// - `GET /health` — 200 while the process runs.
/// - `GET /ready` — 200 when the database is reachable, its schema current and the listener (when on) connected;
///   else 503. Both answer a small JSON body naming what is down.
/// - `GET /metrics` — Prometheus text, `text/plain; version=0.0.4`.
///
/// A port that cannot be bound is logged (`http.failed`) and the supervisor goes on without HTTP: waking agents
/// matters more than being scraped.
public struct HealthServer: Service {
    /// Where to listen.
    public struct Configuration: Sendable {
        /// The address to bind; loopback unless the operator says otherwise.
        public var host = "127.0.0.1"
        /// The port; 0 picks a free one (logged with `http.listening`).
        public var port = 9464

        public init() {}
    }

    public let configuration: Configuration
    let exporter: MetricsExporter
    let logger: Logger

    public init(configuration: Configuration, exporter: MetricsExporter, logger: Logger) {
        self.configuration = configuration
        self.exporter = exporter
        self.logger = logger
    }

    public func run() async throws {
        let router = Router()
        // Request counts and durations through swift-metrics: they reach /metrics when the process bootstrapped
        // a Prometheus factory on the exporter's registry (supervise does).
        router.add(middleware: MetricsMiddleware())
        let exporter = self.exporter
        router.get("/health") { _, _ in
            Self.json(.ok, #"{"status":"alive"}"#)
        }
        router.get("/ready") { _, _ in
            let health = await exporter.health()
            let body = #"{"ready":\#(health.isReady),"down":[\#(health.problems.map { "\"\($0)\"" }.joined(separator: ","))]}"#
            return Self.json(health.isReady ? .ok : .serviceUnavailable, body)
        }
        router.get("/metrics") { _, _ in
            let text = await exporter.prometheusText()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text))
            )
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil, reuseAddress: false),
            onServerRunning: { [logger] channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice(
                    "Serving /health, /ready and /metrics.",
                    metadata: [
                        "event": "http.listening", "host": "\(configuration.host)", "port": "\(port)",
                    ]
                )
            },
            logger: quiet
        )
        do {
            try await application.run()
        } catch {
            logger.error(
                "The health and metrics endpoints could not be served; supervising goes on without them.",
                metadata: [
                    "event": "http.failed", "host": "\(configuration.host)", "port": "\(configuration.port)", "error": "\(error)",
                ]
            )
            // Returning would end the group; wait for its shutdown instead.
            try? await gracefulShutdown()
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body + "\n")))
    }
}
