import ArgumentParser
import BridgeCore
import BridgeStore
import Foundation

/// `agent-bridge sessions`: the open MCP sessions, from the leases their `serve` processes hold.
struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List open agent sessions: one lease per running `agent-bridge serve`, renewed every few seconds.",
        discussion: """
            A participant with a live lease has its MCP session open (in Claude Code, Codex, …): the supervisor never
            resumes or spawns it beside that session, and defers its wakes (SESSION_LIVE) until it acks its messages
            or the session ends. A serve killed without a chance to clean up stops renewing; its lease lapses within
            12 seconds.

            Examples:
              agent-bridge sessions
              agent-bridge sessions --participant reviewer --all
              agent-bridge sessions --json | jq '.[] | select(.channel)'
            """
    )

    @Option(help: "Only this participant's sessions.")
    var participant: String?

    @Flag(help: "Include sessions that ended without releasing their lease (lapsed in the last day).")
    var all = false

    @Flag(help: "Print JSON (stable keys) instead of text.")
    var json = false

    @OptionGroup var options: OperatorOptions

    func run() async throws {
        let (participant, all) = (self.participant, self.all)
        let leases = try await options.run { service, context async throws(BridgeError) in
            try await service.sessionLeases(handle: participant, includeEnded: all, context: context)
        }
        if json {
            try printJSON(leases)
        } else if leases.isEmpty {
            print(all ? "No sessions in the last day." : "No open sessions.")
        } else {
            print(Self.table(leases).render())
        }
    }

    /// The leases as a table, for `sessions` and `inspect-thread`.
    static func table(_ leases: [SessionLease]) -> TextTable {
        var table = TextTable("PARTICIPANT", "CLIENT", "RUNTIME", "SESSION", "PID", "HOST", "CHANNEL", "STARTED", "RENEWED", "STATE")
        for lease in leases {
            let client = [lease.clientName, lease.clientVersion].compactMap { $0 }.joined(separator: " ")
            table.add(
                lease.handle,
                client.isEmpty ? "-" : client,
                lease.runtime,
                lease.sessionID ?? "-",
                "\(lease.pid)",
                lease.host,
                lease.channel ? "yes" : "no",
                Display.date(lease.startedAt),
                Display.date(lease.renewedAt),
                lease.live ? "live" : "lapsed"
            )
        }
        return table
    }
}
