import Foundation
import Testing

@testable import BridgeMCP

/// The byte scan that bounds nesting before any parser runs.
@Suite struct JSONShapeTests {
    func scan(_ text: String) -> JSONShape {
        JSONShape.scan(Data(text.utf8), maximumDepth: 4)
    }

    @Test func bracketsInsideStringsDoNotNest() {
        let shape = scan(#"{"id":1,"params":{"a":"[[[[[[{{{{\"[[[[","b":"\\"}}"#)
        #expect(shape.depth == 2)
        #expect(shape.deepMember == nil)
    }

    @Test func theMemberThatGoesTooDeepIsNamedAndTheIDFoundAfterIt() {
        let shape = scan(#"{"method":"ping","params":{"a":[[[[1]]]]},"id":"x-1"}"#)
        #expect(shape.deepMember == "params")
        #expect(shape.hasMethod && shape.hasID)
        #expect(shape.rawID.map { String(decoding: $0, as: UTF8.self) } == #""x-1""#)
        #expect(shape.rawID.flatMap(FrameGate.readID) == .string("x-1"))
    }

    @Test func onlyTopLevelKeysCount() {
        let shape = scan(#"{"params":{"id":5,"method":"m"}}"#)
        #expect(!shape.hasID && !shape.hasMethod && shape.rawID == nil)
    }

    @Test func theFirstOfDuplicateIDsIsTheOneRead() {
        // JSONDecoder, and so the SDK, reads the first.
        #expect(scan(#"{"id":1,"id":2}"#).rawID.flatMap(FrameGate.readID) == .number(1))
    }

    @Test func openingByteAndNonIntegerIDs() {
        #expect(scan("  [1]").opening == UInt8(ascii: "["))
        #expect(scan("   ").opening == nil)
        #expect(scan(#"{"id":1.5}"#).rawID.flatMap(FrameGate.readID) == nil)
        #expect(scan(#"{"id":null}"#).rawID.flatMap(FrameGate.readID) == nil)
        #expect(scan(#"{"id":[1]}"#).rawID.flatMap(FrameGate.readID) == nil)
    }
}
