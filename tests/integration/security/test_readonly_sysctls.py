"""Read-only binds and ``--sysctl``, tried as an attacker would (issue 10, finding 2 and
its flags): ``-v SRC:DST:ro`` is read-only in the mounts below SRC too, and ``--sysctl``
sets only keys of the container's own namespaces, refusing the others in one line.
(/sys and the container's cgroup: test_sysfs_cgroupfs.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


# -- read-only binds ----------------------------------------------------------------

@pytest.mark.root_only("a submount on the host needs root (mount in a private namespace)")
def test_ro_bind_is_read_only_in_its_submounts(sbx, tmp_path):  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    script = ("for f in /data/top /data/sub/inner; do if err=$( (echo x > $f) 2>&1 ); "
              "then echo WROTE $f; else echo REFUSED $f $err; fi; done")

    def run(vol: str) -> str:
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                f'mount -t tmpfs none {src}/sub && exec "$@"', "sh",
                sys.executable, "-m", "sbx", "run", "--rm", "-v", vol, "bb", "sh", "-c", script]
        r = subprocess.run(argv, env=sbx.env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = run(f"{src}:/data:ro")
    assert "WROTE" not in out, out
    assert out.count("Read-only file system") == 2, out
    out = run(f"{src}:/data")  # without :ro both are writable (the submount came along)
    assert "REFUSED" not in out and out.count("WROTE") == 2, out
    assert not (src / "sub" / "inner").exists()  # that one went to the (gone) tmpfs


# -- --sysctl ---------------------------------------------------------------------

def _host_sysctl(key: str) -> str:
    return Path("/proc/sys", key.replace(".", "/")).read_text()


def test_sysctl_namespaced_keys_are_set_in_the_container_only(sbx):  # type: ignore[no-untyped-def]
    keys = {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "1234",
            "kernel.shmmax": "123456789", "kernel.msgmax": "4321",
            "fs.mqueue.msg_max": "77", "kernel.domainname": "example.test"}
    before = {k: _host_sysctl(k) for k in keys}
    flags = [x for k, v in keys.items() for x in ("--sysctl", f"{k}={v}")]
    cat = "; ".join(f"cat /proc/sys/{k.replace('.', '/')}" for k in keys)
    cid = sbx.ok("run", "-d", *flags, "bb", "sleep", "60").strip()
    out = sbx.ok("exec", cid, "sh", "-c",
                 f"{cat}; (echo 0 > /proc/sys/net/ipv4/ip_forward) 2>&1; echo rc=$?")
    assert out.splitlines()[:len(keys)] == list(keys.values()), out
    assert "Read-only file system" in out and "rc=1" in out, out  # /proc/sys read-only after
    assert {k: _host_sysctl(k) for k in keys} == before
    host_config = json.loads(sbx.ok("inspect", cid))[0]["HostConfig"]
    assert host_config["Sysctls"] == keys
    # a pod member sets its (shared) network namespace's keys
    out = sbx.ok("run", "--rm", "--network", f"container:{cid}", "--sysctl",
                 "net.ipv4.ip_default_ttl=33", "bb", "cat", "/proc/sys/net/ipv4/ip_default_ttl")
    assert out.strip() == "33"
    assert sbx.ok("exec", cid, "cat", "/proc/sys/net/ipv4/ip_default_ttl").strip() == "33"


@pytest.mark.parametrize("args, why", [
    (["--sysctl", "vm.swappiness=10"], "is not in a separate kernel namespace"),
    (["--sysctl", "kernel.pid_max=4096"], "is not in a separate kernel namespace"),
    (["--sysctl", "kernel.hostname=x"], "conflicts with --hostname"),
    (["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"], "host's network namespace"),
    (["--ipc", "host", "--sysctl", "kernel.shmmax=1"], "host's IPC namespace"),
    (["--sysctl", "net.ipv4.ip_forward"], "expected KEY=VALUE"),
    (["--sysctl", "net/../../kernel/core_pattern=|/x"], "invalid --sysctl key"),
    (["--cgroupns", "shared"], "invalid --cgroupns value"),
])
def test_other_sysctls_are_refused_in_one_line(sbx, args, why):  # type: ignore[no-untyped-def]
    before = _host_sysctl("vm.swappiness")
    r = sbx.run("run", "--rm", *args, "bb", "true")
    assert r.returncode == 125, r.stderr
    assert why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert sbx.ok("ps", "-a", "-q") == ""
    assert _host_sysctl("vm.swappiness") == before


def test_a_value_the_kernel_refuses_names_the_key(sbx):  # type: ignore[no-untyped-def]
    r = sbx.run("run", "--rm", "--sysctl", "net.ipv4.tcp_fin_timeout=abc", "bb", "true")
    assert r.returncode == 125, r.stderr
    assert "net.ipv4.tcp_fin_timeout" in r.stderr and "Invalid argument" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
