import BridgeCore
import Foundation

/// Reads a catalog folder from disk: the one named by `--catalog` / `AGENT_BRIDGE_CATALOG`, else the copy
/// bundled with this build (the repository's `catalog/`).
public enum CatalogLoader {
    /// The catalog bundled with the binary.
    public static var bundledDirectory: String? {
        Bundle.module.url(forResource: "catalog", withExtension: nil)?.path
    }

    /// Loads and validates the catalog in `directory` (nil: the bundled one).
    public static func load(directory: String?) throws(CatalogError) -> PolicyCatalog {
        guard let folder = directory ?? bundledDirectory else {
            throw CatalogError(file: "catalog", line: nil, problem: "no catalog folder was given and none is bundled with this build")
        }
        var texts: [String: String] = [:]
        for name in CatalogParser.fileNames {
            var path = "\(folder)/\(name)"
            // A catalog folder written before runtimes.yaml existed gets the built-in runtimes.
            if name == "runtimes.yaml", !FileManager.default.fileExists(atPath: path), let bundled = bundledDirectory {
                path = "\(bundled)/\(name)"
            }
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do {
                texts[name] = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw CatalogError(file: path, line: nil, problem: "cannot be read (\(error.localizedDescription))")
            }
        }
        do {
            return try CatalogParser.parse(texts)
        } catch {
            throw CatalogError(file: "\(folder)/\(error.file)", line: error.line, problem: error.problem)
        }
    }
}
