import Foundation
import Logging
import Testing

@testable import BridgeStore

/// The long-poll wake-up: a waiter whose wait timed out must still be woken by the next notification.
@Suite struct NotificationHubTests {
    @Test func aWaiterStaysUsableAfterATimedOutWait() async throws {
        let endpoint = try DatabaseEndpoint(url: "postgres://nobody@localhost/none?host=/nonexistent")
        let store = PostgresStore(configuration: .init(endpoint: endpoint), logger: Logger(label: "hub-tests"))
        let hub = store.notifications
        let thread = UUID()
        let waiter = hub.register(threads: [thread])
        defer { hub.unregister(waiter) }

        #expect(await hub.wait(waiter, timeout: .milliseconds(20)) == false, "nothing was posted")
        hub.deliver(threadID: UUID())
        #expect(await hub.wait(waiter, timeout: .milliseconds(20)) == false, "another thread's post is not ours")
        hub.deliver(threadID: thread)
        #expect(await hub.wait(waiter, timeout: .seconds(30)) == true, "a post after a timed-out wait still wakes the waiter")

        // A notification arriving while the reader waits wakes it at once.
        async let woken = hub.wait(waiter, timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        hub.deliver(threadID: nil)
        #expect(await woken == true)
    }
}
