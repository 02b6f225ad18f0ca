-- Approval tickets (ARCHITECTURE.md, Domain and Identity and policy): a risky action waits here for a human decision.
CREATE TABLE approval_tickets (
    id              uuid        PRIMARY KEY,
    workspace_id    text        NOT NULL,
    thread_id       uuid        NOT NULL REFERENCES threads (id),
    requester       text        NOT NULL,
    action_class    text        NOT NULL,
    resource        text        NOT NULL,
    summary         text        NOT NULL,
    risk            text        NOT NULL DEFAULT 'medium',
    state           text        NOT NULL DEFAULT 'pending',
    decider         text,
    reason_code     text,
    decision_note   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    expires_at      timestamptz NOT NULL,
    escalate_at     timestamptz,
    escalated_at    timestamptz,
    request_id      text        NOT NULL,
    CHECK (risk IN ('low', 'medium', 'high')),
    CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
    CHECK ((state = 'pending') = (decided_at IS NULL))
);
CREATE INDEX approval_tickets_by_workspace ON approval_tickets (workspace_id, created_at DESC);
CREATE INDEX approval_tickets_by_thread ON approval_tickets (thread_id, created_at DESC);
CREATE INDEX approval_tickets_pending_expiry ON approval_tickets (expires_at) WHERE state = 'pending';
