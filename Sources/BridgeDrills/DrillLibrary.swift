import Foundation

/// The runbook folder: pages (`runbooks/*.md`) and their drills (`runbooks/drills/*.yaml`).
public struct DrillLibrary: Sendable {
    public let runbooksDirectory: String

    public init(runbooksDirectory: String) {
        self.runbooksDirectory = runbooksDirectory
    }

    public var drillsDirectory: String { "\(runbooksDirectory)/drills" }

    /// The drill names, sorted.
    public func names() throws(DrillError) -> [String] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: drillsDirectory) else {
            throw DrillError("no drills folder at \(drillsDirectory); pass --runbooks DIR (the repository's runbooks/)")
        }
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The page files, sorted.
    public func pages() throws(DrillError) -> [String] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: runbooksDirectory) else {
            throw DrillError("no runbooks folder at \(runbooksDirectory)")
        }
        return files.filter { $0.hasSuffix(".md") && $0 != "README.md" }.sorted()
    }

    public func load(_ name: String) throws(DrillError) -> DrillScenario {
        let path = "\(drillsDirectory)/\(name).yaml"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            let known = (try? names())?.joined(separator: ", ") ?? ""
            throw DrillError("no drill \(name) (no file \(path)). Drills: \(known)")
        }
        return try DrillScenario.parse(text, name: name)
    }
}
