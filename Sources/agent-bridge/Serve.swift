import ArgumentParser
import BridgeCore
import BridgeMCP
import BridgeService
import BridgeStore
import Foundation
import Logging
import ServiceLifecycle

/// `agent-bridge serve`: one MCP stdio server for one agent session.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the MCP stdio server for one agent session (your MCP client starts this).",
        discussion: """
            stdout carries only JSON-RPC; logs go to stderr as JSON lines. The server exits when stdin closes.

            Identity (local mode): --participant / $AGENT_BRIDGE_PARTICIPANT names the agent, e.g. "reviewer";
            --role / $AGENT_BRIDGE_ROLE its role (coordinator, executioner, reviewer, approver, operator, observer).

            Example, Codex CLI (~/.codex/config.toml):
              [mcp_servers.bridge]
              command = "/path/to/agent-bridge"
              args = ["serve"]
              env = { AGENT_BRIDGE_PARTICIPANT = "reviewer", AGENT_BRIDGE_ROLE = "reviewer" }
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    @Option(help: "This session's participant handle ([a-z0-9][a-z0-9_.-]*). Default: $AGENT_BRIDGE_PARTICIPANT.")
    var participant: String?

    @Option(help: "This session's role. Default: $AGENT_BRIDGE_ROLE, else coordinator.")
    var role: String?

    func run() async throws {
        let logger = database.bootstrapLogging()
        let environment = ProcessInfo.processInfo.environment
        let identity = try resolveIdentity(environment)
        // A bad catalog stops start-up here, before the client sees a server.
        let policyCatalog = catalog.loadOrExit()
        let setup: DatabaseSetup
        do {
            setup = try DatabaseSetup(options: database, logger: logger)
        } catch {
            exitWithError(error.message)
        }
        do {
            try await setup.startClusterIfNeeded()
        } catch {
            // Keep serving: every call reports UNAVAILABLE until the database can be reached.
            logger.error("The embedded database could not be started.", metadata: ["event": "db.unavailable", "error": "\(error.message)"])
        }
        let store = PostgresStore(configuration: .init(endpoint: setup.endpoint), logger: logger)
        let service = BridgeService(configuration: .init(serverVersion: AgentBridge.version, catalog: policyCatalog), store: store, logger: logger)
        let catalog = try ToolCatalog.bundled()
        let router = ToolRouter(catalog: catalog, service: service, identity: { () throws(BridgeError) -> Identity in
            guard let identity else {
                throw BridgeError(.unauthenticated, .identityMissing,
                                  "No participant identity: start serve with --participant HANDLE or set AGENT_BRIDGE_PARTICIPANT.")
            }
            return identity
        }, logger: logger)
        let mcp = MCPServerService(router: router, version: AgentBridge.version, logger: logger) {
            do throws(BridgeError) {
                try await setup.prepareSchema(store, logger: logger)
            } catch {
                logger.error("The database is not ready; calls will report it until it is.", metadata: ["event": "db.unavailable", "reason": "\(error.reason.rawValue)", "error": "\(error.message)"])
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: store.client),
                .init(service: store.notifications),
                .init(service: mcp, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    private func resolveIdentity(_ environment: [String: String]) throws -> Identity? {
        guard let handle = participant ?? environment["AGENT_BRIDGE_PARTICIPANT"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        guard Identity.isValidHandle(handle) else {
            throw ValidationError("participant \"\(handle)\" is not a valid handle: use 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit.")
        }
        let roleName = role ?? environment["AGENT_BRIDGE_ROLE"].flatMap({ $0.isEmpty ? nil : $0 }) ?? Role.coordinator.rawValue
        guard let role = Role(rawValue: roleName) else {
            throw ValidationError("role \"\(roleName)\" is not one of: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return Identity(workspace: environment["AGENT_BRIDGE_WORKSPACE"].flatMap({ $0.isEmpty ? nil : $0 }) ?? "local", handle: handle, role: role)
    }
}
