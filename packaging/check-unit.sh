#!/usr/bin/env bash
# Checks the systemd unit without systemd running: `systemd-analyze verify` must print
# nothing, and `systemd-analyze security --offline=true` must rate it at most MAX (4.0, "OK").
#
#   packaging/check-unit.sh [UNIT] [BINARY]
# UNIT defaults to packaging/tenex-sandbox.service. verify checks that ExecStart's program
# exists: BINARY (e.g. build/bin/tenex-sandbox) stands in for /usr/bin/tenex-sandbox when
# the package is not installed. Prints the exposure and the directives that cost most.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
unit=${1:-$here/tenex-sandbox.service}
binary=${2:-}
MAX=${MAX:-4.0}
command -v systemd-analyze >/dev/null || { echo "check-unit: systemd-analyze not found (apt-get install systemd)" >&2; exit 1; }
[[ -f $unit ]] || { echo "check-unit: no unit file $unit" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
copy=$work/$(basename "$unit")
if [[ -n $binary ]]; then
    [[ -x $binary ]] || { echo "check-unit: $binary is not an executable" >&2; exit 1; }
    binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
    sed "s#/usr/bin/tenex-sandbox#$binary#g" "$unit" > "$copy"
else
    cp "$unit" "$copy"
fi

# Documentation=man:tenex-sandbox(1): verify runs man for it; the page beside the unit
# stands in for the installed one.
if [[ -f $here/tenex-sandbox.1 ]]; then
    mkdir -p "$work/man/man1" && cp "$here/tenex-sandbox.1" "$work/man/man1/"
    export MANPATH=$work/man
fi
# verify: exit status 0 and no message at all (unknown keys and bad values are only warnings).
if ! out=$(systemd-analyze verify "$copy" 2>&1) || [[ -n $out ]]; then
    echo "check-unit: systemd-analyze verify $(basename "$unit") is not clean:" >&2
    echo "$out" >&2
    exit 1
fi
echo "check-unit: systemd-analyze verify: clean"

report=$(systemd-analyze security --offline=true --no-pager "$copy" 2>&1) || true
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")
if [[ -z $exposure ]]; then
    echo "check-unit: no exposure level in systemd-analyze security's output:" >&2
    echo "$report" >&2
    exit 1
fi
echo "check-unit: systemd-analyze security exposure $exposure (at most $MAX)"
grep '✗' <<<"$report" | sort -t$'\t' -k1,1 | awk '{print "  " $0}' | head -20
if awk -v e="$exposure" -v m="$MAX" 'BEGIN { exit !(e > m) }'; then
    echo "check-unit: exposure $exposure is above $MAX" >&2
    exit 1
fi
