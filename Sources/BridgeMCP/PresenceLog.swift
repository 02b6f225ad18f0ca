import BridgeCore
import BridgeService
import Logging
import ServiceLifecycle
import Synchronization

/// Who made a call since the last flush: presence (`participants.last_seen_at`) is noted here by every call and
/// written by ``PresenceFlusher`` in the background, so no call, a read included, waits for a commit to record it.
public final class PresenceLog: Sendable {
    private let pending = Mutex<Set<Identity>>([])

    public init() {}

    /// Notes a call by `identity`; costs a lock and a set insert.
    public func note(_ identity: Identity) {
        pending.withLock { _ = $0.insert(identity) }
    }

    func drain() -> Set<Identity> {
        pending.withLock { noted in
            defer { noted.removeAll(keepingCapacity: true) }
            return noted
        }
    }

    func restore(_ identities: Set<Identity>) {
        pending.withLock { $0.formUnion(identities) }
    }
}

/// Writes the presence ``PresenceLog`` collected every `interval` (so at most once a second per participant)
/// and once more on graceful shutdown. Run it in the `ServiceGroup` after the store's client and before the
/// MCP server, like ``APIStatsFlusher``; a failed write keeps its identities for the next one.
public struct PresenceFlusher: Service {
    let presence: PresenceLog
    let service: BridgeAPI
    let interval: Duration
    let logger: Logger

    public init(presence: PresenceLog, service: BridgeAPI, interval: Duration = .seconds(1), logger: Logger) {
        self.presence = presence
        self.service = service
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            failing = await flush(failing: failing)
        }
    }

    /// Writes what is pending; returns whether a write failed. Logs the first failure of a streak only.
    @discardableResult
    public func flush(failing: Bool = false) async -> Bool {
        let noted = presence.drain()
        var unwritten: Set<Identity> = []
        var lastError: BridgeError?
        for identity in noted {
            do throws(BridgeError) {
                try await service.markSeen(context: CallContext(identity: identity, requestID: "presence"))
            } catch {
                unwritten.insert(identity)
                lastError = error
            }
        }
        guard let lastError else { return false }
        presence.restore(unwritten)
        if !failing {
            logger.warning(
                "Could not record presence; keeping it for the next try.",
                metadata: [
                    "event": "presence.flush_failed", "reason": "\(lastError.reason.rawValue)",
                ]
            )
        }
        return true
    }
}
