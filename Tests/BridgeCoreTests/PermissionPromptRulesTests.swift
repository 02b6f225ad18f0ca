import BridgeCore
import Testing

/// The repository catalog's `permission_prompt` rules: which action class, and so which decision, each Claude Code
/// tool call gets. Pure: no database.
@Suite struct PermissionPromptRulesTests {
    let catalog = try! repositoryCatalog()

    func classify(_ tool: String, _ input: [String: JSONValue] = [:]) throws -> PermissionPromptRules.Classification {
        try #require(catalog.permissionPrompt.classify(toolName: tool, input: input), "\(tool) has no class")
    }

    func decision(_ tool: String, _ input: [String: JSONValue] = [:]) throws -> PolicyCatalog.ApprovalRule.Decision? {
        catalog.actionClasses[try classify(tool, input).actionClass]?.decision
    }

    @Test(arguments: [
        ("Read", "file_path", "/etc/hosts", "fs_read"),
        ("Glob", "pattern", "**/*.swift", "fs_read"),
        ("Grep", "pattern", "TODO", "fs_read"),
        ("LS", "path", "/work", "fs_read"),
        ("Edit", "file_path", "Sources/App/main.swift", "fs_write"),
        ("Write", "file_path", "README.md", "fs_write"),
        ("MultiEdit", "file_path", "Package.swift", "fs_write"),
        ("NotebookEdit", "notebook_path", "analysis.ipynb", "fs_write"),
        ("Bash", "command", "swift build", "process_run"),
        ("WebFetch", "url", "https://example.com/docs", "external_side_effect"),
        ("WebSearch", "query", "swift testing traits", "external_side_effect"),
    ])
    func eachToolTakesItsClassWithItsResource(_ tool: String, _ field: String, _ value: String, _ expected: String) throws {
        let classified = try classify(tool, [field: .string(value), "unrelated": .string("x")])
        #expect(classified.actionClass == expected)
        #expect(classified.resource == value)
        #expect(classified.matchedCommandPattern == nil)
    }

    @Test func theDefaultDecisionsAreAllowReadsAskForWritesAndRuns() throws {
        #expect(try decision("Read", ["file_path": .string("/etc/hosts")]) == .allow)
        #expect(try decision("mcp__agent-bridge__v1_inbox") == .allow)
        #expect(try decision("Edit", ["file_path": .string("a.swift")]) == .requireApproval)
        #expect(try decision("Bash", ["command": .string("make test")]) == .requireApproval)
        #expect(try decision("Bash", ["command": .string("rm -rf /tmp/x")]) == .deny)
    }

    @Test(arguments: [
        "rm -rf /tmp/x", "rm -fr build", "rm -Rf ~", "rm -r -f node_modules", "rm --recursive --force /", "cd /srv && rm -rf data",
        "ls; rm -rfv out", "sudo rm -rf /var/lib", "git push --force origin main", "git push -f", "git push origin main --force-with-lease",
        "mkfs.ext4 /dev/sdb1", "sudo mkfs -t ext4 /dev/sdb", "/sbin/mkfs.xfs /dev/nvme0n1", "dd if=/dev/zero of=/dev/sda bs=1M",
    ])
    func destructiveCommandsTakeTheDenyClass(_ command: String) throws {
        let classified = try classify("Bash", ["command": .string(command), "description": .string("cleanup")])
        #expect(classified.actionClass == "destructive_command", "\(command)")
        #expect(classified.matchedCommandPattern != nil)
        #expect(classified.resource == command)
    }

    @Test(arguments: [
        "rm notes.txt", "rm -r build", "rm -f stale.lock", "git push origin main", "git push --follow-tags", "echo add if=x",
        "swift test --filter rmrf", "grep -rf patterns.txt src", "ddgr query", "cat mkfs.md",
    ])
    func ordinaryCommandsAskAHuman(_ command: String) throws {
        let classified = try classify("Bash", ["command": .string(command)])
        #expect(classified.actionClass == "process_run", "\(command)")
        #expect(classified.matchedCommandPattern == nil)
    }

    @Test func mcpToolsOfOtherServersAndUnknownToolsAreExternalSideEffects() throws {
        #expect(try classify("mcp__agent-bridge__v1_message_post").actionClass == "bridge_call")
        #expect(try classify("mcp__github__create_issue").actionClass == "external_side_effect")
        #expect(try classify("mcp__github__create_issue").resource == "mcp__github__create_issue", "no resource field: the tool's name")
        #expect(try classify("TodoWrite").actionClass == "external_side_effect", "the default class")
        #expect(try classify("read").actionClass == "external_side_effect", "names are case-sensitive")
    }

    @Test func aLongResourceIsCutButTheWholeCommandIsMatched() throws {
        let command = String(repeating: "echo hello && ", count: 200) + "rm -rf /"
        let classified = try classify("Bash", ["command": .string(command)])
        #expect(classified.actionClass == "destructive_command")
        #expect(classified.resource.count == PermissionPromptRules.maxResourceCharacters)
        #expect(classified.resource.hasSuffix("…"))
    }

    @Test func globsMatchAnyRunOfCharacters() {
        let rule = PermissionPromptRules.ToolRule(names: ["mcp__*__read_*", "Exact"], actionClass: "fs_read")
        #expect(rule.covers("mcp__files__read_file"))
        #expect(rule.covers("mcp____read_"))
        #expect(!rule.covers("mcp__files__write_file"))
        #expect(rule.covers("Exact"))
        #expect(!rule.covers("Exactly"))
        #expect(!rule.covers("mcp__read_"), "prefix and suffix must not overlap")
    }

    @Test func aCatalogWithoutTheSectionClassifiesNothing() throws {
        var texts = try repositoryCatalogTexts()
        texts["approvals.yaml"] = "action_classes:\n  fs_read:\n    decision: allow\n"
        let parsed = try CatalogParser.parse(texts)
        #expect(parsed.permissionPrompt.classify(toolName: "Read", input: [:]) == nil)
    }

    @Test(arguments: [
        ("    - match: [Read]\n      action_class: teleport\n", 9, "unknown action class 'teleport'"),
        (
            "    - match: [Bash]\n      action_class: process_run\n      commands:\n        - pattern: 'rm (-rf'\n          action_class: process_run\n",
            11, "not a valid regular expression"
        ),
        (
            "    - match: [Bash]\n      action_class: process_run\n      commands:\n        - pattern: 'x'\n          action_class: nope\n",
            12, "unknown action class 'nope'"
        ),
        ("    - match: []\n      action_class: fs_read\n", 8, "at least one tool name"),
        ("    - match: [Read]\n      action_clas: fs_read\n", 9, "unknown key 'action_clas'"),
    ])
    func aMalformedSectionNamesFileLineAndProblem(_ rules: String, _ line: Int, _ problem: String) throws {
        var texts = try repositoryCatalogTexts()
        texts["approvals.yaml"] = """
            action_classes:
              fs_read:
                decision: allow
              process_run:
                decision: deny
            permission_prompt:
              tools:

            """ + rules + "  default_action_class: fs_read\n"
        do {
            _ = try CatalogParser.parse(texts)
            Issue.record("approvals.yaml should have been refused")
        } catch {
            #expect(error.file == "approvals.yaml")
            #expect(error.line == line, "\(error)")
            #expect(error.problem.contains(problem), "\(error)")
        }
    }

    @Test func theSectionNeedsADefaultClass() throws {
        var texts = try repositoryCatalogTexts()
        texts["approvals.yaml"] = "action_classes:\n  fs_read:\n    decision: allow\npermission_prompt:\n  tools: []\n"
        #expect(throws: CatalogError.self) { try CatalogParser.parse(texts) }
    }
}
