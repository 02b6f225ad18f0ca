import BridgeTestSupport
import Foundation
import Testing

/// `agent-bridge mount claude|codex` through the real binary: what it prints, what it writes and merges, and
/// that the configuration it writes starts a server that knows who it is.
@Suite struct MountCLITests {
    /// A fresh scratch folder, removed afterwards.
    func withScratchDirectory(_ body: (URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mount-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(directory)
    }

    var binaryPath: String { TestDatabase.executableURL.resolvingSymlinksInPath().path }

    func jsonObject(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "not a JSON object: \(String(decoding: data, as: UTF8.self))")
    }

    @Test func claudePrintShowsTheWholeMCPJSONAndWritesNothing() async throws {
        try await withScratchDirectory { directory in
            let run = try await CommandRun.agentBridge(
                [
                    "mount", "claude", "--print", "--participant", "executioner", "--role", "executioner", "--workspace", "team-a",
                    "--database-url", "postgres://bridge@db.internal/agent_bridge",
                ],
                in: directory
            )
            #expect(run.status == 0, "\(run.stderr)")
            let root = try jsonObject(Data(run.stdout.utf8))
            let server = try #require((root["mcpServers"] as? [String: Any])?["agent-bridge"] as? [String: Any], "\(run.stdout)")
            #expect(server["command"] as? String == binaryPath)
            #expect(server["args"] as? [String] == ["serve"])
            #expect(
                server["env"] as? [String: String] == [
                    "AGENT_BRIDGE_PARTICIPANT": "executioner", "AGENT_BRIDGE_ROLE": "executioner", "AGENT_BRIDGE_WORKSPACE": "team-a",
                    "DATABASE_URL": "postgres://bridge@db.internal/agent_bridge",
                ]
            )
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent(".mcp.json").path))
        }
    }

    @Test func codexPrintShowsTheTableWithALongToolTimeout() async throws {
        try await withScratchDirectory { directory in
            let run = try await CommandRun.agentBridge(
                ["mount", "codex", "--print", "--participant", "reviewer", "--role", "reviewer"],
                environment: ["CODEX_HOME": directory.path]
            )
            #expect(run.status == 0, "\(run.stderr)")
            let lines = run.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "[mcp_servers.agent-bridge]")
            #expect(lines.contains("command = \"\(binaryPath)\""))
            #expect(lines.contains("args = [\"serve\"]"))
            #expect(lines.contains(#"env = { AGENT_BRIDGE_PARTICIPANT = "reviewer", AGENT_BRIDGE_ROLE = "reviewer" }"#), "\(run.stdout)")
            let timeout = try #require(lines.first { $0.hasPrefix("tool_timeout_sec = ") }.flatMap { Int($0.dropFirst("tool_timeout_sec = ".count)) })
            #expect(timeout > 60, "above the longest long-poll wait")
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("config.toml").path))
        }
    }

    @Test func claudeWritesMergesAndTheWrittenServerKnowsWhoItIs() async throws {
        let database = try await TestDatabase.create()
        try await withScratchDirectory { directory in
            let file = directory.appendingPathComponent(".mcp.json")
            try Data(
                #"{"mcpServers": {"github": {"command": "gh-mcp", "args": ["--stdio"]}, "agent-bridge": {"command": "/old/agent-bridge"}}, "note": 1.50}"#
                    .utf8
            )
            .write(to: file)
            let run = try await CommandRun.agentBridge(
                [
                    "mount", "claude", "--participant", "executioner", "--role", "executioner", "--workspace", "team-a", "--database-url",
                    database.url,
                ],
                in: directory
            )
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains(file.path), "\(run.stdout)")

            let root = try jsonObject(try Data(contentsOf: file))
            let servers = try #require(root["mcpServers"] as? [String: Any])
            #expect(Set(servers.keys) == ["github", "agent-bridge"], "other servers are kept")
            #expect((servers["github"] as? [String: Any])?["args"] as? [String] == ["--stdio"])
            #expect(String(decoding: try Data(contentsOf: file), as: UTF8.self).contains("1.50"), "other members are kept as written")
            let server = try #require(servers["agent-bridge"] as? [String: Any])
            #expect(server["command"] as? String == binaryPath, "the old entry is replaced")
            #expect(server["args"] as? [String] == ["serve"])
            let environment = try #require(server["env"] as? [String: String])

            // Started as Claude Code would start it, with nothing but that environment: the identity is there.
            let agent = try MCPClient(databaseURL: nil, participant: nil, extraEnvironment: environment)
            _ = try await agent.initialize()
            let whoami = try await agent.call("v1_whoami")
            #expect(whoami.isError == false, "\(whoami.text)")
            #expect(whoami.structured["participant"] as? String == "executioner")
            #expect(whoami.structured["role"] as? String == "executioner")
            #expect(whoami.structured["workspace"] as? String == "team-a")
            #expect(await agent.closeAndWait() == 0)

            // Run again: still one agent-bridge entry, the file otherwise the same.
            let before = try Data(contentsOf: file)
            #expect(
                try await CommandRun.agentBridge(
                    [
                        "mount", "claude", "--participant", "executioner", "--role", "executioner", "--workspace", "team-a", "--database-url",
                        database.url,
                    ],
                    in: directory
                ).status == 0
            )
            #expect(try Data(contentsOf: file) == before)
        }
    }

    @Test func claudeRefusesToOverwriteAnInvalidMCPJSON() async throws {
        try await withScratchDirectory { directory in
            let file = directory.appendingPathComponent(".mcp.json")
            for broken in [#"{"mcpServers": {"github": {"command": "gh-mcp",}}"#, #"["not", "an", "object"]"#, #"{"mcpServers": []}"#] {
                try Data(broken.utf8).write(to: file)
                let run = try await CommandRun.agentBridge(["mount", "claude", "--participant", "executioner"], in: directory)
                #expect(run.status == 1)
                #expect(run.stdout.isEmpty, "\(run.stdout)")
                #expect(run.stderr.split(separator: "\n").count == 1, "one clear line: \(run.stderr)")
                #expect(run.stderr.contains(file.path) && run.stderr.contains("Nothing was written"), "\(run.stderr)")
                #expect(String(decoding: try Data(contentsOf: file), as: UTF8.self) == broken, "left exactly as it was")
            }
        }
    }

    @Test func codexWritesIntoCodexHomeReplacingOnlyItsOwnTable() async throws {
        try await withScratchDirectory { directory in
            let home = directory.appendingPathComponent("codex-home")
            let environment = ["CODEX_HOME": home.path]

            // No file yet: created, the owner's alone.
            let created = try await CommandRun.agentBridge(["mount", "codex", "--participant", "reviewer"], environment: environment)
            #expect(created.status == 0, "\(created.stderr)")
            let file = home.appendingPathComponent("config.toml")
            let first = try String(contentsOf: file, encoding: .utf8)
            #expect(first.hasPrefix("[mcp_servers.agent-bridge]\n"), "\(first)")
            let permissions = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            #expect(permissions == 0o600)

            // A config with other settings, another server, and an older agent-bridge table with a sub-table.
            let existing = """
                model = "gpt-5-codex"
                approval_policy = "on-request"

                [mcp_servers.github]
                command = "gh-mcp"

                [mcp_servers.agent-bridge]
                command = "/old/agent-bridge"
                args = ["serve"]

                [mcp_servers.agent-bridge.env]
                AGENT_BRIDGE_PARTICIPANT = "old"

                # Profiles for work.
                [profiles.work]
                model = "o3"

                """
            try Data(existing.utf8).write(to: file)
            let updated = try await CommandRun.agentBridge(
                ["mount", "codex", "--participant", "reviewer", "--role", "reviewer"],
                environment: environment
            )
            #expect(updated.status == 0, "\(updated.stderr)")
            let text = try String(contentsOf: file, encoding: .utf8)
            for kept in [
                "model = \"gpt-5-codex\"", "approval_policy = \"on-request\"", "[mcp_servers.github]", "command = \"gh-mcp\"",
                "# Profiles for work.", "[profiles.work]", "model = \"o3\"",
            ] {
                #expect(text.contains(kept), "kept \(kept): \(text)")
            }
            #expect(!text.contains("/old/agent-bridge") && !text.contains("[mcp_servers.agent-bridge.env]") && !text.contains("\"old\""), "\(text)")
            #expect(text.components(separatedBy: "[mcp_servers.agent-bridge]").count == 2, "one table: \(text)")
            #expect(text.contains("command = \"\(binaryPath)\""))
            #expect(text.contains(#"env = { AGENT_BRIDGE_PARTICIPANT = "reviewer", AGENT_BRIDGE_ROLE = "reviewer" }"#), "\(text)")
            // In the old table's place, before the profiles.
            let table = try #require(text.range(of: "[mcp_servers.agent-bridge]"))
            let profiles = try #require(text.range(of: "[profiles.work]"))
            #expect(table.lowerBound < profiles.lowerBound)

            // Again: nothing changes.
            #expect(
                try await CommandRun.agentBridge(["mount", "codex", "--participant", "reviewer", "--role", "reviewer"], environment: environment)
                    .status == 0
            )
            #expect(try String(contentsOf: file, encoding: .utf8) == text)
        }
    }

    @Test func badArgumentsAreRefusedWithHelp() async throws {
        let unknown = try await CommandRun.agentBridge(["mount", "cursor", "--print"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("claude or codex"), "\(unknown.stderr)")
        let role = try await CommandRun.agentBridge(["mount", "claude", "--print", "--role", "boss"])
        #expect(role.status != 0)
        #expect(role.stderr.contains("role \"boss\""), "\(role.stderr)")
        let help = try await CommandRun.agentBridge(["mount", "--help"])
        #expect(help.status == 0)
        for taught in [".mcp.json", "config.toml", "CODEX_HOME", "AGENT_BRIDGE_PARTICIPANT", "tool_timeout_sec", "--print"] {
            #expect(help.stdout.contains(taught), "help mentions \(taught)")
        }
    }
}
