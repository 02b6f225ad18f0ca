import Foundation
import Logging
import MCP

/// Wraps a transport so that the end of input does not lose answers still being computed.
///
/// The SDK handles each request in its own task and stops reading when stdin closes; a client that writes
/// its requests and closes its end at once (`printf … | agent-bridge serve`) would otherwise get no replies.
/// This transport holds the end of the incoming stream back until every request it delivered has been
/// answered (or cancelled by the client), bounded by `drainTimeout`.
public actor DrainingTransport: Transport {
    public nonisolated let logger: Logger
    private let inner: any Transport
    private let drainTimeout: Duration
    private var outstanding: Set<String> = []
    private var drained: [CheckedContinuation<Void, Never>] = []

    public init(wrapping inner: any Transport, drainTimeout: Duration, logger: Logger) {
        self.inner = inner
        self.drainTimeout = drainTimeout
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
        if let id = Self.envelope(data).responseID { settle(id) }
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, any Error> {
        AsyncThrowingStream { continuation in
            let pump = Task {
                do {
                    for try await data in await self.inner.receive() {
                        await self.track(data)
                        continuation.yield(data)
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

    private func track(_ data: Data) {
        let envelope = Self.envelope(data)
        if let id = envelope.requestID { outstanding.insert(id) }
        if let id = envelope.cancelledID { settle(id) }
    }

    private func settle(_ id: String) {
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

    /// The JSON-RPC ids a message carries: the id of a request, of a response, or of a cancelled request.
    struct Envelope {
        var requestID: String?
        var responseID: String?
        var cancelledID: String?
    }

    static func envelope(_ data: Data) -> Envelope {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return Envelope() }
        let id = object["id"].flatMap(idKey)
        if let method = object["method"] as? String {
            if id != nil { return Envelope(requestID: id) }
            if method == "notifications/cancelled", let params = object["params"] as? [String: Any] {
                return Envelope(cancelledID: params["requestId"].flatMap(idKey))
            }
            return Envelope()
        }
        if object["result"] != nil || object["error"] != nil { return Envelope(responseID: id) }
        return Envelope()
    }

    private static func idKey(_ value: Any) -> String? {
        switch value {
        case let string as String: "s:\(string)"
        case let number as NSNumber: "n:\(number.int64Value)"
        default: nil
        }
    }
}
