import BridgeCore
import Foundation
import PostgresNIO

extension BenchSession {
    /// Checks every thread in the scratch database: its messages carry seqs 1…n, each once, and n is its `last_seq`.
    func checkGaplessSeqs() async throws -> BenchReport.GaplessCheck {
        let rows = try await writerStore.client.query(
            """
            SELECT count(*)::int8, coalesce(sum(s.n), 0)::int8, (count(*) FILTER (WHERE NOT s.ok))::int8
              FROM (SELECT t.id, count(m.seq) AS n,
                           count(m.seq) = count(DISTINCT m.seq)
                           AND count(m.seq) = t.last_seq
                           AND coalesce(min(m.seq), 1) = 1
                           AND coalesce(max(m.seq), 0) = t.last_seq AS ok
                      FROM threads t LEFT JOIN messages m ON m.thread_id = t.id
                     GROUP BY t.id, t.last_seq) s
            """,
            logger: logger
        )
        for try await (threads, messages, violating) in rows.decode((Int64, Int64, Int64).self) {
            return .init(threads: Int(threads), messages: Int(messages), violatingThreads: Int(violating), pass: violating == 0)
        }
        return .init(threads: 0, messages: 0, violatingThreads: 0, pass: false)
    }

    /// Serve start to `initialize` reply, `serveSamples` fresh processes one after another.
    func measureServeInitialize() async throws -> LatencySummary {
        let probe = ServeProbe(executable: configuration.executablePath, databaseURL: endpoint.url, workspace: Fixture.workspace)
        var latencies: [Duration] = []
        for _ in 0..<configuration.serveSamples {
            try Task.checkCancellation()
            do {
                latencies.append(try await probe.measureOnce())
            } catch {
                tally.add(step: "serve_initialize", kind: .serve, calls: 0, failures: ["NO_INITIALIZE_REPLY": 1])
            }
        }
        return LatencySummary(latencies)
    }
}
