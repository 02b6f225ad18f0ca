-- The supervisor (ARCHITECTURE.md, Supervisor): wake requests and their attempts, and the loop guards' progress on each thread.

CREATE TABLE wake_requests (
    id               uuid        PRIMARY KEY,
    workspace_id     text        NOT NULL,
    target           text        NOT NULL,
    thread_id        uuid        NOT NULL REFERENCES threads (id),
    -- The highest directed seq the target had not read when the request was made.
    trigger_seq      bigint      NOT NULL,
    state            text        NOT NULL DEFAULT 'pending',
    reason           text,
    -- 'supervisor' (found from state) or 'participant:HANDLE' (v1_wake_trigger).
    requested_by     text        NOT NULL,
    -- What the next or current attempt does.
    action           text        NOT NULL DEFAULT 'resume',
    resume_failures  integer     NOT NULL DEFAULT 0,
    spawn_failures   integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    deferred_since   timestamptz,
    -- The current attempt's start on the supervisor's clock (ack timeout), and on the database's (ack check:
    -- last_seen_at is written by serve with the database clock).
    triggered_at     timestamptz,
    triggered_db_at  timestamptz,
    finished_at      timestamptz,
    -- Bumped by every change: a supervisor changes a request only in the version it read, so two
    -- supervisors can never both start the same attempt.
    version          integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (state IN ('pending', 'deferred', 'triggered', 'acked', 'already_active', 'fallback_spawned', 'failed',
                     'deferred_timeout', 'dead')),
    CHECK (action IN ('resume', 'spawn'))
);
-- One wake in flight per participant.
CREATE UNIQUE INDEX wake_requests_one_open_per_target ON wake_requests (workspace_id, target)
    WHERE state IN ('pending', 'deferred', 'triggered');
CREATE INDEX wake_requests_open ON wake_requests (workspace_id, next_attempt_at)
    WHERE state IN ('pending', 'deferred', 'triggered');
CREATE INDEX wake_requests_by_target_thread ON wake_requests (workspace_id, target, thread_id, trigger_seq DESC);
CREATE INDEX wake_requests_by_thread ON wake_requests (thread_id, created_at DESC);

CREATE TABLE wake_attempts (
    request_id   uuid        NOT NULL REFERENCES wake_requests (id),
    attempt      integer     NOT NULL,
    action       text        NOT NULL,
    supervisor   text        NOT NULL,
    argv         text[]      NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    exit_code    integer,
    outcome      text        NOT NULL DEFAULT 'running',
    session_id   text,
    -- The last few KiB of the process's output.
    output_tail  text,
    PRIMARY KEY (request_id, attempt),
    CHECK (action IN ('resume', 'spawn')),
    CHECK (outcome IN ('running', 'exited', 'failed', 'not_started', 'stopped'))
);

-- Loop guards: the last seq the guards looked at, and the seq after which findings count again (the last block).
ALTER TABLE threads
    ADD COLUMN guard_checked_seq  bigint NOT NULL DEFAULT 0,
    ADD COLUMN guard_baseline_seq bigint NOT NULL DEFAULT 0;
CREATE INDEX messages_findings_by_hash ON messages (thread_id, body_hash, seq) WHERE kind = 'finding';
