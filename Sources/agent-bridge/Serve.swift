import ArgumentParser
import BridgeCore
import BridgeMCP
import BridgeService
import BridgeStore
import CStandardDescriptors
import Foundation
import Logging
import ServiceLifecycle

/// `agent-bridge serve`: one MCP stdio server for one agent session.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the MCP stdio server for one agent session (your MCP client starts this).",
        discussion: """
            stdout carries only JSON-RPC; logs go to stderr as JSON lines. The server exits when stdin closes.

            Identity, local mode (the default): --participant / $AGENT_BRIDGE_PARTICIPANT names the agent, e.g.
            "reviewer"; --role / $AGENT_BRIDGE_ROLE its role (coordinator, executioner, reviewer, approver, operator,
            observer); the workspace is --workspace / $AGENT_BRIDGE_WORKSPACE, else "local".

            $AGENT_BRIDGE_WAKE_THREAD_ID (set by the supervisor for a woken agent) is the thread where
            v1_permission_prompt opens approval tickets when the call names none.

            Identity, token mode (on when $AGENT_BRIDGE_TOKEN is set, or with --auth token): the token from
            `agent-bridge token issue` names handle, workspace and role, and is checked on every call against
            --token-key-file. The token's workspace must be the one served (--workspace, default "local"),
            and a --participant given as well must be the token's.

            $AGENT_BRIDGE_SESSION_ID, when set, is recorded in this process's session lease (agent-bridge sessions).

            Write the config with `agent-bridge mount claude|codex`; for Codex (~/.codex/config.toml) it is:
              [mcp_servers.agent-bridge]
              command = "/path/to/agent-bridge"
              args = ["serve"]
              env = { AGENT_BRIDGE_PARTICIPANT = "reviewer", AGENT_BRIDGE_ROLE = "reviewer" }
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    @Option(help: "This session's participant handle ([a-z0-9][a-z0-9_.-]*). Default: $AGENT_BRIDGE_PARTICIPANT.")
    var participant: String?

    @Option(help: "This session's role. Default: $AGENT_BRIDGE_ROLE, else coordinator. Ignored in token mode.")
    var role: String?

    @Option(help: "The one workspace this server serves; tokens for another are refused. Default: $AGENT_BRIDGE_WORKSPACE, else local.")
    var workspace: String?

    @Option(help: "local or token. Default: $AGENT_BRIDGE_AUTH, else token when $AGENT_BRIDGE_TOKEN is set, else local.")
    var auth: String?

    @OptionGroup var tokenKey: TokenKeyOptions

    func run() async throws {
        let logger = database.bootstrapLogging()
        // A closed stdin, stdout or stderr was opened on /dev/null before main (CStandardDescriptors).
        let reopened = agent_bridge_reopened_standard_descriptors()
        if reopened > 0 {
            logger.warning(
                "stdin, stdout or stderr was closed by the parent; it reads and writes /dev/null.",
                metadata: [
                    "event": "serve.closed_stdio", "count": "\(reopened)",
                ]
            )
        }
        let environment = ProcessInfo.processInfo.environment
        let identityConfiguration = CallerIdentity.Configuration(
            participant: participant,
            role: role,
            workspace: workspace,
            auth: auth,
            tokenKeyFile: tokenKey.resolvedPath,
            environment: environment
        )
        let identity: CallerIdentity
        do {
            identity = try CallerIdentity(configuration: identityConfiguration, logger: logger)
        } catch {
            throw ValidationError(error.message)
        }
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
        var serviceConfiguration = BridgeAPI.Configuration(serverVersion: AgentBridge.version, catalog: policyCatalog)
        serviceConfiguration.authMode = identity.mode.rawValue
        serviceConfiguration.wakeThreadID = wakeThreadID(environment, logger: logger)
        let service = BridgeAPI(configuration: serviceConfiguration, store: store, logger: logger)
        let catalog = try ToolCatalog.bundled()
        let stats = APIRequestStats(workspace: identityConfiguration.workspace)
        let presence = PresenceLog()
        let router = ToolRouter(catalog: catalog, service: service, identity: identity, logger: logger, stats: stats, presence: presence)
        let client = ClientSession()
        var leaseConfiguration = SessionLeaseKeeper.Configuration()
        leaseConfiguration.sessionID = environmentValue("AGENT_BRIDGE_SESSION_ID", in: environment)
        let lease = SessionLeaseKeeper(service: service, identity: identity, client: client, configuration: leaseConfiguration, logger: logger)
        let mcp = MCPServerService(router: router, client: client, version: AgentBridge.version, logger: logger) {
            do throws(BridgeError) {
                try await setup.prepareSchema(store, logger: logger)
            } catch {
                logger.error(
                    "The database is not ready; calls will report it until it is.",
                    metadata: ["event": "db.unavailable", "reason": "\(error.reason.rawValue)", "error": "\(error.message)"]
                )
            }
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: store.client),
                    .init(service: store.notifications),
                    .init(service: APIStatsFlusher(stats: stats, service: service, logger: logger)),
                    .init(service: PresenceFlusher(presence: presence, service: service, logger: logger)),
                    .init(service: lease),
                    .init(service: mcp, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// The thread the supervisor woke this session for, where permission prompts open their tickets; a value
    /// that is not a UUID is ignored with a warning.
    private func wakeThreadID(_ environment: [String: String], logger: Logger) -> UUID? {
        guard let text = environmentValue("AGENT_BRIDGE_WAKE_THREAD_ID", in: environment) else { return nil }
        guard let threadID = UUID(uuidString: text) else {
            logger.warning(
                "AGENT_BRIDGE_WAKE_THREAD_ID is not a UUID; permission prompts without thread_id will be denied.",
                metadata: [
                    "event": "serve.bad_wake_thread"
                ]
            )
            return nil
        }
        return threadID
    }
}
