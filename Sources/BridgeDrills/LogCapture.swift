import Foundation
import Logging
import Synchronization

/// Keeps every log line of a drill in memory, so the drill can check which events and reasons fired,
/// and optionally passes them on (to stderr as JSON when `--verbose`).
final class LogCapture: Sendable {
    /// One captured line: its level and flattened metadata (`event`, `reason`, …).
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var fields: [String: String]
    }

    private let lines = Mutex<[Line]>([])

    var captured: [Line] { lines.withLock { $0 } }

    func append(_ line: Line) {
        lines.withLock { $0.append(line) }
    }

    /// A logger whose lines land here (and in `forward`, when given).
    func logger(label: String, forward: Logger? = nil) -> Logger {
        Logger(label: label) { [self] _ in Handler(capture: self, forward: forward) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        let forward: Logger?
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var fields: [String: String] = [:]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
                fields[key] = "\(value)"
            }
            capture.append(Line(level: event.level, message: event.message.description, fields: fields))
            forward?.log(
                level: event.level,
                event.message,
                metadata: event.metadata,
                source: event.source,
                file: event.file,
                function: event.function,
                line: event.line
            )
        }
    }
}
