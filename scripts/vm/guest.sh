#!/bin/bash
# The cgroup v2 VM's init (scripts/vm-test.sh boots it; pid 2 under tini): mounts what a
# Debian system has (cgroup2 alone at /sys/fs/cgroup, as on a pure v2 host), delegates a
# subtree to an ordinary user as systemd does for user@UID.service, runs the v2 test list
# as root and then as that user, writes pytest's exit code to /vm-out/rc and powers off.
# Read from the shared checkout at boot: editing this file needs no image rebuild.
set -u
# bash reads a script as it runs: run a copy, so editing the checkout's one mid-run is safe
if [ -z "${SBX_VM_GUEST_COPY:-}" ]; then
  cp "$0" /sbx-vm-guest.sh && SBX_VM_GUEST_COPY=1 exec /bin/bash /sbx-vm-guest.sh
fi
export PATH=/opt/sbx-venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 HOME=/root SBX_OFFLINE=1 PYTHONPYCACHEPREFIX=/var/cache/sbx-pyc
OUT=/vm-out
CG=/sys/fs/cgroup
VM_USER=sbxvm
VM_UID=1000

# The tests of the v2 pass: the same files as the host's passes.  Those that need v1 are
# deselected here (marker cgroup_v1), the v2-only ones run only here (cgroup_v2); see
# tests/conftest.py.  TCG is slow (docs/cgroup-v2-vm.md has the times), so the list holds
# what touches cgroups: the v2 limits and lifecycle, the managers, the device policy, the
# container's cgroupfs and cgroup namespace, the limits of test_isolation.py, and the
# plugin after a SIGKILLed pytest; the rootless pass (fewer, slower) what depends on the
# delegated subtree.
TESTS=(
  tests/integration/test_cgroups_v2.py
  tests/integration/test_cgroups.py
  tests/integration/security/test_devices.py
  tests/integration/security/test_sysfs_cgroupfs.py
  tests/integration/test_isolation.py::test_memory_limit_kills_with_137_and_oomkilled
  tests/integration/test_isolation.py::test_pids_limit_contains_a_fork_bomb
  tests/integration/test_isolation.py::test_cpus_sets_the_quota
  tests/plugin/test_cleanup.py::test_sigkilled_run_is_reaped_by_the_next
)
USER_TESTS=(
  tests/integration/test_cgroups_v2.py
  tests/integration/test_rootless.py
  tests/integration/security/test_sysfs_cgroupfs.py::test_the_container_reads_its_own_memory_limit
)

off() {
  sync
  busybox poweroff -f
  echo o >/proc/sysrq-trigger
}
finish() { echo "$1" >"$OUT/rc"; echo "==> guest: done, exit $1"; off; }
step() { echo "==> guest: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx 2>/dev/null || true
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
mount -t tmpfs -o mode=0755,nosuid,nodev run /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp
ln -sf /proc/self/fd /dev/fd 2>/dev/null || true
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 "$CG" || { step "no cgroup2"; finish 3; }
hostname sbx-vm
ip link set lo up
for m in overlay fuse veth bridge tun; do modprobe "$m" 2>/dev/null || step "modprobe $m failed"; done
[ -e /dev/fuse ] && chmod 0666 /dev/fuse

step "kernel $(uname -r); cgroup controllers: $(cat $CG/cgroup.controllers)"
grep -q ' cgroup ' /proc/self/mounts && { step "a cgroup v1 hierarchy is mounted"; finish 3; }

# as systemd: this script in init.scope, the controllers enabled down to the user's
# user@UID.service, which is owned by the user (Delegate=yes)
mkdir -p "$CG/init.scope"
echo $$ >"$CG/init.scope/cgroup.procs"
ctl="+cpu +io +memory +pids"
echo "$ctl +cpuset" >"$CG/cgroup.subtree_control"
ud=$CG/user.slice/user-$VM_UID.slice/user@$VM_UID.service
mkdir -p "$ud"
echo "$ctl" >"$CG/user.slice/cgroup.subtree_control"
echo "$ctl" >"$CG/user.slice/user-$VM_UID.slice/cgroup.subtree_control"
chown "$VM_UID:$VM_UID" "$ud" "$ud/cgroup.procs" "$ud/cgroup.threads" "$ud/cgroup.subtree_control"
runuser -u "$VM_USER" -- mkdir -p "$ud/app.slice/vm-tests.scope"
mkdir -p "/run/user/$VM_UID"
chown "$VM_UID:$VM_UID" "/run/user/$VM_UID"
chmod 0700 "/run/user/$VM_UID"

CI=$(cat "$OUT/ci" 2>/dev/null || true)
export CI
args=()
[ -s "$OUT/args" ] && mapfile -t args <"$OUT/args"
[ -s "$OUT/tests" ] && mapfile -t TESTS <"$OUT/tests" && USER_TESTS=("${TESTS[@]}")

cd /src || finish 3
step "importing the busybox test image as bb:latest (root's store)"
python3 - <<'PY' || { step "import failed"; finish 3; }
import pathlib, subprocess, sys, tempfile
sys.path.insert(0, "/src")
from tests.images import write_busybox_rootfs_tar
with tempfile.TemporaryDirectory() as d:
    tar = pathlib.Path(d) / "bb.tar"
    write_busybox_rootfs_tar(tar)
    subprocess.run([sys.executable, "-m", "sbx", "import", str(tar), "bb:latest"], check=True,
                   stdout=subprocess.DEVNULL)
PY
step "smoke: $(python3 -m sbx run --rm -m 64m bb cat /proc/self/cgroup 2>&1 | tr '\n' ' ')"

t0=$SECONDS
step "root pass: ${TESTS[*]} ${args[*]}"
python3 -m pytest -p no:cacheprovider --color=no --durations=15 "${TESTS[@]}" "${args[@]}"
root_rc=$?
t1=$SECONDS
step "root pass: pytest exited $root_rc in $((t1 - t0)) s"

step "rootless pass as $VM_USER (uid $VM_UID) in $ud/app.slice/vm-tests.scope: ${USER_TESTS[*]}"
bash -c 'echo $$ >"$1/app.slice/vm-tests.scope/cgroup.procs" && shift && exec "$@"' _ "$ud" \
  runuser -u "$VM_USER" -- env -i HOME=/home/$VM_USER USER=$VM_USER LOGNAME=$VM_USER \
    PATH="$PATH" LANG=C.UTF-8 CI="$CI" SBX_OFFLINE=1 XDG_RUNTIME_DIR=/run/user/$VM_UID \
    PYTHONPYCACHEPREFIX=/tmp/sbx-pyc-$VM_UID \
    python3 -m pytest -p no:cacheprovider --color=no --durations=15 "${USER_TESTS[@]}" "${args[@]}"
user_rc=$?
step "rootless pass: pytest exited $user_rc in $((SECONDS - t1)) s"
step "summary: root pass exit $root_rc, rootless pass exit $user_rc"
rc=$root_rc
[ "$rc" = 0 ] && rc=$user_rc
finish "$rc"
