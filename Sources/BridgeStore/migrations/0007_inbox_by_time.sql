-- The inbox reads a caller's unread messages oldest first across its threads (PostgresStore.inbox). It walks
-- messages in time order per workspace and stops at its page, starting at the oldest unread message: before this,
-- every inbox call joined and sorted every message of every thread the caller is in.
--
-- cursor_at is created_at of the message at cursor_seq (NULL while nothing is acknowledged), kept by the ack,
-- so the start is found from the caller's thread_participants rows alone.
ALTER TABLE thread_participants ADD COLUMN cursor_at timestamptz;
UPDATE thread_participants p SET cursor_at = m.created_at
  FROM messages m
 WHERE m.thread_id = p.thread_id AND m.seq = p.cursor_seq AND p.cursor_seq > 0;
CREATE INDEX messages_by_workspace_time ON messages (workspace_id, created_at, thread_id, seq);
