-- Observability (ARCHITECTURE.md, Observability): API request counters that serve processes persist, and the indexes the
-- supervisor's /metrics needs to stay a handful of cheap queries.

-- One row per workspace, tool, result code ("OK" or the error code) and hour (database clock, when the
-- serve process flushed). bucket_counts is a histogram of call durations, one count per bucket, not
-- cumulative; the upper bounds in seconds are
--   0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, +Inf
-- (APIRequestStats.bucketBounds). A flush adds its deltas to the row of the hour.
CREATE TABLE api_request_stats (
    workspace_id     text             NOT NULL,
    tool             text             NOT NULL,
    code             text             NOT NULL,
    period_start     timestamptz      NOT NULL,
    request_count    bigint           NOT NULL,
    duration_seconds double precision NOT NULL,
    bucket_counts    bigint[]         NOT NULL,
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, tool, code, period_start),
    CHECK (cardinality(bucket_counts) = 16)
);

-- Escalations, loop-guard trips and deferrals are counted from the audit trail without reading all of it.
CREATE INDEX audit_events_for_metrics ON audit_events (workspace_id, action, reason)
    WHERE action IN ('thread.escalate', 'wake.deferred');
-- Wake start latency looks at the last hour of attempts.
CREATE INDEX wake_attempts_by_start ON wake_attempts (started_at);
