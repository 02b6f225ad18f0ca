import BridgeCore
import PostgresNIO

/// The one place that turns driver errors into `BridgeError`. Driver text never reaches a client:
/// it stays in `underlying`, which only the log sees.
enum StoreErrorMapping {
    static func map(_ error: any Error) -> BridgeError {
        if let error = error as? BridgeError { return error }
        if let error = error as? PSQLError {
            if let code = sqlState(of: error) {
                return map(sqlState: code, error: error)
            }
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown,
                .sslUnsupported, .failedToAddSSLHandler:
                return .databaseUnavailable(underlying: error)
            case .queryCancelled:
                return BridgeError(.deadlineExceeded, .databaseTimeout, "The database operation was cancelled.", underlying: error)
            default:
                return internalError(error)
            }
        }
        if error is CancellationError {
            return BridgeError(.unavailable, .databaseUnavailable, "The operation was cancelled.", underlying: error)
        }
        let text = String(reflecting: error)
        if text.contains("connection") || text.contains("Connection") {
            return .databaseUnavailable(underlying: error)
        }
        return internalError(error)
    }

    /// The `BridgeError` for a server error's SQLSTATE; `error` is kept as its underlying error.
    static func map(sqlState code: PostgresError.Code, error: any Error) -> BridgeError {
        switch code {
        case .serializationFailure, .deadlockDetected:
            return BridgeError(.aborted, .transactionConflict, "The write conflicted with another; retry.", underlying: error)
        case .lockNotAvailable:
            return BridgeError(.unavailable, .lockTimeout, "The data is locked by another session; retry shortly.", underlying: error)
        case .queryCanceled:
            return BridgeError(.deadlineExceeded, .databaseTimeout, "The database operation timed out.", underlying: error)
        case .characterNotInRepertoire, .untranslatableCharacter:
            // Text (22021) or JSON (22P05) holding U+0000, which PostgreSQL cannot store: the caller's input, not a fault.
            return BridgeError(.invalidArgument, .invalidFieldValue, "Text may not contain the NUL character (U+0000).", underlying: error)
        case .undefinedTable, .undefinedColumn, .invalidSchemaName:
            return BridgeError(.unavailable, .schemaNotCurrent, "The database schema is not current; run agent-bridge migrate.", underlying: error)
        case .invalidCatalogName, .invalidAuthorizationSpecification, .invalidPassword:
            return .databaseUnavailable(underlying: error)
        // postgres-nio names single codes, not classes: these classes are matched on the raw value's prefix.
        // 08 connection exception, 53 insufficient resources, 57P operator intervention (shutdown, crash, restart).
        case let code where code.raw.hasPrefix("08") || code.raw.hasPrefix("53") || code.raw.hasPrefix("57P"):
            return .databaseUnavailable(underlying: error)
        default:
            return internalError(error)
        }
    }

    static func internalError(_ error: any Error) -> BridgeError {
        BridgeError(.internal, .internalError, "Internal error.", underlying: error)
    }

    /// The SQLSTATE of a server error, if it is one.
    static func sqlState(of error: any Error) -> PostgresError.Code? {
        (error as? PSQLError)?.serverInfo?[.sqlState].map(PostgresError.Code.init(raw:))
    }

    /// The constraint a server error names, if any.
    static func constraint(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.constraintName]
    }
}
