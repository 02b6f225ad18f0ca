-- The per-participant post rate limit (catalog rate_limits.message_post) as a token bucket on the
-- participant row: post_allowance posts are left as of post_allowance_at; it refills at count/window
-- per second up to count. NULL means a full bucket. The post statement spends one in the same statement.
ALTER TABLE participants
    ADD COLUMN post_allowance    double precision,
    ADD COLUMN post_allowance_at timestamptz;
