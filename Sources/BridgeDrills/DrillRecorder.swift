import BridgeCore
import BridgeStore
import Foundation
import Logging
import PostgresNIO

/// Turns a real thread's history into a ``DrillScenario`` (`agent-bridge drill record`): its members and their
/// runtimes, its messages at their offsets from the thread's start, the outcome of every wake attempt as a
/// scripted runtime outcome, the last human input, approval tickets, and every timing of the catalog in force.
public struct DrillRecorder: Sendable {
    let store: PostgresStore
    let workspace: String
    let timings: PolicyCatalog.Timings
    let logger: Logger

    public init(store: PostgresStore, workspace: String, timings: PolicyCatalog.Timings, logger: Logger) {
        self.store = store
        self.workspace = workspace
        self.timings = timings
        self.logger = logger
    }

    /// The scenario for `threadID`; `NOT_FOUND` when the workspace has no such thread.
    public func record(threadID: UUID, runbook: String) async throws -> DrillScenario {
        let client = store.client
        let threadRows = try await rows(
            client.query(
                """
                SELECT title, autonomous, created_by, extract(epoch FROM created_at)::float8 FROM threads
                 WHERE id = \(threadID) AND workspace_id = \(workspace)
                """,
                logger: logger
            ),
            as: (String, Bool, String, Double).self
        )
        guard let (title, autonomous, creator, start) = threadRows.first else {
            throw BridgeError.threadNotFound(threadID.wireString)
        }
        func at(_ epoch: Double) -> String { "\(max(0, Int((epoch - start).rounded(.down))))s" }

        let members = try await rows(
            client.query(
                """
                SELECT tp.handle, tp.role, p.runtime_kind, p.runtime_managed, p.session_id,
                       extract(epoch FROM p.last_human_input_at)::float8
                  FROM thread_participants tp
                  JOIN participants p ON p.workspace_id = tp.workspace_id AND p.handle = tp.handle
                 WHERE tp.thread_id = \(threadID) ORDER BY tp.joined_at, tp.handle
                """,
                logger: logger
            ),
            as: (String, String, String, Bool, String?, Double?).self
        )

        // Each attempt's outcome, per target, oldest first: what the runtime did, as the drill's script plays it.
        let attempts = try await rows(
            client.query(
                """
                SELECT w.target, a.outcome, w.state, a.attempt = max(a.attempt) OVER (PARTITION BY w.id)
                  FROM wake_attempts a JOIN wake_requests w ON w.id = a.request_id
                 WHERE w.thread_id = \(threadID) ORDER BY w.created_at, w.id, a.attempt
                """,
                logger: logger
            ),
            as: (String, String, String, Bool).self
        )
        var outcomes: [String: [String]] = [:]
        for (target, outcome, state, isLast) in attempts {
            let played: String
            switch outcome {
            case "failed", "not_started": played = DrillRuntime.Outcome.fail.rawValue
            case "running", "stopped": played = DrillRuntime.Outcome.hang.rawValue
            default: played = isLast && (state == "acked" || state == "fallback_spawned") ? "ok" : "silent"
            }
            outcomes[target, default: []].append(played)
        }

        var participants = members.map { handle, role, kind, managed, sessionID, _ in
            DrillScenario.Participant(
                handle: handle,
                role: role,
                runtime: kind == RuntimeKind.none.rawValue ? nil : .init(kind: kind, managed: managed, sessionID: sessionID),
                outcomes: outcomes[handle]
            )
        }
        if !participants.contains(where: { $0.handle == creator }) {
            participants.append(.init(handle: creator, role: Role.coordinator.rawValue, runtime: nil, outcomes: nil))
        }

        var timed: [(Double, DrillScenario.Step)] = []
        let messages = try await rows(
            client.query(
                """
                SELECT author, kind, to_handles, body, extract(epoch FROM created_at)::float8 FROM messages
                 WHERE thread_id = \(threadID) AND kind <> 'system' ORDER BY seq
                """,
                logger: logger
            ),
            as: (String, String, [String], String, Double).self
        )
        for (author, kind, to, body, created) in messages {
            var step = DrillScenario.Step(at: at(created))
            step.post = .init(as: author, thread: "main", kind: kind, to: to.isEmpty ? nil : to, body: body, expect: nil)
            timed.append((created, step))
        }
        for (handle, _, _, _, _, humanInput) in members {
            guard let humanInput, humanInput >= start else { continue }
            var step = DrillScenario.Step(at: at(humanInput))
            step.heartbeat = .init(as: handle, presence: "active", humanInput: true)
            timed.append((humanInput, step))
        }
        let tickets = try await rows(
            client.query(
                """
                SELECT requester, action_class, resource, summary, risk, decider, state, extract(epoch FROM created_at)::float8,
                       extract(epoch FROM decided_at)::float8
                  FROM approval_tickets WHERE thread_id = \(threadID) ORDER BY created_at
                """,
                logger: logger
            ),
            as: (String, String, String, String, String, String?, String, Double, Double?).self
        )
        for (requester, actionClass, resource, summary, risk, decider, state, created, decided) in tickets {
            var step = DrillScenario.Step(at: at(created))
            step.call = .init(
                as: requester,
                tool: "v1_approval_request",
                thread: "main",
                role: nil,
                args: .object([
                    "action_class": .string(actionClass), "resource": .string(resource),
                    "summary": .string(summary), "risk": .string(risk),
                ]),
                token: nil,
                expect: nil
            )
            timed.append((created, step))
            if let decider, let decided, state == "approved" || state == "denied", participants.contains(where: { $0.handle == decider }) {
                var decision = DrillScenario.Step(at: at(decided))
                decision.note = "\(decider) \(state) the \(actionClass) ticket (tickets are decided by id, which a replay cannot know in advance)"
                timed.append((decided, decision))
            }
        }
        timed.sort { $0.0 < $1.0 }

        let memberHandles = members.map(\.0).filter { $0 != creator }
        return DrillScenario(
            name: "thread-\(threadID.wireString.prefix(8))",
            runbook: runbook,
            summary: "Recorded from thread \(threadID.wireString) (\(title)).",
            database: nil,
            timings: DrillTimings.texts(timings),
            participants: participants,
            threads: [.init(name: "main", title: title, creator: creator, members: memberHandles, autonomous: autonomous)],
            steps: timed.map(\.1),
            expect: .init(signals: [], wakes: nil, threads: nil)
        )
    }

    private func rows<each T: PostgresDecodable & Sendable>(
        _ sequence: PostgresRowSequence,
        as: (repeat each T).Type
    ) async throws -> [(repeat each T)] {
        var result: [(repeat each T)] = []
        for try await row in sequence.decode((repeat each T).self) {
            result.append(row)
        }
        return result
    }
}
