import Foundation

/// What one pass over the bytes of a JSON text shows before any parser touches it.
///
/// The scan builds nothing and recurses nowhere, so a frame of any depth costs one linear pass; the SDK's
/// decoders, by contrast, spend seconds on a kilobyte of nested arrays. It reads the top-level members of
/// an object only as far as ``FrameGate`` needs them to answer a refused frame with the right id.
struct JSONShape: Sendable, Equatable {
    /// The first byte that is not whitespace; nil for a blank line.
    var opening: UInt8?
    /// The deepest nesting seen, counting the top-level value as 1.
    var depth = 0
    /// The top-level member whose value first went deeper than the limit, if any did.
    var deepMember: String?
    /// The top-level object has a `method` member.
    var hasMethod = false
    /// The top-level object has an `id` member.
    var hasID = false
    /// The bytes of the first top-level `id` member's value, whitespace included (`JSONDecoder`, like the
    /// SDK, reads the first of duplicate keys).
    var rawID: Data?

    /// Scans `bytes`, remembering which top-level member first nests deeper than `maximumDepth`.
    static func scan(_ bytes: Data, maximumDepth: Int) -> JSONShape {
        bytes.withUnsafeBytes { scan(UnsafeRawBufferPointer($0), maximumDepth: maximumDepth) }
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer, maximumDepth: Int) -> JSONShape {
        var shape = JSONShape()
        guard let first = bytes.firstIndex(where: { !isWhitespace($0) }) else { return shape }
        shape.opening = bytes[first]
        guard bytes[first] == UInt8(ascii: "{") else { return shape }

        var depth = 0
        var inString = false
        var escaped = false
        var stringIsKey = false
        var stringStart = 0
        var expectingKey = false
        var member: Range<Int>?
        var valueStart: Int?
        var index = first
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if stringIsKey {
                        member = (stringStart + 1)..<index
                        if equals(bytes, member!, "method") { shape.hasMethod = true }
                        if equals(bytes, member!, "id") { shape.hasID = true }
                    }
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                stringStart = index
                stringIsKey = depth == 1 && expectingKey
                if stringIsKey { expectingKey = false }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                shape.depth = max(shape.depth, depth)
                if depth == 1 { expectingKey = true }
                if depth == maximumDepth + 1, shape.deepMember == nil {
                    shape.deepMember = member.map { String(decoding: bytes[$0], as: UTF8.self) } ?? ""
                }
            case UInt8(ascii: ":") where depth == 1:
                valueStart = index + 1
            case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 1 {
                    if shape.rawID == nil, let start = valueStart, let key = member, equals(bytes, key, "id") {
                        shape.rawID = Data(bytes[start..<index])
                    }
                    valueStart = nil
                    expectingKey = byte == UInt8(ascii: ",")
                }
                if byte != UInt8(ascii: ",") {
                    depth -= 1
                    // The top-level object is complete; anything after it is the parser's to refuse.
                    if depth <= 0 { return shape }
                }
            default:
                break
            }
            index += 1
        }
        return shape
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return literal.withUTF8Buffer { literal in
            zip(bytes[range], literal).allSatisfy { $0 == $1 }
        }
    }
}
