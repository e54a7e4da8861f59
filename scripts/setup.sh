#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for sbx and runs the main job: the example suite,
# whose tests start real service containers.
#   sudo ./scripts/setup.sh            # root: install + build the test image + run examples/
#   ./scripts/setup.sh                 # an ordinary user (rootless), once the packages are in
#   SBX_SETUP_ONLY=1 ./scripts/setup.sh  # install only
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(busybox-static docker-registry mmdebstrap skopeo umoci iproute2 file python3-venv uidmap
          fuse-overlayfs slirp4netns tini qemu-system-x86   # qemu: scripts/vm-test.sh
          libseccomp2 gcc libc6-dev)   # seccomp filters; the security tests' static probe
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ "$(id -u)" != 0 ]; then
  # rootless: no sudo here; say what root must do once, then go on as this user
  if ((${#need[@]})); then
    echo "setup.sh: missing packages; as root, once: apt-get install ${need[*]}" >&2
    exit 1
  fi
  me=$(id -un)
  if ! grep -qE "^($me|$(id -u)):" /etc/subuid || ! grep -qE "^($me|$(id -g)):" /etc/subgid; then
    echo "setup.sh: note: $me has no range in /etc/subuid and /etc/subgid, so containers get a" >&2
    echo "  single-id map (builds that apt-get install will fail); as root, once:" >&2
    echo "  usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $me" >&2
  fi
  if [ -c /dev/net/tun ] && ! { [ -r /dev/net/tun ] && [ -w /dev/net/tun ]; }; then
    echo "setup.sh: note: /dev/net/tun is not open to $me (stock Debian makes it 0666), so build" >&2
    echo "  RUN steps get no outbound network (slirp4netns needs it); as root: chmod 0666 /dev/net/tun" >&2
  fi
elif ((${#need[@]})); then
  echo "==> apt-get install ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
echo "==> installing pytest-sandbox into .venv"
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'

echo "==> importing the busybox test image as bb:latest"
.venv/bin/python - <<'PY'
import tempfile, pathlib, subprocess, sys
sys.path.insert(0, ".")
from tests.images import write_busybox_rootfs_tar
with tempfile.TemporaryDirectory() as d:
    tar = pathlib.Path(d) / "bb.tar"
    write_busybox_rootfs_tar(tar)
    subprocess.run([".venv/bin/sbx", "import", str(tar), "bb:latest"], check=True,
                   stdout=subprocess.DEVNULL)
PY
if [ -z "$(.venv/bin/sbx images -q debian:bookworm 2>/dev/null)" ]; then
  echo "==> bootstrapping debian:bookworm with mmdebstrap (the base of the redis/postgres recipes)"
  .venv/bin/sbx bootstrap debian:bookworm
fi
if [ -z "$(.venv/bin/sbx images -q debian:bookworm-slim 2>/dev/null)" ]; then
  echo "==> bootstrapping debian:bookworm-slim (minbase; the base of examples/dockerfiles)"
  .venv/bin/sbx bootstrap debian:bookworm --variant minbase -t debian:bookworm-slim
fi
.venv/bin/sbx images

[ -n "${SBX_SETUP_ONLY:-}" ] && exit 0
echo "==> main job: the example suite (real service containers)"
export SBX_OFFLINE=1
.venv/bin/python -m pytest examples/ -v
