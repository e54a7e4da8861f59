"""What a container cannot see or do: namespaces, masked /proc, read-only /sys, Docker's
capabilities, no_new_privs, limits through cgroups, mounts, users."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

DOCKER_CAPS = 0x00000000A80425FB


def _status(sbx, *args):
    out = sbx.ok("run", "--rm", *args, "bb", "cat", "/proc/self/status")
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def test_capabilities_and_no_new_privs(sbx):
    st = _status(sbx)
    assert int(st["CapEff"], 16) == DOCKER_CAPS
    assert int(st["CapBnd"], 16) == DOCKER_CAPS
    assert st["NoNewPrivs"].strip() == "0"  # Docker's default; see security/test_no_new_privs.py
    st = _status(sbx, "--cap-drop", "NET_RAW", "--cap-add", "SYS_ADMIN")
    assert int(st["CapEff"], 16) == (DOCKER_CAPS & ~(1 << 13)) | (1 << 21)
    st = _status(sbx, "-u", "65534")
    assert int(st["CapEff"], 16) == 0 and st["Uid"].split()[0] == "65534"


def test_masked_and_read_only_paths(sbx):
    import os

    masked = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/interrupts")
              if os.path.exists(p)]
    assert masked, "no masked /proc file exists on this kernel"
    for path in masked:
        assert sbx.ok("run", "--rm", "bb", "sh", "-c", f"wc -c < {path}").strip() == "0", path
    assert sbx.run("run", "--rm", "bb", "sh", "-c", "echo 1 > /proc/sys/kernel/domainname").returncode != 0
    assert sbx.run("run", "--rm", "bb", "touch", "/sys/x").returncode != 0
    mounts = sbx.ok("run", "--rm", "bb", "cat", "/proc/mounts")
    assert "/dev/pts devpts" in mounts and "/dev/shm tmpfs" in mounts and "overlay / overlay" in mounts


def test_container_mounts_are_invisible_on_the_host(sbx):
    sbx.ok("run", "-d", "--name", "mnt1", "bb", "sleep", "100")
    host = open("/proc/self/mountinfo").read()
    assert str(sbx.root) not in host


@pytest.mark.root_only("resource limits need cgroups, not delegated to users here")
def test_memory_limit_kills_with_137_and_oomkilled(sbx):
    r = sbx.run("run", "--name", "oom", "-m", "16m", "bb", "sh", "-c",
                "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done")
    assert r.returncode == 137
    assert sbx.ok("inspect", "-f", "{{.State.OOMKilled}}", "oom").strip() == "true"


@pytest.mark.root_only("resource limits need cgroups, not delegated to users here")
def test_pids_limit_contains_a_fork_bomb(sbx):
    from pathlib import Path

    cid = sbx.ok("run", "-d", "--pids-limit", "20", "bb", "sleep", "1000").strip()
    r = sbx.run("exec", cid, "sh", "-c", "while true; do sleep 100 & done", timeout=60)
    assert r.returncode != 0 and "fork" in r.stderr  # the bomb hit the limit and stopped
    v1 = Path(f"/sys/fs/cgroup/pids/sbx/{cid}/pids.current")
    current = v1 if v1.exists() else Path(f"/sys/fs/cgroup/sbx/{cid}/pids.current")
    assert int(current.read_text()) <= 20
    assert "Up " in sbx.ok("ps", "--filter", f"id={cid}")


@pytest.mark.root_only("resource limits need cgroups, not delegated to users here")
def test_cpus_sets_the_quota(sbx):
    cid = sbx.ok("run", "-d", "--cpus", "0.5", "bb", "sleep", "100").strip()
    from pathlib import Path

    v1 = Path(f"/sys/fs/cgroup/cpu/sbx/{cid}/cpu.cfs_quota_us")
    v2 = Path(f"/sys/fs/cgroup/sbx/{cid}/cpu.max")
    if v1.exists():
        assert v1.read_text().strip() == "50000"
    else:
        assert v2.read_text().split()[0] == "50000"


def test_bind_volume_ro_tmpfs_and_read_only_root(sbx, tmp_path):
    (tmp_path / "in.txt").write_text("from-host\n")
    out = sbx.ok("run", "--rm", "-v", f"{tmp_path}:/data", "bb", "sh", "-c",
                 "cat /data/in.txt; echo back > /data/out.txt")
    assert out == "from-host\n" and (tmp_path / "out.txt").read_text() == "back\n"
    r = sbx.run("run", "--rm", "-v", f"{tmp_path}:/data:ro", "bb", "touch", "/data/x")
    assert r.returncode != 0 and "Read-only" in r.stderr
    out = sbx.ok("run", "--rm", "--read-only", "--tmpfs", "/scratch", "bb", "sh", "-c",
                 "touch /scratch/ok && echo tmpfs-ok; touch /nope 2>/dev/null || echo ro-ok")
    assert out == "tmpfs-ok\nro-ok\n"


def test_env_file_workdir_user_entrypoint(sbx, tmp_path):
    envf = tmp_path / "env"
    envf.write_text("# comment\nA=1\nB=two words\n")
    out = sbx.ok("run", "--rm", "--env-file", str(envf), "-e", "C=3", "-w", "/var", "bb",
                 "sh", "-c", 'echo "$A|$B|$C"; pwd; echo $HOME')
    assert out == "1|two words|3\n/var\n/root\n"
    assert sbx.ok("run", "--rm", "-u", "nobody", "bb", "id", "-u").strip() == "65534"
    assert sbx.ok("run", "--rm", "--entrypoint", "echo", "bb", "x", "y").strip() == "x y"
    assert sbx.ok("run", "--rm", "-h", "myhost", "bb", "hostname").strip() == "myhost"
    hosts = sbx.ok("run", "--rm", "-h", "myhost", "bb", "cat", "/etc/hosts")
    assert "localhost" in hosts and "myhost" in hosts


def test_errors_are_one_line_with_dockers_exit_codes(sbx):
    r = sbx.run("run", "nosuchimage")
    assert r.returncode == 125 and "Unable to find image 'nosuchimage:latest' locally" in r.stderr
    assert "Traceback" not in r.stderr
    r = sbx.run("run", "--rm", "bb", "nosuchcmd")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    r = sbx.run("run", "--rm", "bb", "/etc/passwd")
    assert r.returncode == 126 and "permission denied" in r.stderr
    r = sbx.run("run", "--bogus", "bb")
    assert r.returncode == 125 and "unknown flag: --bogus" in r.stderr
    r = sbx.run("run", "-m", "lots", "bb", "true")
    assert r.returncode == 125 and "lots" in r.stderr
    r = sbx.run("stop", "nosuch")
    assert r.returncode != 0 and "No such container: nosuch" in r.stderr
    sbx.ok("create", "--name", "dup", "bb", "true")
    r = sbx.run("create", "--name", "dup", "bb", "true")
    assert r.returncode == 125 and "already in use" in r.stderr
    for r in (sbx.run("run", "nosuchimage"), sbx.run("rm", "nosuch")):
        assert len(r.stderr.strip().splitlines()) <= 2


def test_concurrent_runs_never_corrupt_state(sbx):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: sbx.run("run", "-d", "--name", f"par{i}", "bb", "sleep", "100"),
                                range(8)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert len(sbx.ok("ps", "-q").split()) == 8
