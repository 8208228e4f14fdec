#!/usr/bin/env bash
# scripts/btrfs-projects on this machine: a plain projects path becomes a loop-mounted btrfs
# (recorded in an fstab, here a file of the test's), a second run changes nothing, a non-empty
# plain directory and an image that is not btrfs are refused with the reason, and the daemon's
# own check then finds disk limits enforceable there (policy check -p).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${1:?usage: btrfs_projects_test.sh <tenex-sandbox binary>}
SCRIPT=$ROOT/scripts/btrfs-projects
work=$(mktemp -d /tmp/tenex-btrfs-projects.XXXXXX)
failures=0
cleanup() { mountpoint -q "$work/projects" && umount "$work/projects"; rm -rf "$work"; }
trap cleanup EXIT
check() {  # check DESCRIPTION COMMAND...
    if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}
export TENEX_FSTAB=$work/fstab
touch "$TENEX_FSTAB"

out=$("$SCRIPT" 256M "$work/projects" 2>&1); rc=$?
echo "$out"
check "first run succeeds" test $rc -eq 0
check "the projects path is btrfs" test "$(stat -f -c %T "$work/projects")" = btrfs
check "the mount is recorded once" test "$(grep -c " $work/projects btrfs loop 0 0" "$TENEX_FSTAB")" -eq 1
mkdir -p "$work/policies" && printf 'resources:\n  disk: 64Mi\n' > "$work/policies/default.yaml"
check "the daemon finds limits enforceable there" \
    bash -c "'$BIN' policy check -p '$work/projects' --policies '$work/policies' 2>&1 | grep -q 'workspace disk limits (resources.disk): enforced'"
check "and not on the plain directory beside it" \
    bash -c "! '$BIN' policy check -p '$work' --policies '$work/policies' >/dev/null 2>&1"
out=$("$SCRIPT" 256M "$work/projects" 2>&1); rc=$?
check "a second run succeeds and changes nothing" test $rc -eq 0
check "a second run says so" grep -q "nothing to do" <<< "$out"
check "still recorded once" test "$(grep -c " $work/projects btrfs loop 0 0" "$TENEX_FSTAB")" -eq 1
umount "$work/projects"

mkdir -p "$work/full" && echo data > "$work/full/keep"
out=$("$SCRIPT" 256M "$work/full" 2>&1); rc=$?
check "a non-empty plain directory is refused" test $rc -eq 1
check "with the reason" grep -q "non-empty plain directory" <<< "$out"
check "and its data is kept" test "$(cat "$work/full/keep")" = data
truncate -s 1M "$work/other.img"
out=$(TENEX_BTRFS_IMAGE=$work/other.img "$SCRIPT" 256M "$work/empty" 2>&1); rc=$?
check "an image that is not btrfs is refused" test $rc -eq 1
check "with the reason" grep -q "is not a btrfs image" <<< "$out"
out=$("$SCRIPT" 2>&1); rc=$?
check "no size: usage, exit 2" test $rc -eq 2
exit $((failures > 0))
