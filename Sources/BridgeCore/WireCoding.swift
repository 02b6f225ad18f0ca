import Foundation

/// The one JSON convention of the wire and of stored results: snake_case keys (declared by each type's
/// CodingKeys, never converted, so payload keys stay as sent), members sorted, ISO 8601 dates with
/// milliseconds, strings and numbers exactly as sent. Built on ``JSONParser``, ``JSONWriter`` and the
/// ``JSONValueEncoder`` / ``JSONValueDecoder`` pair, none of which keeps state, so nothing is built per call.
public enum WireCoding {
    /// The JSON text of a result, a stored reply or a payload.
    public static func encode(_ value: some Encodable) throws -> Data {
        JSONWriter.data(try JSONValueEncoder().encode(value))
    }

    /// A typed value from JSON text (arguments, stored replies).
    public static func decode<T: Decodable>(_ type: T.Type, from data: some Collection<UInt8>) throws -> T {
        try JSONValueDecoder().decode(type, from: JSONParser.parse(data))
    }

    /// `2026-11-21T10:00:00.123Z`.
    public static func formatTimestamp(_ date: Date) -> String {
        date.formatted(timestampStyle)
    }

    /// Parses an ISO 8601 timestamp with or without fractional seconds.
    public static func parseTimestamp(_ text: String) -> Date? {
        (try? timestampStyle.parse(text)) ?? (try? wholeSecondsStyle.parse(text))
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    private static let wholeSecondsStyle = Date.ISO8601FormatStyle()
}
