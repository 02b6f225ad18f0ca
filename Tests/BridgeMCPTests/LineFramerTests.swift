import Foundation
import NIOCore
import Testing

@testable import BridgeMCP

/// The line framing both stdio transports share, fed in chunks the way reads deliver them.
@Suite struct LineFramerTests {
    /// Feeds `chunks` one after another, then ends the input; returns each frame as text or `TOO LONG`.
    func frames(_ chunks: [String], limit: Int = 8) -> [String] {
        var framer = LineFramer(maximumLineBytes: limit)
        var buffer = ByteBuffer()
        var out: [String] = []
        func collect(_ frame: LineFramer.Frame) {
            switch frame {
            case .line(let line): out.append(String(buffer: line))
            case .tooLong: out.append("TOO LONG")
            }
        }
        for chunk in chunks {
            buffer.writeString(chunk)
            while let frame = framer.next(from: &buffer) { collect(frame) }
            #expect(buffer.readableBytes <= limit, "never holds more than one line's worth")
        }
        if let last = framer.finish(&buffer) { collect(last) }
        return out
    }

    @Test func linesSplitAcrossReadsAreJoinedAndEmptyLinesSkipped() {
        #expect(frames(["ab", "c\n\nde", "f\n", "\n", "gh"]) == ["abc", "def", "gh"])
    }

    @Test func aLineAtTheLimitIsKept() {
        #expect(frames(["12345678\n"]) == ["12345678"])
        #expect(frames(["1234", "5678", "\nok"]) == ["12345678", "ok"])
    }

    @Test func anOversizeLineIsReportedOnceAndDiscardedUpToItsNewline() {
        #expect(frames(["123456789\nok\n"]) == ["TOO LONG", "ok"])
        #expect(frames(["12345", "6789", "abcdefghijkl", "mnop\nok\n"]) == ["TOO LONG", "ok"])
        #expect(frames(["123456789012", "\n", "x\n"]) == ["TOO LONG", "x"])
    }

    @Test func anOversizeLastLineWithoutANewlineIsReportedOnce() {
        #expect(frames(["ok\n123456789", "0123"]) == ["ok", "TOO LONG"])
    }

    @Test func theOversizeReplyHasANullIDAndTheLimit() throws {
        let reply = LineFramer(maximumLineBytes: 8_388_608).tooLongReply
        let object = try #require(try JSONSerialization.jsonObject(with: reply) as? [String: Any])
        #expect(object["id"] is NSNull)
        let error = try #require(object["error"] as? [String: Any])
        #expect(error["code"] as? Int == -32600)
        #expect((error["message"] as? String)?.contains("8388608") == true)
    }
}
