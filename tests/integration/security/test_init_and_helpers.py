"""The container's pid 1 with ``--init``, and the helpers that enter a container.

Before: ``--init`` kept the host's Python as pid 1, never exec'd, with every capability
(CapEff 000001fffeffffff), and ``sbx exec`` forked its child into the container's pid
namespace holding the host's privileges until its execve.  With ``--cap-add SYS_PTRACE`` a
process of the container could use either (ptrace, /proc/<pid>/root, mem, fd) to reach
the host.  Now pid 1 is Docker's docker-init (the host's static tini, bound read-only) under
the container's capabilities, and every helper is non-dumpable, holds no more than the
container's capabilities, none of its caller's descriptors and none of its environment
once the container can see it.  The attacker here is a static C program in the container
(probes/catch.c) that stops every new process the moment it shows in /proc and looks
at it through /proc while it is held.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.security import cprobes

pytestmark = pytest.mark.integration

DOCKER_CAPS = 0x00000000A80425FB
SYS_PTRACE = 1 << 19
# an execve walk over this PATH takes a while: the exec helper's window between its fork
# into the container and its execve is wide enough for the attacker to catch it (nearly
# always: on a loaded machine one may slip through, so at least one catch is required)
SLOW_PATH = ":".join(f"/n{i}" for i in range(8000)) + ":/bin"  # < 128 KiB, one string
MARKER = "SBX_CALLER_SECRET"


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probes")
    return {"catch": cprobes.build("catch", d)}


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """A root-only host file the container must never reach."""
    d = tmp_path / "hostonly"
    d.mkdir(mode=0o700)
    f = d / "secret"
    f.write_text("HOST-SECRET " + secrets.token_hex(16) + "\n")
    f.chmod(0o600)
    return f


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


# -- --init -------------------------------------------------------------------------


def test_init_is_docker_init_with_the_containers_capabilities(sbx):
    out = sbx.ok("run", "--rm", "--init", "bb", "sh", "-c",
                 "readlink /proc/1/exe; cat /proc/1/comm; cat /proc/1/cmdline | tr '\\0' ' '; "
                 "echo; cat /proc/1/status")
    exe, comm, cmdline, *rest = out.splitlines()
    assert exe == "/sbin/docker-init" and comm == "docker-init"
    assert cmdline.split()[:2] == ["/sbin/docker-init", "--"]
    st = _status("\n".join(rest))
    assert int(st["CapEff"], 16) == DOCKER_CAPS
    assert int(st["CapPrm"], 16) == DOCKER_CAPS
    assert int(st["CapBnd"], 16) == DOCKER_CAPS
    assert int(st["CapInh"], 16) == 0
    st = _status(sbx.ok("run", "--rm", "--init", "--cap-add", "SYS_PTRACE", "--cap-drop", "NET_RAW",
                        "bb", "cat", "/proc/1/status"))
    assert int(st["CapEff"], 16) == (DOCKER_CAPS | SYS_PTRACE) & ~(1 << 13)
    # the init is the container's user too
    st = _status(sbx.ok("run", "--rm", "--init", "-u", "65534", "bb", "cat", "/proc/1/status"))
    assert st["Uid"].split()[0] == "65534" and int(st["CapEff"], 16) == 0


def test_init_is_bound_read_only_and_the_image_is_untouched(sbx):
    r = sbx.run("run", "--rm", "--init", "bb", "sh", "-c", "echo x > /sbin/docker-init")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    # busybox has no /sbin: it exists in the container only (as Docker's runc makes it)
    assert sbx.run("run", "--rm", "bb", "ls", "/sbin/docker-init").returncode != 0


def test_init_exit_codes_and_a_missing_command(sbx):
    assert sbx.run("run", "--rm", "--init", "bb", "sh", "-c", "exit 3").returncode == 3
    assert sbx.run("run", "--rm", "--init", "bb", "sh", "-c", "kill -TERM $$").returncode == 143
    r = sbx.run("run", "--rm", "--init", "bb", "nosuchcmd")
    assert r.returncode == 127 and "nosuchcmd" in r.stderr


def test_init_forwards_stop_and_kill_signals(sbx):
    sbx.ok("run", "-d", "--init", "--name", "fwd", "bb", "sleep", "1000")
    t = time.monotonic()
    sbx.ok("stop", "fwd")
    assert time.monotonic() - t < 5  # SIGTERM reached sleep: no 10 s grace period
    assert sbx.ok("inspect", "-f", "{{.State.ExitCode}}", "fwd").strip() == "143"
    sbx.ok("run", "-d", "--init", "--name", "usr1", "bb", "sh", "-c",
           "trap 'exit 42' USR1; while true; do sleep 0.1; done")
    time.sleep(0.5)
    sbx.ok("kill", "-s", "USR1", "usr1")
    sbx.ok("wait", "usr1")
    assert sbx.ok("inspect", "-f", "{{.State.ExitCode}}", "usr1").strip() == "42"
    sbx.ok("run", "-d", "--init", "--name", "k9", "bb", "sleep", "1000")
    sbx.ok("kill", "k9")
    sbx.ok("wait", "k9")
    assert sbx.ok("inspect", "-f", "{{.State.ExitCode}}", "k9").strip() == "137"


def test_init_reaps_orphaned_zombies(sbx):
    out = sbx.ok("run", "--rm", "--init", "bb", "sh", "-c",
                 "p=$( (sleep 0.3 >/dev/null & echo $!) ); grep PPid /proc/$p/status; "
                 "sleep 1.2; grep -l '^State:.Z' /proc/[0-9]*/status | wc -l")
    lines = out.splitlines()
    ppid, zombies = lines[0], lines[-1]
    assert ppid.split() == ["PPid:", "1"]  # the orphan went to the init
    assert zombies.strip() == "0"          # and the init reaped it


def test_init_with_sys_ptrace_sees_only_the_container(sbx, host_secret):
    """The old pid 1 held the host's privileges; through /proc/1 a SYS_PTRACE container
    reached the host.  tini holds the container's caps, its root is the container's,
    its descriptors are the container's stdio and its environment the container's."""
    env_caller = {MARKER: "1"}
    out = _run_with_env(sbx, env_caller, "run", "--rm", "--init", "--cap-add", "SYS_PTRACE",
                        "bb", "sh", "-c",
                        f"cat /proc/1/root{host_secret} 2>&1; echo ---; ls /proc/1/root/ | sort; "
                        "echo ---; ls / | sort; echo ---; for f in /proc/1/fd/*; do readlink $f; done; "
                        "echo ---; tr '\\0' '\\n' < /proc/1/environ; echo ---; "
                        "grep CapEff /proc/1/status")
    secret, root1, root, fds, environ, capeff = out.split("---\n")
    assert "HOST-SECRET" not in out and "No such file" in secret
    assert root1 == root
    for target in fds.split():
        assert target == "/dev/null" or target.startswith(("pipe:", "socket:")), target
    assert MARKER not in environ and "HOSTNAME=" in environ
    assert int(capeff.split()[1], 16) == DOCKER_CAPS | SYS_PTRACE


def _run_with_env(sbx, extra: dict[str, str], *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "sbx", *args], env={**sbx.env, **extra},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


# -- exec's helpers ---------------------------------------------------------------------


def _attack_execs(sbx, probes, host_secret: Path, *run_args: str,
                  exec_args: tuple[tuple[str, ...], ...]) -> list[dict[str, str]]:
    """Run the attacker in a container while ``sbx exec`` runs the given execs; what it
    saw of each process it caught, one dict per process."""
    sbx.ok("run", "-d", "--name", "target", "-v", f"{probes['catch']}:/catch:ro", *run_args,
           "bb", "sleep", "1000")
    attacker = subprocess.Popen(
        [sys.executable, "-m", "sbx", "exec", "target", "/catch", "/tmp/stop", str(host_secret), MARKER],
        env=sbx.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert attacker.stdout is not None
        assert attacker.stdout.readline().strip() == "ready"
        for args in exec_args:
            r = subprocess.run([sys.executable, "-m", "sbx", "exec", "-e", f"PATH={SLOW_PATH}",
                                *args, "target", "true"],
                               env={**sbx.env, MARKER: "1"}, capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
            assert r.returncode == 0, r.stderr
        sbx.ok("exec", "target", "touch", "/tmp/stop")
        out, err = attacker.communicate(timeout=30)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()
    assert attacker.returncode == 0, err
    seen = []
    for line in out.splitlines():
        seen.append(dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv))
    return seen


def _helpers(seen: list[dict[str, str]]) -> list[dict[str, str]]:
    """The processes caught before their execve (not yet ``true``/``touch``)."""
    return [s for s in seen if s["name"] not in ("true", "touch")]


EXECS = ((), ("-u", "65534"), ("-i",), ("-t",))


def test_exec_helper_is_non_dumpable_with_the_containers_caps(sbx, probes, host_secret):
    seen = _attack_execs(sbx, probes, host_secret, exec_args=EXECS)
    helpers = _helpers(seen)
    assert helpers, seen  # the slow PATH walk keeps the window open
    for s in seen:  # never more than the container's capabilities, at any moment caught
        assert int(s["capeff"], 16) & ~DOCKER_CAPS == 0, s
        assert int(s["capprm"], 16) & ~DOCKER_CAPS == 0, s
    for s in helpers:  # non-dumpable: root of the container without SYS_PTRACE reads nothing
        for key in ("environ", "mem", "root", "hostfile"):
            assert s[key].startswith("err:"), (key, s)
        assert s["fd"].startswith("err:"), s


def test_exec_helper_with_sys_ptrace_sees_only_the_container(sbx, probes, host_secret):
    """With SYS_PTRACE (root mode: ptrace rights over every process of its pid namespace)
    the attacker reads the helper's /proc files, and finds the container there: its caps,
    its root, stdio pipes, /dev/null, and an environment wiped of the caller's."""
    seen = _attack_execs(sbx, probes, host_secret, "--cap-add", "SYS_PTRACE", exec_args=EXECS)
    helpers = _helpers(seen)
    assert helpers, seen
    for s in seen:
        assert int(s["capeff"], 16) & ~(DOCKER_CAPS | SYS_PTRACE) == 0, s
        assert int(s["capprm"], 16) & ~(DOCKER_CAPS | SYS_PTRACE) == 0, s
        assert not s["hostfile"].startswith("ok"), s
        assert s["root"] in ("ok:/", "err:2", "err:13"), s
        assert not s["environ"].endswith(":marker"), s
        for target in filter(None, s.get("fds", "").split(",")):
            assert target.startswith(("pipe:", "socket:", "/dev/")) or target == "anon_inode:[pidfd]", s
