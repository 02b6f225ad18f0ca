/// Finds a new session's id in a process's output as it arrives: fed the bytes in whatever chunks they come,
/// it looks at each complete line and reports the first id a ``RuntimeCatalog/SessionIDSource`` finds.
///
/// A line longer than ``maximumLineBytes`` is skipped (the events that carry ids are small), and after
/// ``maximumScannedBytes`` without an id the scanner stops looking, so a chatty process costs nothing more.
public struct SessionIDScanner: Sendable {
    /// The longest line looked at.
    public static let maximumLineBytes = 1 << 20
    /// How much output is looked through before giving up.
    public static let maximumScannedBytes = 4 << 20

    public let source: RuntimeCatalog.SessionIDSource
    /// The id, once found.
    public private(set) var sessionID: String?
    private var line: [UInt8] = []
    private var skippingLongLine = false
    private var scannedBytes = 0

    public init(source: RuntimeCatalog.SessionIDSource) {
        self.source = source
    }

    /// Whether more output could still change anything: no id yet and the scan budget not spent.
    public var isLooking: Bool {
        sessionID == nil && scannedBytes < Self.maximumScannedBytes
    }

    /// Takes the next bytes of output; returns the id when this chunk completes the first line that names it.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> String? {
        guard isLooking else { return nil }
        for byte in bytes {
            scannedBytes += 1
            if byte == UInt8(ascii: "\n") {
                if !skippingLongLine, let id = source.sessionID(inLine: line) {
                    sessionID = id
                    line = []
                    return id
                }
                line.removeAll(keepingCapacity: true)
                skippingLongLine = false
            } else if !skippingLongLine {
                if line.count < Self.maximumLineBytes {
                    line.append(byte)
                } else {
                    line = []
                    skippingLongLine = true
                }
            }
            if scannedBytes >= Self.maximumScannedBytes { return nil }
        }
        return nil
    }
}
