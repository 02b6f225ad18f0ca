import BridgeCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Sends the post notifications (`pg_notify` of the thread id on ``PostgresStore/messageChannel``) after the post's
/// COMMIT, off its critical section.
///
/// A `pg_notify` inside a transaction takes PostgreSQL's global notify lock at commit and holds it until the
/// commit record is flushed, so notifying commits flush one after another instead of together, and posts/s falls
/// as writers are added. Here the post's transaction has no notify; once its COMMIT is confirmed, the threads it
/// wrote to are notified by a transaction of their own that writes nothing and so commits with
/// `synchronous_commit = off`: it holds the lock for microseconds, not for a flush. In `batched` mode concurrent
/// posts share one such transaction: the first to arrive sends every thread pending and the ones that arrive
/// meanwhile go out with the next batch, sent by one of them (a group commit of notifications).
///
/// An agent's post is one autocommit statement, and its commit is confirmed by the next round trip on the same
/// connection (``confirmCommit(of:on:)``): in `after_commit` mode that round trip is the notify itself, so a post
/// costs two round trips in all.
///
/// A post answers only after its notification was sent, so waiters keep LISTEN/NOTIFY's behaviour. If the process
/// dies between the COMMIT and the notify, the notification is lost; every waiter re-checks by seq on its own
/// interval (long polls, channel push, the supervisor's poll), as it does for a listener that reconnects.
public final class PostNotifier: Sendable {
    /// Where a post's notification is sent.
    public enum Mode: String, Sendable, CaseIterable {
        /// In the post statement, inside its transaction: the notify lock is held across the commit flush.
        case inStatement = "in_statement"
        /// After COMMIT, one notify transaction per post transaction.
        case afterCommit = "after_commit"
        /// After COMMIT, concurrent posts' notifications coalesced into one notify transaction.
        case batched
    }

    private struct State {
        var pending: Set<UUID> = []
        var sending = false
        /// Posts waiting for the batch in flight to finish; resumed with true to send the next batch themselves.
        var waiting: [CheckedContinuation<Bool, Never>] = []
    }

    public let mode: Mode
    private let client: PostgresClient
    private let timeout: Duration
    private let logger: Logger
    private let state = Mutex(State())

    init(mode: Mode, client: PostgresClient, timeout: Duration, logger: Logger) {
        self.mode = mode
        self.client = client
        self.timeout = timeout
        self.logger = logger
    }

    /// Notifies `threads`, whose posts have committed; returns once the notification was sent (or failed, which is
    /// logged: the posts are stored either way).
    func send(_ threads: Set<UUID>) async {
        guard !threads.isEmpty else { return }
        switch mode {
        case .inStatement: return
        case .afterCommit: await deliver(threads)
        case .batched: await sendBatched(threads)
        }
    }

    /// Confirms that the autocommit post statement that just ran on `connection` has committed, and in
    /// `after_commit` mode notifies `thread` in the same round trip.
    ///
    /// PostgresNIO hands back a statement's rows at its CommandComplete, before the implicit transaction commits at
    /// Sync, and sends the connection's next query only after the server's ReadyForQuery, which follows the commit.
    /// A commit that fails after CommandComplete is an unexpected message to PostgresNIO, which closes the
    /// connection. So an answer to the next query, even an error from the server, proves the commit; a failure
    /// without a server error leaves it unknown: `UNAVAILABLE` / `COMMIT_OUTCOME_UNKNOWN`.
    func confirmCommit(of thread: UUID, on connection: PostgresConnection) async throws {
        let query: PostgresQuery = mode == .afterCommit ? Self.notifyQuery([thread]) : "SELECT 1"
        do {
            for try await _ in try await connection.query(query, logger: logger) {}
        } catch let error where StoreErrorMapping.sqlState(of: error) != nil {
            logger.warning(
                "Could not notify a post; waiters find it on their next re-check.",
                metadata: ["event": "notify.failed", "error": "\(String(describing: error))", "threads": "1"]
            )
        } catch {
            throw PostgresStore.autocommitFailure(error)
        }
    }

    /// Sends the notification of a post confirmed by ``confirmCommit(of:on:)``, when the mode sends it separately
    /// (`batched`); the other modes have sent it already.
    func sendConfirmed(_ thread: UUID) async {
        guard mode == .batched else { return }
        await sendBatched([thread])
    }

    private func sendBatched(_ threads: Set<UUID>) async {
        let sends = await withCheckedContinuation { continuation in
            state.withLock { state in
                state.pending.formUnion(threads)
                if state.sending {
                    state.waiting.append(continuation)
                } else {
                    state.sending = true
                    continuation.resume(returning: true)
                }
            }
        }
        // Not the sender: the threads went out with the batch of whoever sent it.
        guard sends else { return }
        let (batch, covered) = state.withLock { state in
            defer {
                state.pending = []
                state.waiting = []
            }
            return (state.pending, state.waiting)
        }
        await deliver(batch)
        // Whoever arrived during the send is pending with the next batch; the first of them sends it.
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.waiting.isEmpty else {
                state.sending = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        for waiter in covered { waiter.resume(returning: false) }
        next?.resume(returning: true)
    }

    /// One autocommit statement: `pg_notify` for each thread, with `synchronous_commit` off for its transaction,
    /// which writes nothing that needs the flush. Bounded by the operation timeout.
    private func deliver(_ threads: Set<UUID>) async {
        let query = Self.notifyQuery(threads)
        let client = client
        let logger = logger
        do {
            try await BoundedOperation.run(
                within: timeout,
                abandon: { BridgeError(.unavailable, .databaseUnavailable, "The notify was not sent in time.") }
            ) {
                for try await _ in try await client.query(query, logger: logger) {}
            }
        } catch {
            logger.warning(
                "Could not notify posts; waiters find them on their next re-check.",
                metadata: ["event": "notify.failed", "error": "\(String(describing: error))", "threads": "\(threads.count)"]
            )
        }
    }
}

extension PostNotifier {
    /// `pg_notify` of each thread, in a transaction of its own with `synchronous_commit` off: it writes nothing that
    /// needs the flush.
    static func notifyQuery(_ threads: Set<UUID>) -> PostgresQuery {
        let payloads = threads.map(\.wireString)
        return """
            SELECT set_config('synchronous_commit', 'off', true), pg_notify(\(PostgresStore.messageChannel), t)
              FROM unnest(\(payloads)::text[]) t
            """
    }
}

/// The threads a transaction posted to, notified once it has committed (``PostgresStore/withTransaction(_:)``).
final class PostedThreads: Sendable {
    @TaskLocal static var current: PostedThreads?

    private let threads = Mutex<Set<UUID>>([])

    func insert(_ thread: UUID) { threads.withLock { _ = $0.insert(thread) } }
    var all: Set<UUID> { threads.withLock { $0 } }
}
