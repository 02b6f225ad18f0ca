import BridgeCore
import Foundation

/// Checks tool arguments against their published JSON Schema, so `schemas/v1/` is the one source of truth.
///
/// Supports the subset the schemas use: `type`, `properties`, `required`, `additionalProperties`, `items`,
/// `enum`, `const`, `minimum`, `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, `uniqueItems`,
/// `pattern`, `oneOf`, and `format` `uuid` / `date-time`. `$ref`s are inlined when the catalog loads.
/// The first violation becomes an `INVALID_ARGUMENT` with a reason and the offending field's path.
struct SchemaValidator: Sendable {
    let schema: JSONValue
    private let patterns: [String: NSRegularExpressionBox]

    init(schema: JSONValue) {
        self.schema = schema
        var patterns: [String: NSRegularExpressionBox] = [:]
        Self.collectPatterns(schema, into: &patterns)
        self.patterns = patterns
    }

    func validate(_ value: JSONValue) throws(BridgeError) {
        try check(value, against: schema, path: "")
    }

    private func check(_ value: JSONValue, against schema: JSONValue, path: String) throws(BridgeError) {
        guard case .object(let rules) = schema else { return }
        let field = path.isEmpty ? "arguments" : path

        if let type = rules["type"] {
            let allowed: [String] =
                switch type {
                case .string(let one): [one]
                case .array(let many): many.compactMap(\.stringValue)
                default: []
                }
            guard allowed.contains(where: { Self.matches(value, type: $0) }) else {
                throw fail(.invalidFieldType, "\(field) must be \(allowed.joined(separator: " or ")), not \(value.kindPhrase).", path)
            }
        }
        if case .array(let options)? = rules["enum"], !options.contains(where: { Self.equal($0, value) }) {
            let listed = options.map { $0.stringValue ?? String(decoding: $0.serialized(), as: UTF8.self) }.joined(separator: ", ")
            throw fail(.invalidEnumValue, "\(field) must be one of: \(listed).", path)
        }
        if let constant = rules["const"], !Self.equal(constant, value) {
            throw fail(
                .invalidFieldValue,
                "\(field) must be \(constant.stringValue ?? String(decoding: constant.serialized(), as: UTF8.self)).",
                path
            )
        }
        if case .array(let alternatives)? = rules["oneOf"] {
            var firstFailure: BridgeError?
            var fitting = 0
            for alternative in alternatives {
                do throws(BridgeError) {
                    try check(value, against: alternative, path: path)
                    fitting += 1
                } catch {
                    firstFailure = firstFailure ?? error
                }
            }
            if fitting == 0, let firstFailure { throw firstFailure }
            if fitting > 1 { throw fail(.invalidFieldValue, "\(field) fits more than one of its schema's alternatives.", path) }
        }

        switch value {
        case .object(let object):
            if case .array(let required)? = rules["required"] {
                for case .string(let name) in required where object[name] == nil || object[name] == .null && !allowsNull(rules, name) {
                    throw fail(.missingRequiredField, "\(join(path, name)) is required.", join(path, name))
                }
            }
            let properties = rules["properties"]?.objectValue ?? [:]
            for (name, child) in object.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[name] {
                    try check(child, against: propertySchema, path: join(path, name))
                } else if case .bool(false)? = rules["additionalProperties"] {
                    throw fail(.invalidFieldValue, "\(join(path, name)) is not a known field.", join(path, name))
                } else if case .object? = rules["additionalProperties"], let extra = rules["additionalProperties"] {
                    try check(child, against: extra, path: join(path, name))
                }
            }
        case .array(let items):
            if let min = rules["minItems"]?.int64Value, items.count < min {
                throw fail(.invalidFieldValue, "\(field) needs at least \(min) items.", path)
            }
            if let max = rules["maxItems"]?.int64Value, items.count > max {
                throw fail(.invalidFieldValue, "\(field) may have at most \(max) items.", path)
            }
            if rules["uniqueItems"]?.boolValue == true, Set(items).count != items.count {
                throw fail(.invalidFieldValue, "\(field) must not repeat items.", path)
            }
            if let itemSchema = rules["items"] {
                for (index, item) in items.enumerated() {
                    try check(item, against: itemSchema, path: "\(field)[\(index)]")
                }
            }
        case .string(let text):
            if rules["minLength"] != nil || rules["maxLength"] != nil {
                let length = text.unicodeScalars.count
                if let min = rules["minLength"]?.int64Value, length < min {
                    throw fail(.invalidFieldValue, min == 1 ? "\(field) must not be empty." : "\(field) must be at least \(min) characters.", path)
                }
                if let max = rules["maxLength"]?.int64Value, length > max {
                    throw fail(.invalidFieldValue, "\(field) must be at most \(max) characters.", path)
                }
            }
            if case .string(let pattern)? = rules["pattern"], let regex = patterns[pattern], !regex.matches(text) {
                throw fail(.invalidFieldValue, "\(field) has the wrong form (expected \(pattern)).", path)
            }
            if case .string(let format)? = rules["format"] {
                let ok =
                    switch format {
                    case "uuid": UUID(uuidString: text) != nil
                    case "date-time": WireCoding.parseTimestamp(text) != nil
                    default: true
                    }
                if !ok { throw fail(.invalidFieldValue, "\(field) must be a \(format).", path) }
            }
        case .number(let number):
            let value = number.doubleValue
            if let min = Self.number(rules["minimum"]), value < min {
                throw fail(.invalidFieldValue, "\(field) must be at least \(Self.format(min)).", path)
            }
            if let max = Self.number(rules["maximum"]), value > max {
                throw fail(.invalidFieldValue, "\(field) must be at most \(Self.format(max)).", path)
            }
        default:
            break
        }
    }

    private func allowsNull(_ rules: [String: JSONValue], _ name: String) -> Bool {
        guard let property = rules["properties"]?.objectValue?[name]?.objectValue, case .array(let types)? = property["type"] else { return false }
        return types.contains(.string("null"))
    }

    private func fail(_ reason: Reason, _ message: String, _ path: String) -> BridgeError {
        BridgeError.invalidArgument(reason, message, field: path.isEmpty ? nil : path)
    }

    private func join(_ path: String, _ name: String) -> String {
        path.isEmpty ? name : "\(path).\(name)"
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number):
            true
        // JSON Schema counts 3.0 as an integer; the typed input reads it as 3.
        case ("integer", .number(let number)): number.int64Value != nil
        default: false
        }
    }

    /// JSON equality: numbers by value (`1` equals `1.0`), everything else as written.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if case .number(let x) = a, case .number(let y) = b { return x.doubleValue == y.doubleValue }
        return a == b
    }

    static func number(_ value: JSONValue?) -> Double? {
        if case .number(let number)? = value { return number.doubleValue }
        return nil
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number ? String(Int64(number)) : String(number)
    }

    private static func collectPatterns(_ schema: JSONValue, into patterns: inout [String: NSRegularExpressionBox]) {
        switch schema {
        case .object(let object):
            if case .string(let pattern)? = object["pattern"], patterns[pattern] == nil,
                let regex = try? NSRegularExpression(pattern: icuPattern(ecmaPattern: pattern))
            {
                patterns[pattern] = NSRegularExpressionBox(regex: regex)
            }
            for child in object.values { collectPatterns(child, into: &patterns) }
        case .array(let items):
            for item in items { collectPatterns(item, into: &patterns) }
        default:
            break
        }
    }
}

extension SchemaValidator {
    /// The ICU form of a JSON Schema (ECMA-262) pattern. ECMA's `$` matches only at the end of the text, ICU's also
    /// before a final line terminator (`"ok\n"` would pass `^[a-z]+$`): every `$` outside a character class or
    /// escape becomes `\z`, the end of the text.
    static func icuPattern(ecmaPattern pattern: String) -> String {
        var translated = ""
        var escaped = false
        var inClass = false
        for character in pattern {
            defer { escaped = character == "\\" && !escaped }
            if escaped {
                translated.append(character)
                continue
            }
            switch character {
            case "[": inClass = true
            case "]": inClass = false
            case "$" where !inClass:
                translated += "\\z"
                continue
            default: break
            }
            translated.append(character)
        }
        return translated
    }
}

/// A compiled pattern; NSRegularExpression is immutable and safe to share once built.
struct NSRegularExpressionBox: @unchecked Sendable {
    let regex: NSRegularExpression

    func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
