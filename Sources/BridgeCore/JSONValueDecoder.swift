import Foundation

/// Decodes a typed value straight from a ``JSONValue`` tree, without coercion: a number is never read as a
/// string nor a string as a number; dates are the wire's ISO 8601 timestamps; a ``JSONValue`` member is taken
/// as it is.
public struct JSONValueDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try Reader.unbox(value, as: type, codingPath: [])
    }

    /// The `Decoder` a type's `init(from:)` reads from.
    final class Reader: Decoder {
        let value: JSONValue
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        init(value: JSONValue, codingPath: [any CodingKey]) {
            self.value = value
            self.codingPath = codingPath
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard case .object(let members) = value else { throw Self.mismatch([String: JSONValue].self, value, codingPath) }
            return KeyedDecodingContainer(KeyedReader(members: members, codingPath: codingPath))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard case .array(let items) = value else { throw Self.mismatch([JSONValue].self, value, codingPath) }
            return UnkeyedReader(items: items, codingPath: codingPath)
        }

        func singleValueContainer() throws -> any SingleValueDecodingContainer {
            SingleReader(value: value, codingPath: codingPath)
        }

        /// A typed value from a tree node: the wire's own scalars directly, anything else through its `init(from:)`.
        static func unbox<T: Decodable>(_ value: JSONValue, as type: T.Type, codingPath: [any CodingKey]) throws -> T {
            switch type {
            case is JSONValue.Type: return value as! T
            case is String.Type:
                guard case .string(let text) = value else { throw mismatch(type, value, codingPath) }
                return text as! T
            case is Bool.Type:
                guard case .bool(let flag) = value else { throw mismatch(type, value, codingPath) }
                return flag as! T
            case is Int.Type: return try integer(Int.self, value, codingPath) as! T
            case is Int64.Type: return try integer(Int64.self, value, codingPath) as! T
            case is Int32.Type: return try integer(Int32.self, value, codingPath) as! T
            case is Double.Type:
                guard case .number(let number) = value else { throw mismatch(type, value, codingPath) }
                return number.doubleValue as! T
            case is Date.Type:
                guard case .string(let text) = value else { throw mismatch(type, value, codingPath) }
                guard let date = WireCoding.parseTimestamp(text) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "not an ISO 8601 timestamp"))
                }
                return date as! T
            case is UUID.Type:
                guard case .string(let text) = value else { throw mismatch(type, value, codingPath) }
                guard let uuid = UUID(uuidString: text) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "not a UUID"))
                }
                return uuid as! T
            default:
                return try T(from: Reader(value: value, codingPath: codingPath))
            }
        }

        static func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: JSONValue, _ codingPath: [any CodingKey]) throws -> I {
            guard case .number(let number) = value else { throw mismatch(type, value, codingPath) }
            guard let exact = number.int64Value.flatMap(I.init(exactly:)) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(number) is not a \(type)"))
            }
            return exact
        }

        static func mismatch(_ type: Any.Type, _ value: JSONValue, _ codingPath: [any CodingKey]) -> DecodingError {
            if case .null = value {
                return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "found null"))
            }
            return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "found \(value.kindPhrase)"))
        }
    }

    struct KeyedReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        let codingPath: [any CodingKey]

        var allKeys: [Key] { members.keys.compactMap(Key.init(stringValue:)) }

        func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

        private func member(_ key: Key) throws -> JSONValue {
            guard let value = members[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "\(key.stringValue) is missing"))
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { try member(key) == .null }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(key) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(key) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(key) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try decode(key) as Double) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(key) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Reader.integer(type, member(key), codingPath + [key]) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Reader.integer(type, member(key), codingPath + [key]) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(key) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Reader.integer(type, member(key), codingPath + [key]) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Reader.integer(type, member(key), codingPath + [key]) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Reader.integer(type, member(key), codingPath + [key]) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Reader.integer(type, member(key), codingPath + [key]) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Reader.integer(type, member(key), codingPath + [key]) }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decode(key) }

        private func decode<T: Decodable>(_ key: Key) throws -> T {
            try Reader.unbox(member(key), as: T.self, codingPath: codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try Reader(value: member(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try Reader(value: member(key), codingPath: codingPath + [key]).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            Reader(value: members["super"] ?? .null, codingPath: codingPath)
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            Reader(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
        }
    }

    struct UnkeyedReader: UnkeyedDecodingContainer {
        let items: [JSONValue]
        let codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        init(items: [JSONValue], codingPath: [any CodingKey]) {
            self.items = items
            self.codingPath = codingPath
        }

        private var path: [any CodingKey] { codingPath + [IndexKey(intValue: currentIndex)] }

        private mutating func next() throws -> JSONValue {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: path, debugDescription: "the array has no more items"))
            }
            defer { currentIndex += 1 }
            return items[currentIndex]
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, items[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { try decodeNext() }
        mutating func decode(_ type: String.Type) throws -> String { try decodeNext() }
        mutating func decode(_ type: Double.Type) throws -> Double { try decodeNext() }
        mutating func decode(_ type: Float.Type) throws -> Float { Float(try decodeNext() as Double) }
        mutating func decode(_ type: Int.Type) throws -> Int { try decodeNext() }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try integerNext() }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try integerNext() }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeNext() }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeNext() }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try integerNext() }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integerNext() }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integerNext() }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integerNext() }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integerNext() }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeNext() }

        private mutating func decodeNext<T: Decodable>() throws -> T {
            let path = self.path
            return try Reader.unbox(next(), as: T.self, codingPath: path)
        }

        private mutating func integerNext<I: FixedWidthInteger>() throws -> I {
            let path = self.path
            return try Reader.integer(I.self, next(), path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let path = self.path
            return try Reader(value: next(), codingPath: path).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let path = self.path
            return try Reader(value: next(), codingPath: path).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let path = self.path
            return Reader(value: try next(), codingPath: path)
        }
    }

    struct SingleReader: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [any CodingKey]

        func decodeNil() -> Bool { value == .null }
        func decode(_ type: Bool.Type) throws -> Bool { try unbox() }
        func decode(_ type: String.Type) throws -> String { try unbox() }
        func decode(_ type: Double.Type) throws -> Double { try unbox() }
        func decode(_ type: Float.Type) throws -> Float { Float(try unbox() as Double) }
        func decode(_ type: Int.Type) throws -> Int { try unbox() }
        func decode(_ type: Int8.Type) throws -> Int8 { try Reader.integer(type, value, codingPath) }
        func decode(_ type: Int16.Type) throws -> Int16 { try Reader.integer(type, value, codingPath) }
        func decode(_ type: Int32.Type) throws -> Int32 { try unbox() }
        func decode(_ type: Int64.Type) throws -> Int64 { try unbox() }
        func decode(_ type: UInt.Type) throws -> UInt { try Reader.integer(type, value, codingPath) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try Reader.integer(type, value, codingPath) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try Reader.integer(type, value, codingPath) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try Reader.integer(type, value, codingPath) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try Reader.integer(type, value, codingPath) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try unbox() }

        private func unbox<T: Decodable>() throws -> T {
            try Reader.unbox(value, as: T.self, codingPath: codingPath)
        }
    }
}
