import BridgeCore
import PostgresNIO

/// The one place that turns driver errors into `BridgeError`. Driver text never reaches a client:
/// it stays in `underlying`, which only the log sees.
enum StoreErrorMapping {
    static func map(_ error: any Error) -> BridgeError {
        if let error = error as? BridgeError { return error }
        if let error = error as? PSQLError {
            if let sqlState = error.serverInfo?[.sqlState] {
                return map(sqlState: sqlState, error: error)
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

    static func map(sqlState: String, error: any Error) -> BridgeError {
        switch sqlState {
        case "40001", "40P01":
            return BridgeError(.aborted, .transactionConflict, "The write conflicted with another; retry.", underlying: error)
        case "55P03":
            return BridgeError(.unavailable, .lockTimeout, "The data is locked by another session; retry shortly.", underlying: error)
        case "57014":
            return BridgeError(.deadlineExceeded, .databaseTimeout, "The database operation timed out.", underlying: error)
        case "22021", "22P05":
            // Text (22021) or JSON (22P05) holding U+0000, which PostgreSQL cannot store: the caller's input, not a fault.
            return BridgeError(.invalidArgument, .invalidFieldValue, "Text may not contain the NUL character (U+0000).", underlying: error)
        case "42P01", "42703", "3F000":
            return BridgeError(.unavailable, .schemaNotCurrent, "The database schema is not current; run agent-bridge migrate.", underlying: error)
        case let state where state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") || state == "3D000" || state == "28000" || state == "28P01":
            return .databaseUnavailable(underlying: error)
        default:
            return internalError(error)
        }
    }

    static func internalError(_ error: any Error) -> BridgeError {
        BridgeError(.internal, .internalError, "Internal error.", underlying: error)
    }

    /// The SQLSTATE of a server error, if it is one.
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The constraint a server error names, if any.
    static func constraint(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.constraintName]
    }
}
