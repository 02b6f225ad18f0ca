import BridgeCore
import Foundation
import PostgresNIO

/// Where the database is: parsed from a libpq-style URL or pointing at the embedded cluster's socket.
///
/// Accepts `postgres://user:password@host:port/database?sslmode=…` and the Unix-socket form libpq
/// writes, `postgres://user@localhost/database?host=/path/to/socket-dir`.
public struct DatabaseEndpoint: Sendable, Hashable {
    /// How to reach the server.
    public enum Address: Sendable, Hashable {
        case tcp(host: String, port: Int)
        /// The full path of the socket file (`<dir>/.s.PGSQL.<port>`).
        case unixSocket(path: String)
    }

    /// Whether to use TLS on a TCP connection.
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
    }

    public var address: Address
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(address: Address, username: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a `postgres://` or `postgresql://` URL. Errors name the problem, never echo the password.
    public init(url: String) throws(BridgeError) {
        func bad(_ why: String) -> BridgeError {
            BridgeError(.invalidArgument, .invalidFieldValue, "DATABASE_URL is not usable: \(why).", details: ["field": "DATABASE_URL"])
        }
        guard let components = URLComponents(string: url) else { throw bad("it is not a URL") }
        guard components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw bad("the scheme must be postgres:// or postgresql://")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }

        let port = components.port ?? Int(query["port"] ?? "") ?? 5432
        let user =
            components.user.flatMap { $0.removingPercentEncoding } ?? query["user"] ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        let password = components.password.flatMap { $0.removingPercentEncoding } ?? query["password"]
        var path = components.path
        if path.hasPrefix("/") { path.removeFirst() }
        let database = path.removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 } ?? query["dbname"] ?? user

        let socketDirectory =
            query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? components.host.flatMap { h -> String? in
                let decoded = h.removingPercentEncoding ?? h
                return decoded.hasPrefix("/") ? decoded : nil
            }
        if let socketDirectory {
            self.init(address: .unixSocket(path: "\(socketDirectory)/.s.PGSQL.\(port)"), username: user, password: password, database: database)
        } else {
            let host = query["host"] ?? components.host ?? "localhost"
            guard !host.isEmpty else { throw bad("it names no host") }
            let tls: TLSMode
            switch query["sslmode"] ?? "prefer" {
            case "disable", "allow": tls = .disable
            case "prefer": tls = .prefer
            case "require", "verify-ca", "verify-full": tls = .require
            case let other: throw bad("sslmode \(other) is not supported")
            }
            self.init(address: .tcp(host: host, port: port), username: user, password: password, database: database, tls: tls)
        }
    }

    /// The same endpoint, on another database of the same server.
    public func with(database: String) -> DatabaseEndpoint {
        var copy = self
        copy.database = database
        return copy
    }

    /// A URL for this endpoint that other processes (and libpq) understand.
    public var url: String {
        let user = username.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? username
        let auth = password.map { "\(user):\($0.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? $0)" } ?? user
        switch address {
        case .tcp(let host, let port):
            return "postgres://\(auth)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
        case .unixSocket(let path):
            let url = URL(fileURLWithPath: path)
            let dir = url.deletingLastPathComponent().path
            let port = url.lastPathComponent.split(separator: ".").last.map(String.init) ?? "5432"
            return "postgres://\(auth)@localhost:\(port)/\(database)?host=\(dir)"
        }
    }

    /// A description safe for logs: no password.
    public var redacted: String {
        switch address {
        case .tcp(let host, let port): "\(username)@\(host):\(port)/\(database)"
        case .unixSocket(let path): "\(username)@\(path)/\(database)"
        }
    }

    /// How long a pooled session waits for a lock before the server gives up (`lock_timeout`).
    public static let lockTimeoutMilliseconds = 2000

    /// The postgres-nio client configuration for this endpoint.
    public func clientConfiguration(maximumConnections: Int) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch address {
        case .tcp(let host, let port):
            let tlsConfiguration: PostgresClient.Configuration.TLS =
                switch tls {
                case .disable: .disable
                case .prefer: .prefer(.makeClientConfiguration())
                case .require: .require(.makeClientConfiguration())
                }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tlsConfiguration)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(30))
        // A row or table lock held elsewhere (a stuck session, a long migration) fails a call with
        // LOCK_TIMEOUT well inside the operation timeout, instead of every caller queueing behind it.
        configuration.options.additionalStartupParameters = [("lock_timeout", "\(Self.lockTimeoutMilliseconds)ms")]
        return configuration
    }

    /// A configuration for one dedicated connection outside the pool (the supervisor's leader lock and listener).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch address {
        case .tcp(let host, let port):
            let tlsConfiguration: PostgresConnection.Configuration.TLS =
                switch tls {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tlsConfiguration)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }
}
