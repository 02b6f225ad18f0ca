import BridgeCore
import Testing

/// The client configuration `agent-bridge mount` merges, as pure text in and out.
@Suite struct ClientMountTests {
    let mount = ClientMount(command: "/opt/agent bridge/agent-bridge", environment: ["AGENT_BRIDGE_PARTICIPANT": "rev\"iewer"])

    @Test func tomlValuesAreQuotedSoAnyPathOrNameStaysOneString() {
        let table = mount.codexTable
        #expect(table.contains(#"command = "/opt/agent bridge/agent-bridge""#))
        #expect(table.contains(#"env = { AGENT_BRIDGE_PARTICIPANT = "rev\"iewer" }"#), "\(table)")
        #expect(ClientMount(command: "/x").codexTable.contains("env = {}\n"))
    }

    @Test func aQuotedHeaderIsReplacedAndOtherTablesAndStringsAreKept() throws {
        let existing = """
            [mcp_servers."agent-bridge"]   # old
            command = "/old"

            [notes]
            text = '''
            [mcp_servers.agent-bridge]
            '''
            """
        let merged = try mount.codexConfiguration(merging: existing, file: "config.toml")
        #expect(!merged.contains("/old"))
        #expect(merged.hasPrefix("[mcp_servers.agent-bridge]\ncommand = \"/opt/agent bridge/agent-bridge\""), "\(merged)")
        // The header-like line inside a multi-line string is text, not a table.
        #expect(merged.hasSuffix("[notes]\ntext = '''\n[mcp_servers.agent-bridge]\n'''\n"), "\(merged)")
    }

    @Test(arguments: [
        "mcp_servers.agent-bridge.command = \"/old\"\n",
        "[mcp_servers]\nagent-bridge = { command = \"/old\" }\n",
        "[mcp_servers]\n\"agent-bridge\".command = \"/old\"\n",
    ])
    func aServerDefinedWithDottedKeysOrAnInlineTableIsRefused(existing: String) {
        #expect(throws: ClientMount.Failure.self) { try mount.codexConfiguration(merging: existing, file: "config.toml") }
    }

    @Test func anEmptyMCPJSONObjectGainsTheServer() throws {
        let merged = try mount.claudeConfiguration(merging: Array("{}".utf8), file: ".mcp.json")
        let root = try JSONValue(parsing: Array(merged.utf8))
        #expect(root["mcpServers"]?["agent-bridge"]?["args"] == .array([.string("serve")]))
        #expect(root["mcpServers"]?["agent-bridge"]?["env"]?["AGENT_BRIDGE_PARTICIPANT"] == .string("rev\"iewer"))
    }
}
