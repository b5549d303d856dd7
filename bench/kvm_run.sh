#!/usr/bin/env bash
# Runs one command inside a small KVM virtual machine booted on Debian's own
# kernel, which has kernel TLS (the `tls` module), for the kTLS figures of a
# node started with --tls-cert/--tls-key.
#
#   bench/kvm_run.sh [--cpus N] [--mem MB] [--timeout SECONDS] [--accel auto|kvm|tcg]
#                    -- CMD [ARGS...]
#
# The guest sees the host's root filesystem read-only (virtio 9p), with a
# fresh tmpfs on /tmp and /dev/shm, only the loopback interface, and the same
# working directory. CMD runs as root in that tree (chroot) with PATH, HOME,
# LANG, LC_ALL, TZ and every LEDGERLINE_* variable of the caller; whatever it
# writes to stdout or stderr comes back on this script's stdout, and its exit
# status is this script's. Files written outside /tmp fail (read-only), and
# everything in the guest's /tmp is gone when the command ends.
#
# Exit status: CMD's; 124 when the time limit (default 600 s) ran out; 125
# when the machine could not be prepared or booted.
#
# First run: fetches Debian's linux-image-*-amd64-unsigned and busybox-static
# with `apt-get download` (nothing is installed: no package scripts run) and
# unpacks them with `dpkg-deb -x` into build-bench/kvm/, then builds the
# initramfs there; later runs reuse it. Needs qemu-system-x86, which it
# installs (scripts/install-deps.sh vm), and /dev/kvm with hardware
# virtualization for figures; without it the machine is emulated (TCG):
# right for checking behaviour, meaningless for timings.
set -euo pipefail

cpus=2
mem=4096
limit=600
accel=auto
while [ $# -gt 0 ]; do
    case "$1" in
    --cpus) cpus="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --accel) accel="$2"; shift 2 ;;
    --timeout) limit="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
    esac
done
if [ $# -eq 0 ]; then
    echo "usage: $0 [--cpus N] [--mem MB] [--timeout SECONDS] [--accel auto|kvm|tcg] -- CMD [ARGS...]" >&2
    exit 125
fi

die() {
    echo "kvm_run: $*" >&2
    exit 125
}

# KVM runs an unmodified kernel only on a CPU with hardware virtualization
# (vmx or svm in /proc/cpuinfo). A /dev/kvm without it (a paravirtual KVM
# inside another machine) hangs such a kernel while it decompresses itself;
# there the machine is emulated (TCG): slower, but the same kernel and the
# same results, only not for timing.
if [ "$accel" = auto ]; then
    if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
        accel=kvm
    else
        accel=tcg
        echo "kvm_run: no hardware virtualization here, emulating the CPU (TCG)" >&2
    fi
fi
case "$accel" in
kvm)
    [ -w /dev/kvm ] || die "/dev/kvm is missing or not writable"
    machine=(-enable-kvm -cpu host)
    ;;
tcg) machine=(-accel "tcg,thread=multi" -cpu max) ;;
*) die "--accel is auto, kvm or tcg" ;;
esac
"$(dirname "$0")/../scripts/install-deps.sh" vm >&2 ||
    die "cannot install qemu-system-x86 (scripts/install-deps.sh vm)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found"

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/build-bench/kvm"
case "$cache" in *[[:space:]]*) die "the kernel command line cannot carry $cache" ;; esac
mkdir -p "$cache"

# The kernel and busybox, unpacked once. `current` names the kernel release.
prepare_cache() {
    local meta image dl kver
    meta="$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
    [ -n "$meta" ] || die "apt-cache knows no linux-image-amd64 (run apt-get update)"
    image="$meta-unsigned"
    dl="$(mktemp -d "$cache/download.XXXXXX")"
    chmod 755 "$dl" # apt fetches as its own user
    echo "kvm_run: fetching $image and busybox-static (once)" >&2
    (cd "$dl" && apt-get download -q "$image" busybox-static >&2) ||
        { rm -rf "$dl"; die "apt-get download failed"; }
    rm -rf "$cache/linux" "$cache/busybox"
    dpkg-deb -x "$dl"/linux-image-*.deb "$cache/linux"
    dpkg-deb -x "$dl"/busybox-static_*.deb "$cache/busybox"
    rm -rf "$dl"
    kver="$(ls "$cache/linux/lib/modules")"
    # The package leaves modules.dep to its install script; busybox makes it.
    "$cache/busybox/bin/busybox" depmod -b "$cache/linux" "$kver"
    echo "$kver" >"$cache/current"
}

# The guest's /init (busybox sh). It takes the command file and the host's
# module tree from the kernel command line (kvm_run.cmd=, kvm_run.modules=).
write_init() {
    cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/null >/dev/console 2>&1
fail() {
    echo "kvm_run init: $*"
    poweroff -f
}
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    kvm_run.cmd=*) cmd="${arg#*=}" ;;
    kvm_run.modules=*) modules="${arg#*=}" ;;
    kvm_run.tag=*) tag="${arg#*=}" ;;
    esac
done
for m in virtio_pci 9pnet_virtio 9p; do
    modprobe "$m" || fail "modprobe $m"
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host ||
    fail "cannot mount the host's root"
# From here on every module of the kernel is at hand (tls, AES-GCM, ...).
mount --bind "/host$modules" /lib/modules || fail "no module tree"
cp "/host$cmd" /cmd.sh || fail "no command file"
modprobe tls || fail "modprobe tls"
for m in aesni_intel gcm ccm chacha20poly1305; do
    modprobe "$m" 2>/dev/null
done
ip link set lo up
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs -o mode=1777 shm /host/dev/shm
mount -t tmpfs -o mode=1777 tmp /host/tmp
echo "KVM_RUN_BEGIN $tag"
chroot /host /bin/bash -c "$(cat /cmd.sh)" </dev/null 2>&1
echo "KVM_RUN_EXIT $tag $?"
poweroff -f
INIT
}

# The initramfs: busybox, /init, and the modules that mount the host's root.
build_initramfs() {
    local kver="$1" tree mods m dep stage
    tree="$cache/linux/lib/modules/$kver"
    stage="$(mktemp -d "$cache/initramfs.XXXXXX")"
    mkdir -p "$stage"/{bin,sbin,proc,sys,dev,host,lib/modules/"$kver"}
    cp "$cache/busybox/bin/busybox" "$stage/bin/busybox"
    for m in virtio_pci 9pnet_virtio 9p; do
        dep="$(grep -E "/$m\.ko:" "$tree/modules.dep")" ||
            { rm -rf "$stage"; die "module $m not in $kver"; }
        mods="${mods:-} ${dep/:/}"
    done
    for m in $mods; do
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$m")"
        cp "$tree/$m" "$stage/lib/modules/$kver/$m"
    done
    "$cache/busybox/bin/busybox" depmod -b "$stage" "$kver"
    ln -s ../bin/busybox "$stage/sbin/modprobe" # the kernel asks it for crypto
    write_init >"$stage/init"
    chmod 755 "$stage/init"
    (cd "$stage" && find . | "$cache/busybox/bin/busybox" cpio -o -H newc 2>/dev/null |
        gzip -1 >"$cache/initramfs-$kver.tmp")
    mv "$cache/initramfs-$kver.tmp" "$cache/initramfs-$kver.gz"
    rm -rf "$stage"
}

[ -s "$cache/current" ] || prepare_cache
kver="$(cat "$cache/current")"
if [ ! -s "$cache/initramfs-$kver.gz" ] ||
    [ "$0" -nt "$cache/initramfs-$kver.gz" ]; then
    build_initramfs "$kver"
fi

# The command, its directory and environment, as a bash script the guest's
# /init reads from the host's /tmp (before covering it with its own tmpfs).
tmp="$(mktemp -d /tmp/kvm_run.XXXXXX)"
qpid=""
apid=""
cleanup() {
    [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
    [ -z "$apid" ] || wait "$apid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
    for v in PATH HOME LANG LC_ALL TZ ${!LEDGERLINE_@}; do
        [ -z "${!v+set}" ] || printf 'export %s=%q\n' "$v" "${!v}"
    done
    printf 'cd -- %q || exit 125\n' "$PWD"
    printf 'exec'
    printf ' %q' "$@"
    printf '\n'
} >"$tmp/cmd.sh"

# /init prints "KVM_RUN_BEGIN <tag>" before the command and
# "KVM_RUN_EXIT <tag> <status>" after it, the tag new for each run; only what
# lies between reaches stdout. The serial line ends lines with CR LF, and the
# firmware's screen-clearing escapes may precede the first marker.
tag="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
mkfifo "$tmp/console"
timeout --kill-after=10 "$limit" qemu-system-x86_64 \
    "${machine[@]}" -smp "$cpus" -m "$mem" \
    -nographic -no-reboot -nic none \
    -kernel "$cache/linux/boot/vmlinuz-$kver" \
    -initrd "$cache/initramfs-$kver.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 kvm_run.cmd=$tmp/cmd.sh kvm_run.modules=$cache/linux/lib/modules kvm_run.tag=$tag" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    </dev/null >"$tmp/console" 2>"$tmp/qemu.err" &
qpid=$!

awk -v status="$tmp/status" -v bootlog="$tmp/boot.log" -v tag="$tag" '
    { sub(/\r$/, "") }
    on && match($0, "KVM_RUN_EXIT " tag " [0-9]+$") {
        if (RSTART > 1) print substr($0, 1, RSTART - 1) # output without a final newline
        n = split($0, f, " "); print f[n] > status; close(status); on = 0; next
    }
    on { print; fflush(); next }
    $0 ~ ("KVM_RUN_BEGIN " tag "$") { on = 1; next }
    { print >> bootlog }
' <"$tmp/console" &
apid=$! # waited for in the background, so that INT and TERM stop qemu at once

set +e
wait "$apid"
wait "$qpid"
qrc=$?
set -e
qpid=""

if [ -s "$tmp/status" ]; then
    exit "$(cat "$tmp/status")"
fi
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
    echo "kvm_run: time limit of ${limit}s ran out" >&2
    exit 124
fi
echo "kvm_run: the machine stopped without the command's status (qemu: $qrc)" >&2
tail -n 30 "$tmp/boot.log" "$tmp/qemu.err" 2>/dev/null >&2 || true
exit 125
