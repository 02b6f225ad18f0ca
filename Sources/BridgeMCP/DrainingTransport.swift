import Foundation
import Logging
import MCP

/// Wraps a transport so that the end of input does not lose answers still being computed, and so that only
/// frames ``FrameGate`` lets through reach the SDK.
///
/// The SDK handles each request in its own task and stops reading when stdin closes; a client that writes
/// its requests and closes its end at once (`printf … | agent-bridge serve`) would otherwise get no replies.
/// This transport holds the end of the incoming stream back until every request it delivered has been
/// answered (or cancelled by the client), bounded by `drainTimeout`. A frame the gate refuses is answered
/// here, through the inner transport, before the next one is read.
public actor DrainingTransport: Transport {
    public nonisolated let logger: Logger
    private let inner: any Transport
    private let drainTimeout: Duration
    private let gate: FrameGate
    private var outstanding: Set<ID> = []
    private var drained: [CheckedContinuation<Void, Never>] = []

    init(wrapping inner: any Transport, drainTimeout: Duration, gate: FrameGate, logger: Logger) {
        self.inner = inner
        self.drainTimeout = drainTimeout
        self.gate = gate
        self.logger = logger
    }

    public func connect() async throws {
        try await inner.connect()
    }

    public func disconnect() async {
        await inner.disconnect()
    }

    public func send(_ data: Data) async throws {
        try await inner.send(data)
        // Only after the write: the answer is out before input may be declared finished.
        if let id = Self.answeredID(data) { settle(id) }
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, any Error> {
        AsyncThrowingStream { continuation in
            let pump = Task {
                do {
                    for try await data in await self.inner.receive() {
                        if let frame = await self.admit(data) { continuation.yield(frame) }
                    }
                    await self.waitForOutstandingAnswers()
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in pump.cancel() }
        }
    }

    // MARK: - Bookkeeping

    /// What goes on to the SDK for this frame; nil when it is answered or dropped here.
    private func admit(_ data: Data) async -> Data? {
        switch gate.classify(data) {
        case .pass(let frame, let request, let cancelled):
            if let request { outstanding.insert(request) }
            if let cancelled { settle(cancelled) }
            return frame
        case .answer(let reply):
            do {
                try await inner.send(reply)
            } catch {
                logger.warning("A refusal could not be written.", metadata: ["error": "\(error)"])
            }
            return nil
        case .drop(let reason):
            logger.warning("A message was ignored.", metadata: ["mcp.reason": "\(reason)"])
            return nil
        }
    }

    private func settle(_ id: ID) {
        outstanding.remove(id)
        if outstanding.isEmpty {
            drained.forEach { $0.resume() }
            drained.removeAll()
        }
    }

    private func waitForOutstandingAnswers() async {
        guard !outstanding.isEmpty else { return }
        let timeout = drainTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.untilDrained() }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    await self.giveUpDraining()
                } catch {
                    // Cancelled: every answer went out in time.
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func giveUpDraining() {
        guard !outstanding.isEmpty else { return }
        logger.warning("Input ended with requests still unanswered.", metadata: ["mcp.unanswered": "\(outstanding.count)"])
        outstanding.removeAll()
        drained.forEach { $0.resume() }
        drained.removeAll()
    }

    private func untilDrained() async {
        guard !outstanding.isEmpty else { return }
        await withCheckedContinuation { drained.append($0) }
    }

    /// The id of an outgoing response; the server sends no requests, so any id is an answer's.
    static func answeredID(_ data: Data) -> ID? {
        struct Answer: Decodable { var id: ID? }
        return (try? JSONDecoder().decode(Answer.self, from: data))?.id
    }
}
