#!/usr/bin/env bash
# The daemon itself on the cluster (issue 17), with the commands of the README's "Running on a
# cluster": `policy check --engine swarm`, then `tenex-sandbox up --engine swarm` against the
# manager of the cluster that `cluster.sh up` made, its embedded relay on the bridge address
# (tasks on every node reach it there), projects whose image is the probe in the cluster's
# registry. Checks, failing on the first that does not hold:
#   - N projects woken by their messages all run, each as one service with one task, on more
#     than one node; `ps` names each project's node (hostname) and /metrics counts them per node;
#   - each probe answers its message on the relay from inside its task, and `logs` shows it;
#   - one more project, isolated with relays: true, reaches Nostr only through the daemon's
#     project gateway (listening on the bridge address, gateway.listen/advertise): its task is
#     on a worker, its one network the project's internal overlay, its TENEX_RELAYS the
#     gateway's URL with its secret; its probe reads a message (REQ through the gateway) and
#     its reply is published (EVENT, OK) with the key the gateway bound to its project; its
#     forwarder is one service;
#   - after `kill -9` of the daemon a new daemon adopts every service: the same service ids
#     (the forwarder's too), still one task each, nothing created twice;
#   - `forget` removes each project's service, the forwarder and the uplink overlay; a SIGTERM
#     stops the daemon with exit 0.
#
#   tests/swarm/daemon.sh [N]      (default 4 projects; run.sh runs it as its `daemon` step)
#
# Environment: TENEX_SANDBOX (the CLI, default build/bin/tenex-sandbox).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${TENEX_SANDBOX:-$root/build/bin/tenex-sandbox}
N=${1:-4}
MANAGER=unix:///run/tenex-swarm/1/docker.sock
REGISTRY=10.213.0.254:5000                 # cluster.sh's registry and bridge address
RELAY=ws://10.213.0.254:7787
HTTP=127.0.0.1:7788
GATEWAY=10.213.0.254:7789                  # the gateway, where the nodes' forwarders reach it

log() { printf '[daemon %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    [[ -f ${dir:-}/daemon.log ]] && { echo "---- last lines of the daemon's log" >&2; tail -n 40 "$dir/daemon.log" >&2; }
    exit 1
}
manager() { docker -H "$MANAGER" "$@"; }
# shellcheck source=tests/swarm/lib.sh
source "$root/tests/swarm/lib.sh"
[[ -x $BIN ]] || die "$BIN not built"
manager node ls >/dev/null 2>&1 || die "no swarm manager at $MANAGER (tests/swarm/cluster.sh up first)"
[[ -z $(manager service ls -q) ]] || die "the cluster already runs services"

dir=$(mktemp -d /tmp/tenex-swarm-daemon.XXXXXX)
daemon_pid=
cleanup() {
    [[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null || true
    # Services this run left (after a failure): the cluster's down removes the rest anyway.
    manager service ls -q | xargs -r docker -H "$MANAGER" service rm >/dev/null 2>&1 || true
    sleep 2  # the tasks let go of their networks
    manager network ls -q --filter label=tenex.managed-by=tenex-sandbox --filter label=tenex.gateway-forwarder-daemon |
        xargs -r docker -H "$MANAGER" network rm >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

# The policy an operator writes for a cluster: the image by its name in the registry; the open
# projects get the relay named for the probe, the isolated one (cluster-gw, on a worker) the
# daemon's gateway and nothing else.
mkdir -p "$dir/policies"
{
    echo "match:"
    echo "  d: [$(seq -s, -f 'cluster-%g' 1 "$N")]"
    echo "env:"
    echo "  TENEX_RELAYS: $RELAY"
} >"$dir/policies/open.yaml"
printf '%s\n' "match:" "  d: cluster-gw" "network: {mode: isolated, relays: true}" \
    "placement:" "  constraints: [\"node.role==worker\"]" >"$dir/policies/gateway.yaml"
cat >"$dir/policies/default.yaml" <<EOF
image: $REGISTRY/tenex-probe:latest
args: ["nostr"]
resources: {memory: 64Mi, cpus: 0.25, pids: 32, nofile: 256}
network: {mode: open}
lifecycle: {restart: on-failure, stop_timeout: 5s}
security:
  user: "65534:65534"
  read_only_root: true
  tmpfs: {/tmp: 16Mi}
EOF
out=$("$BIN" policy check --engine swarm --policies "$dir/policies" --projects-path "$dir/projects" 2>&1) ||
    { echo "$out" >&2; die "policy check --engine swarm refused the cluster policy"; }
log "policy check --engine swarm: $(grep -c warning <<<"$out" || true) warning(s) (what a service cannot carry)"
grep -q "network.relays.*gateway.advertise" <<<"$out" || { echo "$out" >&2; die "policy check does not name what the gateway needs on swarm"; }

"$BIN" keygen --out "$dir/owner.key" >"$dir/owner.npub"
owner=$("$BIN" decode "$(cat "$dir/owner.npub")" | sed -n 's/.*"pubkey": "\([0-9a-f]*\)".*/\1/p')

running() { ps_json | jq '[.[] | select(.state == "running")] | length'; }
# The projects' services (the daemon's label), and the gateway forwarders (theirs).
services() { manager service ls --filter label=tenex.managed-by=tenex-sandbox --format '{{.ID}} {{.Name}} {{.Replicas}}' | sort; }
forwarders() { manager service ls --filter label=tenex.gateway-forwarder-of --format '{{.ID}} {{.Name}} {{.Replicas}}' | sort; }
uplinks() { manager network ls -q --filter label=tenex.gateway-forwarder-daemon; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local until=$((SECONDS + $1)) what=$2; shift 2
    until "$@"; do ((SECONDS < until)) || return 1; sleep 0.5; done
}
M=$((N + 1))  # and cluster-gw
all_running() { [[ $(running) -eq $M ]]; }
one_task_each() {  # every service: replicas 1/1, and the manager has exactly one live task of it
    local id name reps
    while read -r id name reps; do
        [[ $reps == 1/1 ]] || return 1
        [[ $(manager service ps -q --filter desired-state=running "$id" | wc -l) -eq 1 ]] || return 1
    done < <(services)
}

start_swarm_daemon
log "up --engine swarm: /healthz answers (pid $daemon_pid)"

t0=$SECONDS
declare -A message
for ((i = 1; i <= N; i++)); do
    publish --kind 31933 --tag "d=cluster-$i" --tag "title=Cluster project $i" >/dev/null
    message[$i]=$(publish --kind 1 --tag "a=31933:$owner:cluster-$i" --content "Hello, project $i!")
done
gw_address=31933:$owner:cluster-gw
publish --kind 31933 --tag "d=cluster-gw" --tag "title=Cluster project behind the gateway" >/dev/null
publish --kind 1 --tag "a=$gw_address" --content "Wake up, gateway project!" >/dev/null
wait_for 120 "$M projects running" all_running || { "$BIN" ps --http "$HTTP" >&2; die "not all $M projects run"; }
log "$M projects running $((SECONDS - t0)) s after their messages"
"$BIN" ps --http "$HTTP" >&2

[[ $(services | wc -l) -eq $M ]] || { services >&2; die "expected $M services, one per project"; }
one_task_each || { services >&2; die "a project has not exactly one running task"; }
nodes=$(ps_json | jq -r '.[].node' | sort -u)
[[ $(ps_json | jq '[.[] | select(.node | startswith("tnx-swarm-") | not)] | length') -eq 0 ]] ||
    { ps_json >&2; die "ps does not name each project's node by its hostname"; }
[[ $(wc -l <<<"$nodes") -gt 1 ]] || die "all projects on one node: $nodes"
# /metrics (updated at the daemon's 2 s tick): running projects per node add up to N, on the
# same nodes as ps.
metrics_add_up() {
    metrics=$(curl -sf "http://$HTTP/metrics")
    [[ $(awk '/^tenex_node_projects_running\{/ {n += $2} END {print n + 0}' <<<"$metrics") -eq $M ]]
}
wait_for 10 "the metrics" metrics_add_up ||
    { grep '^tenex_node' <<<"$metrics" >&2; die "tenex_node_projects_running does not add up to $M"; }
[[ $(grep -o '^tenex_node_projects_running{node="[^"]*"} [1-9]' <<<"$metrics" | sed 's/.*node="\([^"]*\)".*/\1/' | sort -u) == "$nodes" ]] ||
    { grep '^tenex_node' <<<"$metrics" >&2; die "the metrics' nodes are not the nodes ps names"; }
log "one service and one task per project, on $(wc -l <<<"$nodes") nodes ($(paste -sd' ' <<<"$nodes")); ps and /metrics name them"

# The probe in each task answers on the relay (it reaches it over its node's bridge and NAT).
for ((i = 1; i <= N; i++)); do
    reply=
    for _ in $(seq 40); do
        reply=$("$BIN" --log-level warn req --relay "$RELAY" --timeout 2 "{\"kinds\":[1],\"#e\":[\"${message[$i]}\"]}" || true)
        [[ -n $reply ]] && break
        sleep 0.5
    done
    [[ -n $reply ]] || die "project $i's probe did not answer its message"
done
log "every probe answered its message from its task"

# `logs` through the manager (the service's logs, gathered from the task's node): the probe's
# reply to the message is in them.
for ((i = 1; i <= N; i++)); do
    out=$("$BIN" logs --http "$HTTP" "31933:$owner:cluster-$i" --tail 50) || die "logs of project $i failed"
    grep -q "nostr_reply=.*${message[$i]}" <<<"$out" || { echo "$out" >&2; die "project $i's logs lack its probe's reply"; }
done
log "logs of each project come from its task's node through the manager"

# cluster-gw: Nostr through the project gateway only. Its service: on a worker, its one network
# the project's internal overlay, TENEX_RELAYS the gateway's URL with a 64-hex secret; one
# forwarder service, running.
gw_service=$(ps_json | jq -r --arg a "$gw_address" '.[] | select(.address == $a) | .container_id' | head -1)
[[ -n $gw_service && $gw_service != null ]] || { ps_json >&2; die "no service for $gw_address"; }
gw_node=$(ps_json | jq -r --arg a "$gw_address" '.[] | select(.address == $a) | .node')
[[ $gw_node != tnx-swarm-1 ]] || die "cluster-gw runs on the manager, not a worker"
spec=$(manager service inspect "$gw_service")
nets=$(jq -r '.[0].Spec.TaskTemplate.Networks | length' <<<"$spec")
net_id=$(jq -r '.[0].Spec.TaskTemplate.Networks[0].Target' <<<"$spec")
[[ $nets -eq 1 && $(manager network inspect -f '{{.Internal}} {{.Driver}}' "$net_id") == "true overlay" ]] ||
    { jq '.[0].Spec.TaskTemplate.Networks' <<<"$spec" >&2; die "cluster-gw is not on exactly its internal overlay"; }
jq -r '.[0].Spec.TaskTemplate.ContainerSpec.Env[]' <<<"$spec" | grep -Eq "^TENEX_RELAYS=ws://tenex-gateway:${GATEWAY##*:}/[0-9a-f]{64}$" ||
    { jq '.[0].Spec.TaskTemplate.ContainerSpec.Env' <<<"$spec" >&2; die "cluster-gw's TENEX_RELAYS is not the gateway with its secret"; }
[[ $(forwarders | wc -l) -eq 1 && $(forwarders | awk '{print $3}') == 1/1 ]] || { forwarders >&2; die "expected one running gateway forwarder"; }
# The probe connects through the forwarder (the gateway counts it), reads a message sent now
# (REQ) and publishes its reply (EVENT, OK), as the key the gateway bound to the project.
gateway_connected() { curl -sf "http://$HTTP/metrics" | grep -q '^tenex_gateway_connections 1$'; }
wait_for 60 "the gateway connection" gateway_connected || { curl -sf "http://$HTTP/metrics" | grep '^tenex_gateway' >&2; die "cluster-gw's probe did not connect to the gateway"; }
gw_message=$(publish --kind 1 --tag "a=$gw_address" --content "Hello through the gateway!")
gw_reply=
for _ in $(seq 60); do
    gw_reply=$("$BIN" --log-level warn req --relay "$RELAY" --timeout 2 "{\"kinds\":[1],\"#e\":[\"$gw_message\"]}" | head -1 || true)
    [[ -n $gw_reply ]] && break
    sleep 0.5
done
[[ -n $gw_reply ]] || die "cluster-gw's probe did not answer through the gateway"
gw_key=$(jq -r .pubkey <<<"$gw_reply")
[[ $(ps_json | jq -r --arg a "$gw_address" '.[] | select(.address == $a) | .gateway_keys | join(",")') == "$gw_key" ]] ||
    { ps_json >&2; die "the gateway did not bind the replying key $gw_key to cluster-gw"; }
metrics=$(curl -sf "http://$HTTP/metrics")
grep -Eq '^tenex_gateway_writes_accepted [1-9]' <<<"$metrics" || die "the gateway accepted no write"
! grep -Eq '^tenex_gateway_writes_refused\{reason="(out_of_scope|foreign_key)"\} [1-9]' <<<"$metrics" ||
    { grep '^tenex_gateway' <<<"$metrics" >&2; die "the gateway refused writes of cluster-gw"; }
log "cluster-gw on $gw_node answered through its gateway forwarder (REQ, EVENT, OK; key bound to its project)"

# kill -9, a new daemon: the same services, adopted, none created twice.
before=$(services)
forwarders_before=$(forwarders)
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
start_swarm_daemon
wait_for 60 "$N projects adopted" all_running || { "$BIN" ps --http "$HTTP" >&2; die "the new daemon does not show $N running projects"; }
sleep 3  # a few task polls: a duplicate or a restart would show now
[[ $(services) == "$before" ]] || { echo "before: $before" >&2; echo "after: $(services)" >&2; die "the services changed across kill -9"; }
[[ $(forwarders) == "$forwarders_before" ]] || { echo "before: $forwarders_before" >&2; echo "after: $(forwarders)" >&2; die "the forwarder changed across kill -9"; }
one_task_each || die "a project has not exactly one running task after the restart"
grep -q "adopted running" "$dir/daemon.log" || die "the new daemon's log has no adoption"
log "after kill -9 the new daemon adopted all $M services and the forwarder (same ids, one task each)"

for ((i = 1; i <= N; i++)); do "$BIN" forget --http "$HTTP" "31933:$owner:cluster-$i" >/dev/null; done
"$BIN" forget --http "$HTTP" "$gw_address" >/dev/null
wait_for 60 "services removed" test -z "$(services)" || { services >&2; die "forget left services"; }
wait_for 60 "the forwarder removed" test -z "$(forwarders)" || { forwarders >&2; die "forget left the gateway forwarder"; }
wait_for 30 "the uplink removed" test -z "$(uplinks)" || { uplinks >&2; die "forget left the uplink overlay"; }
kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
[[ $rc -eq 0 ]] || die "the daemon exited with $rc on SIGTERM"
log "forget removed every service; the daemon stopped with exit 0; passed ($((SECONDS - t0)) s)"
