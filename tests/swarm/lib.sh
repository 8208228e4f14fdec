# shellcheck shell=bash disable=SC2154,SC2120
# Shared by daemon.sh and runtime.sh (sourced): the daemon on the cluster and the owner's tools.
# The caller sets BIN (the CLI), MANAGER, RELAY (ws://ADDR:PORT, the embedded relay), HTTP,
# GATEWAY, REGISTRY and dir (holding owner.key, owner.npub; the daemon's files go there), and
# defines die.

# start_swarm_daemon [UP ARGS...]: `up --engine swarm` in the background (daemon_pid), its log
# appended to $dir/daemon.log; returns once /healthz answers, dies when it does not in 30 s.
start_swarm_daemon() {
    "$BIN" up "$@" --engine swarm --docker-socket "$MANAGER" --embedded-relay "${RELAY#ws://}" \
        --whitelist "$(cat "$dir/owner.npub")" --policies "$dir/policies" \
        --projects-path "$dir/projects" --state-dir "$dir/state" --key "$dir/daemon.key" \
        --http "$HTTP" --gateway "$GATEWAY" --gateway-forwarder-image "$REGISTRY/tenex-forwarder:latest" \
        >>"$dir/daemon.log" 2>&1 </dev/null &
    daemon_pid=$!
    for _ in $(seq 150); do
        curl -sf "http://$HTTP/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited at start"
        sleep 0.2
    done
    die "the daemon's /healthz did not answer within 30 s"
}

# publish ARGS...: an event signed by the owner; prints its id.
publish() { "$BIN" --log-level warn publish --relay "$RELAY" --key "$dir/owner.key" "$@" | head -1 | awk '{print $NF}'; }
ps_json() { "$BIN" ps --http "$HTTP" --json; }
# first_event FILTER SECONDS: the first matching event on the relay, polled.
first_event() {
    local out until=$((SECONDS + $2))
    while ((SECONDS < until)); do
        out=$("$BIN" --log-level warn req --relay "$RELAY" --timeout 2 "$1" || true)
        [[ -n $out ]] && { head -1 <<<"$out"; return 0; }
        sleep 0.5
    done
    return 1
}
