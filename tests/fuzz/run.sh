#!/usr/bin/env bash
# Runs every fuzzer (nostr parsers, relay messages, policy YAML, repository URLs, Docker replies, the daemon's configuration) for the given seconds from the seed corpora in tests/fuzz/corpus/.
# nproc of them at once (FUZZ_JOBS to choose). Fails (non-zero) on any crash, leak, sanitizer report or differential mismatch.
#   tests/fuzz/run.sh <build-dir> <seconds-per-fuzzer>
# Build first:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DTENEX_FUZZ=ON -DTENEX_BUILD_TESTS=OFF
#   cmake --build build-fuzz --target fuzz_all
set -eu
build=${1:?usage: run.sh <build-dir> <seconds>}
secs=${2:-30}
jobs=${FUZZ_JOBS:-$(nproc)}  # fuzzers at once: each is one process on one core
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tenex-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

fuzz_one() {  # fuzz_one TARGET: its summary or its failure on stdout, status 1 when it failed
    t=$1
    bin="$build/tests/fuzz/fuzz_$t"
    mkdir -p "$work/$t" "$work/artifacts-$t"
    cp "$here/corpus/$t"/* "$work/$t/"
    if ! "$bin" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$work/artifacts-$t/" "$work/$t" \
            > "$work/fuzz_$t.log" 2>&1; then
        echo "== fuzz_$t FAILED; last lines of its log:"
        tail -n 40 "$work/fuzz_$t.log"
        for a in "$work/artifacts-$t"/*; do
            [ -f "$a" ] && { echo "crash input ($a):"; od -c "$a" | head -n 20; }
        done
        return 1
    fi
    echo "== fuzz_$t for ${secs}s"
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/fuzz_$t.log" | tail -n 2
}

targets="event nip19 address filter relay_message policy repo_url docker config"
for t in $targets; do
    if [ ! -x "$build/tests/fuzz/fuzz_$t" ]; then
        echo "missing $build/tests/fuzz/fuzz_$t (build the fuzz_all target)" >&2
        exit 2
    fi
done
# $jobs fuzzers at a time, each writing its report to a file, printed in order at the end.
running=0
for t in $targets; do
    ( if fuzz_one "$t" > "$work/report-$t" 2>&1; then :; else touch "$work/failed-$t"; fi ) &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
status=0
for t in $targets; do
    cat "$work/report-$t"
    [ -e "$work/failed-$t" ] && status=1
done
exit $status
