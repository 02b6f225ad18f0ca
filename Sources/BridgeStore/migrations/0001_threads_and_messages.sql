-- agent-bridge foundation: participants, threads, messages, cursors, idempotency, audit.
-- Every row carries workspace_id: a deployment serves one workspace, and every query filters by it.

CREATE TABLE participants (
    workspace_id        text        NOT NULL,
    handle              text        NOT NULL,
    display_name        text,
    role                text        NOT NULL,
    runtime_kind        text        NOT NULL DEFAULT 'none',
    runtime_managed     boolean     NOT NULL DEFAULT false,
    session_id          text,
    workdir             text,
    presence            text        NOT NULL DEFAULT 'active',
    last_heartbeat_at   timestamptz,
    last_human_input_at timestamptz,
    last_seen_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, handle),
    CHECK (role IN ('coordinator', 'executioner', 'reviewer', 'approver', 'operator', 'observer')),
    CHECK (runtime_kind IN ('codex_cli', 'claude_code', 'command', 'human', 'none')),
    CHECK (presence IN ('active', 'idle', 'dormant'))
);

CREATE TABLE threads (
    id                      uuid        PRIMARY KEY,
    workspace_id            text        NOT NULL,
    title                   text        NOT NULL,
    status                  text        NOT NULL DEFAULT 'active',
    status_reason           text,
    outcome                 text,
    autonomous              boolean     NOT NULL DEFAULT false,
    created_by              text        NOT NULL,
    -- The per-thread message counter: a post increments it and takes the new value as its seq
    -- in the same statement, so seqs are gapless and the row lock is held for one round trip.
    last_seq                bigint      NOT NULL DEFAULT 0,
    no_progress_turns       integer     NOT NULL DEFAULT 0,
    repeated_finding_cycles integer     NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (status IN ('active', 'blocked', 'closed'))
);
CREATE INDEX threads_by_workspace_recent ON threads (workspace_id, updated_at DESC, id);

CREATE TABLE thread_participants (
    thread_id    uuid        NOT NULL REFERENCES threads (id),
    workspace_id text        NOT NULL,
    handle       text        NOT NULL,
    role         text        NOT NULL,
    -- Last acknowledged seq; unread is derived as seq > cursor_seq, never from notifications.
    cursor_seq   bigint      NOT NULL DEFAULT 0,
    joined_at    timestamptz NOT NULL DEFAULT now(),
    left_at      timestamptz,
    PRIMARY KEY (thread_id, handle)
);
CREATE INDEX thread_participants_by_handle ON thread_participants (workspace_id, handle) WHERE left_at IS NULL;

CREATE TABLE messages (
    thread_id      uuid        NOT NULL REFERENCES threads (id),
    seq            bigint      NOT NULL,
    id             uuid        NOT NULL UNIQUE,
    workspace_id   text        NOT NULL,
    author         text        NOT NULL,
    kind           text        NOT NULL,
    to_handles     text[]      NOT NULL DEFAULT '{}',
    reply_to_seq   bigint,
    body           text        NOT NULL,
    payload        jsonb       NOT NULL DEFAULT '{}',
    schema_version text        NOT NULL,
    body_hash      text        NOT NULL,
    request_id     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, seq),
    CHECK (seq > 0),
    CHECK (kind IN ('note', 'request', 'finding', 'result', 'handoff', 'status', 'system'))
);

CREATE TABLE idempotency_keys (
    workspace_id text        NOT NULL,
    caller       text        NOT NULL,
    tool         text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    -- The original result, replayed with deduplicated: true; a post stores its message id instead.
    result       jsonb,
    result_ref   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, caller, tool, key)
);

CREATE TABLE audit_events (
    id           bigserial   PRIMARY KEY,
    workspace_id text        NOT NULL,
    actor        text        NOT NULL,
    action       text        NOT NULL,
    target       text        NOT NULL,
    before       jsonb,
    after        jsonb,
    reason       text,
    request_id   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_by_target ON audit_events (workspace_id, target, id);
