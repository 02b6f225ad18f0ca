import Foundation

/// A runbook page (`runbooks/NAME.md`) as far as drills need it: the signals listed under `## Signals`.
///
/// Each bullet there starts with one signal in backticks:
/// - a metric, `agent_bridge_wake_attempts_total{result="dead"}` (fires when above 0) or with a comparison,
///   `agent_bridge_database_up == 0`;
/// - `/ready 503` or `/ready 200`;
/// - a log event, `tick.failed`;
/// - a reason code, `WAKE_RETRIES_EXHAUSTED`.
public struct RunbookPage: Sendable {
    public let file: String
    public let title: String
    public let signals: [Signal]

    public static func load(directory: String, file: String) throws(DrillError) -> RunbookPage {
        let path = "\(directory)/\(file)"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DrillError("cannot read the runbook page \(path)")
        }
        return try parse(text, file: file)
    }

    public static func parse(_ text: String, file: String) throws(DrillError) -> RunbookPage {
        var title = file
        var signals: [Signal] = []
        var inSignals = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# ") { title = String(line.dropFirst(2)) }
            if line.hasPrefix("## ") {
                inSignals = line.dropFirst(3).trimmingCharacters(in: .whitespaces).lowercased() == "signals"
                continue
            }
            guard inSignals, line.hasPrefix("- `") else { continue }
            let rest = line.dropFirst(3)
            guard let end = rest.firstIndex(of: "`") else { continue }
            let text = String(rest[..<end])
            guard let signal = Signal(text) else { throw DrillError("\(file): cannot read the signal `\(text)`") }
            signals.append(signal)
        }
        guard !signals.isEmpty else { throw DrillError("\(file) lists no signals under ## Signals") }
        return RunbookPage(file: file, title: title, signals: signals)
    }
}

/// One signal a runbook names and a drill checks.
public struct Signal: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case metric(MetricCondition)
        case ready(Bool)
        case event(String)
        case reason(String)
    }

    public let text: String
    public let kind: Kind

    public init?(_ text: String) {
        self.text = text
        if text.hasPrefix("agent_bridge_") {
            guard let condition = MetricCondition(text) else { return nil }
            kind = .metric(condition)
        } else if text.hasPrefix("/ready ") {
            switch text.dropFirst(7) {
            case "200": kind = .ready(true)
            case "503": kind = .ready(false)
            default: return nil
            }
        } else if text.allSatisfy({ $0.isUppercase || $0 == "_" || $0.isNumber }) {
            kind = .reason(text)
        } else if text.contains("."), text.allSatisfy({ $0.isLowercase || $0 == "." || $0 == "_" }) {
            kind = .event(text)
        } else {
            return nil
        }
    }
}

/// `name{label="value",…} OP number`; without a comparison it means `> 0`.
public struct MetricCondition: Sendable, Hashable {
    public let name: String
    public let labels: [String: String]
    public let comparison: String
    public let threshold: Double

    init?(_ text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        let nameEnd = rest.firstIndex { !($0.isLetter || $0.isNumber || $0 == "_") } ?? rest.endIndex
        name = String(rest[..<nameEnd])
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.hasPrefix("{") {
            guard let close = rest.firstIndex(of: "}") else { return nil }
            guard let parsed = MetricSample.labels(rest[rest.index(after: rest.startIndex)..<close]) else { return nil }
            labels = parsed
            rest = rest[rest.index(after: close)...]
        }
        self.labels = labels
        let parts = rest.split(separator: " ")
        switch parts.count {
        case 0:
            comparison = ">"
            threshold = 0
        case 2:
            guard ["==", ">", ">=", "<", "<="].contains(String(parts[0])), let value = Double(parts[1]) else { return nil }
            comparison = String(parts[0])
            threshold = value
        default:
            return nil
        }
    }

    /// Whether some sample of this metric with (at least) these labels satisfies the comparison.
    func holds(in samples: [MetricSample]) -> Bool {
        samples.contains { sample in
            guard sample.name == name, labels.allSatisfy({ sample.labels[$0.key] == $0.value }) else { return false }
            switch comparison {
            case "==": return sample.value == threshold
            case ">=": return sample.value >= threshold
            case "<": return sample.value < threshold
            case "<=": return sample.value <= threshold
            default: return sample.value > threshold
            }
        }
    }
}

/// One line of Prometheus text.
public struct MetricSample: Sendable, Hashable {
    public let name: String
    public let labels: [String: String]
    public let value: Double

    /// The samples in a Prometheus text exposition; comments and unreadable lines are skipped.
    public static func parse(_ text: String) -> [MetricSample] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            var labels: [String: String] = [:]
            let name: Substring
            let valueText: Substring
            if let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") {
                name = line[..<open]
                guard let parsed = Self.labels(line[line.index(after: open)..<close]) else { return nil }
                labels = parsed
                valueText = line[line.index(after: close)...]
            } else {
                let parts = line.split(separator: " ")
                guard parts.count >= 2 else { return nil }
                name = parts[0]
                valueText = parts[1]
            }
            guard let value = Double(valueText.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") else { return nil }
            return MetricSample(name: String(name), labels: labels, value: value)
        }
    }

    /// `a="x",b="y"` as a dictionary.
    static func labels(_ text: Substring) -> [String: String]? {
        var labels: [String: String] = [:]
        var rest = text
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            rest = rest[rest.index(after: equals)...]
            guard rest.hasPrefix("\"") else { return nil }
            rest = rest.dropFirst()
            guard let quote = rest.firstIndex(of: "\"") else { return nil }
            labels[key] = String(rest[..<quote])
            rest = rest[rest.index(after: quote)...].drop { $0 == "," || $0 == " " }
        }
        return labels
    }
}
