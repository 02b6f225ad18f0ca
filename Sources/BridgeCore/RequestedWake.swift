import Foundation

/// An open wake request someone asked for by name (`v1_wake_trigger`), as a live session is told of it.
public struct RequestedWake: Sendable, Hashable {
    public var id: UUID
    public var threadID: UUID
    public var triggerSeq: Int64
    public var requestedBy: String

    /// A wake request `requestedBy` asked for on `threadID`, to be acked up to `triggerSeq`.
    public init(id: UUID, threadID: UUID, triggerSeq: Int64, requestedBy: String) {
        self.id = id
        self.threadID = threadID
        self.triggerSeq = triggerSeq
        self.requestedBy = requestedBy
    }
}
