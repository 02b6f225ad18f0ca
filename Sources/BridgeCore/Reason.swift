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
    case ackBeyondLastSeq = "ACK_BEYOND_LAST_SEQ"
    // UNAUTHENTICATED
    case identityMissing = "IDENTITY_MISSING"
    // PERMISSION_DENIED
    case notAMember = "NOT_A_MEMBER"
    case roleNotPermitted = "ROLE_NOT_PERMITTED"
    // NOT_FOUND
    case threadNotFound = "THREAD_NOT_FOUND"
    case participantNotFound = "PARTICIPANT_NOT_FOUND"
    // ALREADY_EXISTS
    case idempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
    // FAILED_PRECONDITION
    case threadClosed = "THREAD_CLOSED"
    case threadBlocked = "THREAD_BLOCKED"
    case invalidStatusTransition = "INVALID_STATUS_TRANSITION"
    // ABORTED
    case transactionConflict = "TRANSACTION_CONFLICT"
    // UNAVAILABLE
    case databaseUnavailable = "DATABASE_UNAVAILABLE"
    case schemaNotCurrent = "SCHEMA_NOT_CURRENT"
    // DEADLINE_EXCEEDED
    case databaseTimeout = "DATABASE_TIMEOUT"
    // INTERNAL
    case internalError = "INTERNAL_ERROR"
}
