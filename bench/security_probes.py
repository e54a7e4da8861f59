#!/usr/bin/env python3
"""Security probes, side by side: sbx and Docker 20.10 (Debian's docker.io) on this machine.

Each probe is what an attacker inside a container (or a hostile build context, or another
local user) would try, run once under ``sbx`` and once under Docker with the same flags,
and reported as what happened: refused (with the errno) or the escape (in bold).  The
numbers F1-F9 are the findings of issue 10; the other rows are its flags and defaults.

    sudo .venv/bin/python bench/security_probes.py            # the markdown table
    sudo .venv/bin/python bench/security_probes.py F7 F9      # some rows only
    sudo .venv/bin/python bench/security_probes.py --before 3f9be95   # and sbx before issue 10

Needs root, gcc (a static C probe is compiled once), busybox (the ``bb`` image in both
engines: ``../shared/bench/setup.sh`` imports it into Docker from a local rootfs tar, no
registry) and dockerd running.  Docker is called as ``/usr/bin/docker`` (20.10; a 28.x
client may come first on PATH).  sbx uses root's store (/var/lib/sbx), whose ``bb`` image
must exist (``sbx import <busybox rootfs tar> bb:latest``).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import errno
import http.server
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SBX = [str(HERE.parent / ".venv" / "bin" / "sbx")]
DOCKER = ["/usr/bin/docker"]
WORK = Path(os.environ.get("PROBE_WORK", "/var/tmp/security-probes"))
IMAGE = "bb"
EXPORTS = 40

C_PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static long e(long r) { return r < 0 ? errno : 0; }

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "dev")) {            /* dev MAJOR MINOR */
        dev_t d = makedev(atoi(argv[2]), atoi(argv[3]));
        unlink("/tmp/.probe-disk");
        long m = e(mknod("/tmp/.probe-disk", S_IFBLK | 0600, d));
        int fd = open("/tmp/.probe-disk", O_RDONLY);
        long o = fd < 0 ? errno : 0;
        char buf[512]; long n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
        printf("mknod=%ld open=%ld read=%ld\n", m, o, n);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "key")) {             /* key NAME */
        const char *rings[2] = {"session", "user"}; long ids[2] = {-3, -4};
        for (int i = 0; i < 2; i++) {
            long k = syscall(SYS_keyctl, 10 /* SEARCH */, ids[i], "user", argv[2], 0);
            if (k < 0) { printf("%s=%d ", rings[i], errno); continue; }
            char buf[256] = {0};
            long n = syscall(SYS_keyctl, 11 /* READ */, k, buf, sizeof buf - 1);
            if (n < 0) printf("%s=found,read:%d ", rings[i], errno);
            else printf("%s=READ:%s ", rings[i], buf);
        }
        printf("\n");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "calls")) {
        struct perf_event_attr a; memset(&a, 0, sizeof a);
        a.type = PERF_TYPE_SOFTWARE; a.size = sizeof a; a.config = PERF_COUNT_SW_TASK_CLOCK;
        long r = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
        printf("perf_event_open=%ld ", r < 0 ? errno : 0);
        r = syscall(SYS_userfaultfd, 0);
        printf("userfaultfd=%ld ", r < 0 ? errno : 0);
        r = personality(READ_IMPLIES_EXEC);
        printf("personality=%ld ", r < 0 ? errno : 0);
        if (r >= 0) personality(r);
        r = syscall(SYS_add_key, "user", "probe", "x", 1, -2 /* process keyring */);
        printf("add_key=%ld ", r < 0 ? errno : 0);
        printf("\n");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "userns")) {          /* unshare -Urm, then mount */
        long u = e(unshare(CLONE_NEWUSER | CLONE_NEWNS));
        long m = u ? -1 : e(mount("none", "/tmp", "tmpfs", 0, 0));
        printf("unshare=%ld mount=%ld\n", u, m);
        return 0;
    }
    fprintf(stderr, "usage: probe dev MAJ MIN | key NAME | calls | userns\n");
    return 2;
}
"""


# -- the engines ------------------------------------------------------------------------
@dataclass(frozen=True)
class Engine:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None  # extra environment (an older sbx: PYTHONPATH, SBX_ROOT)
    store: Path | None = None

    @property
    def is_sbx(self) -> bool:
        return self.name.startswith("sbx")

    def _env(self) -> dict[str, str] | None:
        return None if self.env is None else {**os.environ, **self.env}

    def run(self, flags: list[str], cmd: list[str], timeout: float = 60,
            wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        full = [*(wrap or []), *self.argv, "run", "--rm", *flags, IMAGE, *cmd]
        r = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=self._env())
        if r.returncode and "failed to create shim task" in r.stderr and "apply caps" not in r.stderr:
            # a start that failed for no reason of the probe's (seen once in a while from
            # dockerd under load here): once more, so the cell reports the probe
            r = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=self._env())
        return r

    def cli(self, *args: str, timeout: float = 120, input: str | None = None,
            wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*(wrap or []), *self.argv, *args], capture_output=True,
                              text=True, timeout=timeout, input=input, env=self._env())


ENGINES = [Engine("sbx", SBX), Engine("Docker 20.10", DOCKER)]


def before_engine(rev: str) -> Engine:
    """sbx as it was at ``rev`` (its ``engine/`` exported from git, run by this venv's
    Python) on a store of its own, made by that version, with ``bb`` copied into it."""
    tree = WORK / f"before-{rev}"
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev, "engine"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    store = WORK / f"before-{rev}-store"
    env = {"PYTHONPATH": str(tree / "engine"), "SBX_ROOT": str(store)}
    e = Engine(f"sbx before ({rev})", [str(HERE.parent / ".venv" / "bin" / "python"), "-m", "sbx"],
               env, store)
    if e.cli("image", "inspect", IMAGE).returncode != 0:
        saved = WORK / "bb-image.tar"
        subprocess.run([*SBX, "save", "-o", str(saved), IMAGE], check=True)
        r = e.cli("load", "-i", str(saved))
        assert r.returncode == 0, r.stderr
    return e


def _errno(value: str) -> str:
    try:
        n = int(value)
    except ValueError:
        return value
    return "ok" if n == 0 else errno.errorcode.get(n, str(n))


def _fields(text: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


def _esc(text: str) -> str:
    return f"**{text}**"


def _short(r: subprocess.CompletedProcess[str]) -> str:
    line = (r.stderr.strip() or r.stdout.strip()).splitlines()
    text = line[-1] if line else f"exit {r.returncode}"
    text = text.replace("docker: Error response from daemon: ", "").replace("sbx: ", "")
    if "unable to apply caps" in r.stderr:
        text = "cannot start here (runc: unable to apply caps; this machine's bounding set is limited)"
    flag = re.search(r"unknown flag: (--[\w-]+)", r.stderr)
    if flag:
        text = f"no `{flag.group(1)}` flag"
    text = re.sub(r"/var/tmp/\S+|/tmp/\S+", "…", text)
    return text[:90].replace("|", "\\|")


# -- shared fixtures (made once) ----------------------------------------------------------
class Fixtures:
    def __init__(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        os.chmod(WORK, 0o755)
        self.bin = WORK / "bin"
        self.bin.mkdir(exist_ok=True)
        os.chmod(self.bin, 0o755)
        src = WORK / "probe.c"
        src.write_text(C_PROBE)
        out = self.bin / "probe"
        subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(src)], check=True)
        self.mount = ["-v", f"{self.bin}:/probe:ro"]
        self.disk = _host_block_device()
        self.secret_dir = Path(tempfile.mkdtemp(prefix="secret-", dir=WORK))  # 0700
        self.token = "HOSTSECRET" + secrets.token_hex(8)
        self.secret = self.secret_dir / "secret"
        self.secret.write_text(self.token.ljust(63, "x") + "\n")
        os.chmod(self.secret, 0o600)


def _host_block_device() -> tuple[int, int]:
    """The root disk if host root can open it, else the first block device that opens
    (this VM refuses even host root on its root disk: a refusal in the container must be
    the engine's policy, not the host's)."""
    st = os.stat(_root_disk())
    candidates = [(os.major(st.st_rdev), os.minor(st.st_rdev))]
    candidates += sorted(tuple(int(x) for x in p.name.split(":"))  # type: ignore[misc]
                         for p in Path("/sys/dev/block").iterdir())
    for major, minor in candidates:
        node = WORK / f".blk{major}_{minor}"
        node.unlink(missing_ok=True)
        os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
        try:
            os.close(os.open(node, os.O_RDONLY))
            return major, minor
        except OSError:
            continue
        finally:
            node.unlink()
    return candidates[0]


def _root_disk() -> str:
    src = subprocess.run(["findmnt", "-no", "SOURCE", "/"], capture_output=True, text=True).stdout.strip()
    return src.split("[")[0] if src.startswith("/dev/") else "/dev/vda"


# -- the probes ---------------------------------------------------------------------------
ProbeFn = Callable[[Engine, Fixtures], str]


@dataclass(frozen=True)
class Probe:
    key: str
    title: str
    fn: ProbeFn
    only: str = ""  # run under this engine only ("sbx"); the other gets ``na``
    na: str = ""


def _device(e: Engine, fx: Fixtures, wrap: list[str] | None = None, flags: list[str] | None = None) -> str:
    r = e.run([*fx.mount, *(flags or [])], ["/probe/probe", "dev", *map(str, fx.disk)], wrap=wrap)
    f = _fields(r.stdout)
    if not f:
        return _short(r)
    dev = "{}:{}".format(*fx.disk)
    if f.get("open") == "0":
        return _esc(f"{dev} opened, read {f.get('read')} bytes")
    return f"{dev}: mknod {_errno(f['mknod'])}, open {_errno(f['open'])}"


def p_device(e: Engine, fx: Fixtures) -> str:
    return _device(e, fx)


_V2_WRAP = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"', "sh"]


def p_device_v2(e: Engine, fx: Fixtures) -> str:
    return _device(e, fx, wrap=_V2_WRAP)


def p_cgroup_procs(e: Engine, fx: Fixtures) -> str:
    r = e.run(["--network", "host"], ["sh", "-c",
              "echo $$ > /sys/fs/cgroup/devices/cgroup.procs && echo MOVED; "
              "touch /sys/fs/cgroup/devices/x 2>/dev/null && echo WROTE; true"])
    if "MOVED" in r.stdout:
        return _esc("moved itself to the root devices cgroup")
    return "refused: " + _short(r).split(":")[-1].strip()


def p_cgroup_view(e: Engine, fx: Fixtures) -> str:
    r = e.run(["-m", "64m"], ["sh", "-c",
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
              "cat /sys/fs/cgroup/memory.max 2>/dev/null || echo none; head -1 /proc/self/cgroup"])
    lines = r.stdout.split()
    limit = lines[0] if lines else "?"
    own = "64 MiB" if limit in ("67108864",) else limit
    cg = lines[1] if len(lines) > 1 else "?"
    path = cg.split(":", 2)[-1]
    return f"limit seen: {own}; /proc/self/cgroup: `{path[:30]}`"


def p_sysfs(e: Engine, fx: Fixtures) -> str:
    r = e.run(["--network", "host"], ["sh", "-c",
              "grep ' /sys ' /proc/mounts | head -1; "
              "grep ' /sys/' /proc/mounts | grep -v '^tmpfs' | grep -c ' rw,'"])
    out = r.stdout.split("\n")
    first = out[0].split()
    if len(first) < 4:
        return _short(r)
    rw = out[1] if len(out) > 1 else "?"
    text = f"{rw} read-write sysfs/cgroup mounts below"
    return f"/sys {first[2]} {first[3].split(',')[0]}, " + (_esc(text) if rw not in ("0", "?") else text)


class _Server:
    def __init__(self, token: str) -> None:
        body = token.encode()

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def p_build_loopback(e: Engine, fx: Fixtures) -> str:
    srv = _Server(fx.token)
    try:
        ctx = Path(tempfile.mkdtemp(prefix="ctx-", dir=WORK))
        (ctx / "Dockerfile").write_text(
            f"FROM {IMAGE}\nRUN printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 {srv.port} 2>&1; "
            f"echo probe-{secrets.token_hex(4)}\n")
        r = e.cli("build", "--no-cache", str(ctx), timeout=180)
        shutil.rmtree(ctx, ignore_errors=True)
    finally:
        srv.close()
    if fx.token in r.stdout + r.stderr:
        return _esc("read the host-only page")
    m = re.search(r"nc: (.*)", r.stdout + r.stderr)
    return "refused: " + (m.group(1).strip()[:60] if m else _short(r))


def p_userns(e: Engine, fx: Fixtures) -> str:
    r = e.run(fx.mount, ["/probe/probe", "userns"])
    f = _fields(r.stdout)
    if not f:
        return _short(r)
    if f["unshare"] == "0":
        return _esc(f"new user namespace; mount {_errno(f['mount'])}")
    return f"unshare {_errno(f['unshare'])}"


def p_calls(e: Engine, fx: Fixtures) -> str:
    r = e.run(fx.mount, ["/probe/probe", "calls"])
    f = _fields(r.stdout)
    if not f:
        return _short(r)
    parts = []
    for k, v in f.items():
        s = f"{k} {_errno(v)}"
        parts.append(_esc(s) if v == "0" else s)
    return ", ".join(parts)


def _host_key(name: str, payload: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": 248, "aarch64": 217}[os.uname().machine]
    libc.syscall.restype = ctypes.c_long
    for ring in (-3, -4):  # session, user
        libc.syscall(nr, b"user", name.encode(), payload.encode(), len(payload), ring)


def p_keyring(e: Engine, fx: Fixtures, flags: list[str] | None = None) -> str:
    name = "probe-" + secrets.token_hex(4)
    _host_key(name, fx.token)
    r = e.run([*fx.mount, *(flags or [])], ["/probe/probe", "key", name])
    f = _fields(r.stdout)
    if not f:
        return _short(r)
    out = []
    for ring in ("session", "user"):
        v = f.get(ring, "?")
        if v.startswith("READ:"):
            out.append(_esc(f"{ring}: read the host's key"))
        elif v.startswith("found,read:"):
            out.append(f"{ring}: found, read {_errno(v.split(':')[1])}")
        else:
            out.append(f"{ring}: {_errno(v) if v.isdigit() else v}")
    return ", ".join(out)


def p_keyring_unconfined(e: Engine, fx: Fixtures) -> str:
    return p_keyring(e, fx, ["--security-opt", "seccomp=unconfined"])


def _status(e: Engine, flags: list[str], field: str, pid: str = "self") -> str:
    r = e.run(flags, ["sh", "-c", f"grep '^{field}:' /proc/{pid}/status"])
    m = re.search(rf"{field}:\s*(\S+)", r.stdout)
    return m.group(1) if m else _short(r)


def p_init_caps(e: Engine, fx: Fixtures) -> str:
    r = e.run(["--init"], ["sh", "-c", "grep '^CapEff' /proc/1/status; cat /proc/1/cmdline | tr '\\0' ' '"])
    m = re.search(r"CapEff:\s*(\S+)", r.stdout)
    if not m:
        return _short(r)
    capeff = m.group(1)
    cmd = r.stdout.splitlines()[-1].split()[0] if r.stdout.splitlines() else "?"
    text = f"`{cmd}` CapEff {capeff}"
    return _esc(text) if int(capeff, 16) & ~0xA80425FB else text


def p_nnp(e: Engine, fx: Fixtures) -> str:
    return f"{_status(e, [], 'NoNewPrivs')} (`--security-opt no-new-privileges`: " \
           f"{_status(e, ['--security-opt', 'no-new-privileges'], 'NoNewPrivs')})"


def p_seccomp(e: Engine, fx: Fixtures) -> str:
    return f"{_status(e, [], 'Seccomp')} (unconfined: " \
           f"{_status(e, ['--security-opt', 'seccomp=unconfined'], 'Seccomp')}, --privileged: " \
           f"{_status(e, ['--privileged'], 'Seccomp')})"


def p_caps(e: Engine, fx: Fixtures) -> str:
    return _status(e, [], "CapEff")


def p_masked(e: Engine, fx: Fixtures) -> str:
    r = e.run([], ["sh", "-c", "wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname && echo W; "
                   "mount -t tmpfs none /mnt 2>/dev/null && echo M; true"])
    out = r.stdout.split()
    masked = out[0] if out else "?"
    return f"/proc/timer_list {masked} bytes; /proc/sys write {'**ok**' if 'W' in out else 'refused'}; " \
           f"mount {'**ok**' if 'M' in out else 'refused'}"


def p_export_race(e: Engine, fx: Fixtures) -> str:
    plain = "p" * 63
    loop = (f"dd if=/dev/zero of=/tmp/a.big bs=1M count=8 2>/dev/null; while :; do for n in 1 2 3 4; do "
            f"rm -f /tmp/x$n; echo {plain} > /tmp/x$n; ln -sf {fx.secret} /tmp/x$n; done; done")
    r = e.cli("run", "-d", IMAGE, "sh", "-c", loop)
    cid = r.stdout.strip()
    if r.returncode != 0 or not cid:
        return _short(r)
    leaks = fails = 0
    out = WORK / "export.tar"
    try:
        for _ in range(EXPORTS):
            x = e.cli("export", "-o", str(out), cid)
            if x.returncode != 0:
                fails += 1
            elif fx.token.encode() in out.read_bytes():
                leaks += 1
            out.unlink(missing_ok=True)
    finally:
        e.cli("rm", "-f", cid)
    text = f"{leaks} of {EXPORTS} exports hold the host file"
    if fails:
        text += f", {fails} failed"
    return _esc(text) if leaks else text


def p_dockerfile_link(e: Engine, fx: Fixtures) -> str:
    ctx = Path(tempfile.mkdtemp(prefix="ctx-", dir=WORK))
    try:
        (ctx / "Dockerfile").symlink_to(fx.secret)
        r = e.cli("build", str(ctx))
        if fx.token in r.stdout + r.stderr:
            return _esc("the host file's first line is in the error")
        return f"refused: `{_short(r)[:70]}`"
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


def p_copy_link(e: Engine, fx: Fixtures) -> str:
    ctx = Path(tempfile.mkdtemp(prefix="ctx-", dir=WORK))
    try:
        (ctx / "top").symlink_to(fx.secret)
        (ctx / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY top /x\nRUN cat /x\n")
        r = e.cli("build", "--no-cache", str(ctx))
        if fx.token in r.stdout + r.stderr:
            return _esc("copied the host file")
        return "refused (not found in the context)" if r.returncode else "built without it"
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def p_store(e: Engine, fx: Fixtures) -> str:
    root = (e.store or Path("/var/lib/sbx")) if e.is_sbx else Path("/var/lib/docker")
    if e.is_sbx:
        e.cli("images")  # opening the store gives it its modes
    mode = stat.S_IMODE(root.stat().st_mode)
    blobs = root / "blobs" / "sha256" if e.is_sbx else \
        root / "image" / "overlay2" / "imagedb" / "content" / "sha256"  # image configs
    target = next(iter(sorted(blobs.iterdir())), None)
    r = subprocess.run([*_NOBODY, "cat", str(target)], capture_output=True, text=True) if target else None
    read = "?" if r is None else ("refused" if r.returncode else _esc("read it"))
    lock = root / "locks" / "store.lock" if e.is_sbx else None
    extra = ""
    if lock is not None and lock.exists():
        lr = subprocess.run([*_NOBODY, "flock", "-s", "-n", str(lock), "true"], capture_output=True, text=True)
        extra = f"; nobody flocks store.lock: {'refused' if lr.returncode else _esc('held')}"
    what = "a blob" if e.is_sbx else "an image config"
    return f"{root} {mode:04o}; nobody reads {what}: {read}{extra}"


def p_sysctl(e: Engine, fx: Fixtures) -> str:
    bad = e.run(["--sysctl", "vm.swappiness=10"], ["true"])
    if "unknown flag" in bad.stderr:
        return _short(bad)
    good = e.run(["--sysctl", "net.ipv4.ip_forward=1"], ["cat", "/proc/sys/net/ipv4/ip_forward"])
    host = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    b = "refused" if bad.returncode else _esc("accepted")
    g = good.stdout.strip() if good.returncode == 0 else _short(good)
    return f"vm.swappiness: {b}; net.ipv4.ip_forward=1 inside: {g} (host stays {host})"


def p_device_flag(e: Engine, fx: Fixtures) -> str:
    r = e.run(["--device", "/dev/zero:/dev/z"], ["sh", "-c", "head -c 3 /dev/z | wc -c"])
    return f"read {r.stdout.strip()} bytes" if r.returncode == 0 else _short(r)


def p_pid_host(e: Engine, fx: Fixtures) -> str:
    r = e.run(["--pid", "host"], ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' ' | cut -c1-30"])
    return f"pid 1 is the host's (`{r.stdout.strip()}`)" if r.returncode == 0 else _short(r)


def p_cgroupns(e: Engine, fx: Fixtures) -> str:
    out = []
    for mode in ("private", "host"):
        r = e.run(["--cgroupns", mode], ["sh", "-c", "grep memory /proc/self/cgroup"])
        path = r.stdout.strip().split(":", 2)[-1] if r.returncode == 0 else _short(r)
        out.append(f"{mode}: `{path[:24]}`")
    return ", ".join(out)


def p_userns_auto(e: Engine, fx: Fixtures) -> str:
    r = e.run(["--userns=auto"], ["cat", "/proc/self/uid_map"])
    if r.returncode != 0:
        return _short(r)
    inside, outside, n = r.stdout.split()[:3]
    return f"container root is host uid {outside} ({n} ids)"


PROBES = [
    Probe("F1", "mknod + open of a host block device host root can open (cgroup v1 host)", p_device),
    Probe("F1", "same, sbx picking its cgroup v2 manager (cgroup2 over /sys/fs/cgroup, private mount ns)",
          p_device_v2, only="sbx", na="n/a (dockerd runs on the v1 hierarchies here)"),
    Probe("F2", "`--network host`: write /sys/fs/cgroup/devices/cgroup.procs", p_cgroup_procs),
    Probe("F2", "`--network host`: /sys and what is writable below it", p_sysfs),
    Probe("F2", "`-m 64m`: the container's own cgroup at /sys/fs/cgroup", p_cgroup_view),
    Probe("F3", "build `RUN nc 127.0.0.1 PORT` of a host-only page", p_build_loopback),
    Probe("F4", "`unshare -Urm` and mount in the new namespace", p_userns),
    Probe("F4", "perf_event_open, userfaultfd, personality(READ_IMPLIES_EXEC), add_key", p_calls),
    Probe("F5", "keyctl search+read of a key the host added (session, uid 0's user keyring)", p_keyring),
    Probe("F5", "same with `--security-opt seccomp=unconfined`", p_keyring_unconfined),
    Probe("F6", "`--init`: pid 1 and its CapEff", p_init_caps),
    Probe("F7", f"`export` of a running container planting symlinks to a 0600 host file ({EXPORTS} exports)",
          p_export_race),
    Probe("F8", "`build` of a context whose Dockerfile links to a 0600 host file", p_dockerfile_link),
    Probe("F8", "`COPY top` where `top` links to a host file", p_copy_link),
    Probe("F9", "store directory mode; another user (nobody) reads / flocks", p_store),
    Probe("", "`--sysctl` (not namespaced / namespaced)", p_sysctl),
    Probe("", "`--device /dev/zero:/dev/z`", p_device_flag),
    Probe("", "`--pid host`", p_pid_host),
    Probe("", "`--cgroupns` private / host (memory line of /proc/self/cgroup)", p_cgroupns),
    Probe("", "`--userns=auto` (Docker: only a daemon-wide `userns-remap`)", p_userns_auto, only="sbx",
          na="n/a (no per-container ranges)"),
    Probe("", "CapEff (default)", p_caps),
    Probe("", "NoNewPrivs", p_nnp),
    Probe("", "Seccomp mode (2 = filter)", p_seccomp),
    Probe("", "masked /proc/timer_list, /proc/sys write, mount", p_masked),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", help="probe keys to run (F1 ... F9); default all")
    ap.add_argument("--before", metavar="REV",
                    help="add a first column: sbx as it was at git revision REV")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 2
    os.environ.setdefault("SBX_OFFLINE", "1")
    os.environ.pop("SBX_ROOT", None)
    os.environ.pop("DOCKER_BUILDKIT", None)
    fx = Fixtures()
    engines = ([before_engine(args.before)] if args.before else []) + ENGINES
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    try:
        for p in PROBES:
            if args.only and p.key not in args.only:
                continue
            cells = []
            for e in engines:
                if p.only and not (p.only == "sbx" and e.is_sbx):
                    cells.append(p.na or "n/a")
                    continue
                try:
                    cells.append(p.fn(e, fx))
                except subprocess.TimeoutExpired:
                    cells.append(_esc("timed out"))
                except Exception as err:  # noqa: BLE001 - a broken probe is a cell, not a crash
                    cells.append(f"probe error: {type(err).__name__}: {str(err)[:60]}")
            row = f"| {p.key + ' ' if p.key else ''}{p.title} | " + " | ".join(cells) + " |"
            print(row, file=sys.stderr, flush=True)
            rows.append(row)
    finally:
        shutil.rmtree(fx.secret_dir, ignore_errors=True)
    docker_v = subprocess.run([*DOCKER, "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True).stdout.strip()
    print(f"Measured {started:%Y-%m-%d %H:%M} UTC on {os.uname().nodename} "
          f"(kernel {os.uname().release}, cgroup v1 hybrid; Docker {docker_v} with runc, "
          f"classic builder; sbx {_sbx_version()}). Bold: the escape worked.\n")
    print("| probe | " + " | ".join(e.name for e in engines) + " |")
    print("|---" * (len(engines) + 1) + "|")
    for row in rows:
        print(row)
    return 0


def _sbx_version() -> str:
    r = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    return f"at {r.stdout.strip()}" if r.returncode == 0 else ""


if __name__ == "__main__":
    sys.exit(main())
