import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// The store's post transaction sent straight over PostgresNIO: the baseline the service's posts/s is
/// compared with. Same SQL and parameters as the store's statement, no rate limit and no idempotency key
/// (as the bench's service posts), none of the layers above the driver.
struct RawPostStatement: PostgresPreparedStatement {
    static let name = "agent_bridge_bench_raw_post"
    static let sql = PostgresStore.postMessageSQL
    static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .text, .bool, .text, .int8, .textArray, .uuid, .text, .text, .text, .text, .text, .text, .text, .text,
        .float8, .float8,
    ]
    typealias Row = (Int64, Date)

    var threadID: UUID
    var workspace: String
    var author: String
    var body: String
    var bodyHash: String
    var requestID: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 17)
        bindings.append(threadID)
        bindings.append(workspace)
        bindings.append(false)
        bindings.append(author)
        bindings.appendNull()
        bindings.append([String]())
        bindings.append(UUID())
        bindings.append(MessageKind.note.rawValue)
        bindings.append(body)
        bindings.append("{}")
        bindings.append(SchemaVersion.current)
        bindings.append(bodyHash)
        bindings.append(requestID)
        for _ in 0..<4 { bindings.appendNull() }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
