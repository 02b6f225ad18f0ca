/// The one error type of the domain: a closed code, a stable reason and a message that is safe to show a client.
///
/// `underlying` carries the driver or system error for the log; it is never sent to a client,
/// and `description` leaves it out on purpose so it cannot leak by accident.
public struct BridgeError: Error, Sendable, CustomStringConvertible {
    /// The closed set of error codes a client can see (ARCHITECTURE.md, The wire contract).
    public enum Code: String, Sendable, CaseIterable, Codable {
        case invalidArgument = "INVALID_ARGUMENT"
        case unauthenticated = "UNAUTHENTICATED"
        case permissionDenied = "PERMISSION_DENIED"
        case notFound = "NOT_FOUND"
        case alreadyExists = "ALREADY_EXISTS"
        case failedPrecondition = "FAILED_PRECONDITION"
        case resourceExhausted = "RESOURCE_EXHAUSTED"
        case aborted = "ABORTED"
        case unavailable = "UNAVAILABLE"
        case deadlineExceeded = "DEADLINE_EXCEEDED"
        case `internal` = "INTERNAL"
    }

    public let code: Code
    public let reason: Reason
    /// A sentence that is safe to show a client.
    public let message: String
    /// Structured hints for the client, e.g. the offending field.
    public var details: [String: String]
    /// The cause, for the log only.
    public var underlying: (any Error)?

    public init(
        _ code: Code,
        _ reason: Reason,
        _ message: String,
        details: [String: String] = [:],
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.underlying = underlying
    }

    /// Whether a client may retry the same call unchanged and expect it to succeed later.
    public var retryable: Bool {
        switch code {
        case .unavailable, .aborted, .deadlineExceeded, .resourceExhausted: true
        default: false
        }
    }

    public var description: String {
        "\(code.rawValue)/\(reason.rawValue): \(message)"
    }
}

extension BridgeError {
    /// A bad argument, naming the field at fault.
    public static func invalidArgument(_ reason: Reason, _ message: String, field: String? = nil) -> BridgeError {
        BridgeError(.invalidArgument, reason, message, details: field.map { ["field": $0] } ?? [:])
    }

    /// The thread does not exist in the caller's workspace.
    public static func threadNotFound(_ threadID: String) -> BridgeError {
        BridgeError(.notFound, .threadNotFound, "No thread \(threadID) in this workspace.", details: ["thread_id": threadID])
    }

    /// The database cannot be reached right now; the call may be retried.
    public static func databaseUnavailable(underlying: (any Error)? = nil) -> BridgeError {
        BridgeError(.unavailable, .databaseUnavailable, "The database is unavailable; retry shortly.", underlying: underlying)
    }
}
