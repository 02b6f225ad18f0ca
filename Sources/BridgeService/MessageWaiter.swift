import BridgeCore
import BridgeStore

/// A registered interest in new posts on any thread, woken by the store's LISTEN connection (the NOTIFY long
/// polls use); from ``BridgeAPI/messageWaiter()``.
///
/// A wait also ends when the listener (re)connects, since a notification may have been lost meanwhile: the
/// waiter queries again either way, as unread state is always derived from the tables.
public struct MessageWaiter: Sendable {
    private let hub: NotificationHub
    private let waiter: NotificationHub.Waiter

    init(hub: NotificationHub) {
        self.hub = hub
        self.waiter = hub.register(threads: nil)
    }

    /// Waits until a post may have happened, or `timeout` passes. Returns true when woken.
    public func wait(timeout: Duration) async -> Bool {
        await hub.wait(waiter, timeout: timeout)
    }

    /// Ends the registration.
    public func unregister() {
        hub.unregister(waiter)
    }
}
