#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for sbx (as root) and runs the main job: the example
# suite, whose tests start real service containers.
#   sudo ./scripts/setup.sh            # install + build the test image + run examples/
#   SBX_SETUP_ONLY=1 ./scripts/setup.sh  # install only
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (sudo ./scripts/setup.sh): sbx needs root until rootless mode lands" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in busybox-static docker-registry mmdebstrap skopeo umoci iproute2 file python3-venv; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
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
