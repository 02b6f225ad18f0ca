import ArgumentParser
import BridgeCore
import BridgeService
import Foundation

/// Where the policy catalog comes from: `--catalog DIR`, `$AGENT_BRIDGE_CATALOG`, else the bundled one.
struct CatalogOptions: ParsableArguments {
    @Option(
        name: .customLong("catalog"),
        help: ArgumentHelp(
            "Policy catalog folder (policy.yaml, roles.yaml, approvals.yaml). Default: $AGENT_BRIDGE_CATALOG, else the catalog built in.",
            valueName: "dir"
        )
    )
    var directory: String?

    var resolvedDirectory: String? {
        directory ?? environmentValue("AGENT_BRIDGE_CATALOG")
    }

    /// Loads the catalog or stops the process with the file, line and problem.
    func loadOrExit() -> PolicyCatalog {
        do {
            return try CatalogLoader.load(directory: resolvedDirectory)
        } catch {
            exitWithError("invalid policy catalog: \(error)")
        }
    }
}

/// `agent-bridge policy check`: validates a catalog without starting anything.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with the policy catalog.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy catalog folder and summarise it.",
            discussion: "Exit status 0 when valid; otherwise 1, with FILE:LINE: PROBLEM on stderr."
        )
        @OptionGroup var catalog: CatalogOptions

        func run() async throws {
            let loaded = catalog.loadOrExit()
            print("catalog:        \(catalog.resolvedDirectory ?? CatalogLoader.bundledDirectory ?? "built in")")
            for role in Role.allCases {
                let permissions = loaded.permissions(of: role)
                let transitions = permissions.transitions.map(\.rawValue).sorted().joined(separator: ",")
                print(
                    "role \(role.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(permissions.tools.count).leftPad(2)) tools  transitions: \(transitions.isEmpty ? "-" : transitions)"
                )
            }
            for (name, rule) in loaded.actionClasses.sorted(by: { $0.key < $1.key }) {
                let approvers = rule.approverRoles.map(\.rawValue).sorted().joined(separator: ",")
                print(
                    "action \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(rule.decision.rawValue)\(approvers.isEmpty ? "" : "  approvers: \(approvers)  ttl: \(rule.ttl.wholeSeconds)s")"
                )
            }
            for rule in loaded.permissionPrompt.tools {
                let commands = rule.commandRules.isEmpty ? "" : "  (\(rule.commandRules.count) command patterns)"
                print("permission \(rule.names.joined(separator: ",")) → \(rule.actionClass)\(commands)")
            }
            if let fallback = loaded.permissionPrompt.defaultActionClass {
                print("permission (any other tool) → \(fallback)")
            }
            if let rate = loaded.postRateLimit {
                print("post rate:      \(rate.count) per \(rate.window.wholeSeconds)s per participant")
            }
            print("valid")
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
