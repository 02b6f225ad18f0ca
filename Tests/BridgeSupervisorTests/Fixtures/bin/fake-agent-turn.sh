# Shared by the fake runtimes: record the invocation, and act as the woken agent would — call back into
# agent-bridge over MCP (read the thread it was woken for, then acknowledge up to the seq).
#
# Environment: FAKE_RUNTIME_DIR (where invocations are recorded), AGENT_BRIDGE_BIN (the binary under test),
# DATABASE_URL, and what the supervisor sets for every wake: AGENT_BRIDGE_PARTICIPANT, AGENT_BRIDGE_ROLE,
# AGENT_BRIDGE_WORKSPACE (which the `serve` below reads, with no flags), AGENT_BRIDGE_WAKE_THREAD_ID,
# AGENT_BRIDGE_WAKE_SEQ.

record_invocation() {
    local name="$1"
    shift
    local base
    base="${FAKE_RUNTIME_DIR:?}/$name-$(date +%s%N)-$$"
    # One file per invocation: the arguments, NUL-separated, exactly as received; and the AGENT_BRIDGE_*
    # environment it was started with, one NAME=VALUE a line.
    printf '%s\0' "$@" > "$base.args"
    env | grep '^AGENT_BRIDGE_' | sort > "$base.env"
}

bridge_turn() {
    local thread="${AGENT_BRIDGE_WAKE_THREAD_ID:?}" seq="${AGENT_BRIDGE_WAKE_SEQ:?}"
    {
        printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fake-agent","version":"1"}}}'
        printf '%s\n' '{"jsonrpc":"2.0","method":"notifications/initialized"}'
        printf '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"v1_message_read","arguments":{"thread_id":"%s","after_seq":0}}}\n' "$thread"
        printf '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"v1_message_ack","arguments":{"thread_id":"%s","seq":%s}}}\n' "$thread" "$seq"
    } | AGENT_BRIDGE_LOG_LEVEL=error "${AGENT_BRIDGE_BIN:?}" serve > "$FAKE_RUNTIME_DIR/turn-$$.jsonl" 2>&1
}

# The behaviour asked of this mode: ok (call back, exit 0), fail (exit 1 at once), hang (never answer),
# silent (exit 0 without calling back), hang_after_start (print the first event, naming the session, then
# never answer: a long first turn).
behaviour_for() {
    if [ "$1" = resume ]; then echo "${FAKE_RESUME:-ok}"; else echo "${FAKE_SPAWN:-ok}"; fi
}
