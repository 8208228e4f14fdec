#!/usr/bin/env bash
# Installs, upgrades, removes and purges the Debian package in a clean Debian 12 root file
# system made with debootstrap, the way an operator's apt/dpkg would; runs lintian on it.
#
#   packaging/test-package.sh [BUILD_DIR]     (default build/; tenex-sandbox must be built)
#
# Needs root, debootstrap, lintian, dpkg-dev (dpkg-shlibdeps) and the Debian mirror. The
# root file system (after `apt-get update`) is kept as a tarball in $TENEX_PACKAGE_CACHE
# (default /var/cache/tenex-sandbox-package-test), with the .debs apt fetched for the
# package's dependencies: a second run needs no download. Runs in its own mount namespace,
# so its mounts go away with it whatever happens. Prints how long each step took.
#
# The chroot has no init system: the unit itself is checked by packaging/check-unit.sh
# (systemd-analyze verify/security); here, postinst and postrm must do the right thing
# without systemd (start nothing, purge everything).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
CACHE=${TENEX_PACKAGE_CACHE:-/var/cache/tenex-sandbox-package-test}
SUITE=bookworm
if [[ -z ${DEBIAN_MIRROR:-} ]]; then
    DEBIAN_MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-${DEBIAN_MIRROR%/debian}/debian-security}

[[ $(id -u) -eq 0 ]] || { echo "test-package: needs root (chroot, mounts)" >&2; exit 1; }
for tool in debootstrap lintian cpack dpkg-shlibdeps unshare; do
    command -v "$tool" >/dev/null || { echo "test-package: $tool not found (scripts/setup installs it)" >&2; exit 1; }
done
[[ -x $BUILD/bin/tenex-sandbox ]] || { echo "test-package: build $BUILD/bin/tenex-sandbox first" >&2; exit 1; }
# Everything below in a private mount namespace.
if [[ -z ${TENEX_PACKAGE_TEST_NS:-} ]]; then
    TENEX_PACKAGE_TEST_NS=1 exec unshare --mount --propagation private "$0" "$BUILD"
fi

started=$SECONDS
step_started=$SECONDS
step() { echo "---- test-package: $* (previous step $((SECONDS - step_started)) s)"; step_started=$SECONDS; }
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/tenex-package-test.XXXXXX)
chmod 0755 "$WORK"   # apt's _apt user must traverse it inside the chroot
trap cleanup EXIT
R=$WORK/root
SOCK=${DOCKER_SOCKET:-/var/run/docker.sock}
HOST_CLI=$BUILD/bin/tenex-sandbox
DAEMON_ID=pkgtest-$$-$RANDOM
DAEMON_PID=
api() { curl -sf --unix-socket "$SOCK" "$@"; }
cleanup() {
    [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    # What the chroot's daemon left in the engine (its containers and networks carry its id).
    local filter ids
    filter=$(printf '{"label":["tenex.daemon=%s"]}' "$DAEMON_ID")
    ids=$(api -G http://localhost/containers/json?all=1 --data-urlencode "filters=$filter" 2>/dev/null | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4 || true)
    for id in $ids; do api -X DELETE "http://localhost/containers/$id?force=1" >/dev/null || true; done
    ids=$(api -G http://localhost/networks --data-urlencode "filters=$filter" 2>/dev/null | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4 || true)
    for id in $ids; do api -X DELETE "http://localhost/networks/$id" >/dev/null || true; done
    # Unmount before deleting: rm must never reach /dev, the socket or the apt cache.
    local m
    for m in $(findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r); do umount -l "$m" || true; done
    if findmnt -rn -o TARGET | grep -qF "$WORK/"; then
        echo "test-package: mounts left under $WORK; not deleting it" >&2
    else
        rm -rf --one-file-system "$WORK"
    fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

# --- the packages: this build, and the same with a higher revision for the upgrade -----------
step "cpack: $BUILD"
(cd "$BUILD" && cpack -G DEB -B "$WORK/v1" >"$WORK/cpack-1.log" 2>&1) || { cat "$WORK/cpack-1.log"; fail "cpack"; }
(cd "$BUILD" && TENEX_PACKAGE_RELEASE=99 cpack -G DEB -B "$WORK/v2" >"$WORK/cpack-2.log" 2>&1) || { cat "$WORK/cpack-2.log"; fail "cpack (upgrade build)"; }
DEB1=$(ls "$WORK"/v1/tenex-sandbox_*.deb)
DEB2=$(ls "$WORK"/v2/tenex-sandbox_*.deb)
V1=$(dpkg-deb -f "$DEB1" Version)
V2=$(dpkg-deb -f "$DEB2" Version)
dpkg --compare-versions "$V2" gt "$V1" || fail "upgrade build $V2 is not newer than $V1"
echo "packages: $(basename "$DEB1") ($(stat -c %s "$DEB1") bytes), $(basename "$DEB2")"
echo "Depends: $(dpkg-deb -f "$DEB1" Depends)"
echo "Recommends: $(dpkg-deb -f "$DEB1" Recommends)"
dpkg-deb -f "$DEB1" Depends | grep -q 'libc6 (>=' || fail "Depends has no versioned libc6 (dpkg-shlibdeps did not run?)"
dpkg-deb -f "$DEB1" Recommends | grep -qx 'docker.io' || fail "Recommends is not docker.io"

step "lintian"
lintian --fail-on error,warning --display-info "$DEB1" | tee "$WORK/lintian.txt" || fail "lintian reported errors or warnings (above)"
# Hardening (TENEX_HARDENING): lintian's own tag is only informational, so it is checked here,
# and in the binary itself: fortified libc calls (__*_chk) and the stack protector.
! grep -E 'hardening-no-(fortify-functions|relro|bindnow|pie)' "$WORK/lintian.txt" || fail "lintian: the binary is not hardened (above)"
dpkg-deb -x "$DEB1" "$WORK/contents"
syms=$(readelf --dyn-syms -W "$WORK/contents/usr/bin/tenex-sandbox")
grep -qE ' __[a-z_]+_chk(@|$)' <<<"$syms" || fail "no fortified libc call (__*_chk) in the binary: built without _FORTIFY_SOURCE?"
grep -q ' __stack_chk_fail' <<<"$syms" || fail "no stack protector (__stack_chk_fail) in the binary"
readelf -d -W "$WORK/contents/usr/bin/tenex-sandbox" | grep -qE 'BIND_NOW|FLAGS_1.* NOW' || fail "the binary is not linked with -z now"
readelf -l -W "$WORK/contents/usr/bin/tenex-sandbox" | grep -q GNU_RELRO || fail "the binary has no RELRO segment"
echo "hardening: $(grep -oE ' __[a-z_]+_chk(@|$)' <<<"$syms" | sort -u | wc -l) fortified libc functions, stack protector, RELRO with BIND_NOW"

# --- a clean Debian 12 root -----------------------------------------------------------------------
TARBALL=$CACHE/$SUITE-minbase.tar
mkdir -p "$CACHE/archives/partial"
if [[ ! -s $TARBALL ]]; then
    step "debootstrap $SUITE minbase from $DEBIAN_MIRROR (once; cached in $TARBALL)"
    fresh=$WORK/fresh
    debootstrap --variant=minbase "$SUITE" "$fresh" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 30 "$WORK/debootstrap.log"; fail "debootstrap"; }
    cat > "$fresh/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
    cp /etc/resolv.conf "$fresh/etc/resolv.conf"
    chroot "$fresh" apt-get update -q >/dev/null
    chroot "$fresh" apt-get clean
    chmod 0755 "$fresh"
    tar -C "$fresh" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$fresh"
fi
step "unpack the root file system"
mkdir -p "$R"
tar -C "$R" -xf "$TARBALL"
chmod 0755 "$R"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
# apt's downloads are kept between runs.
mount --bind "$CACHE/archives" "$R/var/cache/apt/archives"
[[ ! -e $R/lib/systemd/system/tenex-sandbox.service && ! -d $R/run/systemd/system ]] || fail "the root is not clean"
cp "$DEB1" "$R/tmp/v1.deb"
cp "$DEB2" "$R/tmp/v2.deb"

# --- install --------------------------------------------------------------------------------------
step "install $V1: dpkg -i, then apt-get -f install for its dependencies"
in_root dpkg -i /tmp/v1.deb >"$WORK/install.log" 2>&1 || true   # dependencies missing in a clean root
in_root apt-get -f install -y -q --no-install-recommends >>"$WORK/install.log" 2>&1 \
    || { tail -n 30 "$WORK/install.log"; fail "apt-get -f install"; }
status() { in_root dpkg-query -W -f='${Status} ${Version}' tenex-sandbox 2>/dev/null || true; }
[[ $(status) == "install ok installed $V1" ]] || fail "after install: '$(status)'"
in_root tenex-sandbox version >/dev/null || fail "the installed binary does not run (missing libraries?)"
echo "installed: $(in_root tenex-sandbox version | head -n 1)"

check_file() {  # check_file PATH MODE OWNER:GROUP
    local got
    got=$(stat -c '%a %U:%G' "$R$1" 2>/dev/null) || fail "$1 is missing"
    [[ $got == "$2 $3" ]] || fail "$1 is '$got', expected '$2 $3'"
}
check_file /usr/bin/tenex-sandbox 755 root:root
check_file /lib/systemd/system/tenex-sandbox.service 644 root:root
check_file /etc/tenex-sandbox/sandbox.yaml 644 root:root
check_file /etc/tenex-sandbox/policies/default.yaml 644 root:root
check_file /var/lib/tenex-sandbox 750 root:root
check_file /var/lib/tenex-sandbox/projects 750 root:root
check_file /var/lib/tenex-sandbox/state 750 root:root
check_file /usr/share/doc/tenex-sandbox/copyright 644 root:root
check_file /usr/lib/tenex-sandbox/images/forwarder/Dockerfile 644 root:root
check_file /usr/lib/tenex-sandbox/images/forwarder/rootfs/tenex-forwarder 755 root:root
for doc in README.md GATEWAY.md default.yaml strict.yaml networked.yaml; do
    check_file /usr/share/doc/tenex-sandbox/examples/policies/$doc 644 root:root
done
cmp -s "$R/usr/share/doc/tenex-sandbox/examples/policies/README.md" "$ROOT/policies/README.md" || fail "the policy reference differs from policies/README.md"
cmp -s "$R/lib/systemd/system/tenex-sandbox.service" "$ROOT/packaging/tenex-sandbox.service" || fail "the installed unit differs from packaging/"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' tenex-sandbox | awk 'NF {print $1}' | sort | tr '\n' ' ')
[[ $conffiles == "/etc/tenex-sandbox/policies/default.yaml /etc/tenex-sandbox/sandbox.yaml " ]] || fail "conffiles: '$conffiles'"
# Nothing outside the package's places (no headers, static libraries or build paths).
if stray=$(in_root dpkg -L tenex-sandbox | grep -Ev '^(/\.|/usr|/usr/bin(/tenex-sandbox)?|/lib|/lib/systemd|/lib/systemd/system(/tenex-sandbox\.service)?|/etc|/etc/tenex-sandbox(/sandbox\.yaml|/policies(/default\.yaml)?)?|/usr/share(/doc(/tenex-sandbox(/.*)?)?|/man(/man1(/tenex-sandbox\.1\.gz)?)?|/lintian(/overrides(/tenex-sandbox)?)?)?|/usr/lib(/tenex-sandbox(/images(/forwarder(/Dockerfile|/rootfs(/tenex-forwarder)?)?)?)?)?)$'); then
    fail "unexpected files in the package: $stray"
fi
in_root tenex-sandbox policy check --policies /etc/tenex-sandbox/policies >"$WORK/policy.log" 2>&1 \
    || { cat "$WORK/policy.log"; fail "the installed policies do not pass policy check"; }
# A fresh install starts nothing, and the shipped configuration refuses to run until the
# operator sets a whitelist.
rc=0
in_root tenex-sandbox up --config /etc/tenex-sandbox/sandbox.yaml >"$WORK/up.log" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && grep -q 'whitelist' "$WORK/up.log" || { cat "$WORK/up.log"; fail "up with the shipped configuration: exit $rc"; }

# --- the operator's edits, state --------------------------------------------------------------------
step "edit a conffile, add a policy and state"
cp "$ROOT/policies/strict.yaml" "$R/etc/tenex-sandbox/policies/strict.yaml"
echo state >"$R/var/lib/tenex-sandbox/state/marker"
mkdir -p "$R/var/lib/tenex-sandbox/projects/p-1" && echo work >"$R/var/lib/tenex-sandbox/projects/p-1/file"

# The daemon of the chroot, as the unit starts it (ExecStart), with a running project across
# the upgrade. It talks to the host's Docker engine through its socket; the engine sees host
# paths, so the chroot's state directory is also mounted at its host path inside the chroot
# and the configuration points there.
step "the installed daemon runs a project (probe image, embedded relay)"
api http://localhost/_ping >/dev/null || fail "Docker does not answer on $SOCK"
api http://localhost/images/tenex-probe:latest/json >/dev/null || fail "no tenex-probe:latest image (build it: cmake --build build --target probe-image)"
touch "$R/run/docker.sock" && mount --bind "$SOCK" "$R/run/docker.sock"
mkdir -p "$R$R/var/lib/tenex-sandbox" && mount --bind "$R/var/lib/tenex-sandbox" "$R$R/var/lib/tenex-sandbox"
RELAY_PORT=$(free_port) HTTP_PORT=$(free_port) GATEWAY_PORT=$(free_port)
cfg=$R/etc/tenex-sandbox/sandbox.yaml
# No relays but the embedded one (this machine reaches no public relay).
sed -i -e '/^relays:$/,/^[^ ]/{/^  - /d}' -e 's/^relays:$/relays: []/' \
       -e "s|^projects_path: .*|projects_path: $R/var/lib/tenex-sandbox/projects|" \
       -e "s|^state_dir: .*|state_dir: $R/var/lib/tenex-sandbox/state|" \
       -e "s|^http_listen: .*|http_listen: 127.0.0.1:$HTTP_PORT|" \
       -e "s|^daemon_id: .*|daemon_id: $DAEMON_ID|" \
       -e "s|^embedded_relay: .*|embedded_relay: 127.0.0.1:$RELAY_PORT|" \
       -e "s|^  listen: 127.0.0.1:7879|  listen: 127.0.0.1:$GATEWAY_PORT|" "$cfg"
# The probe instead of the TENEX runtime: an edit of the default policy (a conffile too).
cp "$ROOT/examples/policies/default.yaml" "$R/etc/tenex-sandbox/policies/default.yaml"
"$HOST_CLI" keygen --out "$WORK/owner.key" >"$WORK/owner.npub"
OWNER=$("$HOST_CLI" decode "$(cat "$WORK/owner.npub")" | sed -n 's/.*"pubkey": "\([0-9a-f]*\)".*/\1/p')
sed -i "s/^whitelist: \[.*\]$/whitelist: [$OWNER]/" "$cfg"
grep -q "^whitelist: \[$OWNER\]$" "$cfg" || fail "could not edit the whitelist"
start_daemon() {  # start_daemon LOG [FLAGS...]
    local log=$1; shift
    chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
        tenex-sandbox --log-level debug up --config /etc/tenex-sandbox/sandbox.yaml "$@" >"$log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 150); do
        curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$log"; fail "the daemon exited"; }
        sleep 0.2
    done
    cat "$log"; fail "the daemon did not become healthy"
}
stop_daemon() {
    kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || fail "the daemon exited with $? on SIGTERM"; DAEMON_PID=
}
project_container() {  # the running container's id in the daemon's /projects, or nothing
    curl -sf "http://127.0.0.1:$HTTP_PORT/projects" | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["state"] == "running": print(p["container_id"])'
}
start_daemon "$WORK/daemon-1.log"
RELAY=ws://127.0.0.1:$RELAY_PORT
publish() { "$HOST_CLI" --log-level warn publish --relay "$RELAY" --key "$WORK/owner.key" "$@" >/dev/null; }
publish --kind 31933 --tag d=pkgtest --tag title=Package --content "package test project"
publish --kind 1 --tag "a=31933:$OWNER:pkgtest" --content "wake up"
for _ in $(seq 150); do CONTAINER=$(project_container); [[ -n $CONTAINER ]] && break; sleep 0.2; done
[[ -n $CONTAINER ]] || { cat "$WORK/daemon-1.log"; fail "the project did not start"; }
echo "project running in ${CONTAINER:0:12}"
stop_daemon   # as the old package's daemon ends at an upgrade; the project keeps running
api "http://localhost/containers/$CONTAINER/json" | grep -q '"Running":true' || fail "the project stopped with the daemon"
edited=$(sha256sum <"$cfg")

# --- upgrade ----------------------------------------------------------------------------------------
step "upgrade to $V2 (dpkg -i, no prompt)"
in_root dpkg -i /tmp/v2.deb </dev/null >"$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log"; fail "upgrade"; }
[[ $(status) == "install ok installed $V2" ]] || fail "after upgrade: '$(status)'"
[[ $(sha256sum <"$cfg") == "$edited" ]] || fail "the upgrade changed the edited sandbox.yaml"
cmp -s "$R/etc/tenex-sandbox/policies/default.yaml" "$ROOT/examples/policies/default.yaml" || fail "the upgrade changed the edited default.yaml"
[[ ! -e $R/etc/tenex-sandbox/sandbox.yaml.dpkg-new && ! -e $R/etc/tenex-sandbox/sandbox.yaml.dpkg-dist ]] || fail "the upgrade left a .dpkg-new/.dpkg-dist"
[[ -f $R/etc/tenex-sandbox/policies/strict.yaml && -f $R/var/lib/tenex-sandbox/state/marker && -f $R/var/lib/tenex-sandbox/projects/p-1/file ]] \
    || fail "the upgrade lost a policy or state"
in_root tenex-sandbox policy check --policies /etc/tenex-sandbox/policies >/dev/null 2>&1 || fail "policy check after upgrade"

step "the upgraded daemon adopts the running project"
start_daemon "$WORK/daemon-2.log" --stop-projects
[[ $(project_container) == "$CONTAINER" ]] || { cat "$WORK/daemon-2.log"; fail "the project was not adopted (now: '$(project_container)')"; }
stop_daemon   # --stop-projects: the project, its network and firewall rules go too
api "http://localhost/containers/$CONTAINER/json" >/dev/null 2>&1 && fail "the project container is still there after --stop-projects"

step "the swarm forwarder image builds from the installed context"
FWD_TAG=tenex-forwarder:pkgtest-$$
in_root tenex-sandbox image build /usr/lib/tenex-sandbox/images/forwarder --tag "$FWD_TAG" >"$WORK/forwarder-image.log" 2>&1 ||
    { cat "$WORK/forwarder-image.log"; fail "image build of /usr/lib/tenex-sandbox/images/forwarder"; }
fwd=$(api "http://localhost/images/$FWD_TAG/json") || fail "no image $FWD_TAG after the build"
api -X DELETE "http://localhost/images/$FWD_TAG" >/dev/null || true
grep -q '"Entrypoint":\["/tenex-forwarder"\]' <<<"$fwd" && grep -q '"User":"65534:65534"' <<<"$fwd" ||
    fail "the forwarder image has not the entry point /tenex-forwarder and user 65534"
umount "$R/run/docker.sock" "$R$R/var/lib/tenex-sandbox"

# --- remove: configuration and state stay -------------------------------------------------------------
step "dpkg --remove"
in_root dpkg --remove tenex-sandbox >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log"; fail "remove"; }
[[ $(status) == "deinstall ok config-files $V2" ]] || fail "after remove: '$(status)'"
[[ ! -e $R/usr/bin/tenex-sandbox && ! -e $R/lib/systemd/system/tenex-sandbox.service && ! -e $R/usr/lib/tenex-sandbox ]] || fail "remove left the binary, the unit or /usr/lib/tenex-sandbox"
[[ $(sha256sum <"$cfg") == "$edited" ]] || fail "remove changed sandbox.yaml"
[[ -f $R/etc/tenex-sandbox/policies/default.yaml && -f $R/etc/tenex-sandbox/policies/strict.yaml ]] || fail "remove took policies"
[[ -f $R/var/lib/tenex-sandbox/state/marker && -f $R/var/lib/tenex-sandbox/projects/p-1/file ]] || fail "remove took state"

# --- purge: configuration and state go ----------------------------------------------------------------
step "dpkg --purge"
in_root dpkg --purge tenex-sandbox >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "purge"; }
[[ -z $(status) || $(status) == "unknown ok not-installed "* ]] || fail "after purge: '$(status)'"
[[ ! -e $R/etc/tenex-sandbox ]] || fail "purge left /etc/tenex-sandbox: $(find "$R/etc/tenex-sandbox")"
[[ ! -e $R/var/lib/tenex-sandbox ]] || fail "purge left /var/lib/tenex-sandbox"

step "done"
echo "test-package: OK: install, files, conffiles, a running project adopted across the upgrade $V1 -> $V2 with edits and state kept, the forwarder image built from the installed files, remove, purge; lintian clean ($((SECONDS - started)) s)"
