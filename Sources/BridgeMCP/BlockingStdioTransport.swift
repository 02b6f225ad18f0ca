import Dispatch
import Foundation
import Logging
import MCP
import NIOCore
import Synchronization

/// MCP's stdio transport for descriptors epoll cannot watch: regular files, `/dev/null` and other devices
/// (`agent-bridge serve < requests.jsonl > replies.jsonl`).
///
/// A dedicated thread blocks in `read(2)` on stdin and a serial dispatch queue blocks in `write(2)` on stdout,
/// so neither holds a thread of Swift's cooperative pool. Lines are framed by ``LineFramer``, exactly as on the
/// NIO path. A descriptor that is not open reads as empty input and swallows output, with one log line.
public actor BlockingStdioTransport: Transport {
    public nonisolated let logger: Logger
    private let input: CInt
    private let output: Output
    private let incoming: AsyncThrowingStream<Data, any Error>
    private let incomingContinuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let stopped = StopFlag()
    private var started = false

    /// A transport on duplicates of this process's stdin and stdout.
    public init(logger: Logger) {
        self.logger = logger
        input = dup(STDIN_FILENO)
        output = Output(descriptor: dup(STDOUT_FILENO), logger: logger)
        (incoming, incomingContinuation) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    /// Starts the reader thread.
    public func connect() async throws {
        guard !started else { return }
        started = true
        let reader = Reader(
            descriptor: input,
            maximumLineBytes: PipeStdioTransport.maximumLineBytes,
            stopped: stopped,
            continuation: incomingContinuation,
            output: output,
            logger: logger
        )
        let thread = Thread { reader.run() }
        thread.name = "agent-bridge.stdin"
        thread.start()
    }

    /// Writes the remaining answers, then closes stdout; the reader stops before its next read.
    public func disconnect() async {
        stopped.set()
        await output.close()
        incomingContinuation.finish()
    }

    /// Queues one message and its newline for stdout; it is written before `disconnect()` returns.
    public func send(_ data: Data) async throws {
        output.write(data)
    }

    /// stdin's lines, in order; it ends with the input or at `disconnect()`.
    public nonisolated func receive() -> AsyncThrowingStream<Data, any Error> {
        incoming
    }

    /// stdout, written in order by blocking writes on one serial queue; the descriptor is touched only there.
    final class Output: @unchecked Sendable {
        private let queue = DispatchQueue(label: "agent-bridge.stdout")
        private let logger: Logger
        private var descriptor: CInt
        private var failed = false

        init(descriptor: CInt, logger: Logger) {
            self.descriptor = descriptor
            self.logger = logger
            if descriptor < 0 { logger.warning("stdout is not open; answers are discarded.") }
        }

        /// Queues `data` and a newline; a failed write drops the answer and is logged once.
        func write(_ data: Data) {
            var line = data
            line.append(0x0A)
            queue.async { [line] in self.writeAll(line) }
        }

        /// Closes stdout once every queued answer is written.
        func close() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                queue.async {
                    if self.descriptor >= 0 { Glibc.close(self.descriptor) }
                    self.descriptor = -1
                    continuation.resume()
                }
            }
        }

        private func writeAll(_ data: Data) {
            guard descriptor >= 0 else { return }
            data.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if written >= 0 {
                        offset += written
                    } else if errno == EINTR {
                        continue
                    } else if errno == EAGAIN || errno == EWOULDBLOCK {
                        // An inherited non-blocking descriptor: wait until it takes more.
                        var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&ready, 1, -1)
                    } else {
                        if !failed {
                            failed = true
                            logger.warning("An answer could not be written to stdout.", metadata: ["error": "\(String(cString: strerror(errno)))"])
                        }
                        return
                    }
                }
            }
        }
    }

    /// Set once when the transport disconnects; the reader checks it between reads.
    final class StopFlag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    /// The body of the reader thread: read, frame, hand over, until end of input or disconnect.
    struct Reader: Sendable {
        let descriptor: CInt
        let maximumLineBytes: Int
        let stopped: StopFlag
        let continuation: AsyncThrowingStream<Data, any Error>.Continuation
        let output: Output
        let logger: Logger

        static let chunkBytes = 64 * 1024

        func run() {
            defer {
                if descriptor >= 0 { close(descriptor) }
                continuation.finish()
            }
            guard descriptor >= 0 else {
                logger.warning("stdin is not open; serving no input.")
                return
            }
            var framer = LineFramer(maximumLineBytes: maximumLineBytes)
            var buffer = ByteBufferAllocator().buffer(capacity: Self.chunkBytes)
            while !stopped.isSet {
                var failure: Int32 = 0
                let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.chunkBytes) { space in
                    let count = read(descriptor, space.baseAddress, space.count)
                    if count < 0 { failure = errno }
                    return max(count, 0)
                }
                if failure == EINTR { continue }
                if failure == EAGAIN || failure == EWOULDBLOCK {
                    var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    _ = poll(&ready, 1, 1000)
                    continue
                }
                if failure != 0 {
                    logger.warning("stdin could not be read; ending input.", metadata: ["error": "\(String(cString: strerror(failure)))"])
                    return
                }
                if count == 0 {
                    if let last = framer.finish(&buffer) { hand(last, framer) }
                    return
                }
                while let frame = framer.next(from: &buffer) { hand(frame, framer) }
                compact(&buffer)
            }
        }

        private func hand(_ frame: LineFramer.Frame, _ framer: LineFramer) {
            switch frame {
            case .line(let line): continuation.yield(Data(buffer: line))
            case .tooLong: output.write(framer.tooLongReply)
            }
        }

        /// Reuses the buffer's space without copying a long partial line on every read.
        private func compact(_ buffer: inout ByteBuffer) {
            if buffer.readableBytes == 0 {
                if buffer.capacity > 4 * Self.chunkBytes {
                    // After a long line: give its memory back rather than keep the high-water mark.
                    buffer = ByteBufferAllocator().buffer(capacity: Self.chunkBytes)
                } else {
                    buffer.clear()
                }
            } else if buffer.readerIndex >= Self.chunkBytes, buffer.readerIndex >= buffer.readableBytes {
                buffer.discardReadBytes()
            }
        }
    }
}
