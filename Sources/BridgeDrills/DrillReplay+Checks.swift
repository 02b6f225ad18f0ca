import BridgeCore
import BridgeStore
import Foundation
import Logging
import PostgresNIO

extension DrillReplay {
    /// Checks the signals and the end state, and collects the supervisor's decisions.
    func finish() async throws(DrillError) -> DrillReport {
        // Reasons also fire in tables (wake requests, audit) and log lines.
        var reasons = reasonsSeen
        var events: Set<String> = []
        for line in capture.captured {
            if let event = line.fields["event"] { events.insert(event) }
            if let reason = line.fields["reason"] { reasons.insert(reason) }
            if line.fields["code"] == BridgeError.Code.internal.rawValue { internalErrors.append("log: \(line.message)") }
        }
        let stored = try await query(
            """
            SELECT reason FROM audit_events WHERE reason IS NOT NULL
            UNION SELECT reason FROM wake_requests WHERE reason IS NOT NULL
            """
        )
        reasons.formUnion(stored.compactMap { $0.first ?? nil })

        for signal in signals {
            let fired: Bool
            var detail = ""
            switch signal.kind {
            case .event(let name): fired = events.contains(name)
            case .reason(let code): fired = reasons.contains(code)
            case .metric, .ready:
                fired = firedSignals[signal.text] != nil
                if let at = firedSignals[signal.text] { detail = "seen at \(Duration.text(at))" }
            }
            checks.append(.init(kind: "signal", description: "`\(signal.text)`", passed: fired, detail: fired ? detail : "never fired"))
        }
        for step in self.steps where !step.passed {
            checks.append(
                .init(
                    kind: "step",
                    description: "step at \(step.at): \(step.action)",
                    passed: false,
                    detail: "got \(step.outcome), expected \(step.expected ?? "OK")"
                )
            )
        }
        try await checkEndState()
        var report = DrillReport(
            name: scenario.name,
            runbook: scenario.runbook,
            summary: scenario.summary,
            steps: self.steps,
            checks: checks,
            decisions: try await decisions(),
            virtualDuration: Duration.text(elapsed)
        )
        report.threadIDs = threadIDs
        return report
    }

    private func checkEndState() async throws(DrillError) {
        for (handle, expected) in (scenario.expect.wakes ?? [:]).sorted(by: { $0.key < $1.key }) {
            let states = try await query("SELECT state FROM wake_requests w WHERE target = '\(handle)' ORDER BY \(Self.wakeOrder)").compactMap {
                $0.first ?? nil
            }
            checks.append(
                .init(
                    kind: "end",
                    description: "\(handle)'s wakes end \(expected.joined(separator: ", "))",
                    passed: states == expected,
                    detail: states == expected ? "" : "they ended \(states.isEmpty ? "(none)" : states.joined(separator: ", "))"
                )
            )
        }
        for thread in scenario.threads {
            guard let id = threadIDs[thread.name] else { continue }
            let rows = try await query(
                """
                SELECT t.status, count(m.seq)::text, coalesce(max(m.seq), 0)::text, count(DISTINCT m.seq)::text
                  FROM threads t LEFT JOIN messages m ON m.thread_id = t.id WHERE t.id = '\(id)' GROUP BY t.status
                """
            )
            guard let row = rows.first, row.count == 4 else { continue }
            let status = row[0] ?? "?"
            let count = Int(row[1] ?? "") ?? -1
            let last = Int(row[2] ?? "") ?? -2
            let distinct = Int(row[3] ?? "") ?? -3
            let gapless = count == last && count == distinct
            checks.append(
                .init(
                    kind: "end",
                    description: "\(thread.name): seqs 1…\(last) gapless",
                    passed: gapless,
                    detail: gapless ? "" : "\(count) messages, \(distinct) distinct seqs, last \(last)"
                )
            )
            if let end = scenario.expect.threads?[thread.name] {
                if let expected = end.status {
                    checks.append(
                        .init(
                            kind: "end",
                            description: "\(thread.name) is \(expected)",
                            passed: status == expected,
                            detail: status == expected ? "" : "it is \(status)"
                        )
                    )
                }
                if let expected = end.messages {
                    checks.append(
                        .init(
                            kind: "end",
                            description: "\(thread.name) holds \(expected) messages",
                            passed: count == expected,
                            detail: count == expected ? "" : "it holds \(count)"
                        )
                    )
                }
            }
        }
        var lost: [String] = []
        for post in storedPosts {
            let rows = try await query("SELECT body FROM messages WHERE thread_id = '\(post.thread)' AND seq = \(post.seq)")
            if rows.first?.first ?? nil != post.body { lost.append("seq \(post.seq)") }
        }
        checks.append(
            .init(
                kind: "end",
                description: "every accepted post is stored as sent (\(storedPosts.count))",
                passed: lost.isEmpty,
                detail: lost.isEmpty ? "" : "missing or changed: \(lost.joined(separator: ", "))"
            )
        )
        checks.append(
            .init(kind: "end", description: "no INTERNAL errors", passed: internalErrors.isEmpty, detail: internalErrors.joined(separator: "; "))
        )
    }

    /// The supervisor's decisions in order, free of ids and times, so two replays compare equal.
    func decisions() async throws(DrillError) -> [String] {
        let names = Dictionary(uniqueKeysWithValues: threadIDs.map { ($0.value.wireString, $0.key) })
        let audit = try await query(
            """
            SELECT action, target, coalesce(reason, ''), coalesce(after->>'thread_id', '') FROM audit_events
             WHERE actor LIKE 'supervisor:%' ORDER BY id
            """
        )
        var lines = audit.map { row -> String in
            let target = (row[1] ?? "").replacingOccurrences(of: "thread:", with: "")
            let thread = names[row[3] ?? ""].map { " in \($0)" } ?? ""
            let named = names[target.lowercased()] ?? target
            return "\(row[0] ?? "") \(named)\(thread)\((row[2] ?? "").isEmpty ? "" : " (\(row[2]!))")"
        }
        let attempts = try await query(
            """
            SELECT w.target, a.attempt::text, a.action, a.outcome FROM wake_attempts a JOIN wake_requests w ON w.id = a.request_id
             ORDER BY \(Self.wakeOrder), a.attempt
            """
        )
        lines += attempts.map { "attempt \($0[1] ?? "") of \($0[0] ?? ""): \($0[2] ?? "") → \($0[3] ?? "")" }
        return lines
    }

    /// Wake requests (`w`) in the order they were made. Their `created_at` comes from the clock of whoever made
    /// them (the supervisor's virtual one, or the database's for `v1_wake_trigger`), so the audit trail orders them.
    static let wakeOrder = "(SELECT min(e.id) FROM audit_events e WHERE e.action = 'wake.request' AND e.after->>'wake_id' = w.id::text), w.id"

    /// Rows of text cells (NULL as nil); the drill's own database is trusted input.
    func query(_ sql: String) async throws(DrillError) -> [[String?]] {
        do {
            let rows = try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            var result: [[String?]] = []
            for try await row in rows {
                result.append(try row.makeRandomAccess().map { try $0.decode(String?.self, context: .default) })
            }
            return result
        } catch {
            throw DrillError("\(scenario.name): cannot read the end state: \(String(reflecting: error))")
        }
    }
}
