#!/usr/bin/env bash
# Every benchmark in bench/, run briefly: each one's Markdown tables go to stdout, so that CI
# shows the figures of the tree it tested, and the script fails when a benchmark fails (a step
# that did not work: a container that did not start, a reply that never came), not when a
# figure misses its target (small runs on a shared CI machine are noisy; bench/results/ holds
# the full runs). Needs what the benchmarks need: the build in build/ (or $BUILD), the probe
# and runtime images (scripts/setup), Docker, node with the peers' packages.
#
#   bench/smoke.sh [--no-runtime]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
RUNTIME=1
[[ ${1:-} == --no-runtime ]] && RUNTIME=0
failed=()

run() {  # run NAME COMMAND...
    local name=$1 start=$SECONDS
    shift
    echo "==== bench: $name: $*"
    if "$@"; then
        echo "==== bench: $name ok in $((SECONDS - start)) s"
    else
        echo "==== bench: $name FAILED (exit $?) after $((SECONDS - start)) s"
        failed+=("$name")
    fi
}

B=$BUILD/bench
run verify "$B/nostr/nostr_verify_bench" --events 2000 --repeat 1
run relay-ingest "$B/relay/bench_relay_ingest" 2000 2 1
run docker-create-start "$B/docker/bench_docker_create_start" 5
run orchestrator "$B/orchestrator/bench_orchestrator" 3 8 10 5
run wake "$B/orchestrator/bench_wake" 3
run wake-idle "$B/orchestrator/bench_wake" idle 10 10
run daemon "$B/e2e/bench_daemon" 3 10 1000 10 5
run wake-message "$B/e2e/bench_daemon" wake 2
run gateway "$B/gateway/bench_gateway" --projects 20 --events 1000 --floods 1
if ((RUNTIME)); then
    run runtime "$ROOT/bench/runtime/runtime_bench.sh" --n 2 --cold 1 --kept 1 --paused 1 --idle-timeout 10
fi

if ((${#failed[@]})); then
    echo "bench smoke: FAILED: ${failed[*]}"
    exit 1
fi
echo "bench smoke: every benchmark ran"
