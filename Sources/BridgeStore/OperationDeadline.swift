/// The instant by which the current call's database work must be over, for callers that owe their client an
/// answer by then (a long poll owes one at its wait plus a grace).
///
/// ``PostgresStore`` gives each operation the smaller of its own timeout and the time left to this deadline.
public enum OperationDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?
}
