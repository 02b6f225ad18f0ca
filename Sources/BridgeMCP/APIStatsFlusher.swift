import BridgeCore
import BridgeService
import Logging
import ServiceLifecycle

/// Persists a `serve` process's API call counts (``APIRequestStats``) every `interval` and once more on
/// graceful shutdown, so the supervisor's `/metrics` can report every session's calls (ARCHITECTURE.md, Observability).
///
/// Run it in the `ServiceGroup` after the store's client and before the MCP server: the group stops the
/// server first, then this service flushes what the last calls recorded while the client still runs.
/// A flush that fails keeps its counts for the next one.
public struct APIStatsFlusher: Service {
    /// How often to flush.
    public struct Configuration: Sendable {
        public var interval: Duration = .seconds(2)

        public init() {}
    }

    let stats: APIRequestStats
    let service: BridgeAPI
    let configuration: Configuration
    let logger: Logger

    public init(stats: APIRequestStats, service: BridgeAPI, configuration: Configuration = .init(), logger: Logger) {
        self.stats = stats
        self.service = service
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.interval) }
            failing = await flush(failing: failing)
        }
    }

    /// Writes the pending counts; returns whether the write failed. Logs the first failure of a streak only.
    @discardableResult
    func flush(failing: Bool = false) async -> Bool {
        let tallies = stats.drain()
        guard !tallies.isEmpty else { return failing }
        do throws(BridgeError) {
            try await service.recordAPIRequests(tallies, workspace: stats.workspace)
            if failing { logger.info("API request stats persisted again.", metadata: ["event": "stats.flushed"]) }
            return false
        } catch {
            stats.restore(tallies)
            if !failing {
                logger.warning(
                    "Could not persist API request stats; keeping them for the next try.",
                    metadata: [
                        "event": "stats.flush_failed", "reason": "\(error.reason.rawValue)",
                    ]
                )
            }
            return true
        }
    }
}
