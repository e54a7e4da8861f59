"""``--userns=auto`` in root mode: each container gets its own range of host ids, so its
root is not the host's root (podman's ``--userns=auto``; Docker has only the daemon-wide
``userns-remap``).

- **The flag** (:func:`parse`): ``host`` (the default, also "") or ``auto`` /
  ``auto:size=N`` (N ids, default 65536).
- **The pool** (:func:`pool`): the ``containers`` entries of ``/etc/subuid`` and
  ``/etc/subgid`` when present (as podman), else sbx's default pool, host ids
  2^31 .. 2^31+2^30 (16384 ranges of 65536): above every range ``useradd`` hands out
  (SUB_UID_MAX is 600100000) and systemd-nspawn's ``--private-users=pick`` range (which ends
  at 1879048191); any range /etc/subuid gives to someone else is taken out of it.
- **Allocation** (:func:`allocate`, :func:`release`): under ``/var/lib/sbx/userns-auto.lock``,
  first fit against the ranges recorded in ``/var/lib/sbx/userns-auto.json``, one entry per
  container of every store on the machine (a private ``SBX_ROOT`` store's containers must
  not share ids with root's); an entry whose container is gone (a crash between
  allocation and ``rm``, a store deleted by hand) is dropped at the next allocation.  The map is also in the container's ``config.json``
  (``ContainerSpec.uid_map``/``gid_map``), which ``inspect`` shows and the runtime uses.
- **The namespace** (:func:`create_namespace`): the monitor forks a helper that unshares
  CLONE_NEWUSER, writes its maps itself (root: no newuidmap), and, for the container's own
  network, a network namespace the new user namespace owns (binding ports below 1024, ping
  and the like are capabilities over the network namespace).  The rest of the ladder is in
  ``runtime/init.py`` and ``runtime/rootfs.py``.

Id maps are the same ``(inside, outside, count)`` lines as rootless mode's
(:class:`sbx.rootless.idmap.IdMap`, :func:`sbx.rootless.idmap.parse_ranges`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sbx.errors import InvalidArgument, SbxError
from sbx.rootless import idmap

DEFAULT_SIZE = 65536
DEFAULT_POOL = (2**31, 2**30)     # (start, count)
POOL_USER = "containers"          # podman's name in /etc/subuid, /etc/subgid
STALE_SECONDS = 600               # an entry without its container, older than this, is gone
REGISTRY_DIR = Path("/var/lib/sbx")   # machine-wide, whatever store a command uses

Line = tuple[int, int, int]


@dataclass(frozen=True)
class UsernsMode:
    """``--userns`` as given: ``mode`` "" (host) or "auto"; ``size`` ids for auto."""

    mode: str = ""
    size: int = 0

    @property
    def auto(self) -> bool:
        return self.mode == "auto"

    def shown(self) -> str:
        """HostConfig.UsernsMode as podman shows it."""
        if not self.auto:
            return ""
        return "auto" if self.size == DEFAULT_SIZE else f"auto:size={self.size}"


def parse(value: str) -> UsernsMode:
    """``--userns``: "", ``host``, ``auto``, ``auto:size=N``."""
    v = (value or "").strip()
    if v in ("", "host"):
        return UsernsMode()
    if v == "auto" or v.startswith("auto:"):
        size = DEFAULT_SIZE
        for opt in filter(None, v[len("auto:"):].split(",")) if ":" in v else ():
            key, _, val = opt.partition("=")
            if key != "size" or not val.isdigit() or not 0 < int(val) <= DEFAULT_POOL[1]:
                raise InvalidArgument(f"invalid --userns option {opt!r}",
                                      hint="use auto or auto:size=N (N ids, 1 or more)")
            size = int(val)
        return UsernsMode("auto", size)
    raise InvalidArgument(f"invalid --userns value {value!r}",
                          hint="use host (the default), auto or auto:size=N")


# -- the pool --------------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _others(text: str) -> list[tuple[int, int]]:
    """Every range in subuid/subgid text that is not the pool's own."""
    out = []
    for raw in text.splitlines():
        parts = raw.strip().split(":")
        if len(parts) == 3 and parts[0] != POOL_USER and not parts[0].startswith("#"):
            try:
                out.append((int(parts[1]), int(parts[2])))
            except ValueError:
                continue
    return out


def _subtract(ranges: list[tuple[int, int]], taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` (start, count) minus ``taken``, in order."""
    out: list[tuple[int, int]] = []
    for start, count in ranges:
        pieces = [(start, start + count)]
        for ts, tc in taken:
            nxt = []
            for a, b in pieces:
                lo, hi = max(a, ts), min(b, ts + tc)
                if lo >= hi:
                    nxt.append((a, b))
                    continue
                if a < lo:
                    nxt.append((a, lo))
                if hi < b:
                    nxt.append((hi, b))
            pieces = nxt
        out.extend((a, b - a) for a, b in pieces)
    return out


def pool(subuid_text: str, subgid_text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]], str]:
    """(uid pool, gid pool, where from): the ``containers`` entries, else the default."""
    uids = idmap.parse_ranges(subuid_text, POOL_USER, -1)
    gids = idmap.parse_ranges(subgid_text, POOL_USER, -1)
    if uids and gids:
        return uids, gids, f"{idmap.SUBUID}, {idmap.SUBGID} ({POOL_USER})"
    return (_subtract([DEFAULT_POOL], _others(subuid_text)),
            _subtract([DEFAULT_POOL], _others(subgid_text)),
            f"sbx's default pool {DEFAULT_POOL[0]}-{DEFAULT_POOL[0] + DEFAULT_POOL[1] - 1}")


def first_fit(free: list[tuple[int, int]], taken: list[tuple[int, int]], size: int) -> int | None:
    """The lowest start of ``size`` ids in ``free`` that overlaps nothing in ``taken``."""
    for start, count in _subtract(free, sorted(taken)):
        if count >= size:
            return start
    return None


# -- allocation ------------------------------------------------------------------------

def _registry(reg: Path) -> Path:
    return reg / "userns-auto.json"


def _lock(reg: Path) -> Path:
    return reg / "userns-auto.lock"


def _load(root: Path) -> dict[str, dict]:
    from sbx import atomic

    try:
        data = atomic.read_json(_registry(root))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(root: Path, data: dict[str, dict]) -> None:
    from sbx import atomic

    atomic.write_json(_registry(root), data)


def _live(cid: str, entry: dict, now: float) -> bool:
    if Path(str(entry.get("root", "")), "containers", cid, "config.json").exists():
        return True
    return now - float(entry.get("t", 0)) < STALE_SECONDS   # a create still under way


def maps(entry: dict) -> tuple[tuple[Line, ...], tuple[Line, ...]]:
    (us, un), (gs, gn) = entry["uid"], entry["gid"]
    return ((0, int(us), int(un)),), ((0, int(gs), int(gn)),)


def allocate(root: Path, cid: str, size: int, *, subuid: str = idmap.SUBUID,
             subgid: str = idmap.SUBGID, reg: Path = REGISTRY_DIR,
             ) -> tuple[tuple[Line, ...], tuple[Line, ...]]:
    """Reserve ``size`` uids and gids for container ``cid`` of the store ``root`` (its maps)."""
    from sbx.locks import flocked

    upool, gpool, where = pool(_read(subuid), _read(subgid))
    if not reg.is_dir():
        reg.mkdir(parents=True, mode=0o710)
    with flocked(_lock(reg)):
        now = time.time()
        data = {k: v for k, v in _load(reg).items() if _live(k, v, now)}
        taken_u = [(int(v["uid"][0]), int(v["uid"][1])) for v in data.values()]
        taken_g = [(int(v["gid"][0]), int(v["gid"][1])) for v in data.values()]
        us, gs = first_fit(upool, taken_u, size), first_fit(gpool, taken_g, size)
        if us is None or gs is None:
            raise SbxError(f"--userns=auto: no free range of {size} ids left in {where} "
                           f"({len(data)} containers hold one)",
                           hint="remove containers (sbx rm), ask for fewer ids "
                                "(--userns=auto:size=N), or give the containers entry of "
                                "/etc/subuid and /etc/subgid a larger range")
        data[cid] = {"uid": [us, size], "gid": [gs, size], "t": now, "root": str(root)}
        _save(reg, data)
    return maps(data[cid])


def release(cid: str, *, reg: Path = REGISTRY_DIR) -> None:
    """Give the container's range back (``rm``); a no-op when it holds none."""
    from sbx.locks import flocked

    if not _registry(reg).exists():
        return
    with flocked(_lock(reg)):
        data = _load(reg)
        if data.pop(cid, None) is not None:
            _save(reg, data)


def held(*, reg: Path = REGISTRY_DIR) -> dict[str, tuple[tuple[Line, ...], tuple[Line, ...]]]:
    """The ranges held now, by container id."""
    return {k: maps(v) for k, v in _load(reg).items()}


def check_mode(mode: UsernsMode) -> None:
    """``auto`` is root mode's: a rootless container already runs in the user's
    namespace, with only the user's 65536 subordinate ids to share."""
    if mode.auto and idmap.current().rootless:
        raise InvalidArgument("--userns=auto needs root mode (in rootless mode every "
                              "container already runs in your user namespace, where "
                              "container root is you)",
                              hint="drop --userns, or run sbx as root")


# -- the namespace (in the monitor) ----------------------------------------------------

def create_namespace(uid_map: tuple[Line, ...], gid_map: tuple[Line, ...], *,
                     with_net: bool) -> tuple[int, int]:
    """A new user namespace with these maps, and (``with_net``) a network namespace it
    owns: (user ns fd, net ns fd or -1), both close-on-exec.  Made by a short-lived fork
    (a process that unshares a user namespace loses its powers outside it; the monitor
    must keep them for the cgroup and the mounts)::

        monitor (host root)                 helper (a fork)
        fork ─────────────────────────────► unshare(CLONE_NEWUSER); write "u"
        write /proc/H/uid_map, gid_map
        write "m" ────────────────────────► (with_net) unshare(CLONE_NEWNET); write "n"
        open /proc/H/ns/user (and net)
        close the pipe ───────────────────► exit
    """
    from sbx.linux import proc, syscalls
    from sbx.linux.consts import CLONE_NEWNET, CLONE_NEWUSER

    up_r, up_w = os.pipe()
    down_r, down_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            proc.forked_child()
            os.close(up_r)
            os.close(down_w)
            syscalls.unshare(CLONE_NEWUSER)
            os.write(up_w, b"u")
            if os.read(down_r, 1) == b"m":
                if with_net:
                    syscalls.unshare(CLONE_NEWNET)
                os.write(up_w, b"n")
                os.read(down_r, 1)   # EOF: the monitor holds what it needs
                code = 0
        finally:
            os._exit(code)
    os.close(up_w)
    os.close(down_r)
    user_fd = net_fd = -1
    try:
        if os.read(up_r, 1) != b"u":
            raise SbxError("--userns=auto: the helper could not create a user namespace")
        for name, lines in (("uid_map", uid_map), ("gid_map", gid_map)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(idmap.IdMap.proc_text(lines))
        os.write(down_w, b"m")
        if os.read(up_r, 1) != b"n":
            raise SbxError("--userns=auto: the helper could not create the network namespace")
        user_fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        if with_net:
            net_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException as e:
        for fd in (user_fd, net_fd):
            if fd >= 0:
                os.close(fd)
        if isinstance(e, OSError):
            raise SbxError(f"--userns=auto: setting up the user namespace: {e.filename or ''}: "
                           f"{e.strerror}", hint="check that user namespaces are enabled "
                           "(user.max_user_namespaces)") from None
        raise
    finally:
        os.close(down_w)
        os.close(up_r)
        os.waitpid(pid, 0)
    return user_fd, net_fd


def root_ids(uid_map: tuple[Line, ...], gid_map: tuple[Line, ...]) -> tuple[int, int]:
    """The host uid and gid of the container's root."""
    return idmap.host_id(uid_map, 0), idmap.host_id(gid_map, 0)


def inside_id(lines: tuple[Line, ...], host: int) -> int:
    """The container's id for host id ``host`` (unchanged outside the map: the image's
    layers are not shifted)."""
    for inside, outside, count in lines:
        if outside <= host < outside + count:
            return inside + host - outside
    return host


def host_id_of(lines: tuple[Line, ...], inside: int) -> int:
    """The host id of the container's id ``inside`` (unchanged when outside the map)."""
    for a, b, n in lines:
        if a <= inside < a + n:
            return b + inside - a
    return inside
