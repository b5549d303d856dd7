#!/bin/sh
# Installs, by Debian package name, everything the build, the tests and the
# benchmarks need. Idempotent: when every package is present it only checks.
# `install-deps.sh fuzz` adds what `make fuzz` needs: clang and libFuzzer's
# runtime (Debian 12's clang 14 ships it in libclang-rt-14-dev, which clang
# only recommends). `make test` needs neither: it replays the corpora with gcc.
# nginx and openssl are for tests/integration/test_proxy.py (the node behind
# nginx terminating TLS, docs/OPERATIONS.md). `install-deps.sh bench` adds
# nginx's Nchan module, which bench/vs_nchan.py (`make bench`) runs side by
# side with the node. Both start their own nginx with their own config; a
# system nginx service that the package may start is neither used nor
# disturbed. `make run` needs neither. `install-deps.sh vm` adds
# qemu-system-x86 for bench/kvm_run.sh (a command in a small VM on Debian's
# kernel, which has kernel TLS), which calls it; that script fetches the
# kernel itself without installing it.
set -eu

PACKAGES="
build-essential cmake pkg-config
libuv1-dev libhttp-parser-dev libwslay-dev libssl-dev libsodium-dev
libjansson-dev libsqlite3-dev liblua5.4-dev libcmocka-dev libnats-dev nats-server
python3 python3-pytest python3-requests python3-websockets python3-nacl
wrk chromium nginx openssl
"
if [ "${1:-}" = fuzz ]; then
    PACKAGES="$PACKAGES clang libclang-rt-14-dev"
fi
if [ "${1:-}" = bench ]; then
    PACKAGES="$PACKAGES libnginx-mod-nchan"
fi
if [ "${1:-}" = vm ]; then
    PACKAGES="$PACKAGES qemu-system-x86"
fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
