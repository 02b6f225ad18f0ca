import Logging
import PostgresNIO

extension TestDatabase {
    /// The first column of the first row of `sql` as text (nil for no row or NULL): for asserting on stored state.
    public func scalar(_ sql: String) async throws -> String? {
        let logger = Logger(label: "test-scalar")
        return try await TestDatabase.run(store(logger: logger, maximumConnections: 1)) { client in
            for try await (value, ) in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode((String?,).self) {
                return value
            }
            return nil
        }
    }
}
