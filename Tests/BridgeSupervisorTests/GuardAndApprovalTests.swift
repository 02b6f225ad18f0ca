import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation
import PostgresNIO
import Testing

/// Loop guards and approval-ticket timing, run by the supervisor's tick.
@Suite struct GuardAndApprovalTests {
    /// The audit rows on one target, oldest first: (actor, action, reason).
    func audit(_ h: SupervisorHarness, target: String) async throws -> [(String, String, String?)] {
        let rows = try await h.store.client.query(
            "SELECT actor, action, reason FROM audit_events WHERE target = \(target) ORDER BY id",
            logger: h.logger
        )
        var events: [(String, String, String?)] = []
        for try await row in rows.decode((String, String, String?).self) { events.append(row) }
        return events
    }

    @Test func agentTurnsWithoutProgressBlockTheThread() async throws {
        try await SupervisorHarness.run(timings: { $0.noProgressAutoBlockTurns = 4 }) { h in
            let thread = try await h.thread(by: "rev", members: ["exec"])
            // Progress (a result) in the middle resets the count: 3 turns, a result, 3 turns — no block.
            for index in 0..<3 { try await h.post("thinking \(index)", in: thread, from: index % 2 == 0 ? "rev" : "exec") }
            try await h.post("tests pass", in: thread, from: "exec", kind: .result)
            for index in 0..<3 { try await h.post("more thinking \(index)", in: thread, from: "rev") }
            #expect(await h.tick().threadsBlocked == 0)
            #expect(try await h.store.thread(thread, context: h.context("rev")).thread.status == .active)

            try await h.post("and more", in: thread, from: "exec")
            #expect(await h.tick().threadsBlocked == 1)
            let detail = try await h.store.thread(thread, context: h.context("rev")).thread
            #expect(detail.status == .blocked)
            #expect(detail.statusReason == "NO_PROGRESS_LIMIT")
            let last = try await h.store.readMessages(threadID: thread, afterSeq: detail.lastSeq - 1, limit: 1, context: h.context("rev")).messages
                .first
            #expect(last?.kind == .system)
            #expect(last?.body.contains("NO_PROGRESS_LIMIT") == true)
            let events = try await audit(h, target: "thread:\(thread.uuidString.lowercased())")
            #expect(events.contains { $0.0 == "supervisor:test-sup" && $0.1 == "thread.escalate" && $0.2 == "NO_PROGRESS_LIMIT" })
            // Agents may no longer post until a person unblocks it.
            await #expect(throws: BridgeError.self) { try await h.post("still here", in: thread, from: "exec") }
        }
    }

    @Test func theSameFindingRepeatedBlocksTheThreadAndCountsAfreshAfterUnblock() async throws {
        try await SupervisorHarness.run(timings: { $0.repeatedFindingAutoBlockCycles = 3 }) { h in
            let thread = try await h.thread(by: "rev", members: ["exec"])
            for cycle in 0..<3 {
                try await h.post("cache.swift:42 races on logout", in: thread, from: "rev", to: ["exec"], kind: .finding)
                try await h.post("fixed in cycle \(cycle)", in: thread, from: "exec", kind: .result)
                #expect(await h.tick().threadsBlocked == (cycle == 2 ? 1 : 0))
            }
            var detail = try await h.store.thread(thread, context: h.context("rev")).thread
            #expect(detail.status == .blocked)
            #expect(detail.statusReason == "REPEATED_FINDING")

            let ops = CallContext(
                identity: Identity(workspace: "local", handle: "dana", role: .operator, origin: .operator),
                requestID: "req_unblock"
            )
            _ = try await h.store.setThreadStatus(thread, transition: .unblock, reason: "looked at it", context: ops, idempotency: nil) {
                _ throws(BridgeError) in
            }
            try await h.post("cache.swift:42 races on logout", in: thread, from: "rev", to: ["exec"], kind: .finding)
            #expect(await h.tick().threadsBlocked == 0)
            detail = try await h.store.thread(thread, context: h.context("rev")).thread
            #expect(detail.status == .active)
        }
    }

    @Test func pendingTicketsEscalateAndThenExpireOnTheClock() async throws {
        try await SupervisorHarness.run { h in
            let thread = try await h.thread(by: "rev", members: ["gate"])
            let (ticket, _) = try await h.store.requestApproval(
                NewApprovalTicket(
                    threadID: thread,
                    actionClass: "fs_write",
                    resource: "src/auth/cache.swift",
                    summary: "apply the fix",
                    risk: .medium,
                    initialState: .pending,
                    reasonCode: nil,
                    ttl: .seconds(1800),
                    escalateAfter: .seconds(600)
                ),
                context: h.context("rev"),
                idempotency: nil
            ) { _ throws(BridgeError) in }
            let ticketTarget = "ticket:\(ticket.id.uuidString.lowercased())"
            // Times below count from the ticket's creation, on the database's clock.
            h.advance(.milliseconds(Int64(ticket.createdAt.timeIntervalSince(h.clock.now()) * 1000)))

            h.advance(.seconds(300))
            #expect(await h.tick().ticketsEscalated == 0)
            h.advance(.seconds(301))
            let escalation = await h.tick()
            #expect(escalation.ticketsEscalated == 1)
            #expect(escalation.ticketsExpired == 0)
            #expect(try await h.store.ticket(ticket.id, context: h.context("rev")).escalatedAt != nil)
            #expect(await h.tick().ticketsEscalated == 0)

            h.advance(.seconds(1200))
            #expect(await h.tick().ticketsExpired == 1)
            let rows = try await h.store.client.query(
                "SELECT state, reason_code FROM approval_tickets WHERE id = \(ticket.id)",
                logger: h.logger
            )
            for try await (state, reason) in rows.decode((String, String?).self) {
                #expect(state == "expired")
                #expect(reason == "TICKET_EXPIRED")
            }
            let events = try await audit(h, target: ticketTarget)
            #expect(events.map(\.1) == ["approval.request", "approval.escalated", "approval.expired"])
            // The requester hears of it in the thread.
            let messages = try await h.store.readMessages(threadID: thread, afterSeq: 0, limit: 10, context: h.context("rev")).messages
            #expect(messages.last?.to == ["rev"])
            #expect(messages.last?.body.contains("expired") == true)
        }
    }
}
