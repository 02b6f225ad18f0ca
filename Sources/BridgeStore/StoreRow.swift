import BridgeCore
import PostgresNIO

/// A row of a statement's result as the store reads it: each value by its column's name, not its position.
protocol StoreRow {
    init(_ cells: PostgresRandomAccessRow) throws
}

extension StoreRow {
    init(_ row: PostgresRow) throws {
        try self.init(row.makeRandomAccess())
    }
}

extension PostgresRandomAccessRow {
    /// The cell of the column named `name`, decoded as `T`. A result without that column is an internal error
    /// (PostgresNIO's own subscript by name would stop the process).
    func value<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard contains(name) else {
            throw BridgeError(.internal, .internalError, "Internal error.", underlying: MissingColumn(name: name))
        }
        return try self[name].decode(T.self, context: .default)
    }
}

/// A statement's result lacks a column its row type reads.
struct MissingColumn: Error, CustomStringConvertible {
    let name: String
    var description: String { "The result has no column \"\(name)\"." }
}
