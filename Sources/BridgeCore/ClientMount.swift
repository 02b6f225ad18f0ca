/// How an MCP client starts agent-bridge: the server entry `agent-bridge mount` writes into Claude Code's
/// project `.mcp.json` or the Codex CLI's `config.toml` (see ../shared/CLIENTS.md for both formats).
///
/// The entry runs `COMMAND serve` with the identity in its environment, in the variables `agent-bridge serve`
/// reads, so the server needs no flags. The server is always named ``serverName``: headless Claude wakes
/// name its permission tool as `mcp__agent-bridge__v1_permission_prompt`.
public struct ClientMount: Sendable, Hashable {
    /// The MCP clients `agent-bridge mount` knows.
    public enum Client: String, Sendable, CaseIterable {
        case claude
        case codex
    }

    /// Why an existing configuration file cannot be merged into.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String

        public init(_ description: String) {
            self.description = description
        }
    }

    /// The name the server is mounted under, in both clients.
    public static let serverName = "agent-bridge"
    /// Codex's per-call tool timeout: the longest long-poll wait plus a minute's margin (Codex's default is 60 s,
    /// which a 60 s wait would run into).
    public static let codexToolTimeoutSeconds = Int(Limits.default.maxWaitSeconds) + 60
    /// Codex's start-up timeout: the first start of the embedded database (initdb) takes longer than its 10 s default.
    public static let codexStartupTimeoutSeconds = 30

    /// The agent-bridge executable, an absolute path.
    public var command: String
    /// Its arguments: `serve`.
    public var arguments: [String]
    /// Variables the server is started with (`AGENT_BRIDGE_PARTICIPANT`, `AGENT_BRIDGE_ROLE`, ...).
    public var environment: [String: String]

    public init(command: String, arguments: [String] = ["serve"], environment: [String: String] = [:]) {
        self.command = command
        self.arguments = arguments
        self.environment = environment
    }

    /// The environment variables in a stable order: by name.
    var sortedEnvironment: [(name: String, value: String)] {
        environment.keys.sorted().map { ($0, environment[$0] ?? "") }
    }
}
