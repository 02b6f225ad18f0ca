import BridgeCore
import Foundation

/// Aligned plain-text columns for terminal output: a header row, then one line per row.
struct TextTable {
    let headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) {
        self.headers = headers
    }

    mutating func add(_ cells: String...) {
        rows.append(cells)
    }

    /// The table, each line indented by `indent`; the last column is not padded.
    func render(indent: String = "  ") -> String {
        let all = [headers] + rows
        let widths = headers.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            return indent + cells.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// Formatting shared by the operator commands: UTC times a person can read, one-line excerpts.
enum Display {
    private static let formatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        return formatter
    }()

    static func date(_ date: Date?) -> String {
        date.map { formatter.string(from: $0) } ?? "-"
    }

    /// The text on one line, cut to `limit` characters with an ellipsis.
    static func excerpt(_ text: String?, limit: Int = 60) -> String {
        guard let text, !text.isEmpty else { return "-" }
        let line = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\t", with: " ")
        return line.count <= limit ? line : String(line.prefix(limit - 1)) + "…"
    }

    /// A UUID in the lowercase form the CLI accepts back.
    static func id(_ id: UUID) -> String {
        id.wireString
    }
}
