#!/usr/bin/env bash
# The multi-node cluster test, end to end and independent of ctest: `cluster.sh up N` (default
# 3), `cluster.sh check`, the daemon's swarm engine against the cluster (`engine`: the gtest
# binary swarm_engine_test, with TENEX_SWARM_HOST set to the manager; a skipped test fails the
# step), the daemon itself on the cluster (`daemon`: daemon.sh), the real TENEX runtime on a
# worker answering through the daemon (`runtime`: runtime.sh, needs tenex-runtime:latest), the
# swarm bench briefly (`bench`), a worker's engine killed under a project (`nodefail`: the
# engine test's NodeFailure*), `cluster.sh down`, timing each step. `down` always runs (trap), also
# after a failure or an interrupt, and is itself checked: anything it leaves behind fails the
# run. Exits non-zero when any step fails.
#
#   tests/swarm/run.sh [N]
#
# On a failure before `down`, the tail of every node's dockerd log is printed first (`down`
# deletes the logs with the rest of /run/tenex-swarm).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cluster=$here/cluster.sh
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build}
engine_bin=${TENEX_SWARM_TEST_BIN:-$build/tests/integration/swarm/swarm_engine_test}
n=${1:-3}

declare -a timings=()
step() {  # step NAME COMMAND...: runs it, records its time, returns its status
    local name=$1 start=$SECONDS rc=0; shift
    echo "==== swarm: $name"
    "$@" || rc=$?
    timings+=("$(printf '%-6s %4d s  %s' "$name" $((SECONDS - start)) "$([[ $rc -eq 0 ]] && echo ok || echo "FAILED (rc=$rc)")")")
    return $rc
}

finish() {
    local rc=$? down_rc=0
    trap - EXIT INT TERM
    if ((rc != 0)); then
        for log in /run/tenex-swarm/*/dockerd.log; do
            [[ -e $log ]] || continue
            echo "---- last lines of $log"
            tail -n 15 "$log"
        done
    fi
    step down "$cluster" down || down_rc=$?
    echo "==== swarm: timings"
    printf '  %s\n' "${timings[@]}"
    echo "  total  $((SECONDS - t0)) s"
    ((rc == 0)) && rc=$down_rc
    echo "==== swarm: $([[ $rc -eq 0 ]] && echo PASSED || echo "FAILED (rc=$rc)")"
    exit "$rc"
}

# SwarmEngine through the orchestrator on the cluster (tests/integration/swarm). Built here when
# missing (a configured build directory). Its output is kept to tell skips from passes: GTest
# counts a skipped test as not failed, this step does not.
engine_test() {  # engine_test [GTEST_FILTER]
    local filter=${1:-*}
    if [[ ! -x $engine_bin ]]; then
        [[ -f $build/build.ninja ]] || { echo "no $engine_bin and no build in $build"; return 1; }
        cmake --build "$build" --target swarm_engine_test || return 1
    fi
    local out rc=0
    out=$(mktemp /tmp/tenex-swarm-engine.XXXXXX)
    # The probe as an operator's cluster knows it: by its name in the cluster's registry.
    # The gateway forwarder likewise; the gateway's stand-in listens on the bridge address.
    TENEX_SWARM_HOST=unix:///run/tenex-swarm/1/docker.sock \
        TENEX_SWARM_IMAGE=${TENEX_SWARM_IMAGE:-10.213.0.254:5000/tenex-probe:latest} \
        TENEX_SWARM_FORWARDER_IMAGE=${TENEX_SWARM_FORWARDER_IMAGE:-10.213.0.254:5000/tenex-forwarder:latest} \
        TENEX_SWARM_HOST_ADDRESS=10.213.0.254 \
        "$engine_bin" --gtest_filter="$filter" 2>&1 | tee "$out" || rc=$?
    if grep -q '^\[  SKIPPED \]' "$out"; then
        echo "swarm: the engine test skipped tests (above): a skip is not a pass here"
        rc=1
    fi
    grep -q '^\[  PASSED  \]' "$out" || rc=1  # nothing ran, or it crashed
    rm -f "$out"
    return "$rc"
}

# bench/orchestrator/swarm_bench.cpp, briefly (TNX_SWARM_BENCH: its arguments, default 5
# rounds and 30 projects; bench/results/swarm.md has the full run): fails when it fails, not on
# a figure.
swarm_bench() {
    local bin=$build/bench/orchestrator/bench_swarm
    if [[ ! -x $bin ]]; then
        [[ -f $build/build.ninja ]] || { echo "no $bin and no build in $build"; return 1; }
        cmake --build "$build" --target bench_swarm || return 1
    fi
    # shellcheck disable=SC2086
    TENEX_SWARM_HOST=unix:///run/tenex-swarm/1/docker.sock \
        TENEX_SWARM_IMAGE=${TENEX_SWARM_IMAGE:-10.213.0.254:5000/tenex-probe:latest} \
        "$bin" ${TNX_SWARM_BENCH:-5 30} 2> >(grep -v 'not applied' >&2)
}

t0=$SECONDS
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A node engine that died of a Go panic (seen once in CI: Debian's dockerd 20.10.24, swarmkit's
# replicated orchestrator in SetServiceTasksRemove while services were being removed) is an
# engine bug, not a failure of ours: its panic is printed, the cluster is made anew and the
# steps run once more. Any other failure, or a second panic, fails the run.
engine_panicked() {
    local log
    for log in /run/tenex-swarm/*/dockerd.log; do
        [[ -e $log ]] && grep -q '^panic: ' "$log" && { echo "---- $log"; grep -A 12 '^panic: ' "$log"; return 0; }
    done
    return 1
}
# The node-failure test kills a worker's engine, so it runs last: the cluster is not whole
# again until down.
cluster_steps() {
    step check "$cluster" check && step engine engine_test '-*NodeFailure*' &&
        step daemon "$here/daemon.sh" && step runtime "$here/runtime.sh" && step bench swarm_bench &&
        step nodefail engine_test '*NodeFailure*'
}
# The gateway forwarder's image (images/forwarder), which `up` copies into the nodes and pushes
# to the cluster's registry with the probe (built by the tests before, or by setup).
forwarder_image() {
    [[ -f $build/build.ninja ]] || { echo "no build in $build"; return 1; }
    cmake --build "$build" --target forwarder-image >/dev/null
}
step image forwarder_image
step up "$cluster" up "$n"
if ! cluster_steps; then
    engine_panicked || exit 1
    echo "==== swarm: a node engine panicked (above, an engine bug): the cluster is made anew, the steps run once more"
    step down "$cluster" down
    step up "$cluster" up "$n"
    cluster_steps
fi
# finish (EXIT) runs down and prints the timings
