import Foundation

/// Any JSON value, as the wire carried it: tool arguments and results, message payloads, stored replies.
///
/// Strings keep every Unicode scalar, numbers keep their literal (``JSONNumber``), and nothing is coerced: a
/// string that looks like a data URL, a date or a number stays a string. ``JSONParser`` reads it from bytes,
/// ``JSONWriter`` writes it back, and ``JSONValueEncoder`` / ``JSONValueDecoder`` move typed values in and out
/// without a detour through text.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// An empty object, the default payload.
    public static let emptyObject = JSONValue.object([:])

    /// An integer number.
    public static func integer(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }

    /// Parses one JSON text (strict: valid UTF-8, no control characters in strings, finite numbers).
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParser.Failure) {
        self = try JSONParser.parse(bytes)
    }

    /// The compact JSON text, object members in a stable (byte-wise sorted) order.
    public func serialized() -> Data {
        JSONWriter.data(self)
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value when it is an integer number (`3`, `3.0`).
    public var int64Value: Int64? {
        if case .number(let value) = self { return value.int64Value }
        return nil
    }

    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// What kind of value this is, as error messages name it: `an object`, `a string`, `null`, ….
    public var kindPhrase: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

// MARK: - Codable

/// Through ``JSONValueEncoder`` / ``JSONValueDecoder`` a value passes as it is; through any other coder
/// (YAML, Foundation's JSON) numbers go by their nearest integer or double.
extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        if let tree = decoder as? JSONValueDecoder.Reader {
            self = tree.value
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self), let number = JSONNumber(value) {
            self = .number(number)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        if let tree = encoder as? JSONValueEncoder.Writer {
            tree.store(self)
            return
        }
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if let integer = Int64(value.literal) { try container.encode(integer) } else { try container.encode(value.doubleValue) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
