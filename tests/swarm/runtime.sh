#!/usr/bin/env bash
# The real TENEX runtime on the cluster (issues 16 and 17): the daemon with `engine: swarm`
# against the manager of the cluster that `cluster.sh up` made, its embedded relay and project
# gateway on the bridge address, the fake LLM (tests/runtime-peers/fake-llm.mjs, Ollama's API)
# on that address too, and one project whose policy is examples/policies-runtime's as an
# operator of a cluster writes it: the tenex-runtime image from the cluster's registry, egress
# with relays: true, its LLM by address, placed on a worker; node-local workspaces (`swarm:
# workspaces: node-local`: no shared storage, the project's directories seeded onto its node).
# Checks, failing on the first that does not hold:
#   - the owner publishes an agent (kind 4199), a project naming it (31933) and a boot request
#     (24000); the daemon publishes the agent's profile; a kind 1 to the agent is answered on
#     the relay by the real TENEX backend in the task on a worker, signed by the agent, with
#     the fake LLM's text (which it reached through its egress forwarder service);
#   - the task is the project's one task, on a worker; its one network is the project's
#     internal overlay; the project has exactly two forwarder services (the gateway's, its
#     LLM's), and the LLM was asked from the cluster;
#   - its workspace and runtime directory are local volumes of that worker (tenex-nl-*), the
#     runtime's config.json there owned by the policy's user, no seed service left;
#   - `restart` (a new service, a new gateway secret, which only the seed brings to the node)
#     runs it on the same node, and it answers a second message;
#   - `forget` removes the service, the forwarders and the uplink; SIGTERM stops the daemon.
#
#   tests/swarm/runtime.sh      (run.sh runs it as its `runtime` step)
#
# Needs tenex-runtime:latest on this machine's engine (scripts/build-runtime-image), copied into
# the manager and pushed to the cluster's registry here (the worker pulls it from there), and
# node (the fake LLM has no dependencies). Environment: TENEX_SANDBOX (the CLI, default
# build/bin/tenex-sandbox), TENEX_RUNTIME_IMAGE (default tenex-runtime:latest).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${TENEX_SANDBOX:-$root/build/bin/tenex-sandbox}
IMAGE=${TENEX_RUNTIME_IMAGE:-tenex-runtime:latest}
MANAGER=unix:///run/tenex-swarm/1/docker.sock
HOST_IP=10.213.0.254                       # cluster.sh's bridge address: the nodes reach it
REGISTRY=$HOST_IP:5000
RELAY=ws://$HOST_IP:7794
HTTP=127.0.0.1:7795
GATEWAY=$HOST_IP:7796
LLM_PORT=7797
D=cluster-runtime

log() { printf '[runtime %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    if [[ -f ${dir:-}/daemon.log ]]; then
        echo "---- last lines of the daemon's log" >&2
        tail -n 40 "$dir/daemon.log" >&2
        [[ -n ${address:-} ]] && { echo "---- the project's logs" >&2; "$BIN" logs --http "$HTTP" "$address" --tail 40 >&2 2>&1 || true; }
    fi
    exit 1
}
manager() { docker -H "$MANAGER" "$@"; }
# shellcheck source=tests/swarm/lib.sh
source "$root/tests/swarm/lib.sh"
[[ -x $BIN ]] || die "$BIN not built"
command -v node >/dev/null || die "node not found"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "no $IMAGE on this machine's engine (scripts/build-runtime-image builds it)"
manager node ls >/dev/null 2>&1 || die "no swarm manager at $MANAGER (tests/swarm/cluster.sh up first)"
[[ -z $(manager service ls -q) ]] || die "the cluster already runs services"

dir=$(mktemp -d /tmp/tenex-swarm-runtime.XXXXXX)
daemon_pid='' llm_pid=''
cleanup() {
    if [[ -n $daemon_pid ]]; then kill -KILL "$daemon_pid" 2>/dev/null || true; fi
    if [[ -n $llm_pid ]]; then kill "$llm_pid" 2>/dev/null || true; fi
    manager service ls -q | xargs -r docker -H "$MANAGER" service rm >/dev/null 2>&1 || true
    sleep 2
    manager network ls -q --filter label=tenex.managed-by=tenex-sandbox |
        xargs -r docker -H "$MANAGER" network rm >/dev/null 2>&1 || true
    manager network ls -q --filter label=tenex.gateway-forwarder-daemon |
        xargs -r docker -H "$MANAGER" network rm >/dev/null 2>&1 || true
    # The node-local volumes the workers keep (a manager cannot remove them).
    for sock in /run/tenex-swarm/*/docker.sock; do
        docker -H "unix://$sock" volume ls -q --filter label=tenex.managed-by=tenex-sandbox |
            xargs -r docker -H "unix://$sock" volume rm >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
t_all=$SECONDS

# The image into the cluster: copied into the manager's engine, pushed to the registry (the
# service names it by the registry's digest; the worker pulls it).
t0=$SECONDS
if [[ $(manager image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true) != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]]; then
    docker save "$IMAGE" | manager load -q >/dev/null || die "loading $IMAGE into the manager failed"
fi
pushed=$("$BIN" image push "$IMAGE" --registry "$REGISTRY" --docker-socket "$MANAGER" -q) || die "image push of $IMAGE failed"
log "$IMAGE in the cluster's registry: $pushed ($((SECONDS - t0)) s)"

node "$root/tests/runtime-peers/fake-llm.mjs" --host "$HOST_IP" --port "$LLM_PORT" \
    --text "Fake LLM answer #{n} from the cluster" --log "$dir/llm.jsonl" >"$dir/llm.out" 2>"$dir/llm.err" &
llm_pid=$!
for _ in $(seq 50); do [[ -s $dir/llm.out ]] && break; sleep 0.1; done
LLM=$(head -1 "$dir/llm.out")
[[ $LLM == "http://$HOST_IP:$LLM_PORT" ]] || die "the fake LLM did not start: $(cat "$dir/llm.err")"

# examples/policies-runtime/default.yaml for a cluster: the image from the registry, the LLM
# at an address the nodes reach, on a worker.
mkdir -p "$dir/policies"
sed -e "s|^image: .*|image: $REGISTRY/${IMAGE}|" \
    -e "s|base_url: http://127.0.0.1:11434|base_url: $LLM|" \
    -e '/pause_after/d' "$root/examples/policies-runtime/default.yaml" >"$dir/policies/default.yaml"
printf '%s\n' "placement:" "  constraints: [\"node.role==worker\"]" >>"$dir/policies/default.yaml"
grep -q "base_url: $LLM" "$dir/policies/default.yaml" || die "the runtime policy's base_url was not replaced"
out=$("$BIN" policy check --engine swarm --policies "$dir/policies" --projects-path "$dir/projects" 2>&1) ||
    { echo "$out" >&2; die "policy check --engine swarm refused the runtime policy"; }

"$BIN" keygen --out "$dir/owner.key" >"$dir/owner.npub"
owner=$("$BIN" decode "$(cat "$dir/owner.npub")" | sed -n 's/.*"pubkey": "\([0-9a-f]*\)".*/\1/p')
address=31933:$owner:$D

printf '%s\n' "swarm:" "  workspaces: node-local" >"$dir/sandbox.yaml"
start_swarm_daemon --config "$dir/sandbox.yaml"
log "up --engine swarm: /healthz answers (pid $daemon_pid)"


t0=$SECONDS
agent_def=$(publish --kind 4199 --tag d=helper --tag title=Helper --tag role=assistant \
    --tag "description=Answers the owner" --tag "instructions=Answer the user briefly." --tag ver=1)
publish --kind 31933 --tag "d=$D" --tag "title=TENEX on a cluster" --tag "agent=$agent_def" \
    --content "A project run by the real TENEX backend on a swarm worker" >/dev/null
publish --kind 24000 --tag "a=$address" >/dev/null
profile=$(first_event "{\"kinds\":[0],\"#a\":[\"$address\"]}" 180) || die "no agent profile from the daemon"
agent=$(jq -r .pubkey <<<"$profile")
message=$(publish --kind 1 --tag "a=$address" --tag "p=$agent" --content "Hello from the owner, agent on a cluster!")
log "agent $agent; message $message sent $((SECONDS - t0)) s after the boot request"
reply=$(first_event "{\"kinds\":[1],\"#e\":[\"$message\"],\"authors\":[\"$agent\"]}" 300) ||
    die "no reply from the agent within 300 s"
text=$(jq -r .content <<<"$reply")
[[ $text == *"Fake LLM answer"*"from the cluster"* ]] || die "the reply is not the fake LLM's text: $text"
log "the TENEX backend answered on the relay, signed by its agent, $((SECONDS - t0)) s after the boot request: $text"

# Where and how it ran: one running task, on a worker; its one network the project's internal
# overlay; two forwarder services (the gateway's and its LLM's); the LLM asked from the cluster.
project=$(ps_json | jq -c --arg a "$address" '.[] | select(.address == $a)')
[[ $(jq -r .state <<<"$project") == running ]] || { echo "$project" >&2; die "the project is not running"; }
node_name=$(jq -r .node <<<"$project")
[[ $node_name == tnx-swarm-* && $node_name != tnx-swarm-1 ]] || die "the project runs on $node_name, not a worker"
service=$(jq -r .container_id <<<"$project")
[[ $(manager service ps -q --filter desired-state=running "$service" | wc -l) -eq 1 ]] || die "not exactly one live task"
spec=$(manager service inspect "$service")
[[ $(jq -r '.[0].Spec.TaskTemplate.Networks | length' <<<"$spec") -eq 1 ]] || die "the task is not on exactly one network"
net=$(jq -r '.[0].Spec.TaskTemplate.Networks[0].Target' <<<"$spec")
[[ $(manager network inspect -f '{{.Internal}} {{.Driver}}' "$net") == "true overlay" ]] || die "its network is not an internal overlay"
fwd=$(manager service ls --filter label=tenex.gateway-forwarder-of --format '{{.Name}} {{.Replicas}}')
[[ $(wc -l <<<"$fwd") -eq 2 && $(awk '$2 != "1/1"' <<<"$fwd") == "" ]] || { echo "$fwd" >&2; die "expected the gateway's and the LLM's forwarders, running"; }
[[ $(grep -c '"path":"/api/chat"' "$dir/llm.jsonl" || true) -ge 1 ]] || die "the fake LLM was never asked for a chat"
log "on $node_name: one task, its internal overlay only, forwarders: $(awk '{print $1}' <<<"$fwd" | paste -sd' '); the LLM answered $(grep -c '"path":"/api/chat"' "$dir/llm.jsonl") chat request(s)"

# Node-local: the service mounts the worker's own volumes, which hold what the daemon laid out.
mounts=$(jq -c '[.[0].Spec.TaskTemplate.ContainerSpec.Mounts[] | select(.Type != "tmpfs") | [.Type, .Source, .Target]]' <<<"$spec")
[[ $(jq -r '[.[] | select(.[0] == "volume" and (.[1] | startswith("tenex-nl-")))] | length' <<<"$mounts") -eq 2 &&
    $(jq -r 'length' <<<"$mounts") -eq 2 ]] || die "expected two node-local volumes (the project, the runtime): $mounts"
[[ $(jq -r '.[0].Spec.TaskTemplate.Placement.Constraints | join(" ")' <<<"$spec") == node.id==* ]] || die "the service is not pinned to a node"
node_sock=unix:///run/tenex-swarm/${node_name#tnx-swarm-}/docker.sock
runtime_volume=$(jq -r '.[] | select(.[2] == "/tenex") | .[1]' <<<"$mounts")
data=$(docker -H "$node_sock" volume inspect -f '{{.Mountpoint}}' "$runtime_volume") || die "no volume $runtime_volume on $node_name"
user=$(sed -n 's/^ *user: *"\{0,1\}\([0-9:]*\).*/\1/p' "$dir/policies/default.yaml" | head -1)
[[ $(stat -c '%u:%g %a' "$data/config.json") == "${user:-1000:1000} 600" ]] || die "config.json on the node: $(stat -c '%u:%g %a' "$data/config.json"), expected ${user:-1000:1000} 600"
[[ -z $(manager service ls -q --filter label=tenex.seed-of) ]] || die "a seed service is left"
log "node-local: $(jq -r '[.[] | .[1] + " at " + .[2]] | join(", ")' <<<"$mounts") on $node_name, config.json $(stat -c '%u:%g %a' "$data/config.json")"

# restart: a new service and gateway secret; the seed brings the new config.json to the same node.
t0=$SECONDS
secret_before=$(jq -r '.relays[0]' "$data/config.json")
"$BIN" restart --http "$HTTP" "$address" >/dev/null || die "restart failed"
project=$(ps_json | jq -c --arg a "$address" '.[] | select(.address == $a)')
[[ $(jq -r .state <<<"$project") == running && $(jq -r .node <<<"$project") == "$node_name" ]] ||
    { echo "$project" >&2; die "after restart the project is not running on $node_name"; }
[[ $(jq -r '.relays[0]' "$data/config.json") != "$secret_before" ]] || die "config.json on the node still has the old gateway secret"
second=$(publish --kind 1 --tag "a=$address" --tag "p=$agent" --content "Still there after a restart?")
reply=$(first_event "{\"kinds\":[1],\"#e\":[\"$second\"],\"authors\":[\"$agent\"]}" 300) ||
    die "no reply to the second message after the restart within 300 s"
log "restarted on $node_name with the new gateway secret in its config.json; answered again $((SECONDS - t0)) s after the restart: $(jq -r .content <<<"$reply")"

"$BIN" forget --http "$HTTP" "$address" >/dev/null
gone() { [[ -z $(manager service ls -q) && -z $(manager network ls -q --filter label=tenex.gateway-forwarder-daemon) ]]; }
for _ in $(seq 120); do gone && break; sleep 0.5; done
gone || { manager service ls >&2; die "forget left services or the uplink"; }
kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
[[ $rc -eq 0 ]] || die "the daemon exited with $rc on SIGTERM"
log "forget removed the service, its forwarders and the uplink; the daemon stopped with exit 0; passed ($((SECONDS - t_all)) s)"
