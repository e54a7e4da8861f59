#!/usr/bin/env bash
# CI's rootless pass (run as root after the root pass): creates an ordinary user with a
# subordinate id range, gives it a copy of this tree, and as that user (no sudo) runs the
# README's two commands: ./scripts/setup.sh (venv, test image, Debian bases, the example
# suite) and the test suite.  Ends the user's namespace holder afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
USER_NAME=${SBX_CI_USER:-sbx-ci}

if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$USER_NAME"
fi
home=$(getent passwd "$USER_NAME" | cut -d: -f6)
if ! grep -q "^$USER_NAME:" /etc/subuid; then
  usermod --add-subuids 300000-365535 --add-subgids 300000-365535 "$USER_NAME"
fi

echo "==> rootless pass as $USER_NAME (uid $(id -u "$USER_NAME")): copying the tree"
src="$home/src"
rm -rf "$src"
mkdir -p "$src"
tar --exclude=./.venv --exclude=./.git --exclude='__pycache__' -c . | tar -x -C "$src"
chown -R "$USER_NAME:" "$src"

# fuse-overlayfs (one of the rootless storage drivers) needs /dev/fuse, which Debian makes
# 0666; this machine has it 0600: open it for the pass, and put it back after
fuse_mode=$(stat -c %a /dev/fuse 2>/dev/null || true)
[ -n "$fuse_mode" ] && chmod 0666 /dev/fuse
# build RUN steps reach out through slirp4netns, which opens /dev/net/tun: 0666 on stock
# Debian and Ubuntu (udev), 0600 on this machine (no udev): the same for the pass
tun_mode=$(stat -c %a /dev/net/tun 2>/dev/null || true)
[ -n "$tun_mode" ] && chmod 0666 /dev/net/tun

status=0
runuser -u "$USER_NAME" -- env -i HOME="$home" USER="$USER_NAME" LOGNAME="$USER_NAME" \
    PATH=/usr/local/bin:/usr/bin:/bin CI="${CI:-}" SBX_OFFLINE=1 PYTHON=/usr/bin/python3 \
    bash -c 'cd ~/src && ./scripts/setup.sh && .venv/bin/python -m pytest -p no:cacheprovider' \
  || status=$?

# the user's namespace holder (see engine/sbx/rootless/userns.py) ends with the pass
uid=$(id -u "$USER_NAME")
for rec in "/tmp/sbx-run-$uid/userns.json"; do
  if [ -f "$rec" ]; then
    pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$rec" || true)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  fi
done
[ -n "$fuse_mode" ] && chmod "$fuse_mode" /dev/fuse
[ -n "$tun_mode" ] && chmod "$tun_mode" /dev/net/tun
exit $status
