/// Stable, UPPER_SNAKE reason codes. Every one is listed, with its meaning, in `catalog/reason_codes.yaml`.
public enum Reason: String, Sendable, CaseIterable, Codable {
    // INVALID_ARGUMENT
    case missingRequiredField = "MISSING_REQUIRED_FIELD"
    case invalidFieldType = "INVALID_FIELD_TYPE"
    case invalidEnumValue = "INVALID_ENUM_VALUE"
    case invalidFieldValue = "INVALID_FIELD_VALUE"
    case bodyTooLarge = "BODY_TOO_LARGE"
    case payloadTooLarge = "PAYLOAD_TOO_LARGE"
    case unsupportedSchemaVersion = "UNSUPPORTED_SCHEMA_VERSION"
    case unknownRecipient = "UNKNOWN_RECIPIENT"
    case replyToUnknownSeq = "REPLY_TO_UNKNOWN_SEQ"
    case unknownActionClass = "UNKNOWN_ACTION_CLASS"
    case ackBeyondLastSeq = "ACK_BEYOND_LAST_SEQ"
    // UNAUTHENTICATED
    case identityMissing = "IDENTITY_MISSING"
    case tokenMissing = "TOKEN_MISSING"
    case tokenInvalid = "TOKEN_INVALID"
    case tokenExpired = "TOKEN_EXPIRED"
    // PERMISSION_DENIED
    case notAMember = "NOT_A_MEMBER"
    case roleNotPermitted = "ROLE_NOT_PERMITTED"
    case selfApprovalForbidden = "SELF_APPROVAL_FORBIDDEN"
    case approverRoleRequired = "APPROVER_ROLE_REQUIRED"
    case notTicketRequester = "NOT_TICKET_REQUESTER"
    case workspaceMismatch = "WORKSPACE_MISMATCH"
    case identityMismatch = "IDENTITY_MISMATCH"
    // NOT_FOUND
    case threadNotFound = "THREAD_NOT_FOUND"
    case participantNotFound = "PARTICIPANT_NOT_FOUND"
    case ticketNotFound = "TICKET_NOT_FOUND"
    // ALREADY_EXISTS
    case idempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
    // FAILED_PRECONDITION
    case threadClosed = "THREAD_CLOSED"
    case threadBlocked = "THREAD_BLOCKED"
    case invalidStatusTransition = "INVALID_STATUS_TRANSITION"
    case ticketAlreadyDecided = "TICKET_ALREADY_DECIDED"
    case ticketExpired = "TICKET_EXPIRED"
    // RESOURCE_EXHAUSTED
    case rateLimited = "RATE_LIMITED"
    // ABORTED
    case transactionConflict = "TRANSACTION_CONFLICT"
    // UNAVAILABLE
    case databaseUnavailable = "DATABASE_UNAVAILABLE"
    case commitOutcomeUnknown = "COMMIT_OUTCOME_UNKNOWN"
    case schemaNotCurrent = "SCHEMA_NOT_CURRENT"
    case tokenValidationUnavailable = "TOKEN_VALIDATION_UNAVAILABLE"
    // DEADLINE_EXCEEDED
    case databaseTimeout = "DATABASE_TIMEOUT"
    case lockTimeout = "LOCK_TIMEOUT"
    // Ticket decision reasons (an approval ticket's reason_code, not errors)
    case autoApprovedPolicy = "AUTO_APPROVED_POLICY"
    case deniedByPolicy = "DENIED_BY_POLICY"
    case approvedByApprover = "APPROVED_BY_APPROVER"
    case deniedByApprover = "DENIED_BY_APPROVER"
    case cancelledByRequester = "CANCELLED_BY_REQUESTER"
    // Wake request and loop-guard reasons (a wake request's or a block's reason, not errors)
    case participantActive = "PARTICIPANT_ACTIVE"
    case wakeAcknowledged = "WAKE_ACKNOWLEDGED"
    case unmanagedRuntimeTarget = "UNMANAGED_RUNTIME_TARGET"
    case humanInputCollision = "HUMAN_INPUT_COLLISION"
    case sessionLive = "SESSION_LIVE"
    case deferWindowExceeded = "DEFER_WINDOW_EXCEEDED"
    case wakeCommandFailed = "WAKE_COMMAND_FAILED"
    case wakeNotAcknowledged = "WAKE_NOT_ACKNOWLEDGED"
    case wakeRetriesExhausted = "WAKE_RETRIES_EXHAUSTED"
    case noProgressLimit = "NO_PROGRESS_LIMIT"
    case repeatedFinding = "REPEATED_FINDING"
    case approvalEscalated = "APPROVAL_ESCALATED"
    // INTERNAL
    case internalError = "INTERNAL_ERROR"
    // Permission prompt answers (the reason in a `v1_permission_prompt` deny message, not errors)
    case destructiveCommand = "DESTRUCTIVE_COMMAND"
    case noPermissionThread = "NO_PERMISSION_THREAD"
    case noPermissionRule = "NO_PERMISSION_RULE"
    case permissionWaitCancelled = "PERMISSION_WAIT_CANCELLED"
}
