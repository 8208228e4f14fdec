#!/usr/bin/env bash
# A multi-node Docker Swarm on this one machine, for the cluster tests of issue 17.
#
#   tests/swarm/cluster.sh up [N]    N (default 3, 1..9) Docker engines joined into one swarm;
#                                    prints the manager's socket (unix://...) on stdout
#   tests/swarm/cluster.sh down      stops and removes everything `up` made (idempotent)
#   tests/swarm/cluster.sh status    the engines and the swarm's nodes
#   tests/swarm/cluster.sh check     self-test: an overlay network, one task on each of 3 nodes,
#                                    tasks reach each other across nodes; removes what it made
#
# Layout (everything carries "tenex-swarm"/"tnxswarm" in its name, so `down` removes exactly it):
#   network namespace  tnx-swarm-<i>            one per engine (ip netns add)
#   host bridge        tnxswarm0  10.213.0.254/24, joining the namespaces
#   veth pair          tnxswarm-v<i> (host, in tnxswarm0) <-> eth0 10.213.0.<i>/24 (namespace)
#   engine             dockerd started with `nsenter --net=/run/netns/tnx-swarm-<i>` (and its
#                      own UTS namespace, hostname tnx-swarm-<i>, so `docker node ls` tells the
#                      nodes apart), with its own:
#                        socket      unix:///run/tenex-swarm/<i>/docker.sock
#                        data root   /var/lib/tenex-swarm/<i>
#                        exec root   /run/tenex-swarm/<i>/exec (its own managed containerd)
#                        pidfile     /run/tenex-swarm/<i>/docker.pid, log /run/tenex-swarm/<i>/dockerd.log
#                        docker0     10.213.<i>.1/24, local network pool 10.214.<16*i>.0/20
#                        cgroups     /tenex-swarm-<i> (cgroupfs parent)
#   swarm              init on node 1 (advertise 10.213.0.1), nodes 2..N join as workers;
#                      overlay address pool 10.215.0.0/16
#   host firewall      one rule: FORWARD -i tnxswarm0 -o tnxswarm0 -m comment --comment
#                      tenex-swarm -j ACCEPT (the main engine's FORWARD policy is DROP and
#                      br_netfilter sends bridged packets through it)
#
# The main engine (/var/run/docker.sock) is only read from (`docker save` of the images the
# nodes need); it never joins or inits a swarm, and its containers, networks, images and the
# host's default iptables policies are never touched. Every docker command here names its
# engine with -H, so DOCKER_HOST in the environment cannot redirect one to the main engine.
#
# Environment:
#   TNX_SWARM_IMAGES   images copied from the main engine into every node
#                      (default: tenex-probe:latest tenex-forwarder:latest), and pushed from the manager to the
#                      cluster's registry, from which the nodes pull them by that name
#   TNX_SWARM_TIMEOUT  seconds to wait for engines, nodes and tasks (default 120)
#   TENEX_SANDBOX      the CLI (image push, doctor; default: build/bin/tenex-sandbox)
#
# The registry: Debian's docker-registry on the bridge address $LINK_NET.254:5000 (plain
# HTTP: every node has it in its insecure-registries), data under $LIB_DIR/registry.
set -euo pipefail

readonly RUN_DIR=/run/tenex-swarm            # sockets, pidfiles, exec roots, logs
readonly LIB_DIR=/var/lib/tenex-swarm        # data roots
readonly NS_PREFIX=tnx-swarm-                # network namespaces (and hostnames, cgroups)
readonly BRIDGE=tnxswarm0
readonly VETH_PREFIX=tnxswarm-v              # host side of each veth pair
readonly LINK_NET=10.213.0                   # the /24 on the bridge: node i is .i, host .254
readonly HOST_ADDR=10.213.0.254/24
readonly OVERLAY_POOL=10.215.0.0/16
readonly RULE_COMMENT=tenex-swarm
readonly MAIN_SOCK=unix:///var/run/docker.sock
readonly IMAGES=${TNX_SWARM_IMAGES:-tenex-probe:latest tenex-forwarder:latest}
readonly TIMEOUT=${TNX_SWARM_TIMEOUT:-120}
readonly MAX_NODES=9                         # 10.214.<16*i>.0/20 must stay below 256
readonly REGISTRY=$LINK_NET.254:5000
readonly TENEX=${TENEX_SANDBOX:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin/tenex-sandbox}

log() { printf '[cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

node_sock() { echo "unix://$RUN_DIR/$1/docker.sock"; }
# Docker CLI against node $1 only.
nd() { local i=$1; shift; docker -H "$(node_sock "$i")" "$@"; }

# The forward rule, as iptables -S prints it and as -I/-D take it.
rule_args() { echo "-i $BRIDGE -o $BRIDGE -m comment --comment $RULE_COMMENT -j ACCEPT"; }

# The main engine must never be in swarm mode (a guard, checked before and after every command).
main_engine_not_swarm() {
    local state
    state=$(docker -H "$MAIN_SOCK" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unreachable)
    [[ $state == inactive || $state == unreachable ]] ||
        die "the main engine's swarm state is '$state' (expected inactive): not touching it"
}

# Node indices known from the state directory and the namespaces (whatever `up` got to make).
known_nodes() {
    {
        local d
        for d in "$RUN_DIR"/*/; do
            d=${d%/}; d=${d##*/}
            [[ $d =~ ^[0-9]+$ ]] && echo "$d"
        done
        ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$NS_PREFIX\([0-9]\+\)$/\1/p"
    } | sort -un
}

# The pid in node $1's pidfile, only if that process is a dockerd using node $1's data root
# (so a stale pidfile can never make us signal an unrelated process, least of all the main
# engine).
node_pid() {
    local pidfile=$RUN_DIR/$1/docker.pid pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "dockerd .*--data-root $LIB_DIR/$1 " || return 1
    echo "$pid"
}

wait_until() {  # wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.5 s
    local limit=$1 what=$2 start=$SECONDS; shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - start < limit)) || { log "timed out after ${limit}s waiting for $what"; return 1; }
        sleep 0.5
    done
}

ready_nodes() { nd 1 node ls --format '{{.Status}} {{.Availability}}' 2>/dev/null | grep -c '^Ready Active$' || true; }
all_ready() { [[ $(ready_nodes) -eq $1 ]]; }

# ---------------------------------------------------------------------------------------- up
start_node() {
    local i=$1 ns=$NS_PREFIX$1 dir=$RUN_DIR/$1
    mkdir -p "$dir/exec" "$LIB_DIR/$i"
    # Its own config file, so a /etc/docker/daemon.json written for the main engine never
    # applies to the nodes; it trusts the cluster's registry over plain HTTP.
    echo "{\"insecure-registries\": [\"$REGISTRY\"]}" >"$dir/daemon.json"
    log "node $i: starting dockerd in netns $ns"
    # nsenter --net, not `ip netns exec`: the latter also unshares the mount namespace and
    # remounts /sys, which hides the cgroup mounts dockerd needs (cgroup v1 here).
    # unshare --uts gives the engine its own hostname, which becomes the swarm node's name.
    # setsid + </dev/null: the engine outlives this script and holds none of its descriptors.
    setsid \
        nsenter --net="/run/netns/$ns" -- \
        unshare --uts -- \
        sh -c 'hostname "$0" && exec dockerd "$@"' "$ns" \
            --config-file "$dir/daemon.json" \
            --data-root "$LIB_DIR/$i" \
            --exec-root "$dir/exec" \
            --pidfile "$dir/docker.pid" \
            -H "$(node_sock "$i")" \
            --bip "10.213.$i.1/24" \
            --default-address-pool "base=10.214.$((16 * i)).0/20,size=24" \
            --cgroup-parent "/$ns" \
            --exec-opt native.cgroupdriver=cgroupfs \
            --storage-driver overlay2 \
            --iptables=true \
            --log-level warn \
        </dev/null >"$dir/dockerd.log" 2>&1 &
}

cmd_up() {
    local n=${1:-3} i t0 token
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= MAX_NODES)) || die "up: N must be 1..$MAX_NODES (got '$n')"
    [[ $EUID -eq 0 ]] || die "up: needs root (namespaces, bridge, iptables)"
    main_engine_not_swarm
    [[ -z $(known_nodes) ]] && ! ip link show "$BRIDGE" >/dev/null 2>&1 ||
        die "up: a cluster (or its remains) exists already; run '$0 down' first"
    # The link network must be free on this host.
    ! ip route | grep -q "^$LINK_NET\." || die "up: $LINK_NET.0/24 is already routed on this host"
    for img in $IMAGES; do
        docker -H "$MAIN_SOCK" image inspect "$img" >/dev/null 2>&1 ||
            die "up: image $img is not on the main engine (build it first)"
    done
    [[ -x $TENEX ]] || die "up: $TENEX not found (build it, or set TENEX_SANDBOX)"
    command -v docker-registry >/dev/null || die "up: docker-registry not installed (scripts/setup installs it)"

    t0=$SECONDS
    mkdir -p "$RUN_DIR" "$LIB_DIR"
    echo "$n" >"$RUN_DIR/nodes"

    log "bridge $BRIDGE $HOST_ADDR and the FORWARD rule"
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_ADDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    # First in FORWARD, so neither the main engine's chains nor the DROP policy see it.
    # shellcheck disable=SC2046
    iptables -I FORWARD 1 $(rule_args)

    for ((i = 1; i <= n; i++)); do
        ip netns add "$NS_PREFIX$i"
        ip link add "$VETH_PREFIX$i" type veth peer name eth0 netns "$NS_PREFIX$i"
        ip link set "$VETH_PREFIX$i" master "$BRIDGE" up
        ip -n "$NS_PREFIX$i" link set lo up
        ip -n "$NS_PREFIX$i" addr add "$LINK_NET.$i/24" dev eth0
        ip -n "$NS_PREFIX$i" link set eth0 up
    done
    log "namespaces and links ready ($((SECONDS - t0))s)"

    # The registry, on the bridge address only.
    mkdir -p "$LIB_DIR/registry"
    printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
        "$LIB_DIR/registry" "$REGISTRY" >"$RUN_DIR/registry.yml"
    setsid docker-registry serve "$RUN_DIR/registry.yml" </dev/null >"$RUN_DIR/registry.log" 2>&1 &
    echo $! >"$RUN_DIR/registry.pid"
    wait_until 30 "the registry" curl -sf -o /dev/null "http://$REGISTRY/v2/" || {
        cat "$RUN_DIR/registry.log" >&2; die "up: the registry did not start"; }
    log "registry at $REGISTRY"

    for ((i = 1; i <= n; i++)); do start_node "$i"; done
    for ((i = 1; i <= n; i++)); do
        wait_until "$TIMEOUT" "node $i's engine" nd "$i" version || {
            tail -n 20 "$RUN_DIR/$i/dockerd.log" >&2; die "up: node $i's engine did not start"; }
    done
    log "$n engines answering ($((SECONDS - t0))s)"

    # Images: saved once from the main engine (read only), loaded into every node.
    # shellcheck disable=SC2086
    docker -H "$MAIN_SOCK" save -o "$LIB_DIR/images.tar" $IMAGES
    # In parallel; `wait` names the loads' pids (a bare `wait` would wait for the engines).
    local loads=()
    for ((i = 1; i <= n; i++)); do nd "$i" load -q -i "$LIB_DIR/images.tar" >/dev/null & loads+=($!); done
    for pid in "${loads[@]}"; do wait "$pid" || die "up: an image load failed"; done
    rm -f "$LIB_DIR/images.tar"
    for ((i = 1; i <= n; i++)); do
        for img in $IMAGES; do nd "$i" image inspect "$img" >/dev/null || die "up: $img not loaded on node $i"; done
    done
    log "images loaded: $IMAGES ($((SECONDS - t0))s)"

    # The overlay pool is set explicitly so overlays never take 10.213.0.0/24 (the link network
    # lies inside Swarm's default pool 10.0.0.0/8).
    nd 1 swarm init --advertise-addr "$LINK_NET.1" --listen-addr "$LINK_NET.1:2377" \
        --default-addr-pool "$OVERLAY_POOL" --default-addr-pool-mask-length 24 \
        --task-history-limit 1 >/dev/null
    token=$(nd 1 swarm join-token -q worker)
    for ((i = 2; i <= n; i++)); do
        nd "$i" swarm join --token "$token" --advertise-addr "$LINK_NET.$i" \
            --listen-addr "$LINK_NET.$i:2377" "$LINK_NET.1:2377" >/dev/null
    done
    wait_until "$TIMEOUT" "$n Ready nodes" all_ready "$n" || { nd 1 node ls >&2; die "up: nodes not ready"; }
    main_engine_not_swarm
    # What the daemon does with its images on a cluster: push them from the manager.
    for img in $IMAGES; do
        "$TENEX" image push "$img" --registry "$REGISTRY" --docker-socket "$(node_sock 1)" -q >&2 ||
            die "up: pushing $img to $REGISTRY failed"
    done
    log "swarm of $n nodes ready, images in the registry ($((SECONDS - t0))s total)"
    nd 1 node ls >&2
    node_sock 1
}

# -------------------------------------------------------------------------------------- down
cmd_down() {
    [[ $EUID -eq 0 ]] || die "down: needs root"
    local i pid nodes t0=$SECONDS
    nodes=$(known_nodes)

    # 1. The registry, then the engines, by pidfile (SIGTERM: dockerd stops its containers
    #    and its containerd). Anything whose command line names $RUN_DIR is killed in step 2.
    if pid=$(cat "$RUN_DIR/registry.pid" 2>/dev/null) && [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$RUN_DIR/registry.yml"* ]]; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    local pids=()
    for i in $nodes; do
        if pid=$(node_pid "$i"); then kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); fi
    done
    for pid in "${pids[@]}"; do
        local waited=0
        while kill -0 "$pid" 2>/dev/null && ((waited < 60)); do sleep 0.5; waited=$((waited + 1)); done
        kill -0 "$pid" 2>/dev/null && { log "dockerd $pid ignored SIGTERM for 30s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
    done
    ((${#pids[@]} == 0)) || log "stopped ${#pids[@]} engine(s)"

    # 2. Whatever outlived its engine (after a SIGKILL of dockerd: the containers' processes,
    #    their containerd-shims, maybe containerd): first the processes in our cgroups, while
    #    their shims still live to reap them, then exactly the processes whose command line
    #    names our run directory.
    local stray=()
    for i in $nodes; do
        for pid in $(cat /sys/fs/cgroup/*/"$NS_PREFIX$i"/{,*/}cgroup.procs 2>/dev/null | sort -u); do stray+=("$pid"); done
    done
    if ((${#stray[@]})); then
        log "killing ${#stray[@]} leftover container process(es): ${stray[*]}"
        kill -KILL "${stray[@]}" 2>/dev/null || true
        sleep 0.5
    fi
    stray=()
    for pid in $(pgrep -f -- "$RUN_DIR/" || true); do
        [[ $pid == "$$" ]] || stray+=("$pid")
    done
    if ((${#stray[@]})); then
        log "killing ${#stray[@]} leftover engine process(es): ${stray[*]}"
        kill -KILL "${stray[@]}" 2>/dev/null || true
        sleep 0.5
    fi

    # 3. Mounts under our directories (overlay2 layers, network namespaces of containers),
    #    deepest first, then the directories themselves (never crossing into another mount).
    local m
    for m in $(awk -v a="$RUN_DIR/" -v b="$LIB_DIR/" 'index($5, a) == 1 || index($5, b) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$RUN_DIR" "$LIB_DIR"

    # 4. Namespaces (deleting one deletes its veth end, and so the host end), any veth left,
    #    the bridge.
    for i in $nodes; do ip netns del "$NS_PREFIX$i" 2>/dev/null || true; done
    for m in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^(${VETH_PREFIX}[0-9]+|${BRIDGE})$" || true); do
        ip link del "$m" 2>/dev/null || true
    done

    # 5. The FORWARD rule(s) carrying our comment, and nothing else.
    while iptables -S FORWARD | grep -q -- "--comment $RULE_COMMENT"; do
        # shellcheck disable=SC2046
        iptables -D FORWARD $(rule_args) 2>/dev/null || {
            # a rule with our comment but other matches: delete it as listed
            local spec
            spec=$(iptables -S FORWARD | grep -m1 -- "--comment $RULE_COMMENT" | sed 's/^-A /-D /')
            # shellcheck disable=SC2086
            iptables $spec
        }
    done

    # 6. The engines' cgroups (empty now), deepest first.
    for i in $nodes; do
        find /sys/fs/cgroup/*/"$NS_PREFIX$i" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    # a node number no state remembered (state removed by hand): its cgroups too
    find /sys/fs/cgroup -maxdepth 2 -type d -name "$NS_PREFIX*" -exec rmdir {} + 2>/dev/null || true

    main_engine_not_swarm
    leftovers || die "down: something is left behind (above)"
    log "down: done, nothing left ($((SECONDS - t0))s)"
}

# Prints what remains of a cluster; returns 1 if anything does.
leftovers() {
    local bad=0 x
    x=$(ip netns list | grep "^$NS_PREFIX" || true);               [[ -z $x ]] || { log "left: netns $x"; bad=1; }
    x=$(ip -o link show | grep -E "$BRIDGE|$VETH_PREFIX" || true);  [[ -z $x ]] || { log "left: links $x"; bad=1; }
    x=$(pgrep -a -f -- "$RUN_DIR/|$LIB_DIR/" || true);              [[ -z $x ]] || { log "left: processes $x"; bad=1; }
    x=$(iptables -S FORWARD | grep -- "$RULE_COMMENT" || true);     [[ -z $x ]] || { log "left: rule $x"; bad=1; }
    x=$(grep -E " ($RUN_DIR|$LIB_DIR)/" /proc/self/mountinfo || true); [[ -z $x ]] || { log "left: mounts $x"; bad=1; }
    [[ ! -e $RUN_DIR && ! -e $LIB_DIR ]] || { log "left: $RUN_DIR or $LIB_DIR"; bad=1; }
    x=$(find /sys/fs/cgroup -maxdepth 2 -name "$NS_PREFIX*" 2>/dev/null || true); [[ -z $x ]] || { log "left: cgroups $x"; bad=1; }
    return $bad
}

# ------------------------------------------------------------------------------------ status
cmd_status() {
    local nodes i pid
    nodes=$(known_nodes)
    [[ -n $nodes ]] || { echo "no cluster"; return 0; }
    for i in $nodes; do
        if pid=$(node_pid "$i"); then
            printf 'node %s: dockerd pid %s, %s, swarm %s, %s running container(s)\n' "$i" "$pid" "$(node_sock "$i")" \
                "$(nd "$i" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo '?')" \
                "$(nd "$i" ps -q 2>/dev/null | wc -l)"
        else
            printf 'node %s: no engine running\n' "$i"
        fi
    done
    nd 1 node ls 2>/dev/null || echo "manager (node 1) not answering"
}

# ------------------------------------------------------------------------------------- check
CHECK_NAME=tnx-swarm-check
no_check_containers() {  # on any node, including stopped ones
    local i
    for i in $(known_nodes); do
        [[ -z $(nd "$i" ps -aq --filter "label=com.docker.swarm.service.name=$CHECK_NAME") ]] || return 1
    done
}
check_cleanup() {
    nd 1 service rm "$CHECK_NAME" >/dev/null 2>&1 || true
    # `service rm` returns before the workers have stopped and removed the task containers.
    local start=$SECONDS
    wait_until 60 "the check's task containers to go" no_check_containers ||
        log "check: task containers of $CHECK_NAME still exist"
    log "check: service removed, its containers gone after $((SECONDS - start))s"
    # The network can be removed once the tasks' endpoints are gone.
    wait_until 60 "the check network's removal" \
        bash -c "! docker -H $(node_sock 1) network inspect $CHECK_NAME-net || docker -H $(node_sock 1) network rm $CHECK_NAME-net" ||
        log "check: could not remove network $CHECK_NAME-net"
}

running_on_distinct_nodes() {  # running_on_distinct_nodes N: N tasks running, on N different nodes
    local lines
    lines=$(nd 1 service ps "$CHECK_NAME" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}')
    [[ $(grep -c ' Running' <<<"$lines") -eq $1 && $(grep ' Running' <<<"$lines" | awk '{print $1}' | sort -u | wc -l) -eq $1 ]]
}

task_container() {  # task_container NODE: the check's container on that node
    nd "$1" ps -q --filter "label=com.docker.swarm.service.name=$CHECK_NAME" | head -n1
}

cmd_check() {
    local t0=$SECONDS nodes n i cid ip from to out failed=0
    nodes=$(known_nodes)
    n=$(wc -w <<<"$nodes")
    ((n >= 3)) || die "check: needs a cluster of at least 3 nodes (run '$0 up 3')"
    [[ $nodes == "$(seq 1 "$n")" ]] || die "check: nodes are not 1..$n: $(echo $nodes)"
    all_ready "$n" || die "check: not every node is Ready"
    main_engine_not_swarm
    trap check_cleanup EXIT

    # doctor: the manager and its nodes, and the registry; the main engine is no manager.
    out=$("$TENEX" doctor --swarm --registry "$REGISTRY" --docker-socket "$(node_sock 1)" 2>&1 || true)
    grep -q "^ok    swarm     $n nodes, $n ready and active" <<<"$out" && grep -q '^ok    registry' <<<"$out" || {
        echo "$out" >&2; die "check: doctor --swarm --registry did not pass on the manager"; }
    log "check: doctor: $(grep -E '^ok    (swarm|registry)' <<<"$out" | tr -s ' ' | paste -sd';')"
    out=$("$TENEX" doctor --swarm --docker-socket "$MAIN_SOCK" 2>&1 || true)
    grep -q '^FAIL  swarm     this engine is not in a swarm' <<<"$out" || {
        echo "$out" >&2; die "check: doctor --swarm passed on the main engine, which is in no swarm"; }

    nd 1 network create -d overlay --attachable "$CHECK_NAME-net" >/dev/null
    # The image by its registry name: service create pins it to the registry's digest and the
    # nodes pull it from the registry (they hold it only under its local name).
    # At most one replica per node, so N replicas land on the N nodes; each listens on 8080.
    nd 1 service create --detach --quiet --name "$CHECK_NAME" \
        --replicas "$n" --replicas-max-per-node 1 --network "$CHECK_NAME-net" \
        "$REGISTRY/tenex-probe:latest" listen 8080 >/dev/null
    wait_until "$TIMEOUT" "$n tasks running on $n nodes" running_on_distinct_nodes "$n" || {
        nd 1 service ps --no-trunc "$CHECK_NAME" >&2; die "check: tasks did not run on $n nodes"; }
    log "check: $n tasks running on $n nodes ($((SECONDS - t0))s)"
    nd 1 service ps "$CHECK_NAME" --format '  {{.Name}} on {{.Node}}: {{.CurrentState}}' >&2
    # service create pinned the tag to the registry's digest; each node pulled that digest (a pull
    # by digest records the digest, not the tag).
    local digest
    digest=$(nd 1 service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$CHECK_NAME")
    digest=${digest##*@}
    [[ $digest == sha256:* ]] || die "check: the manager did not resolve $REGISTRY/tenex-probe:latest to a digest"
    for ((i = 1; i <= n; i++)); do
        nd "$i" image ls --digests --format '{{.Repository}} {{.Digest}}' |
            grep -qx "$REGISTRY/tenex-probe $digest" ||
            die "check: node $i runs the task without having pulled $REGISTRY/tenex-probe@$digest"
    done
    log "check: every node pulled $REGISTRY/tenex-probe@${digest:0:19}... from the registry"

    # Each node's task container and its overlay address.
    declare -A cids ips
    for ((i = 1; i <= n; i++)); do
        cid=$(task_container "$i")
        [[ -n $cid ]] || die "check: no task container on node $i"
        ip=$(nd "$i" inspect -f "{{(index .NetworkSettings.Networks \"$CHECK_NAME-net\").IPAddress}}" "$cid")
        [[ $ip =~ ^[0-9.]+$ ]] || die "check: no overlay address for node $i's task"
        cids[$i]=$cid ips[$i]=$ip
    done

    # Across the overlay, in a ring starting with node 2 -> 3 (the pair the issue names), then
    # 3 -> 4 ... N -> 1, 1 -> 2: the probe's own `connect` mode (TCP connect to an IPv4
    # literal), run inside the task container with docker exec. Task addresses, not the
    # service's virtual IP: this kernel has no IPVS, so VIPs do not answer (see README).
    local k
    for ((k = 0; k < n; k++)); do
        from=$(((k + 1) % n + 1)) to=$(((k + 2) % n + 1))
        if out=$(nd "$from" exec "${cids[$from]}" /tenex-probe connect "${ips[$to]}" 8080 3000 2>&1) &&
            grep -q '^connect=ok' <<<"$out"; then
            log "check: node $from task -> node $to task ${ips[$to]}:8080 over the overlay: $out"
        else
            log "check: FAILED node $from -> node $to ${ips[$to]}:8080: $out"; failed=1
        fi
    done
    # The control: a port nobody listens on must fail, or the connects above prove nothing.
    if out=$(nd 2 exec "${cids[2]}" /tenex-probe connect "${ips[3]}" 8081 2000 2>&1); then
        log "check: FAILED control: connect to ${ips[3]}:8081 succeeded: $out"; failed=1
    else
        log "check: control (nothing listens on ${ips[3]}:8081) fails as it must: $out"
    fi

    check_cleanup
    trap - EXIT
    main_engine_not_swarm
    ((failed == 0)) || die "check: FAILED ($((SECONDS - t0))s)"
    log "check: passed ($((SECONDS - t0))s)"
}

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    check) cmd_check ;;
    *) sed -n '2,10p' "$0" >&2; exit 64 ;;
esac
