import BridgeCore
import Foundation
import Testing
import Yams

@Suite struct ThreadStatusTests {
    @Test(arguments: [
        (ThreadStatus.active, ThreadStatus.Transition.escalate, ThreadStatus.blocked),
        (.blocked, .unblock, .active),
        (.active, .close, .closed),
        (.blocked, .close, .closed),
    ])
    func allowedTransitions(from: ThreadStatus, transition: ThreadStatus.Transition, to: ThreadStatus) throws {
        #expect(try from.applying(transition) == to)
    }

    @Test func refusedTransitionsNameTheirReason() {
        #expect(throws: BridgeError.self) { try ThreadStatus.blocked.applying(.escalate) }
        do {
            _ = try ThreadStatus.closed.applying(.unblock)
            Issue.record("closed threads must not reopen")
        } catch {
            #expect(error.reason == .threadClosed)
        }
        do {
            _ = try ThreadStatus.active.applying(.unblock)
        } catch {
            #expect(error.reason == .invalidStatusTransition)
        }
    }
}

@Suite struct SchemaVersionTests {
    @Test func acceptsAnyOneDotX() throws {
        #expect(try SchemaVersion.check(nil) == "1.0")
        #expect(try SchemaVersion.check("1.7") == "1.7")
    }

    @Test(arguments: ["2.0", "0.9"])
    func refusesOtherMajors(_ version: String) {
        do {
            _ = try SchemaVersion.check(version)
            Issue.record("\(version) must be refused")
        } catch {
            #expect(error.code == .invalidArgument && error.reason == .unsupportedSchemaVersion)
        }
    }

    @Test func refusesMalformedVersions() {
        do {
            _ = try SchemaVersion.check("one")
            Issue.record("malformed version accepted")
        } catch {
            #expect(error.reason == .invalidFieldValue)
        }
    }
}

@Suite struct IdentityTests {
    @Test(arguments: ["alice", "codex-1", "a.b_c", "0x"])
    func validHandles(_ handle: String) { #expect(Identity.isValidHandle(handle)) }

    @Test(arguments: ["", "Alice", "-x", "a b", String(repeating: "a", count: 65), "é"])
    func invalidHandles(_ handle: String) { #expect(!Identity.isValidHandle(handle)) }
}

/// The repository's catalog folder, read as the serve binary reads its bundled copy.
func repositoryCatalog() throws -> PolicyCatalog {
    try CatalogParser.parse(try repositoryCatalogTexts())
}

@Suite struct CatalogParserTests {
    let valid = try! repositoryCatalogTexts()

    @Test func theRepositoryCatalogIsValid() throws {
        let catalog = try CatalogParser.parse(valid)
        #expect(catalog.timings.triggerAckTimeout == .seconds(8))
        #expect(catalog.actionClasses["fs_write"]?.decision == .requireApproval)
    }

    @Test(arguments: [
        ("roles.yaml", "roles:\n  coordinator:\n    tools: [v1_whoami, v1_teleport]\n", 3, "unknown tool 'v1_teleport'"),
        ("roles.yaml", "roles:\n  wizard:\n    tools: []\n", 3, "unknown role 'wizard'"),
        ("policy.yaml", "timings:\n  poll_interval: soon\n", 2, "poll_interval must be a duration"),
        ("policy.yaml", "timings:\n  pol_interval: 5s\n", 2, "unknown key 'pol_interval'"),
        ("approvals.yaml", "action_classes:\n  fs_write:\n    decision: maybe\n", 3, "decision must be"),
        ("approvals.yaml", "action_classes:\n  fs_write:\n    decision: require_approval\n", 3, "needs approver_roles"),
        ("policy.yaml", "timings: [unclosed\n", 2, "not valid YAML"),
    ])
    func aMalformedCatalogNamesFileLineAndProblem(_ file: String, _ text: String, _ line: Int, _ problem: String) {
        var texts = valid
        texts[file] = text
        do {
            _ = try CatalogParser.parse(texts)
            Issue.record("\(file) should have been refused")
        } catch {
            #expect(error.file == file)
            #expect(error.line == line, "\(error)")
            #expect(error.problem.contains(problem), "\(error)")
        }
    }
}

func repositoryCatalogTexts() throws -> [String: String] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var texts: [String: String] = [:]
    for name in CatalogParser.fileNames {
        texts[name] = try String(contentsOf: root.appendingPathComponent("catalog/\(name)"), encoding: .utf8)
    }
    return texts
}

@Suite struct ReasonCatalogTests {
    @Test func catalogListsExactlyTheReasonsTheCodeKnows() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("catalog/reason_codes.yaml"), encoding: .utf8)
        let yaml = try #require(try Yams.load(yaml: text) as? [String: Any])
        let listed = try #require(yaml["reason_codes"] as? [String: String])
        #expect(Set(listed.keys) == Set(Reason.allCases.map(\.rawValue)))
        #expect(listed.values.allSatisfy { !$0.isEmpty })
    }

    /// The other half: a reason no code path produces is a dead entry. Every case must be used somewhere in
    /// the sources besides its declaration (as `.caseName` in Swift or as its literal in SQL).
    @Test func everyListedReasonIsEmittedSomewhere() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var sources = ""
        let enumerator = try #require(FileManager.default.enumerator(atPath: root.appendingPathComponent("Sources").path))
        while let path = enumerator.nextObject() as? String {
            guard path.hasSuffix(".swift") || path.hasSuffix(".sql"), !path.hasSuffix("BridgeCore/Reason.swift") else { continue }
            sources += try String(contentsOf: root.appendingPathComponent("Sources/\(path)"), encoding: .utf8)
        }
        for reason in Reason.allCases {
            let name = String(describing: reason)
            let used = sources.contains(".\(name)") || sources.contains("'\(reason.rawValue)'")
            #expect(used, "\(reason.rawValue) is in the catalog but nothing emits it")
        }
    }
}
