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

@Suite struct PolicyTests {
    let policy = DefaultPolicy()

    func decide(_ role: Role, _ operation: BridgeOperation, _ transition: ThreadStatus.Transition? = nil) -> Bool {
        if case .allow = policy.decide(PolicyRequest(identity: Identity(workspace: "w", handle: "h", role: role), operation: operation, transition: transition)) {
            return true
        }
        return false
    }

    @Test func observersOnlyRead() {
        #expect(!decide(.observer, .messagePost))
        #expect(!decide(.observer, .threadCreate))
        #expect(decide(.observer, .messageRead))
    }

    @Test func closingAndUnblockingNeedTheRightRole() {
        #expect(decide(.coordinator, .threadSetStatus, .close))
        #expect(!decide(.reviewer, .threadSetStatus, .close))
        #expect(decide(.approver, .threadSetStatus, .unblock))
        #expect(!decide(.executioner, .threadSetStatus, .unblock))
        #expect(decide(.reviewer, .threadSetStatus, .escalate))
    }
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
}
