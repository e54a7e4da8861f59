"""A fork server for callers that have threads (a pytest process under xdist, a plugin
with a watchdog thread...).

Forking a multi-threaded process and then unsharing namespaces is unsafe (locks held by
other threads, and ``unshare(CLONE_NEWUSER)`` refuses outright).  So when the caller has
more than one thread, the launch ladder's first fork happens in this helper instead: a
fresh, single-threaded interpreter started once per caller process, which loads the
runtime, then for each request receives the monitor's job (JSON) and its file
descriptors (SCM_RIGHTS) over a socketpair, does the intermediate fork exactly as the
launcher would, and answers ``ok``.  Everything after that (the monitor, its report on
the status pipe) is unchanged, so the caller reads the same messages either way.

    caller (threaded)                     fork server (single-threaded)
    socketpair + Popen(helper) ─────────► import runtime; wait
    sendmsg(job JSON, [status_w, pty, out, err, in]) ─► intermediate fork -> monitor
                                          waitpid(intermediate)
    recv "ok" ◄────────────────────────── close its copies of the fds
    read status pipe (started / error) ◄── (from the monitor, as without the server)

The server exits when its socket closes (its caller exited)."""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sbx.errors import ContainerSetupError

_MAX_FDS = 16


class ForkServer:
    """The caller's side; one per process, started on first use."""

    _instance: ForkServer | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner = os.getpid()

    @classmethod
    def get(cls) -> ForkServer:
        with cls._guard:
            if cls._instance is None or cls._instance.owner != os.getpid():
                cls._instance = cls()
            return cls._instance

    def _ensure(self) -> socket.socket:
        if self.sock is not None and self.proc is not None and self.proc.poll() is None:
            return self.sock
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        from sbx import fresh

        self.proc = subprocess.Popen(
            fresh.argv("sbx.runtime.forkserver:serve", str(theirs.fileno())),
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, close_fds=True)
        theirs.close()
        self.sock = ours
        return ours

    def _request(self, payload: bytes, fds: list[int]) -> None:
        """Send one request (JSON and file descriptors); raise unless the answer is ``ok``."""
        with self.lock:
            sock = self._ensure()
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            sock.sendmsg([payload], anc)
            answer = sock.recv(65536)
        if answer != b"ok":
            raise ContainerSetupError("fork server", 0, "",
                                      answer.decode(errors="replace") or "the fork server exited")

    def spawn(self, job: Any, root: str, runroot: str) -> None:
        """Have the server fork the intermediate (and so the monitor) for ``job``."""
        fds = [job.status_fd, job.resize_fd]
        if job.attached:
            fds += [job.output_fds[0], job.output_fds[1], 0]
        payload = json.dumps({
            "root": root, "runroot": runroot, "attached": job.attached,
            "join_netns": job.join_netns, "record": _record_json(job.record),
            "plan": asdict(job.plan), "fd_used": [fd >= 0 for fd in fds],
        }).encode()
        self._request(payload, [fd for fd in fds if fd >= 0])


    def call(self, payload: bytes, out_w: int, res_w: int) -> None:
        """(rootless) Have the server fork a worker for ``sbx.rootless.calls``; it reports
        on ``out_w`` and ``res_w``."""
        import base64

        data = json.dumps({"op": "call", "payload": base64.b64encode(payload).decode()}).encode()
        self._request(data, [out_w, res_w])

    def remove_trees(self, paths: list[str]) -> None:
        """(rootless) Have the server delete trees inside the user's namespace."""
        self._request(json.dumps({"op": "rm", "paths": paths}).encode(), [])

    def exec_joiner(self, ns_fds: list[tuple[str, int]], procs_files: list[Any], err_w: int,
                    tty_sock: Any, pipes: dict[str, tuple[int, int]], status_w: int,
                    job: dict[str, Any]) -> None:
        """Have the server run ``execute._joiner`` (setns + fork + exec) for ``sbx exec``;
        the joiner reports the command's exit code on ``status_w``."""
        fds = [fd for _, fd in ns_fds] + [err_w, status_w]
        std = {"in": pipes["in"][0]} if "in" in pipes else {}
        if "out" in pipes:
            std["out"], std["err"] = pipes["out"][1], pipes["err"][1]
        names = sorted(std)
        fds += [std[n] for n in names]
        if tty_sock is not None:
            fds.append(tty_sock.fileno())
        payload = json.dumps({
            "op": "exec", "ns": [ns for ns, _ in ns_fds], "procs": [str(p) for p in procs_files],
            "std": names, "tty": tty_sock is not None, **job}).encode()
        self._request(payload, fds)


def _serve_exec(req: dict[str, Any], received: list[int], sock: socket.socket) -> None:
    """Fork the joiner of an exec (double fork: the server reaps at once, the joiner
    reports the command's exit code on its status pipe)."""
    from sbx.runtime import execute
    from sbx.runtime.spec import ContainerSpec

    n = len(req["ns"])
    ns_fds = list(zip(req["ns"], received[:n], strict=True))
    err_w, status_w = received[n], received[n + 1]
    std = dict(zip(req["std"], received[n + 2:n + 2 + len(req["std"])], strict=True))
    tty = socket.socket(fileno=received[-1]) if req["tty"] else None
    raw = dict(req["es"])
    raw["argv"], raw["env"] = tuple(raw["argv"]), tuple(raw["env"])
    es = execute.ExecSpec(**raw)
    spec = ContainerSpec.from_json(req["spec"])
    def joiner() -> None:
        for name, fd in std.items():
            os.dup2(fd, {"in": 0, "out": 1, "err": 2}[name])
        execute._joiner(ns_fds, req["procs"], err_w, tty, es, req["env"], req["workdir"],
                        req["user"], spec, status_w, cid=req.get("cid", ""),
                        seccomp_path=req.get("seccomp", ""))

    _double_fork(sock, joiner)
    if tty is not None:
        tty.detach()


def _serve_call(req: dict[str, Any], received: list[int], sock: socket.socket) -> None:
    """(rootless) A worker of ``sbx.rootless.calls`` (double fork: the server reaps the
    intermediate at once; the worker reports on its pipes)."""
    import base64

    from sbx.rootless import calls

    payload = base64.b64decode(req["payload"])
    _double_fork(sock, lambda: calls.worker(payload, received[0], received[1]))


def _double_fork(sock: socket.socket, work: Any) -> None:
    """Run ``work`` (which never returns) in a grandchild; the intermediate is reaped at
    once, so the server never waits for the work and never collects zombies."""
    pid = os.fork()
    if pid == 0:
        try:
            sock.close()
            if os.fork() == 0:
                work()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _serve_remove(req: dict[str, Any]) -> None:
    """(rootless) Delete trees from a fork that joins the user's namespace."""
    from sbx.rootless import userns

    userns.remove_trees([Path(p) for p in req["paths"]])


def _record_json(rec: Any) -> dict[str, Any]:
    return {"id": rec.id, "name": rec.name, "created": rec.created,
            "spec": rec.spec.to_json(), "state": rec.state.to_json()}


def serve(fd: int | str) -> None:
    """The server's loop (a fresh interpreter, single-threaded): one request at a time,
    ``launch`` (a container's monitor) or ``exec`` (an exec's joiner)."""
    from sbx.cgroups import detect_mode

    sock = socket.socket(fileno=int(fd))
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    host = (mountinfo, detect_mode(mountinfo))
    while True:
        try:
            msg, anc, _flags, _addr = sock.recvmsg(1 << 20, socket.CMSG_SPACE(_MAX_FDS * 4))
        except InterruptedError:
            continue
        if not msg:
            os._exit(0)
        received: list[int] = []
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                arr = array.array("i")
                arr.frombytes(data[: len(data) - len(data) % arr.itemsize])
                received.extend(arr)
        try:
            req = json.loads(msg)
            if req.get("op") == "exec":
                _serve_exec(req, received, sock)
            elif req.get("op") == "rm":
                _serve_remove(req)
            elif req.get("op") == "call":
                _serve_call(req, received, sock)
            else:
                _serve_launch(req, received, sock, host)
            answer = b"ok"
        except Exception as e:  # noqa: BLE001 - the caller gets the reason
            answer = f"fork server: {type(e).__name__}: {e}".encode()
        finally:
            for rfd in received:
                try:
                    os.close(rfd)
                except OSError:
                    pass
        sock.send(answer)


def _serve_launch(req: dict[str, Any], received: list[int], sock: socket.socket,
                  host: tuple[str, Any]) -> None:
    """Fork the intermediate of a container start, exactly as ``launcher.launch`` would."""
    from sbx.cgroups import open_manager
    from sbx.layout import Layout
    from sbx.runtime import monitor
    from sbx.runtime.records import ContainerRecord, ContainerStore
    from sbx.runtime.rootfs import RootfsPlan
    from sbx.runtime.spec import ContainerSpec, Mount
    from sbx.runtime.state import ContainerState

    it = iter(received)
    slots = [next(it) if used else -1 for used in req["fd_used"]]
    status_w, resize_r = slots[:2]
    r = req["record"]
    rec = ContainerRecord(r["id"], r["name"], r["created"], ContainerSpec.from_json(r["spec"]),
                          ContainerState.from_json(r["state"]))
    p = dict(req["plan"])
    p["mounts"] = tuple(Mount(**m) for m in p["mounts"])
    p["lower"] = tuple(p["lower"])
    p["etc_files"] = tuple(tuple(x) for x in p["etc_files"])
    from sbx.runtime.cgroupview import CgroupView

    p["cgroup"] = CgroupView.from_json(p.get("cgroup"))
    p["sysctls"] = tuple((str(k), str(v)) for k, v in p.get("sysctls", ()))
    from sbx.runtime.devicespec import DeviceNode

    p["devices"] = tuple(DeviceNode(**d) for d in p.get("devices", ()))
    for k in ("uid_map", "gid_map"):  # --userns=auto
        p[k] = tuple(tuple(int(x) for x in line) for line in p.get(k, ()))
    plan = RootfsPlan(**p)
    output_fds = (slots[2], slots[3]) if req["attached"] else (1, 2)
    job = monitor.MonitorJob(rec, plan, req["attached"], status_w, resize_r, req["join_netns"],
                             output_fds)
    store = ContainerStore(Layout(Path(req["root"]), Path(req["runroot"])))
    cgroup = open_manager(f"sbx/{rec.id}", mountinfo=host[0], mode=host[1])
    from sbx.rootless import userns

    if userns.needed():
        userns.ensure(userns.state_dir())
    pid = os.fork()
    if pid == 0:  # the intermediate
        try:
            sock.close()
            os.setsid()
            userns.join()  # rootless: the monitor runs in the user's namespace
            if req["attached"] and slots[4] >= 0:
                os.dup2(slots[4], 0)
            if os.fork() == 0:
                monitor.main(job, store, cgroup)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)



