import BridgeCore
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
        var fields: [String: JSONValue] = [
            "ts": .string(WireCoding.formatTimestamp(Date())),
            "level": .string(event.level.rawValue),
            "message": .string(event.message.description),
            "logger": .string(label),
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = .string("\(value)")
        }
        if fields["event"] == nil { fields["event"] = .string("log") }
        if let duration = fields["duration_ms"]?.stringValue.flatMap(JSONNumber.init(literal:)) { fields["duration_ms"] = .number(duration) }
        var line: [UInt8] = []
        JSONWriter.write(.object(fields), into: &line)
        line.append(0x0A)
        FileHandle.standardError.write(Data(line))
    }
}
