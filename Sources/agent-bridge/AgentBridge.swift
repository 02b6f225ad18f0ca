import ArgumentParser
import BridgeCore
import BridgeService
import Foundation
import Logging

/// The `agent-bridge` command: wiring only; the work lives in the Bridge* modules.
@main
struct AgentBridge: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "agent-bridge",
        abstract: "Durable threads for AI coding agents and the humans who supervise them, served over MCP.",
        discussion: """
            With no DATABASE_URL every command uses a private PostgreSQL cluster under the state folder
            ($XDG_STATE_HOME/agent-bridge, or /var/lib/agent-bridge as root), created on first use.

            Quick start:
              agent-bridge mount claude|codex --print        # the config that mounts it in Claude Code or Codex
              agent-bridge serve --participant reviewer      # an MCP stdio server for one agent session
              agent-bridge supervise                         # wake dormant agents when work arrives for them
              agent-bridge status                            # healthy? threads, unread, wakes, API errors
              agent-bridge db status                         # where the embedded database lives
              agent-bridge inspect-thread --thread-id ID     # what is going on in a thread
              agent-bridge approvals list --state pending    # tickets waiting for a human
              agent-bridge bench --quick                     # measure the service levels on this machine
            """,
        version: version,
        subcommands: [
            Serve.self, Supervise.self, InspectThread.self, EscalateThread.self, UnblockThread.self, OverrideCloseThread.self, Approvals.self,
            Sessions.self, Status.self, TokenCommand.self, PolicyCommand.self, Migrate.self, Database.self, Drill.self, Bench.self, Mount.self,
        ]
    )
}

/// Options every command that touches the database shares.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL, e.g. postgres://user:pass@host:5432/db or postgres://user@localhost/db?host=/socket/dir. Default: $DATABASE_URL, else the embedded cluster.",
            valueName: "url"
        )
    )
    var databaseURL: String?

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical. Default: $AGENT_BRIDGE_LOG_LEVEL, else info."
    )
    var logLevel: String?

    /// Sends all logging to stderr as JSON lines.
    /// Operator commands pass `.warning`, so a person sees results rather than routine log lines.
    func bootstrapLogging(defaultLevel: Logger.Level = .info) -> Logger {
        let level =
            Logger.Level(rawValue: logLevel ?? ProcessInfo.processInfo.environment["AGENT_BRIDGE_LOG_LEVEL"] ?? defaultLevel.rawValue) ?? defaultLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        return Logger(label: "agent-bridge")
    }

    /// The URL named by flag or environment; nil means the embedded cluster.
    var explicitURL: String? {
        databaseURL ?? environmentValue("DATABASE_URL")
    }
}

/// An environment variable's value; unset and empty both read as nil.
func environmentValue(_ name: String, in environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
    environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

/// The workspace a command acts in: the flag, else `$AGENT_BRIDGE_WORKSPACE`, else `local`.
func resolveWorkspace(_ flag: String?, in environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
    flag ?? environmentValue("AGENT_BRIDGE_WORKSPACE", in: environment) ?? "local"
}

/// Checks a participant handle given on the command line.
func validateHandle(_ handle: String) throws {
    guard Identity.isValidHandle(handle) else {
        throw ValidationError(CallerIdentity.ConfigurationError.invalidHandle(handle).message)
    }
}

/// Parses a role given on the command line.
func parseRole(_ name: String) throws -> Role {
    guard let role = Role(rawValue: name) else {
        throw ValidationError(CallerIdentity.ConfigurationError.invalidRole(name).message)
    }
    return role
}

/// Prints one line to stderr and exits non-zero: for operator-facing failures.
func exitWithError(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("agent-bridge: \(message)\n".utf8))
    exit(code)
}
