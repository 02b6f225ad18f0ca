import Foundation

/// Encodes a value straight into a ``JSONValue`` tree: no text in between, dates as the wire's ISO 8601
/// timestamps (``WireCoding/formatTimestamp(_:)``), UUIDs lowercase, a ``JSONValue`` member as it is.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> JSONValue {
        try Writer.box(value, codingPath: []).finished
    }

    /// A member being built: a finished value, or a container still being filled.
    enum Slot {
        case value(JSONValue)
        case node(Node)

        var finished: JSONValue {
            switch self {
            case .value(let value): value
            case .node(let node): node.finished
            }
        }
    }

    /// A container under construction; a class, so nested containers fill it in place.
    final class Node {
        var scalar: JSONValue?
        var members: [String: Slot]?
        var items: [Slot]?

        var finished: JSONValue {
            if let members { return .object(members.mapValues(\.finished)) }
            if let items { return .array(items.map(\.finished)) }
            return scalar ?? .object([:])
        }
    }

    /// The `Encoder` a type's `encode(to:)` writes into.
    final class Writer: Encoder {
        let node: Node
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        init(node: Node, codingPath: [any CodingKey]) {
            self.node = node
            self.codingPath = codingPath
        }

        /// Stores a whole value in place of this encoder's container.
        func store(_ value: JSONValue) {
            node.scalar = value
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if node.members == nil { node.members = [:] }
            return KeyedEncodingContainer(KeyedWriter(node: node, codingPath: codingPath))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if node.items == nil { node.items = [] }
            return UnkeyedWriter(node: node, codingPath: codingPath)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            SingleWriter(writer: self)
        }

        /// A value as a slot: the wire's own scalars directly, anything else through its `encode(to:)`.
        static func box(_ value: some Encodable, codingPath: [any CodingKey]) throws -> Slot {
            switch value {
            case let json as JSONValue: return .value(json)
            case let text as String: return .value(.string(text))
            case let flag as Bool: return .value(.bool(flag))
            case let integer as Int: return .value(.number(JSONNumber(integer)))
            case let integer as Int64: return .value(.number(JSONNumber(integer)))
            case let integer as Int32: return .value(.number(JSONNumber(Int64(integer))))
            case let double as Double: return .value(.number(try number(double, codingPath)))
            case let date as Date: return .value(.string(WireCoding.formatTimestamp(date)))
            case let uuid as UUID: return .value(.string(uuid.wireString))
            case let url as URL: return .value(.string(url.absoluteString))
            default:
                let node = Node()
                try value.encode(to: Writer(node: node, codingPath: codingPath))
                return .node(node)
            }
        }

        static func number(_ value: Double, _ codingPath: [any CodingKey]) throws -> JSONNumber {
            guard let number = JSONNumber(value) else {
                throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) is not a JSON number"))
            }
            return number
        }
    }

    struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: Node
        let codingPath: [any CodingKey]

        private func set(_ slot: Slot, _ key: Key) {
            node.members![key.stringValue] = slot
        }

        mutating func encodeNil(forKey key: Key) throws { set(.value(.null), key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { set(.value(.bool(value)), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { set(.value(.string(value)), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { set(.value(.number(try Writer.number(value, codingPath + [key]))), key) }
        mutating func encode(_ value: Float, forKey key: Key) throws { try encode(Double(value), forKey: key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { set(.value(.number(JSONNumber(value))), key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { try encode(Int(value), forKey: key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { try encode(Int(value), forKey: key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { try encode(Int(value), forKey: key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { set(.value(.number(JSONNumber(value))), key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { set(.value(.number(JSONNumber(validated: String(value)))), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { try encode(Int(value), forKey: key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { try encode(Int(value), forKey: key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { try encode(Int(value), forKey: key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { set(.value(.number(JSONNumber(validated: String(value)))), key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { set(try Writer.box(value, codingPath: codingPath + [key]), key) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            let child = Node()
            child.members = [:]
            set(.node(child), key)
            return KeyedEncodingContainer(KeyedWriter<NestedKey>(node: child, codingPath: codingPath + [key]))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let child = Node()
            child.items = []
            set(.node(child), key)
            return UnkeyedWriter(node: child, codingPath: codingPath + [key])
        }

        mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key.stringValue) }

        private func superEncoder(named name: String) -> any Encoder {
            let child = Node()
            node.members![name] = .node(child)
            return Writer(node: child, codingPath: codingPath)
        }
    }

    struct UnkeyedWriter: UnkeyedEncodingContainer {
        let node: Node
        let codingPath: [any CodingKey]
        var count: Int { node.items!.count }

        private func append(_ slot: Slot) { node.items!.append(slot) }
        private var nextPath: [any CodingKey] { codingPath + [IndexKey(intValue: count)] }

        mutating func encodeNil() throws { append(.value(.null)) }
        mutating func encode(_ value: Bool) throws { append(.value(.bool(value))) }
        mutating func encode(_ value: String) throws { append(.value(.string(value))) }
        mutating func encode(_ value: Double) throws { append(.value(.number(try Writer.number(value, nextPath)))) }
        mutating func encode(_ value: Float) throws { try encode(Double(value)) }
        mutating func encode(_ value: Int) throws { append(.value(.number(JSONNumber(value)))) }
        mutating func encode(_ value: Int8) throws { try encode(Int(value)) }
        mutating func encode(_ value: Int16) throws { try encode(Int(value)) }
        mutating func encode(_ value: Int32) throws { try encode(Int(value)) }
        mutating func encode(_ value: Int64) throws { append(.value(.number(JSONNumber(value)))) }
        mutating func encode(_ value: UInt) throws { append(.value(.number(JSONNumber(validated: String(value))))) }
        mutating func encode(_ value: UInt8) throws { try encode(Int(value)) }
        mutating func encode(_ value: UInt16) throws { try encode(Int(value)) }
        mutating func encode(_ value: UInt32) throws { try encode(Int(value)) }
        mutating func encode(_ value: UInt64) throws { append(.value(.number(JSONNumber(validated: String(value))))) }
        mutating func encode<T: Encodable>(_ value: T) throws { append(try Writer.box(value, codingPath: nextPath)) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let child = Node()
            child.members = [:]
            let path = nextPath
            append(.node(child))
            return KeyedEncodingContainer(KeyedWriter<NestedKey>(node: child, codingPath: path))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let child = Node()
            child.items = []
            let path = nextPath
            append(.node(child))
            return UnkeyedWriter(node: child, codingPath: path)
        }

        mutating func superEncoder() -> any Encoder {
            let child = Node()
            let path = nextPath
            append(.node(child))
            return Writer(node: child, codingPath: path)
        }
    }

    struct SingleWriter: SingleValueEncodingContainer {
        let writer: Writer
        var codingPath: [any CodingKey] { writer.codingPath }

        private func set(_ value: JSONValue) { writer.node.scalar = value }

        mutating func encodeNil() throws { set(.null) }
        mutating func encode(_ value: Bool) throws { set(.bool(value)) }
        mutating func encode(_ value: String) throws { set(.string(value)) }
        mutating func encode(_ value: Double) throws { set(.number(try Writer.number(value, codingPath))) }
        mutating func encode(_ value: Float) throws { try encode(Double(value)) }
        mutating func encode(_ value: Int) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int8) throws { try encode(Int(value)) }
        mutating func encode(_ value: Int16) throws { try encode(Int(value)) }
        mutating func encode(_ value: Int32) throws { try encode(Int(value)) }
        mutating func encode(_ value: Int64) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt) throws { set(.number(JSONNumber(validated: String(value)))) }
        mutating func encode(_ value: UInt8) throws { try encode(Int(value)) }
        mutating func encode(_ value: UInt16) throws { try encode(Int(value)) }
        mutating func encode(_ value: UInt32) throws { try encode(Int(value)) }
        mutating func encode(_ value: UInt64) throws { set(.number(JSONNumber(validated: String(value)))) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            set(try Writer.box(value, codingPath: codingPath).finished)
        }
    }
}

/// The coding key of an array element.
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "[\(intValue ?? 0)]" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
