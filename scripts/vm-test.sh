#!/usr/bin/env bash
# The kernel tests on a pure cgroup v2 kernel, in a qemu VM (docs/cgroup-v2-vm.md).
#
#   sudo ./scripts/vm-test.sh                 # build the VM once (cached), run the v2 pass
#   sudo ./scripts/vm-test.sh -k memory       # extra pytest arguments for both passes
#   SBX_VM_TESTS="tests/integration/test_cgroups_v2.py" sudo ./scripts/vm-test.sh  # other tests
#   SBX_VM_BUILD_ONLY=1 sudo ./scripts/vm-test.sh   # build (or check) the cache only
#
# Builds once per machine, under $SBX_VM_CACHE (default /var/cache/sbx-vm, outside the
# checkout so a fresh clone reuses it), keyed by a hash of the recipe (this script, the
# initramfs init, the package list and the Python test deps): Debian's own kernel (the
# linux-image-6.1.0-*-amd64 that linux-image-amd64 depends on, unpacked from its .deb), a
# root made with mmdebstrap as an ext4 disk image, and a busybox initramfs that loads the
# virtio/ext4/9p modules and mounts it.  Then boots it with qemu (TCG: KVM fails on these
# machines; SBX_VM_ACCEL=kvm to try it) on cgroup v2 only (cgroup_no_v1=all), with this
# checkout shared read-only over virtio-9p (tag src) and a small read-write share (tag out)
# for the arguments and the result.  The guest (scripts/vm/guest.sh, read from the
# checkout at boot, so editing it needs no rebuild) runs the selected tests as root, then
# as an ordinary user in a delegated subtree, and this script exits with pytest's code.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
CACHE=${SBX_VM_CACHE:-/var/cache/sbx-vm}
MIRROR=${SBX_VM_MIRROR:-http://deb.debian.org/debian}
MEM=${SBX_VM_MEM:-3072}
SMP=${SBX_VM_SMP:-2}
TIMEOUT=${SBX_VM_TIMEOUT:-1500}          # seconds for the whole VM run (boot to power-off)
ACCEL=${SBX_VM_ACCEL:-tcg}
# The Python test deps, installed into /opt/sbx-venv inside the image at build time.
PY_DEPS=(pytest pluggy filelock requests pytest-timeout pytest-xdist zstandard)
die() { echo "vm-test: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, the ext4 image and the VM's root pass need it)"
for tool in mmdebstrap qemu-system-x86_64 mkfs.ext4; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install mmdebstrap qemu-system-x86 e2fsprogs"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing: apt-get install busybox-static"

# Pin the test deps to the versions of this checkout's .venv when there is one.
pins=()
if [ -x .venv/bin/pip ]; then
  freeze=$(.venv/bin/pip freeze --disable-pip-version-check --exclude-editable 2>/dev/null || true)
  for dep in "${PY_DEPS[@]}"; do
    pin=$(grep -i "^${dep//-/[-_]}==" <<<"$freeze" | head -1 || true)
    pins+=("${pin:-$dep}")
  done
else
  pins=("${PY_DEPS[@]}")
fi

key=$( { cat scripts/vm/build.sh scripts/vm/initramfs-init; echo "${pins[*]}" "$MIRROR"; } \
       | sha256sum | cut -c1-16)
IMG=$CACHE/$key

mkdir -p "$(dirname "$CACHE")"
exec 9>>"$CACHE.lock"
flock 9                                  # one build at a time per machine
if [ ! -f "$IMG/root.img" ]; then
  SBX_VM_MIRROR=$MIRROR scripts/vm/build.sh "$IMG" "${pins[@]}"
fi
flock -u 9
[ "${SBX_VM_BUILD_ONLY:-}" = 1 ] && { echo "vm-test: image ready: $IMG"; exit 0; }

out=$(mktemp -d /tmp/sbx-vm-out.XXXXXX)
trap 'rm -rf "$out"' EXIT
chmod 0777 "$out"
(($#)) && printf '%s\n' "$@" >"$out/args"
# SBX_VM_TESTS="tests/a.py tests/b.py": another test list than scripts/vm/guest.sh's
[ -n "${SBX_VM_TESTS:-}" ] && printf '%s\n' $SBX_VM_TESTS >"$out/tests"
echo "${CI:-}" >"$out/ci"
echo "==> vm-test: booting $(cat "$IMG/kernel") on cgroup v2 (qemu $ACCEL, -smp $SMP, -m $MEM)"
t0=$SECONDS
status=0
timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 \
  -accel "$ACCEL" -cpu max -m "$MEM" -smp "$SMP" -nographic -no-reboot -nodefaults \
  -serial stdio -monitor none \
  -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.gz" \
  -drive "file=$IMG/root.img,format=raw,if=virtio,snapshot=on" \
  -virtfs "local,path=$SRC,mount_tag=src,security_model=none,readonly=on" \
  -virtfs "local,path=$out,mount_tag=out,security_model=none" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all rw" </dev/null \
  || status=$?
echo "==> vm-test: VM ran $((SECONDS - t0)) s (qemu exit $status)"
if [ ! -s "$out/rc" ]; then
  echo "vm-test: the VM ended without a result (qemu exit $status): it did not boot, was" \
       "killed, or ran over SBX_VM_TIMEOUT=${TIMEOUT} s; the console output is above" >&2
  exit 3
fi
rc=$(cat "$out/rc")
echo "==> vm-test: pytest in the VM exited $rc"
exit "$rc"
