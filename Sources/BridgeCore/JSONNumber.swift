/// A JSON number kept as the literal it was written as, so `12345678901234567890`, `1.0` and `1` survive a
/// round trip unchanged; Swift numbers are read from it on demand.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The literal, in JSON's number grammar.
    public let literal: String

    /// A number from a literal in JSON's grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`) whose value
    /// is finite as a `Double`; nil for anything else.
    public init?(literal: String) {
        guard Self.isValid(literal.utf8), Double(literal)?.isFinite == true else { return nil }
        self.literal = literal
    }

    /// A literal the parser has already checked.
    init(validated literal: String) {
        self.literal = literal
    }

    public init(_ value: Int64) {
        literal = String(value)
    }

    public init(_ value: Int) {
        literal = String(value)
    }

    /// A finite double, written as Foundation's `JSONEncoder` writes it: a whole number below 2^53 without a
    /// fraction (`60`), anything else as `Double.description`, which is valid JSON (`0.5`, `1e+21`, `5e-324`).
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        if value.rounded() == value, abs(value) < 9_007_199_254_740_992 {
            literal = String(Int64(value))
        } else {
            literal = value.description
        }
    }

    /// The value as an integer when it is one exactly (`7`, `7.0`, `7e0`); nil for fractions and out-of-range values.
    public var int64Value: Int64? {
        if let exact = Int64(literal) { return exact }
        guard let double = Double(literal), double.rounded() == double,
            double >= -9.223_372_036_854_775_808e18, double < 9.223_372_036_854_775_808e18
        else { return nil }
        return Int64(double)
    }

    /// The nearest double.
    public var doubleValue: Double {
        Double(literal) ?? .nan
    }

    public var description: String { literal }

    /// Whether the bytes are a number in JSON's grammar.
    static func isValid(_ bytes: String.UTF8View) -> Bool {
        var index = bytes.startIndex
        func digits() -> Int {
            var count = 0
            while index != bytes.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                count += 1
                bytes.formIndex(after: &index)
            }
            return count
        }
        func take(_ byte: UInt8) -> Bool {
            guard index != bytes.endIndex, bytes[index] == byte else { return false }
            bytes.formIndex(after: &index)
            return true
        }
        _ = take(UInt8(ascii: "-"))
        if take(UInt8(ascii: "0")) {
            // A leading zero stands alone.
        } else if digits() == 0 {
            return false
        }
        if take(UInt8(ascii: ".")), digits() == 0 { return false }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
            if digits() == 0 { return false }
        }
        return index == bytes.endIndex
    }
}
