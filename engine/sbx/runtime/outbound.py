"""Outbound access for a network namespace of sbx's own, through a user-space NAT
(slirp4netns): the namespace gets a tap device with 10.0.2.100/24, a default route via
10.0.2.2 and a DNS forwarder at 10.0.2.3; every connection it opens is made again by the
slirp4netns process from the host's network namespace, as an ordinary socket of the user
running sbx.  Nothing is added to the host's network namespace (no bridge, no iptables).

What it refuses: the host's loopback.  ``--disable-host-loopback`` makes 10.0.2.2 (the
"host" alias) unreachable instead of a way into the host's 127.0.0.1, and nothing listens
back into the namespace (no API socket, no port forwards): the host cannot reach in
through the NAT.  Abstract unix sockets are per network namespace, so the host's are out
of sight too.  Reachable, as from a Docker bridge: the host's other addresses and the
outside.

Who owns it: the process that made the namespace (the container's monitor), which is
single-threaded.  slirp4netns has to live in the host's namespace and reach into the new
one, so it is forked before the ``unshare`` and exec'd after it (the ladder; the monitor's
pid names the namespace, the user namespace too in rootless mode)::

    owner (host netns)                     waiter (fork)             slirp4netns
    prepare(): pipes, fork ──────────────► blocks on "go"
    unshare(CLONE_NEWNET), lo up
    start(pid): write "go" ──────────────► exec slirp4netns -c ... --exit-fd --ready-fd PID tap0
                                                                      joins PID's netns, makes tap0,
                                                                      sets its address and route,
                                                                      back in the host netns
    wait for the ready fd  ◄──────────────────────────────────────── "1"
    ... the container runs ...
    stop(): close the exit fd, SIGKILL, reap ───────────────────────► gone

The owner holds the write end of ``--exit-fd``: when it exits, however it dies (SIGKILL
included), the pipe closes and slirp4netns exits.  That is the only reliable tie: a
slirp4netns whose namespace has no process left does not exit by itself (its tap device
keeps the namespace alive; measured on kernel 6.18).  It runs with its own sandbox (a
private mount namespace, capabilities dropped) and seccomp filter.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
from dataclasses import dataclass

from sbx.errors import NetworkError

TOOL = "slirp4netns"
ADDRESS = "10.0.2.100"
PREFIX = 24
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"
MTU = 65520            # slirp4netns' maximum is 65521; a large MTU is what makes it fast
IFNAME = "tap0"
READY_TIMEOUT = 10.0   # seconds
TUN = "/dev/net/tun"


def find() -> str | None:
    return shutil.which(TOOL) or next(
        (p for p in ("/usr/bin/slirp4netns", "/usr/local/bin/slirp4netns") if os.access(p, os.X_OK)), None)


def unavailable() -> str | None:
    """Why outbound access cannot be given here (one line), or None when it can.  Run in
    the process (and user namespace) that will start the NAT."""
    if find() is None:
        return f"{TOOL} is not installed (apt-get install {TOOL})"
    try:
        fd = os.open(TUN, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return f"{TUN} does not exist (modprobe tun)"
    except PermissionError:
        mode = os.stat(TUN).st_mode & 0o777
        return (f"{TUN} is mode {mode:04o} and this user cannot open it (stock Debian and "
                f"Ubuntu make it 0666; as root: chmod 0666 {TUN})")
    except OSError as e:
        return f"cannot open {TUN}: {os.strerror(e.errno or 0)}"
    os.close(fd)
    return None


def resolv_conf(host_text: str) -> str:
    """The container's /etc/resolv.conf: the NAT's DNS forwarder (it asks the host's own
    resolvers, loopback ones included) with the host's search and options lines."""
    lines = [f"nameserver {DNS}"]
    for line in host_text.splitlines():
        words = line.split()
        if words and words[0] in ("search", "domain", "options"):
            lines.append(line.strip())
    return "\n".join(lines) + "\n"


def argv(binary: str, target_pid: int, exit_fd: int, ready_fd: int, *, ifname: str = IFNAME) -> list[str]:
    return [binary, "--configure", f"--mtu={MTU}", "--disable-host-loopback",
            "--enable-sandbox", "--enable-seccomp", f"--exit-fd={exit_fd}",
            f"--ready-fd={ready_fd}", str(target_pid), ifname]


@dataclass(frozen=True)
class Nat:
    """A running (or, before ``start``, a waiting) slirp4netns, child of this process."""

    pid: int
    exit_fd: int       # ours: its closing ends the NAT
    go_fd: int         # ours until start(): the waiter execs when it reads a byte
    ready_fd: int      # ours: slirp4netns writes "1" here once the interface is up
    log: str

    def start(self, target_pid: int) -> None:
        """Exec the NAT for ``target_pid``'s network namespace and wait until it is up."""
        self.go(target_pid)
        self.wait()

    def go(self, target_pid: int) -> None:
        """Let the waiter exec the NAT for ``target_pid``'s network namespace (it comes up
        while the caller goes on: ``wait`` before anything needs it)."""
        try:
            os.write(self.go_fd, str(target_pid).encode() + b"\n")
        except OSError:
            pass  # the waiter is gone: the ready fd says so in wait()
        finally:
            os.close(self.go_fd)

    def wait(self) -> None:
        """Until the interface is up; ends the NAT and raises ``NetworkError`` if it fails."""
        try:
            ready, _, _ = select.select([self.ready_fd], [], [], READY_TIMEOUT)
            answer = os.read(self.ready_fd, 16) if ready else None
        finally:
            os.close(self.ready_fd)
        if answer == b"1":
            return
        self.stop()
        why = "did not come up in time" if answer is None else "exited before it was ready"
        raise NetworkError(f"the outbound network ({TOOL}) {why}: {_tail(self.log)}",
                           hint="run the step with --network none or --network host, "
                                f"or see {self.log}")

    def stop(self) -> None:
        """End the NAT and reap it (it is our child: its pid cannot have been reused)."""
        end(self.pid, self.exit_fd)


def end(pid: int, exit_fd: int) -> None:
    """``Nat.stop`` by the numbers (the lean monitor knows only those after its exec)."""
    with contextlib.suppress(OSError):
        os.close(exit_fd)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)


def prepare(log: str) -> Nat:
    """Fork the waiter while this process is still in the host's network namespace (see
    the ladder); slirp4netns' own messages go to ``log``."""
    binary = find()
    if binary is None:
        raise NetworkError(f"{TOOL} is not installed", hint=f"apt-get install {TOOL}")
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the waiter: nothing but a read, some dup2s and exec
        try:
            _waiter(binary, go_r, exit_r, ready_w, log)
        finally:
            os._exit(127)
    for fd in (exit_r, go_r, ready_w):
        os.close(fd)
    return Nat(pid=pid, exit_fd=exit_w, go_fd=go_w, ready_fd=ready_r, log=log)


def _waiter(binary: str, go_r: int, exit_r: int, ready_w: int, log: str) -> None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(go_r, 32)
        if not chunk:
            return  # the owner died or gave up before the namespace was ready
        data += chunk
    target = int(data)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    # fds 0-4: stdin, stdout, stderr, the exit fd, the ready fd; every other one closed
    # (the owner's status pipes must not stay open in a process that outlives them)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    exit_tmp = os.dup(exit_r)
    ready_tmp = os.dup(ready_w)
    os.dup2(exit_tmp, 3)
    os.dup2(ready_tmp, 4)
    os.closerange(5, _max_fd())
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.execv(binary, argv(binary, target, 3, 4))


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 65536


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read()[-4000:].decode("utf-8", "replace")
    except OSError:
        return "no output"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("*", "Starting slirp", "WARNING:", "seccomp:"))]
    return "; ".join((useful or lines)[-3:]) or "no output"
