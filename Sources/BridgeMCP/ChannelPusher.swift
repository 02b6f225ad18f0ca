import BridgeCore
import BridgeService
import Foundation
import Logging

/// Pushes each message directed at this session's participant into a live Claude Code session, as a
/// `notifications/claude/channel` (CLIENTS.md): the body as `content`, and `thread_id`, `seq`, `sender`, `kind`
/// as `meta`. Claude Code shows it as a `<channel>` event even while the session is idle. A wake someone asked
/// for by name (`v1_wake_trigger`) is pushed too, once, as `kind` `wake`; the supervisor holds it (`SESSION_LIVE`)
/// until the agent acks the thread.
///
/// It runs only when the client declared `capabilities.experimental["claude/channel"]` in `initialize`. Each
/// message is pushed once per session; a new session starts again from the participant's read cursor, so what
/// it never read reaches it after a reconnect. New posts wake it through the store's LISTEN connection (the
/// same NOTIFY long polls use), with a re-check every `recheckInterval` in case a notification was lost.
struct ChannelPusher: Sendable {
    let service: BridgeAPI
    let identity: CallerIdentity
    let client: ClientSession
    let send: @Sendable (Data) async -> Void
    var recheckInterval: Duration = .seconds(10)
    let logger: Logger

    /// Pushes until the task is cancelled (the session ended).
    func run() async {
        let initialized = client.initializeSignal()
        while client.info == nil {
            guard await initialized.wait() else { return }
        }
        guard client.info?.channel == true else { return }
        var pushed: [UUID: Int64] = [:]
        var wakesPushed: Set<UUID> = []
        var failing = false
        while !Task.isCancelled {
            // Registered before the query, so a post committed in between still wakes the wait below.
            let waiter = service.messageWaiter()
            defer { waiter.unregister() }
            do throws(BridgeError) {
                let caller = try await identity.resolve()
                var batch: [Message]
                repeat {
                    batch = try await service.unreadDirectedMessages(to: caller.handle, after: pushed, workspace: caller.workspace)
                    for message in batch {
                        await send(Self.notification(for: message))
                        pushed[message.threadID] = max(pushed[message.threadID] ?? 0, message.seq)
                    }
                } while batch.count == 100 && !Task.isCancelled
                for wake in try await service.requestedWakes(for: caller.handle, excluding: wakesPushed, workspace: caller.workspace) {
                    await send(Self.notification(for: wake))
                    wakesPushed.insert(wake.id)
                }
                failing = false
            } catch {
                if !failing {
                    logger.warning(
                        "Could not push to the channel; retrying.",
                        metadata: ["event": "channel.push_failed", "reason": "\(error.reason.rawValue)"]
                    )
                }
                failing = true
            }
            _ = await waiter.wait(timeout: failing ? .seconds(1) : recheckInterval)
        }
    }

    /// `{"jsonrpc":"2.0","method":"notifications/claude/channel","params":{"content":…,"meta":{…}}}`.
    static func notification(for message: Message) -> Data {
        notification(content: message.body, thread: message.threadID, seq: message.seq, sender: message.author, kind: message.kind.rawValue)
    }

    /// A requested wake, told as what to do.
    static func notification(for wake: RequestedWake) -> Data {
        notification(
            content: "\(wake.requestedBy) asks you to look at thread \(wake.threadID.wireString): read it with v1_message_read "
                + "and ack up to seq \(wake.triggerSeq) with v1_message_ack.",
            thread: wake.threadID,
            seq: wake.triggerSeq,
            sender: wake.requestedBy,
            kind: "wake"
        )
    }

    private static func notification(content: String, thread: UUID, seq: Int64, sender: String, kind: String) -> Data {
        JSONValue.object([
            "jsonrpc": .string("2.0"), "method": .string("notifications/claude/channel"),
            "params": .object([
                "content": .string(content),
                "meta": .object([
                    "thread_id": .string(thread.wireString), "seq": .string(String(seq)), "sender": .string(sender), "kind": .string(kind),
                ]),
            ]),
        ]).serialized()
    }
}
