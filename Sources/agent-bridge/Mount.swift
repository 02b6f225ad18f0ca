import ArgumentParser
import BridgeCore
import Foundation

/// `agent-bridge mount codex|claude`: prints or writes the configuration that mounts this binary in a client.
struct Mount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mount agent-bridge in Claude Code or the Codex CLI: print or write their MCP server configuration.",
        discussion: """
            Both clients start this binary (by its absolute path) as `agent-bridge
            serve`, an MCP server named "agent-bridge", with the agent's identity
            in its environment, so the server needs no flags:
              --participant   AGENT_BRIDGE_PARTICIPANT  who the agent is: reviewer
              --role          AGENT_BRIDGE_ROLE         coordinator, executioner,
                                                        reviewer, approver, operator
                                                        or observer
              --workspace     AGENT_BRIDGE_WORKSPACE    default: local
              --database-url  DATABASE_URL              default: embedded cluster
            Keep the name: headless Claude wakes ask the tool
            mcp__agent-bridge__v1_permission_prompt for permissions.

            claude: writes .mcp.json in the current directory (Claude Code's
            project servers), adding or replacing mcpServers["agent-bridge"] and
            keeping every other server. A .mcp.json that is not valid JSON is left
            as it is, with an error. The same as
              claude mcp add --scope project agent-bridge \\
                --env AGENT_BRIDGE_PARTICIPANT=NAME -- /path/to/agent-bridge serve

            codex: writes $CODEX_HOME/config.toml (default ~/.codex/config.toml),
            adding or replacing the [mcp_servers.agent-bridge] table and keeping
            every other line. It sets tool_timeout_sec = \(ClientMount.codexToolTimeoutSeconds), above the
            60 s longest long-poll wait, and startup_timeout_sec = \(ClientMount.codexStartupTimeoutSeconds) for
            a first start of the embedded database.

            --print writes nothing: it prints the configuration (a whole .mcp.json
            holding this one server, or the TOML table) to paste where you keep it.

            Examples:
              agent-bridge mount claude --participant executioner --role executioner
              agent-bridge mount codex --participant reviewer --role reviewer --print
            """
    )

    @Argument(help: ArgumentHelp("The client to mount agent-bridge in: claude or codex.", valueName: "client"))
    var clientName: String

    private var client: ClientMount.Client { ClientMount.Client(rawValue: clientName) ?? .claude }

    @Flag(name: .customLong("print"), help: "Print the configuration instead of writing it.")
    var printOnly = false

    @Option(help: "The agent's participant handle ([a-z0-9][a-z0-9_.-]*), as AGENT_BRIDGE_PARTICIPANT.")
    var participant: String?

    @Option(help: "The agent's role, as AGENT_BRIDGE_ROLE (the server's default is coordinator).")
    var role: String?

    @Option(help: "The workspace, as AGENT_BRIDGE_WORKSPACE (the server's default is local).")
    var workspace: String?

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp("The database, as DATABASE_URL (the server's default is the embedded cluster).", valueName: "url")
    )
    var databaseURL: String?

    func validate() throws {
        guard ClientMount.Client(rawValue: clientName) != nil else {
            throw ValidationError("unknown client \"\(clientName)\"; use claude or codex.")
        }
        if let participant { try validateHandle(participant) }
        if let role { _ = try parseRole(role) }
        if let workspace, workspace.isEmpty { throw ValidationError("workspace must not be empty.") }
    }

    func run() throws {
        var environment: [String: String] = [:]
        environment["AGENT_BRIDGE_PARTICIPANT"] = participant
        environment["AGENT_BRIDGE_ROLE"] = role
        environment["AGENT_BRIDGE_WORKSPACE"] = workspace
        environment["DATABASE_URL"] = databaseURL
        let mount = ClientMount(command: Self.executablePath(), environment: environment)

        if printOnly {
            print(client == .claude ? mount.claudeConfiguration : mount.codexTable, terminator: "")
            return
        }
        let path = try configurationPath()
        let existing = FileManager.default.contents(atPath: path)
        let text: String
        do {
            switch client {
            case .claude:
                text =
                    try existing.map { bytes throws(ClientMount.Failure) in try mount.claudeConfiguration(merging: bytes, file: path) }
                    ?? mount.claudeConfiguration
            case .codex:
                text = try mount.codexConfiguration(merging: existing.map { String(decoding: $0, as: UTF8.self) } ?? "", file: path)
            }
        } catch {
            exitWithError(error.description)
        }
        do {
            // Codex's config.toml may hold other secrets; a new one is the owner's alone.
            try Self.write(text, to: path, replacing: existing != nil, newFilePermissions: client == .codex ? 0o600 : nil)
        } catch {
            exitWithError("cannot write \(path): \(error.localizedDescription)")
        }
        print("\(existing == nil ? "Wrote" : "Updated") \(path): MCP server \"\(ClientMount.serverName)\" runs \(mount.command) serve.")
        if client == .claude, let databaseURL, URLComponents(string: databaseURL)?.password != nil {
            FileHandle.standardError.write(Data("agent-bridge: note: the database password is now in \(path), a file projects often commit.\n".utf8))
        }
    }

    /// `.mcp.json` in the current directory, or Codex's `config.toml` under `$CODEX_HOME` (default `~/.codex`).
    private func configurationPath() throws -> String {
        switch client {
        case .claude:
            return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".mcp.json").path
        case .codex:
            let home =
                environmentValue("CODEX_HOME")
                ?? URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".codex").path
            return URL(fileURLWithPath: home).appendingPathComponent("config.toml").path
        }
    }

    /// Writes through a temporary file and a rename, so a failed write never leaves half a file; an existing
    /// file keeps its permissions, a new one gets `newFilePermissions` (else the umask's).
    private static func write(_ text: String, to path: String, replacing: Bool, newFilePermissions: Int?) throws {
        let manager = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var permissions = newFilePermissions
        if replacing, let current = (try? manager.attributesOfItem(atPath: path))?[.posixPermissions] as? Int {
            permissions = current
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        if let permissions {
            try manager.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
        }
    }

    /// This binary's absolute path, symbolic links resolved.
    static func executablePath() -> String {
        if let linked = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return linked }
        if let url = Bundle.main.executableURL { return url.resolvingSymlinksInPath().path }
        let invoked = CommandLine.arguments[0]
        return URL(fileURLWithPath: invoked, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.resolvingSymlinksInPath().path
    }
}
