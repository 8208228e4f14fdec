#!/bin/sh
# Runs every fuzzer (nostr parsers, relay messages, policy YAML, repository URLs, Docker replies, the daemon's configuration) for the given seconds from the seed corpora in tests/fuzz/corpus/.
# Fails (non-zero) on any crash, leak, sanitizer report or differential mismatch.
#   tests/fuzz/run.sh <build-dir> <seconds-per-fuzzer>
# Build first:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DTENEX_FUZZ=ON -DTENEX_BUILD_TESTS=OFF
#   cmake --build build-fuzz --target fuzz_all
set -eu
build=${1:?usage: run.sh <build-dir> <seconds>}
secs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tenex-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
for t in event nip19 address filter relay_message policy repo_url docker config; do
    bin="$build/tests/fuzz/fuzz_$t"
    if [ ! -x "$bin" ]; then
        echo "missing $bin (build the fuzz_all target)" >&2
        exit 2
    fi
    mkdir -p "$work/$t" "$work/artifacts-$t"
    cp "$here/corpus/$t"/* "$work/$t/"
    echo "== fuzz_$t for ${secs}s"
    if ! "$bin" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$work/artifacts-$t/" "$work/$t" \
            > "$work/fuzz_$t.log" 2>&1; then
        echo "fuzz_$t FAILED; last lines of its log:" >&2
        tail -n 40 "$work/fuzz_$t.log" >&2
        for a in "$work/artifacts-$t"/*; do
            [ -f "$a" ] && { echo "crash input ($a):" >&2; od -c "$a" | head -n 20 >&2; }
        done
        status=1
    else
        grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/fuzz_$t.log" | tail -n 2
    fi
done
exit $status
