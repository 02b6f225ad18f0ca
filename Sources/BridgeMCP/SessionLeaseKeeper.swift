import BridgeCore
import BridgeService
import Foundation
import Logging
import ServiceLifecycle

/// Holds this `serve` process's session lease (`session_leases`): taken when the client's `initialize` arrives
/// (after the schema is ready, and naming the client), renewed every `renewInterval`, deleted on a
/// graceful exit. A process that dies (`kill -9`) stops renewing, and its lease lapses `ttl` after the last
/// renewal, three missed renewals by default. While the lease is live the supervisor never resumes or
/// spawns the participant: its session is open.
///
/// Run it in the `ServiceGroup` after the store's client and before the MCP server, like ``APIStatsFlusher``.
public struct SessionLeaseKeeper: Service {
    public struct Configuration: Sendable {
        public var renewInterval: Duration = .seconds(4)
        /// How long a lease lives without renewal.
        public var ttl: Duration = .seconds(12)
        /// The client's session id when the process knows it (`AGENT_BRIDGE_SESSION_ID`).
        public var sessionID: String?

        public init() {}
    }

    /// This lease's id; stable for the life of the process.
    public let id = UUID()
    let service: BridgeAPI
    let identity: CallerIdentity
    let client: ClientSession
    let configuration: Configuration
    let logger: Logger
    private let host = ProcessInfo.processInfo.hostName

    public init(
        service: BridgeAPI,
        identity: CallerIdentity,
        client: ClientSession,
        configuration: Configuration = .init(),
        logger: Logger
    ) {
        self.service = service
        self.identity = identity
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        var held: Identity?
        var failing = false
        // A session begins with `initialize`; serve reads nothing before its schema is ready.
        let initialized = client.initializeSignal()
        while client.info == nil {
            guard await cancelWhenGracefulShutdown({ await initialized.wait() }) == true else { return }
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do throws(BridgeError) {
                let identity = try await identity.resolve()
                if let held, held != identity { try await service.releaseSessionLease(id: id, workspace: held.workspace) }
                try await service.renewSessionLease(claim(for: identity), ttl: configuration.ttl, workspace: identity.workspace)
                held = identity
                if failing {
                    logger.info("Session lease renewed again.", metadata: ["event": "session.lease_renewed", "lease_id": "\(id.wireString)"])
                }
                failing = false
            } catch  where error.code == .unauthenticated || error.code == .permissionDenied {
                // No identity (serve without a participant, a bad token): no session to lease; every call says why.
            } catch {
                if !failing {
                    logger.warning(
                        "Could not renew the session lease; retrying.",
                        metadata: [
                            "event": "session.lease_failed", "reason": "\(error.reason.rawValue)",
                        ]
                    )
                }
                failing = true
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.renewInterval) }
        }
        guard let held else { return }
        do throws(BridgeError) {
            try await service.releaseSessionLease(id: id, workspace: held.workspace)
        } catch {
            logger.warning(
                "Could not release the session lease; it lapses by itself.",
                metadata: [
                    "event": "session.lease_release_failed", "reason": "\(error.reason.rawValue)",
                ]
            )
        }
    }

    private func claim(for identity: Identity) -> SessionLeaseClaim {
        let info = client.info
        return SessionLeaseClaim(
            id: id,
            handle: identity.handle,
            clientName: info?.name,
            clientVersion: info?.version,
            runtime: info?.runtime ?? .none,
            sessionID: configuration.sessionID,
            pid: ProcessInfo.processInfo.processIdentifier,
            host: host,
            channel: info?.channel ?? false
        )
    }
}
