import BridgeCore
import Foundation
import Testing

/// The wake lifecycle, loop guards and runtime templates as pure functions of facts and time.
@Suite struct WakePlannerTests {
    let planner = WakePlanner(timings: PolicyCatalog.Timings())
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let managed = RuntimeDescriptor(kind: .codexCLI, managed: true, sessionID: "s1")

    func facts(_ state: WakeState = .pending, action: WakeAction = .resume, _ change: (inout WakeFacts) -> Void = { _ in }) -> WakeFacts {
        var facts = WakeFacts(requestID: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!, state: state, action: action, runtime: managed)
        change(&facts)
        return facts
    }

    @Test func aDueRequestIsDecidedByActivityManagementHumanInputAndStaleness() {
        #expect(planner.nextStep(facts(), now: now) == .start(.resume))
        #expect(
            planner.nextStep(facts { $0.lastActivityAt = now.addingTimeInterval(-5) }, now: now)
                == .finish(.alreadyActive, reason: .participantActive)
        )
        // Fresh activity but presence idle is not active.
        #expect(
            planner.nextStep(
                facts {
                    $0.lastActivityAt = now.addingTimeInterval(-5)
                    $0.presence = .idle
                },
                now: now
            ) == .start(.resume)
        )
        #expect(planner.nextStep(facts { $0.runtime.managed = false }, now: now) == .finish(.failed, reason: .unmanagedRuntimeTarget))
        #expect(planner.nextStep(facts { $0.runtime.sessionID = nil }, now: now) == .start(.spawn))
        #expect(planner.nextStep(facts { $0.lastActivityAt = now.addingTimeInterval(-13 * 3600) }, now: now) == .start(.spawn))
        #expect(planner.nextStep(facts { $0.caughtUp = true }, now: now) == .finish(.alreadyActive, reason: .participantActive))
    }

    @Test func humanInputDefersUntilTheWindowThenTimesOut() {
        let typing = facts { $0.lastHumanInputAt = now.addingTimeInterval(-3) }
        #expect(planner.nextStep(typing, now: now) == .deferUntil(now.addingTimeInterval(5), since: now, reason: .humanInputCollision))
        let longDeferred = facts(.deferred) {
            $0.lastHumanInputAt = now.addingTimeInterval(-3)
            $0.deferredSince = now.addingTimeInterval(-60)
        }
        #expect(planner.nextStep(longDeferred, now: now) == .finish(.deferredTimeout, reason: .deferWindowExceeded))
        let quietAgain = facts(.deferred) {
            $0.lastHumanInputAt = now.addingTimeInterval(-21)
            $0.deferredSince = now.addingTimeInterval(-30)
        }
        #expect(planner.nextStep(quietAgain, now: now) == .start(.resume))
    }

    @Test func aLiveSessionIsNeverResumedOrSpawnedAndWaitsWithoutADeadline() {
        let live = facts { $0.liveSession = true }
        #expect(planner.nextStep(live, now: now) == .deferUntil(now.addingTimeInterval(5), since: now, reason: .sessionLive))
        // Hours later, still open: still deferred, never timed out, whatever the session or its staleness.
        let hoursLater = facts(.deferred) {
            $0.liveSession = true
            $0.deferredSince = now.addingTimeInterval(-6 * 3600)
            $0.runtime.sessionID = nil
        }
        #expect(
            planner.nextStep(hoursLater, now: now)
                == .deferUntil(now.addingTimeInterval(5), since: now.addingTimeInterval(-6 * 3600), reason: .sessionLive)
        )
        // It read the messages in its open session: delivered.
        #expect(
            planner.nextStep(
                facts(.deferred) {
                    $0.liveSession = true
                    $0.caughtUp = true
                },
                now: now
            ) == .finish(.alreadyActive, reason: .participantActive)
        )
        // The session ended: the wake goes ahead as a resume.
        #expect(planner.nextStep(facts(.deferred) { $0.deferredSince = now.addingTimeInterval(-60) }, now: now) == .start(.resume))
        // An attempt already running is not judged by leases: its own process mounts serve and holds one.
        #expect(
            planner.nextStep(
                facts(.triggered) {
                    $0.liveSession = true
                    $0.triggeredAt = now
                    $0.attemptOutcome = .running
                },
                now: now
            ) == .wait
        )
    }

    @Test func aRunningAttemptWaitsForItsAckThenRetriesSpawnsAndDies() {
        let started = now.addingTimeInterval(-3)
        #expect(
            planner.nextStep(
                facts(.triggered) {
                    $0.triggeredAt = started
                    $0.attemptOutcome = .running
                },
                now: now
            ) == .wait
        )
        #expect(
            planner.nextStep(
                facts(.triggered) {
                    $0.triggeredAt = started
                    $0.acknowledged = true
                },
                now: now
            ) == .finish(.acked, reason: .wakeAcknowledged)
        )
        #expect(
            planner.nextStep(
                facts(.triggered, action: .spawn) {
                    $0.triggeredAt = started
                    $0.acknowledged = true
                },
                now: now
            )
                == .finish(.fallbackSpawned, reason: .wakeAcknowledged)
        )
        // Past the 8 s ack timeout: the first failed resume is retried after a backoff of 2 s ± 20 %.
        guard
            case .retry(.resume, let at, .wakeNotAcknowledged) = planner.nextStep(
                facts(.triggered) { $0.triggeredAt = now.addingTimeInterval(-8) },
                now: now
            )
        else {
            Issue.record("expected a resume retry")
            return
        }
        #expect((1.6...2.4).contains(at.timeIntervalSince(now)))
        // A resume that exits non-zero fails at once; the second failure hands over to a spawn now.
        #expect(
            planner.nextStep(
                facts(.triggered) {
                    $0.triggeredAt = started
                    $0.attemptOutcome = .failed
                    $0.resumeFailures = 1
                },
                now: now
            )
                == .retry(next: .spawn, at: now, reason: .wakeCommandFailed)
        )
        #expect(
            planner.nextStep(
                facts(.triggered, action: .spawn) {
                    $0.triggeredAt = started
                    $0.attemptOutcome = .exited
                    $0.spawnFailures = 2
                },
                now: now
            )
                == .finish(.dead, reason: .wakeRetriesExhausted)
        )
    }

    @Test func backoffIsDeterministicPerRequestAndGrowsToItsCap() {
        let id = UUID()
        #expect(planner.backoff(failures: 3, requestID: id) == planner.backoff(failures: 3, requestID: id))
        #expect((6.4...9.6).contains(planner.backoff(failures: 3, requestID: id)))
        #expect(planner.backoff(failures: 20, requestID: id) <= 72)
    }
}

@Suite struct LoopGuardTests {
    func note(_ kind: MessageKind = .note, human: Bool = false, statusChange: Bool = false, hash: String = "h") -> LoopGuard.Observation {
        LoopGuard.Observation(kind: kind, byHuman: human, isStatusChange: statusChange, bodyHash: hash)
    }

    @Test func progressResetsTheTurnCountAndSystemNoticesAreNeutral() {
        var timings = PolicyCatalog.Timings()
        timings.noProgressAutoBlockTurns = 3
        let guardrail = LoopGuard(timings: timings)
        #expect(guardrail.noProgressTurns(after: [note(), note(), note(.system), note()], startingAt: 0) == 3)
        #expect(guardrail.noProgressTurns(after: [note(), note(.result), note()], startingAt: 5) == 1)
        #expect(guardrail.noProgressTurns(after: [note(), note(human: true)], startingAt: 0) == 0)
        #expect(guardrail.noProgressTurns(after: [note(), note(.system, statusChange: true)], startingAt: 2) == 0)
        #expect(guardrail.trip(turns: 3, findingCycles: [:]) == .noProgress(turns: 3))
        #expect(guardrail.trip(turns: 2, findingCycles: ["a": 2]) == nil)
        #expect(guardrail.trip(turns: 9, findingCycles: ["a": 3]) == .repeatedFinding(bodyHash: "a", cycles: 3))
    }
}

@Suite struct RuntimeCatalogTests {
    @Test func templatesExpandIntoExactlyOneArgumentEach() {
        let values = RuntimeCatalog.Values(
            handle: "exec",
            threadID: "t-1",
            seq: 7,
            sessionID: "s 1; rm -rf /",
            prompt: "read \"t-1\" $(id)",
            workdir: "/w",
            requestID: "r"
        )
        let argv = RuntimeCatalog.expand(["codex", "exec", "resume", "{session_id}", "--note={handle}@{seq}", "{prompt}"], with: values)
        #expect(argv == ["codex", "exec", "resume", "s 1; rm -rf /", "--note=exec@7", "read \"t-1\" $(id)"])
    }

    @Test func theRepositoryRuntimesParseAndBadTemplatesAreRefused() throws {
        var texts = try repositoryCatalogTexts()
        texts["runtimes.yaml"] = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("catalog/runtimes.yaml"),
            encoding: .utf8
        )
        let catalog = try CatalogParser.parse(texts)
        #expect(catalog.runtimes.runtimes[.codexCLI]?.resume?.contains("resume") == true)
        #expect(catalog.runtimes.runtimes[.claudeCode]?.sessionID == .jsonEvent(type: "system", field: "session_id"))
        #expect(catalog.runtimes.runtimes[.claudeCode]?.spawn.contains("--permission-prompt-tool") == true)
        #expect(catalog.runtimes.runtimes[.command]?.resume == nil)

        for (bad, problem) in [
            ("runtimes:\n  codex_cli:\n    spawn: [codex, \"{sesion}\"]\n", "unknown placeholder {sesion}"),
            ("runtimes:\n  codex_cli:\n    spawn: [codex, \"{session_id}\"]\n", "only known when resuming"),
            ("runtimes:\n  codex_cli:\n    spawn: [\"{prompt}\"]\n", "not a placeholder"),
            ("runtimes:\n  human:\n    spawn: [x]\n", "unknown runtime 'human'"),
        ] {
            texts["runtimes.yaml"] = bad
            #expect(throws: CatalogError.self) { try CatalogParser.parse(texts) }
            do {
                _ = try CatalogParser.parse(texts)
            } catch {
                #expect(error.description.contains(problem), "\(error)")
            }
        }
    }

    @Test func sessionIDsAreFoundInCodexEventsAndClaudeResults() {
        let codex = "{\"type\":\"thread.started\",\"thread_id\":\"0199a\"}\n{\"type\":\"turn.started\"}\n"
        #expect(RuntimeCatalog.SessionIDSource.jsonEvent(type: "thread.started", field: "thread_id").find(in: codex) == "0199a")
        let claude = "{\"type\":\"result\",\"subtype\":\"success\",\"session_id\":\"abc-1\",\"result\":\"ok\"}"
        #expect(RuntimeCatalog.SessionIDSource.jsonField("session_id").find(in: claude) == "abc-1")
        #expect(RuntimeCatalog.SessionIDSource.jsonField("session_id").find(in: "not json") == nil)
        // A pretty-printed result is read as a whole.
        #expect(RuntimeCatalog.SessionIDSource.jsonField("session_id").find(in: "{\n  \"session_id\": \"abc-2\"\n}\n") == "abc-2")
    }

    @Test func aStreamNamesItsSessionInTheFirstEventHoweverTheBytesArrive() {
        let stream = """
            {"type":"system","subtype":"init","session_id":"9f1c-init","tools":["Bash"]}
            {"type":"assistant","message":{"content":[]},"session_id":"9f1c-init"}
            {"type":"result","subtype":"success","session_id":"9f1c-init"}

            """
        let source = RuntimeCatalog.SessionIDSource.jsonEvent(type: "system", field: "session_id")
        // Byte by byte: nothing until the first line is complete, then the id, then nothing more.
        var scanner = SessionIDScanner(source: source)
        var found: [String] = []
        var foundAfter: Int?
        for (offset, byte) in stream.utf8.enumerated() {
            if let id = scanner.feed([byte]) {
                found.append(id)
                foundAfter = offset
            }
        }
        #expect(found == ["9f1c-init"])
        #expect(foundAfter == stream.utf8.firstIndex(of: UInt8(ascii: "\n")).map { stream.utf8.distance(from: stream.utf8.startIndex, to: $0) })
        #expect(!scanner.isLooking)

        // Lines that are not the event (a warning, other JSON) are passed over; an unfinished line is not read.
        var codex = SessionIDScanner(source: .jsonEvent(type: "thread.started", field: "thread_id"))
        #expect(codex.feed(Array("warning: config is old\n{\"type\":\"turn.started\"}\n{\"type\":\"thread.sta".utf8)) == nil)
        #expect(codex.isLooking)
        #expect(codex.feed(Array("rted\",\"thread_id\":\"0199b\"}".utf8)) == nil)
        #expect(codex.feed(Array("\r\n".utf8)) == "0199b")
    }

    @Test func aScannerSkipsAnOverlongLineAndStopsLookingAfterItsBudget() {
        var scanner = SessionIDScanner(source: .jsonField("session_id"))
        let long = "{\"session_id\":\"" + String(repeating: "x", count: SessionIDScanner.maximumLineBytes) + "\"}\n"
        #expect(scanner.feed(Array(long.utf8)) == nil)
        #expect(scanner.feed(Array("{\"session_id\":\"after-long\"}\n".utf8)) == "after-long")

        var quiet = SessionIDScanner(source: .jsonField("session_id"))
        let filler = Array(repeating: UInt8(ascii: "."), count: 1 << 16) + [UInt8(ascii: "\n")]
        while quiet.isLooking { _ = quiet.feed(filler) }
        #expect(quiet.feed(Array("{\"session_id\":\"too-late\"}\n".utf8)) == nil)
    }
}
