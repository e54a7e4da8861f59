"""`sbx` as a user types it: run, ps, create/start, exec, logs, stop, kill, wait, rm,
inspect, port, tag/rmi, prune — real namespaces, overlay mounts and cgroups."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_run_shows_the_image_root_not_the_hosts(sbx):
    out = sbx.ok("run", "--rm", "bb", "ls", "/")
    names = set(out.split())
    assert {"bin", "etc", "proc", "dev", "sys", "tmp"} <= names
    assert "work" not in names and "boot" not in names


def test_pid_1_and_own_hostname(sbx):
    out = sbx.ok("run", "--rm", "bb", "sh", "-c", "echo $$; hostname").split()
    assert out[0] == "1"
    assert re.fullmatch(r"[0-9a-f]{12}", out[1])
    assert sbx.ok("ps", "-a", "-q") == ""  # --rm removed it


def test_detached_container_outlives_the_command_and_lists(sbx):
    cid = sbx.ok("run", "-d", "--name", "web", "-l", "tier=front", "bb", "sleep", "1000").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    ps = sbx.ok("ps")
    header = ps.splitlines()[0]
    for col in ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"):
        assert col in header
    assert "web" in ps and "Up " in ps and cid[:12] in ps
    assert sbx.ok("ps", "-q").split() == [cid[:12]]
    assert sbx.ok("ps", "-q", "--no-trunc").split() == [cid]
    assert sbx.ok("ps", "--format", "{{.ID}} {{.Names}} {{.Label \"tier\"}}").strip() == f"{cid[:12]} web front"
    assert sbx.ok("ps", "-q", "--filter", "label=tier=front").split() == [cid[:12]]
    assert sbx.ok("ps", "-q", "--filter", "name=nomatch") == ""
    # prefix and name both resolve
    assert sbx.ok("inspect", "-f", "{{.Name}}", cid[:5]).strip() == "/web"
    # the container's process is visible from the host
    pid = int(sbx.ok("inspect", "-f", "{{.State.Pid}}", "web"))
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"


def test_create_then_start_attached(sbx):
    cid = sbx.ok("create", "--name", "c1", "bb", "echo", "hi").strip()
    assert "Created" in sbx.ok("ps", "-a", "--filter", "name=c1")
    r = sbx.run("start", "-a", "c1")
    assert r.returncode == 0 and r.stdout == "hi\n"
    assert "Exited (0)" in sbx.ok("ps", "-a", "--filter", f"id={cid}")


def test_exit_code_is_the_commands(sbx):
    assert sbx.run("run", "--rm", "bb", "sh", "-c", "exit 3").returncode == 3


def test_exec_joins_namespaces_env_and_cwd(sbx):
    sbx.ok("run", "-d", "--name", "ex", "-e", "FOO=bar", "-w", "/tmp", "bb", "sleep", "1000")
    ps = sbx.ok("exec", "ex", "ps")
    assert "sleep 1000" in ps and len(ps.strip().splitlines()) == 3  # header, sleep, ps
    assert sbx.ok("exec", "ex", "sh", "-c", "echo $FOO; pwd; hostname") == \
        f"bar\n/tmp\n{sbx.ok('inspect', '-f', '{{.Config.Hostname}}', 'ex').strip()}\n"
    assert sbx.ok("exec", "-e", "FOO=baz", "-w", "/", "ex", "sh", "-c", "echo $FOO; pwd") == "baz\n/\n"
    assert sbx.run("exec", "ex", "sh", "-c", "exit 7").returncode == 7
    r = sbx.run("exec", "ex", "nosuchcmd")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    # it runs in the container's cgroup (rootless without delegation: there is none), in
    # the container's cgroup namespace: "/" there, and listed in the container's own
    # cgroup.procs at /sys/fs/cgroup
    cg = sbx.ok("exec", "ex", "cat", "/proc/self/cgroup")
    assert {line.split(":", 2)[2] for line in cg.splitlines()} == {"/"}, cg
    if os.geteuid() == 0:
        out = sbx.ok("exec", "ex", "sh", "-c", "for f in /sys/fs/cgroup/cgroup.procs "
                     "/sys/fs/cgroup/pids/cgroup.procs; do [ -e $f ] && grep -qx $$ $f && echo in; done")
        assert out.strip() == "in", out


def test_logs_keep_streams_apart_and_tail_and_timestamps(sbx):
    sbx.ok("run", "--name", "lg", "bb", "sh", "-c", "echo one; echo two >&2; echo three")
    r = sbx.run("logs", "lg")
    assert r.stdout == "one\nthree\n" and r.stderr == "two\n"
    tail = sbx.run("logs", "--tail", "1", "lg")
    assert (tail.stdout + tail.stderr) in ("three\n", "two\n")  # the last record, either stream
    assert sbx.run("logs", "--tail", "0", "lg").stdout == ""
    stamped = sbx.ok("logs", "-t", "lg").splitlines()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z one$", stamped[0])


def test_logs_follow_ends_when_the_container_exits(sbx):
    sbx.ok("run", "-d", "--name", "fl", "bb", "sh", "-c", "echo a; sleep 0.5; echo b")
    r = sbx.run("logs", "-f", "fl", timeout=20)
    assert r.stdout == "a\nb\n"


def test_stop_kill_wait(sbx):
    sbx.ok("run", "-d", "--name", "s1", "--init", "bb", "sleep", "1000")
    t = time.monotonic()
    sbx.ok("stop", "s1")
    assert time.monotonic() - t < 5  # --init forwards SIGTERM: no 10 s grace period
    assert sbx.ok("wait", "s1").strip() == "143"
    # pid 1 without a handler ignores SIGTERM: stop falls back to SIGKILL after -t
    sbx.ok("run", "-d", "--name", "s2", "bb", "sleep", "1000")
    sbx.ok("stop", "-t", "1", "s2")
    assert sbx.ok("inspect", "-f", "{{.State.ExitCode}}", "s2").strip() == "137"
    sbx.ok("run", "-d", "--name", "k1", "bb", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done")
    time.sleep(0.3)
    sbx.ok("kill", "-s", "USR1", "k1")
    assert sbx.ok("wait", "k1").strip() == "42"
    assert "Exited (42)" in sbx.ok("ps", "-a", "--filter", "name=k1")


def test_stop_signal_from_flag(sbx):
    sbx.ok("run", "-d", "--name", "ss", "--stop-signal", "USR1", "bb", "sh", "-c",
           "trap 'exit 5' USR1; while true; do sleep 0.1; done")
    time.sleep(0.3)
    sbx.ok("stop", "ss")
    assert sbx.ok("wait", "ss").strip() == "5"


def test_rm_refuses_running_and_rm_f_leaves_nothing(sbx):
    cid = sbx.ok("run", "-d", "--name", "r1", "bb", "sleep", "1000").strip()
    pid = int(sbx.ok("inspect", "-f", "{{.State.Pid}}", "r1"))
    r = sbx.run("rm", "r1")
    assert r.returncode != 0 and "container is running" in r.stderr
    sbx.ok("rm", "-f", "r1")
    assert not Path(f"/proc/{pid}").exists()
    assert sbx.ok("ps", "-a", "-q") == ""
    assert not (sbx.root / "containers" / cid).exists()
    assert sbx.leaks() == []
    # the name is free again
    sbx.ok("run", "--rm", "--name", "r1", "bb", "true")


def test_rm_all_with_ps_aq(sbx):
    for _i in range(3):
        sbx.ok("run", "-d", "bb", "sleep", "100")
    sbx.ok("create", "bb", "true")
    ids = sbx.ok("ps", "-a", "-q").split()
    assert len(ids) == 4
    r = sbx.run("rm", "-f", *ids)
    assert r.returncode == 0 and sbx.ok("ps", "-a", "-q") == ""


def test_inspect_is_shaped_like_dockers(sbx):
    sbx.ok("run", "-d", "--name", "ins", "-p", "127.0.0.1::8080", "-e", "A=1", "bb", "sleep", "1000")
    doc = json.loads(sbx.ok("inspect", "ins"))[0]
    for key in ("Id", "Created", "Path", "Args", "State", "Image", "Name", "HostConfig",
                "Config", "NetworkSettings", "Mounts"):
        assert key in doc
    assert doc["State"]["Status"] == "running" and doc["State"]["Running"] is True
    assert doc["Config"]["Env"][0].startswith("PATH=") and "A=1" in doc["Config"]["Env"]
    ports = doc["NetworkSettings"]["Ports"]["8080/tcp"]
    assert ports[0]["HostIp"] == "127.0.0.1" and int(ports[0]["HostPort"]) > 0
    img = json.loads(sbx.ok("inspect", "bb"))[0]
    assert img["Id"].startswith("sha256:") and "bb:latest" in img["RepoTags"]


def test_published_port_reaches_the_container(sbx, tmp_path):
    sbx.ok("run", "-d", "--name", "www", "-p", "127.0.0.1::8080", "bb", "sh", "-c",
           "mkdir -p /www && echo hello-from-container > /www/index.html && httpd -f -p 8080 -h /www")
    line = sbx.ok("port", "www").strip()
    m = re.fullmatch(r"8080/tcp -> 127\.0\.0\.1:(\d+)", line)
    assert m, line
    port = int(m.group(1))
    assert sbx.ok("port", "www", "8080").strip() == f"127.0.0.1:{port}"
    body = None
    for _ in range(100):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            break
        except OSError:
            time.sleep(0.05)
    assert body == b"hello-from-container\n"
    assert f"127.0.0.1:{port}->8080/tcp" in sbx.ok("ps")


def test_networks_none_host_and_shared(sbx):
    ifaces = sbx.ok("run", "--rm", "--network", "none", "bb", "ls", "/sys/class/net").split()
    assert ifaces == ["lo"]
    assert sbx.ok("run", "--rm", "bb", "ping", "-c", "1", "-W", "2", "localhost").count("1 packets received") == 1
    host_ifaces = sorted(p.name for p in Path("/sys/class/net").iterdir())
    assert sorted(sbx.ok("run", "--rm", "--network", "host", "bb", "ls", "/sys/class/net").split()) == host_ifaces
    sbx.ok("run", "-d", "--name", "srv", "bb", "sh", "-c",
           "mkdir /w && echo shared > /w/index.html && httpd -f -p 9000 -h /w")
    out = ""
    for _ in range(50):
        r = sbx.run("run", "--rm", "--network", "container:srv", "bb", "wget", "-q", "-O", "-", "http://127.0.0.1:9000/")
        out = r.stdout
        if out:
            break
        time.sleep(0.05)
    assert out == "shared\n"


def test_tag_and_rmi(sbx):
    sbx.ok("tag", "bb", "bb:v2")
    assert "v2" in sbx.ok("images")
    out = sbx.ok("rmi", "bb:v2")
    assert "Untagged: bb:v2" in out
    assert "v2" not in sbx.ok("images")


def test_images_columns(sbx):
    lines = sbx.ok("images").splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    assert any(line.startswith("bb ") and " latest " in line for line in lines[1:])


def test_system_prune_removes_stopped_containers(sbx):
    sbx.ok("run", "--name", "p1", "bb", "true")
    sbx.ok("run", "-d", "--name", "p2", "bb", "sleep", "100")
    out = sbx.ok("system", "prune", "-f")
    assert "Total reclaimed space:" in out
    assert sbx.ok("ps", "-a", "--format", "{{.Names}}").split() == ["p2"]


def test_vanished_process_shows_a_true_status(sbx):
    sbx.ok("run", "-d", "--name", "van", "bb", "sleep", "1000")
    doc = json.loads(sbx.ok("inspect", "van"))[0]
    import os
    import signal

    mon = json.loads((sbx.root / "containers" / doc["Id"] / "state.json").read_text())["monitor_pid"]
    os.kill(mon, signal.SIGKILL)
    os.kill(doc["State"]["Pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert "Exited" in sbx.ok("ps", "-a", "--filter", "name=van")
    sbx.ok("rm", "van")
