import BridgeCore
import Foundation
import Testing

/// The project's JSON reader and writer, and the tree coder between them: no database, no process.
@Suite struct JSONCodecTests {
    @Test(arguments: [
        #"{"a":[1,2.5,-0,1e3,"x",true,false,null],"b":{}}"#,
        #"["data:,x","2026-12-04T01:02:03Z","12345678901234567890123","SGVsbG8="]"#,
        #""\u00e9 e\u0301 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t""#,
        "  [ 1 , { \"k\" : [ ] } ]\n",
    ])
    func textsParseAndWriteBackToTheSameValue(text: String) throws {
        let value = try JSONParser.parse(Array(text.utf8))
        let written = value.serialized()
        #expect(try JSONParser.parse(written) == value)
        // Foundation's reader agrees on what the written text says.
        #expect((try? JSONSerialization.jsonObject(with: written, options: .fragmentsAllowed)) != nil)
    }

    @Test func stringsKeepEveryScalarAndNumbersTheirLiteral() throws {
        let text = #"{"s":"e\u0301 é \u202e 👨‍👩‍👧 data:,x","n":[1.0,1,123456789012345678901234567890,-0.50,2E+3]}"#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value["s"]?.stringValue.map { Array($0.unicodeScalars) } == Array("e\u{301} \u{E9} \u{202E} 👨‍👩‍👧 data:,x".unicodeScalars))
        #expect(
            value["n"]?.arrayValue?.compactMap { if case .number(let n) = $0 { n.literal } else { nil } }
                == ["1.0", "1", "123456789012345678901234567890", "-0.50", "2E+3"]
        )
        #expect(
            String(decoding: value.serialized(), as: UTF8.self)
                == #"{"n":[1.0,1,123456789012345678901234567890,-0.50,2E+3],"s":"e\#u{301} \#u{E9} \#u{202E} 👨‍👩‍👧 data:,x"}"#
        )
    }

    @Test func controlCharactersAreEscapedAndNothingElseIs() {
        let value = JSONValue.string("a\u{0}\u{1F}\"\\/\n\u{7F}\u{2028}é")
        #expect(String(decoding: value.serialized(), as: UTF8.self) == "\"a\\u0000\\u001f\\\"\\\\/\\n\u{7F}\u{2028}é\"")
    }

    @Test(arguments: [
        ("", "unexpected end of input"), ("{", "expected a member name"), ("[1,]", "unexpected character"),
        ("{\"a\" 1}", "expected ':'"), ("[1 2]", "expected ',' or ']'"), ("01", "unexpected bytes after the value"),
        ("1.", "invalid number"), ("-", "invalid number"), ("1e", "invalid number"), ("1e400", "number out of range"),
        ("\"\u{1}\"", "unescaped control character in a string"), ("\"\\x\"", "invalid escape"),
        ("\"\\ud800\"", "a high surrogate escape without its low surrogate"),
        ("\"\\udc00\"", "a low surrogate escape without its high surrogate"), ("\"abc", "unterminated string"),
        ("tru", "unexpected end of input"), ("nul!", "unexpected character"), ("{} {}", "unexpected bytes after the value"),
    ])
    func malformedTextsAreRefusedWithAReason(text: String, reason: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(text.utf8)) }
        do {
            _ = try JSONParser.parse(Array(text.utf8))
        } catch {
            #expect(error.reason == reason, "\(text.debugDescription): \(error)")
        }
    }

    @Test func invalidUTF8IsRefused() {
        for bytes: [UInt8] in [[0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22]] {
            #expect(throws: JSONParser.Failure.self, "\(bytes)") { try JSONParser.parse(bytes) }
        }
    }

    @Test func nestingIsBoundedWithoutRecursingPastTheLimit() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(deep.utf8)) }
        let limit = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(Array(limit.utf8), maximumDepth: 64)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(("[" + limit + "]").utf8), maximumDepth: 64) }
    }

    @Test func aRepeatedKeyKeepsItsLastValue() throws {
        #expect(try JSONParser.parse(Array(#"{"a":1,"a":2}"#.utf8)) == .object(["a": .integer(2)]))
    }

    // MARK: - Typed values

    struct Sample: Codable, Equatable {
        enum Kind: String, Codable { case note, finding }
        var id: UUID
        var at: Date
        var kind: Kind
        var count: Int64
        var ratio: Double
        var tags: [String]
        var note: String?
        var payload: JSONValue
        var nested: [String: [Int]]

        enum CodingKeys: String, CodingKey { case id, at, kind, count, ratio, tags, note, payload, nested }
    }

    @Test func typedValuesGoInAndOutOfTheTreeWithTheWireConventions() throws {
        let sample = Sample(
            id: UUID(uuidString: "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F")!,
            at: Date(timeIntervalSince1970: 1_764_810_123.25),
            kind: .finding,
            count: 9_007_199_254_740_993,
            ratio: 0.25,
            tags: ["data:,x"],
            note: nil,
            payload: .object(["big": .number(JSONNumber(literal: "123456789012345678901234567890")!)]),
            nested: ["a": [1, 2]]
        )
        let tree = try JSONValueEncoder().encode(sample)
        #expect(tree["id"] == .string("6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"))
        #expect(tree["at"] == .string("2025-12-04T01:02:03.250Z"))
        #expect(tree["count"] == .integer(9_007_199_254_740_993))
        #expect(tree["note"] == nil, "an absent optional is not written")
        #expect(tree["tags"] == .array([.string("data:,x")]))
        let text = String(decoding: try WireCoding.encode(sample), as: UTF8.self)
        #expect(text.hasPrefix(#"{"at":"2025-12-04T01:02:03.250Z","count":9007199254740993,"id":"#))
        #expect(text.contains(#""payload":{"big":123456789012345678901234567890}"#))
        #expect(try WireCoding.decode(Sample.self, from: Data(text.utf8)) == sample)
    }

    @Test func decodingDoesNotCoerce() throws {
        struct Numbers: Decodable { var limit: Int }
        struct Words: Decodable { var title: String }
        struct When: Decodable { var since: Date }
        #expect(try JSONValueDecoder().decode(Numbers.self, from: .object(["limit": .number(JSONNumber(literal: "5.0")!)])).limit == 5)
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Numbers.self, from: .object(["limit": .string("5")])) }
        #expect(throws: DecodingError.self) {
            try JSONValueDecoder().decode(Numbers.self, from: .object(["limit": .number(JSONNumber(literal: "5.5")!)]))
        }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Numbers.self, from: .object(["limit": .bool(true)])) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Words.self, from: .object(["title": .integer(1)])) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Words.self, from: .object([:])) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(When.self, from: .object(["since": .string("yesterday")])) }
    }

    @Test func doublesAreWrittenAsFoundationWritesThem() {
        #expect(JSONNumber(60.0)?.literal == "60")
        #expect(JSONNumber(0.5)?.literal == "0.5")
        #expect(JSONNumber(-0.0)?.literal == "0")
        #expect(JSONNumber(1e21)?.literal == "1e+21")
        #expect(JSONNumber(.nan) == nil && JSONNumber(.infinity) == nil)
        #expect(JSONNumber(literal: "01") == nil && JSONNumber(literal: "1e999") == nil && JSONNumber(literal: " 1") == nil)
    }
}
