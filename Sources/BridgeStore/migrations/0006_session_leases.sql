-- A lease per running `agent-bridge serve` process: the MCP session of one client (Claude Code, Codex, …) is
-- alive while its lease is renewed. serve renews it every few seconds and deletes it on exit; a lease past
-- expires_at belongs to a process that died (kill -9, lost host). The wake planner never resumes or spawns
-- a participant that has a live lease: two writers on one session would fork it.
CREATE TABLE session_leases (
    id              uuid PRIMARY KEY,
    workspace_id    text NOT NULL,
    handle          text NOT NULL,
    -- What the client said it is in `initialize` (clientInfo), and the runtime kind that implies.
    client_name     text,
    client_version  text,
    runtime_kind    text NOT NULL DEFAULT 'none',
    session_id      text,
    pid             integer NOT NULL,
    host            text NOT NULL,
    -- The client declared the `claude/channel` capability: messages for the participant are pushed to it.
    channel         boolean NOT NULL DEFAULT false,
    started_at      timestamptz NOT NULL DEFAULT now(),
    renewed_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);

CREATE INDEX session_leases_by_participant ON session_leases (workspace_id, handle, expires_at);
