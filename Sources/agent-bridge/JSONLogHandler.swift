import Foundation
import Logging

/// One JSON object per line on stderr: `ts`, `level`, `event`, `message`, then the metadata fields.
/// stdout is never touched, since in `serve` it is the JSON-RPC channel.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message, explicit = event.metadata
        var fields: [String: String] = [
            "ts": Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)),
            "level": level.rawValue,
            "message": message.description,
            "logger": label,
        ]
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        if fields["event"] == nil { fields["event"] = "log" }
        var object: [String: Any] = fields
        if let duration = fields["duration_ms"].flatMap(Double.init) { object["duration_ms"] = duration }
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0A)
        FileHandle.standardError.write(data)
    }
}
