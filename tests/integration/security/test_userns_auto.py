"""``--userns=auto`` in root mode, tried for real: container root is a high host id of the
container's own range (allocated per container, disjoint, freed on ``rm``), the image's
files keep their owners through idmapped layers, volumes are idmapped, binds are not
(a host root-only file bound in stays unreadable), and the capability escapes Docker's
userns-remap documentation names (a host disk with CAP_SYS_ADMIN) are refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.needs import unavailable
from tests.sbxenv import SbxEnv

pytestmark = [pytest.mark.integration, pytest.mark.root_only("root mode's --userns=auto")]

SIZE = 65536


def _maps(sbx: SbxEnv, ref: str) -> tuple[int, int]:
    m = json.loads(sbx.ok("inspect", "-f", "{{json .HostConfig.IDMappings}}", ref))
    start, size = (int(x) for x in m["UidMap"][0].split(":")[1:])
    assert m["UidMap"][0].startswith("0:") and m["GidMap"][0].startswith("0:")
    return start, size


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _pid(sbx: SbxEnv, ref: str) -> int:
    return int(sbx.ok("inspect", "-f", "{{.State.Pid}}", ref))


@pytest.fixture(scope="module")
def owners_image(sbx_module_env: SbxEnv, busybox_tar: Path, tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    """``bb`` plus files of other owners: /etc/shadow 0:42 0640, /home/u 1000:1000."""
    out = tmp_path_factory.mktemp("owners") / "owners.tar"
    with tarfile.open(busybox_tar) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        for name, uid, gid, mode, data in (("etc/shadow", 0, 42, 0o640, b"root:*:1:0:::::\n"),
                                           ("home/u/f", 1000, 1000, 0o600, b"u\n")):
            if name.startswith("home/"):
                for d in ("home", "home/u"):
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    ti.uid = ti.gid = 0 if d == "home" else 1000
                    dst.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.uid, ti.gid, ti.mode, ti.size = uid, gid, mode, len(data)
            dst.addfile(ti, io.BytesIO(data))
    sbx_module_env.ok("import", str(out), "owners:latest")
    return "owners:latest"


def test_root_inside_is_a_high_uid_outside(sbx: SbxEnv) -> None:
    cid = sbx.ok("run", "-d", "--userns=auto", "bb", "sleep", "100").strip()
    start, size = _maps(sbx, cid)
    assert size == SIZE and start >= 65536
    assert sbx.ok("inspect", "-f", "{{.HostConfig.UsernsMode}}", cid).strip() == "auto"
    st = _status(_pid(sbx, cid))
    assert st["Uid"].split() == [str(start)] * 4 and st["Gid"].split() == [str(start)] * 4
    inside = sbx.ok("exec", cid, "sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map")
    lines = inside.split("\n")
    assert lines[:2] == ["0", "0"]
    assert [ln.split() for ln in lines[2:4]] == [["0", str(start), str(size)]] * 2
    # an exec'd process is the container's root too, seen from the host
    sbx.ok("exec", "-d", cid, "sleep", "77")
    execd = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == "sleep\x0077"]
    assert execd and all(_status(int(p))["Uid"].split()[0] == str(start) for p in execd)


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read().rstrip("\x00")
    except OSError:
        return ""


def test_layers_keep_their_owners_and_writes_land_in_the_range(sbx: SbxEnv, owners_image: str) -> None:
    out = sbx.ok("run", "--name", "own", "--userns=auto", owners_image, "sh", "-c",
                 "stat -c '%u:%g %a %n' /etc/shadow /home/u/f /bin/busybox /; cat /etc/shadow;"
                 " echo x >> /etc/shadow && touch /new && chown 1000:1000 /new && echo WROTE")
    assert "0:42 640 /etc/shadow" in out and "1000:1000 600 /home/u/f" in out
    assert "0:0 755 /bin/busybox" in out and "0:0 755 /\n" in out
    assert "root:*:1:0" in out and "WROTE" in out
    start, _ = _maps(sbx, "own")
    cid = sbx.ok("inspect", "-f", "{{.Id}}", "own").strip()
    upper = next(p for p in (sbx.root / "containers" / cid).iterdir() if p.name in ("upper", "diff"))
    assert os.stat(upper / "new").st_uid == start + 1000      # the container's range on disk
    assert os.stat(upper / "etc/shadow").st_uid == start       # copied up with its owner
    assert os.stat(upper / "etc/shadow").st_gid == start + 42
    layer = next(sbx.root.glob("layers/*/etc/shadow"))       # the image is untouched
    assert (os.stat(layer).st_uid, os.stat(layer).st_gid) == (0, 42)


def test_sbx_made_files_belong_to_container_root(sbx: SbxEnv) -> None:
    out = sbx.ok("run", "--rm", "--userns=auto", "--tmpfs", "/t", "bb", "sh", "-c",
                 "stat -c '%u %n' /dev /dev/null /dev/shm /t /etc/hosts; echo 1.2.3.4 x >> /etc/hosts"
                 " && touch /t/f /dev/shm/f && echo OK")
    for path in ("/dev", "/dev/null", "/dev/shm", "/t", "/etc/hosts"):
        assert f"0 {path}\n" in out, (path, out)
    assert "OK" in out


def test_host_root_file_in_a_bind_stays_unreadable(sbx: SbxEnv, tmp_path: Path) -> None:
    d = tmp_path / "bind"
    d.mkdir(mode=0o777)
    d.chmod(0o1777)
    secret = d / "secret"
    secret.write_text("host secret\n")
    secret.chmod(0o600)
    r = sbx.run("run", "--rm", "--userns=auto", "-v", f"{d}:/s", "bb", "sh", "-c",
                "stat -c '%u:%g' /s/secret; cat /s/secret; echo mine > /s/written")
    assert "65534:65534" in r.stdout and "Permission denied" in r.stderr
    assert "host secret" not in r.stdout
    assert os.stat(d / "written").st_uid >= 65536        # not host root: the container's range
    # without --userns=auto the same bind is readable (container root is host root)
    assert "host secret" in sbx.ok("run", "--rm", "-v", f"{d}:/s", "bb", "cat", "/s/secret")


def test_idmapped_bind_option(sbx: SbxEnv, tmp_path: Path) -> None:
    d = tmp_path / "mapped"
    d.mkdir()
    (d / "f").write_text("root's\n")
    (d / "f").chmod(0o600)
    out = sbx.ok("run", "--rm", "--userns=auto", "-v", f"{d}:/m:idmap", "bb", "sh", "-c",
                 "stat -c '%u' /m/f; cat /m/f; echo new > /m/g")
    assert out.startswith("0\n") and "root's" in out
    assert os.stat(d / "g").st_uid == 0     # through the idmapped bind: host root's on disk


def test_volumes_are_idmapped_and_outlive_the_range(sbx: SbxEnv) -> None:
    sbx.ok("run", "--rm", "--userns=auto", "-v", "uvol:/data", "bb", "sh", "-c",
           "echo one > /data/f && chown 7:7 /data/f && mkdir /data/d")
    vol = next(sbx.root.glob("volumes/uvol/**/f"))
    assert (os.stat(vol).st_uid, os.stat(vol).st_gid) == (7, 7)  # unshifted on disk
    # another container, another range: same owners seen, still writable
    out = sbx.ok("run", "--rm", "--userns=auto", "-v", "uvol:/data", "bb", "sh", "-c",
                 "stat -c '%u:%g' /data/f; cat /data/f; echo two >> /data/f && echo OK")
    assert out.startswith("7:7\none\n") and "OK" in out


def test_two_containers_get_disjoint_ranges_and_rm_frees_them(sbx: SbxEnv) -> None:
    a = sbx.ok("create", "--userns=auto", "bb", "true").strip()
    b = sbx.ok("create", "--userns=auto:size=1024", "bb", "true").strip()
    (sa, na), (sb_, nb) = _maps(sbx, a), _maps(sbx, b)
    assert nb == 1024 and na == SIZE
    assert sa + na <= sb_ or sb_ + nb <= sa
    assert sbx.ok("inspect", "-f", "{{.HostConfig.UsernsMode}}", b).strip() == "auto:size=1024"
    held = _registry()
    assert held[a]["uid"] == [sa, na] and held[b]["uid"] == [sb_, nb]
    sbx.ok("rm", a)
    assert a not in _registry() and b in _registry()
    c = sbx.ok("create", "--userns=auto", "bb", "true").strip()
    assert _maps(sbx, c) == (sa, na)        # the freed range is the first fit again
    sbx.ok("rm", b, c)
    assert b not in _registry() and c not in _registry()


def _registry() -> dict:
    from sbx.runtime.userns_auto import REGISTRY_DIR

    try:
        return json.loads((REGISTRY_DIR / "userns-auto.json").read_text())
    except FileNotFoundError:
        return {}


def test_eight_concurrent_creates_get_disjoint_ranges(sbx: SbxEnv) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: sbx.ok("create", "--userns=auto", "bb", "true").strip(), range(8)))
    ranges = sorted(_maps(sbx, i) for i in ids)
    assert len(ranges) == 8
    for (s1, n1), (s2, _) in zip(ranges, ranges[1:], strict=False):
        assert s1 + n1 <= s2, ranges
    sbx.ok("rm", *ids)
    assert not set(ids) & set(_registry())


def test_default_is_the_host_user_namespace(sbx: SbxEnv) -> None:
    cid = sbx.ok("run", "-d", "--userns=host", "bb", "sleep", "100").strip()
    assert _status(_pid(sbx, cid))["Uid"].split()[0] == "0"
    assert sbx.ok("inspect", "-f", "{{.HostConfig.UsernsMode}}", cid).strip() == ""
    assert os.readlink(f"/proc/{_pid(sbx, cid)}/ns/user") == os.readlink("/proc/self/ns/user")
    r = sbx.run("run", "--rm", "--userns=keep-id", "bb", "true")
    assert r.returncode == 125 and "invalid --userns value" in r.stderr


def _root_disk() -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/":
                try:
                    with open(f"/sys/dev/block/{fields[2]}/uevent") as u:
                        names = [x.split("=", 1)[1] for x in u.read().split() if x.startswith("DEVNAME=")]
                except OSError:
                    return ""
                return f"/dev/{names[0]}" if names else ""
    return ""


def test_sys_admin_cannot_reach_a_host_disk(sbx: SbxEnv) -> None:
    disk = _root_disk()
    if not disk or not os.path.exists(disk):
        unavailable("the root file system is not on a block device here")
    script = ("head -c 512 /dev/hd >/dev/null && echo READ; mkdir -p /mnt/h; "
              "mount /dev/hd /mnt/h && echo MOUNTED; mknod /tmp/d b 1 1 && echo MKNOD; "
              "mount -t tmpfs t /mnt/h && echo TMPFS")
    for caps in (("--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"),
                 ("--privileged",)):
        r = sbx.run("run", "--rm", "--userns=auto", *caps, "--device", f"{disk}:/dev/hd",
                    "bb", "sh", "-c", script)
        assert "READ" not in r.stdout and "MOUNTED" not in r.stdout and "MKNOD" not in r.stdout, r
        # refused by the node's owner (host root: nobody inside), not only by a policy
        assert "/dev/hd: Permission denied" in r.stderr, r
        # its capabilities are real inside its own namespaces: a tmpfs mounts
        assert "TMPFS" in r.stdout, r


def _root_store_env() -> SbxEnv:
    env = dict(os.environ)
    env.pop("SBX_ROOT", None)
    env.pop("SBX_RUNROOT", None)
    env["SBX_OFFLINE"] = "1"
    return SbxEnv(Path("/var/lib/sbx"), env)


def _image_in_root_store(env: SbxEnv, *refs: str) -> str:
    have = env.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    for ref in refs:
        if ref in have:
            return ref
    unavailable(f"none of {refs} is in root's store (scripts/setup.sh builds them)")
    return ""


def test_debian_runs_under_it() -> None:
    env = _root_store_env()
    image = _image_in_root_store(env, "debian:bookworm-slim", "debian:bookworm")
    out = env.ok("run", "--rm", "--userns=auto", image, "sh", "-c",
                 "stat -c '%u:%g %a' /etc/shadow /usr/bin/passwd; su -s /bin/sh nobody -c 'id -u';"
                 " apt-get --version | head -1")
    assert "0:42 640" in out and "0:0 4755" in out and "65534" in out and "apt" in out


def test_redis_recipe_image_runs_under_it() -> None:
    env = _root_store_env()
    image = _image_in_root_store(env, "sandbox/redis:bookworm")
    name = f"userns-redis-{os.getpid()}"
    env.ok("run", "-d", "--name", name, "--userns=auto", image)
    try:
        import time

        deadline = time.time() + 20
        while True:
            r = env.run("exec", name, "redis-cli", "ping")
            if r.stdout.strip() == "PONG":
                break
            assert time.time() < deadline, r
            time.sleep(0.2)
        pid = int(env.ok("inspect", "-f", "{{.State.Pid}}", name))
        uid = int(_status(pid)["Uid"].split()[0])
        assert uid >= 65536   # redis's own user, inside the container's range
    finally:
        env.run("rm", "-f", name)
    assert name not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_export_shows_the_ids_the_container_saw(sbx: SbxEnv) -> None:
    sbx.ok("run", "--name", "exp", "--userns=auto", "bb", "sh", "-c",
           "touch /mine && chown 5:6 /mine && touch /root-owned")
    data = subprocess.run([*_sbx_argv(), "export", "exp"], env=sbx.env, capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        owners = {m.name: (m.uid, m.gid) for m in tar.getmembers()}
    assert owners["mine"] == (5, 6) and owners["root-owned"] == (0, 0)
    assert owners["bin/busybox"] == (0, 0)


def _sbx_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "sbx"]


def test_copy_driver(sbx: SbxEnv, owners_image: str) -> None:
    env = SbxEnv(sbx.root, {**sbx.env, "SBX_STORAGE_DRIVER": "copy"})
    out = env.ok("run", "--name", "cp", "--userns=auto", owners_image, "sh", "-c",
                 "stat -c '%u:%g %a %n' /etc/shadow /bin/busybox; touch /new && chown 9 /new && echo OK")
    assert "0:42 640 /etc/shadow" in out and "0:0 755 /bin/busybox" in out and "OK" in out
    start, _ = _maps(sbx, "cp")
    cid = sbx.ok("inspect", "-f", "{{.Id}}", "cp").strip()
    upper = next(p for p in (sbx.root / "containers" / cid).iterdir() if p.name in ("upper", "diff"))
    assert os.stat(upper / "new").st_uid == start + 9
    assert os.stat(upper / "etc/shadow").st_gid == start + 42


def test_sysctls_and_hostname_stay_with_the_container(sbx: SbxEnv) -> None:
    out = sbx.ok("run", "--rm", "--userns=auto", "-h", "uhost", "--sysctl", "kernel.msgmax=12345",
                 "--sysctl", "net.ipv4.ip_unprivileged_port_start=1000", "bb", "sh", "-c",
                 "cat /proc/sys/kernel/msgmax /proc/sys/net/ipv4/ip_unprivileged_port_start; hostname")
    assert out.split() == ["12345", "1000", "uhost"]


def test_a_missing_bind_source_is_made_for_the_containers_root(sbx: SbxEnv, tmp_path: Path) -> None:
    src = tmp_path / "made"
    out = sbx.ok("run", "--rm", "--userns=auto", "--name", "mk", "-v", f"{src}:/m", "bb", "sh", "-c",
                 "stat -c %u /m; touch /m/f && echo OK")
    assert out.split() == ["0", "OK"]
    assert os.stat(src).st_uid >= 65536 and os.stat(src / "f").st_uid == os.stat(src).st_uid


def test_privileged_is_still_not_host_root(sbx: SbxEnv) -> None:
    knob = "/sys/kernel/mm/ksm/run"
    if not os.path.exists(knob):
        unavailable(f"{knob} is missing on this kernel")
    with open(knob) as f:
        same = f.read().strip()   # written back unchanged: nothing changes even if allowed
    r = sbx.run("run", "--rm", "--privileged", "--userns=auto", "bb", "sh", "-c",
                f"echo {same} > {knob} && echo SYSFS; stat -c %u {knob}")
    assert "SYSFS" not in r.stdout and "Permission denied" in r.stderr, r
    assert r.stdout.split() == ["65534"]
    assert "SYSFS" in sbx.ok("run", "--rm", "--privileged", "bb", "sh", "-c",
                             f"echo {same} > {knob} && echo SYSFS")
