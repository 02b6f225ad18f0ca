import Foundation
import NIOCore

/// Splits a byte stream into newline-delimited frames (MCP's stdio framing), each at most `maximumLineBytes`.
///
/// A longer line is reported once as ``Frame/tooLong`` and its bytes are dropped as they arrive, up to the
/// next newline, so it never costs more memory than the limit; the line after it is read as usual. Empty
/// lines are skipped. Both stdio transports (NIO-driven and blocking) frame their input with this.
struct LineFramer: Sendable {
    /// One unit of input.
    enum Frame: Sendable, Equatable {
        /// A line without its newline.
        case line(ByteBuffer)
        /// A line longer than the limit, already discarded.
        case tooLong
    }

    /// The longest line accepted, in bytes.
    let maximumLineBytes: Int
    /// Bytes past the reader index known to hold no newline, so a long line is not searched again per read.
    private var searched = 0
    private var discarding = false

    init(maximumLineBytes: Int) {
        self.maximumLineBytes = maximumLineBytes
    }

    /// The reply to a line over the limit: a JSON-RPC error without an id, since the line was never read.
    var tooLongReply: Data {
        JSONRPCErrorReply(
            id: nil,
            code: .invalidRequest,
            message: "Invalid Request: the line is longer than \(maximumLineBytes) bytes, the most one message may take; it was discarded."
        ).data
    }

    /// The next frame in `buffer`, consuming its bytes; nil when `buffer` holds no complete line yet.
    mutating func next(from buffer: inout ByteBuffer) -> Frame? {
        while true {
            let unsearched = buffer.readableBytes - searched
            let newline = buffer.withUnsafeReadableBytes { bytes in
                bytes.baseAddress.flatMap { base in
                    memchr(base + searched, 0x0A, unsearched).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) }
                }
            }
            guard let newline else {
                if discarding || buffer.readableBytes > maximumLineBytes {
                    buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                    searched = 0
                    if !discarding {
                        discarding = true
                        return .tooLong
                    }
                    return nil
                }
                searched = buffer.readableBytes
                return nil
            }
            searched = 0
            if discarding {
                buffer.moveReaderIndex(forwardBy: newline + 1)
                discarding = false
                continue
            }
            let line = buffer.readSlice(length: newline)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytes > maximumLineBytes { return .tooLong }
            if line.readableBytes > 0 { return .line(line) }
        }
    }

    /// The last line when input ends without a newline; nil when nothing is left.
    mutating func finish(_ buffer: inout ByteBuffer) -> Frame? {
        defer {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            searched = 0
            discarding = false
        }
        guard !discarding, buffer.readableBytes > 0 else { return nil }
        if buffer.readableBytes > maximumLineBytes { return .tooLong }
        return .line(buffer.readSlice(length: buffer.readableBytes)!)
    }
}
