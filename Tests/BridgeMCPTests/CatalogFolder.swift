import BridgeService
import Foundation
import Testing

/// A temporary policy catalog for tests: the bundled `policy.yaml` and `roles.yaml` with an `approvals.yaml` of
/// the test's own. The caller removes it (`defer { try? FileManager.default.removeItem(at: folder) }`).
enum CatalogFolder {
    static func make(approvals: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let bundled = try #require(CatalogLoader.bundledDirectory as String?)
        for name in ["policy.yaml", "roles.yaml"] {
            try FileManager.default.copyItem(atPath: "\(bundled)/\(name)", toPath: folder.appendingPathComponent(name).path)
        }
        try approvals.write(to: folder.appendingPathComponent("approvals.yaml"), atomically: true, encoding: .utf8)
        return folder
    }
}
