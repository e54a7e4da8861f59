"""``sbx pull``/``push``/``login`` and ``run``'s implicit pull against Debian's docker-registry on 127.0.0.1.

Every store is private and offline (``SBX_OFFLINE=1``): only loopback registries are
contacted.  Docker Hub names are served through a registry mirror on 127.0.0.1.  A small
proxy between sbx and the registry counts blob downloads and can slow them down (to kill
a pull half way).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.needs import need
from tests.registry_server import RegistryServer, registry_binary, start_registry
from tests.sbxenv import SbxEnv, destroy_env, make_env

pytestmark = pytest.mark.integration
USERS = {"alice": "wonderland"}


@pytest.fixture(scope="module", autouse=True)
def _need_tools() -> None:
    need("docker-registry", registry_binary())
    need("skopeo")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp("registry-basic"), auth="htpasswd", users=USERS)
    yield server
    server.stop()


@pytest.fixture
def fresh(busybox_tar: Path, tmp_path: Path) -> Iterator[SbxEnv]:
    """A second private store (the pulling side), with its own config dir."""
    env = make_env(busybox_tar)
    env.env["SBX_CONFIG_DIR"] = str(tmp_path / "sbx-config")
    env.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    yield env
    leaks = destroy_env(env)
    assert not leaks


def contents(env: SbxEnv) -> dict[str, set[str]]:
    """What is visible in a store: blobs, layer dirs, image records and tags."""
    root = env.root
    tags = json.loads((root / "images" / "tags.json").read_text()) \
        if (root / "images" / "tags.json").exists() else {}
    return {"blobs": {p.name for p in (root / "blobs" / "sha256").glob("*")},
            "layers": {p.name for p in (root / "layers").glob("*")},
            "images": {p.name for p in (root / "images").glob("*.json") if p.name != "tags.json"},
            "tags": set(tags)}


def unique_image(env: SbxEnv, name: str, size: int = 4096) -> None:
    """Import bb's rootfs plus ``/payload.bin`` of random bytes as ``name`` (a layer of its own)."""
    path = env.root / f"{name.replace('/', '_').replace(':', '_')}.tar"
    shutil.copyfile(BUSYBOX[0], path)
    with tarfile.open(path, "a") as tar:
        data = os.urandom(size)
        ti = tarfile.TarInfo("payload.bin")
        ti.size, ti.mode = len(data), 0o644
        tar.addfile(ti, io.BytesIO(data))
    env.ok("import", "-c", 'CMD ["sh"]', str(path), name)


BUSYBOX: list[Path] = []


@pytest.fixture(autouse=True)
def _busybox(busybox_tar: Path) -> None:
    BUSYBOX[:] = [busybox_tar]


def push_bb(env: SbxEnv, target: str) -> str:
    env.ok("tag", "bb", target)
    return env.ok("push", target)


# -- a counting, throttling proxy -------------------------------------------------------

class Proxy:
    """Forwards HTTP to the registry; counts blob GETs; ``delay`` slows each 64 KiB chunk."""

    def __init__(self, upstream: str, delay: float = 0.0) -> None:
        self.upstream = upstream
        self.delay = delay
        self.blob_gets: dict[str, int] = {}
        self.bytes_sent = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                if self.command == "GET" and "/blobs/sha256:" in self.path:
                    key = self.path.rsplit("/", 1)[1]
                    with proxy.lock:
                        proxy.blob_gets[key] = proxy.blob_gets.get(key, 0) + 1
                r = requests.request(self.command, f"http://{proxy.upstream}{self.path}",
                                     headers=headers, data=body, stream=True,
                                     allow_redirects=False, timeout=30)
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    for chunk in r.raw.stream(65536, decode_content=False):
                        self.wfile.write(chunk)
                        with proxy.lock:
                            proxy.bytes_sent += len(chunk)
                        if proxy.delay:
                            time.sleep(proxy.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(registry: RegistryServer) -> Iterator[Proxy]:
    p = Proxy(registry.host)
    yield p
    p.stop()


# -- pull and push ------------------------------------------------------------------------

def test_push_then_pull_prints_docker_lines_and_runs(sbx: SbxEnv, fresh: SbxEnv,
                                                     registry: RegistryServer) -> None:
    name = f"{registry.host}/team/bb:1.0"
    out = push_bb(sbx, name)
    assert f"The push refers to repository [{registry.host}/team/bb]" in out
    assert ": Pushed" in out and "1.0: digest: sha256:" in out
    again = sbx.ok("push", name)
    assert "Layer already exists" in again

    pulled = fresh.run("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout
    assert "1.0: Pulling from team/bb" in lines
    assert ": Pull complete" in lines
    assert "Digest: sha256:" in lines
    assert f"Status: Downloaded newer image for {name}" in lines
    assert lines.rstrip().endswith(name)
    assert fresh.ok("run", "--rm", name, "echo", "pulled-ok").strip() == "pulled-ok"

    second = fresh.ok("pull", name)
    assert "Already exists" in second or "Image is up to date" in second
    assert f"Status: Image is up to date for {name}" in second

    digest = pulled.stdout.split("Digest: ", 1)[1].split()[0]
    table = fresh.ok("images", "--digests")
    assert digest in table
    by_digest = fresh.ok("pull", "-q", f"{registry.host}/team/bb@{digest}")
    assert digest in by_digest


def test_pull_quiet_prints_only_the_name(sbx: SbxEnv, fresh: SbxEnv,
                                         registry: RegistryServer) -> None:
    name = f"{registry.host}/team/quiet:1"
    push_bb(sbx, name)
    assert fresh.ok("pull", "-q", name).strip() == name


def test_skopeo_and_umoci_read_what_sbx_pushes(sbx: SbxEnv, registry: RegistryServer,
                                               tmp_path: Path) -> None:
    name = f"{registry.host}/team/interop:1"
    unique_image(sbx, name)
    sbx.ok("push", name)
    # (skopeo as an ordinary user without XDG_RUNTIME_DIR would look in root's /run/containers)
    env = dict(os.environ, REGISTRY_AUTH_FILE=str(tmp_path / "auth.json"))
    info = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"],
                          capture_output=True, text=True, check=True, env=env)
    assert json.loads(info.stdout)["Name"] == f"{registry.host}/team/interop"
    layout = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{name}",
                    f"oci:{layout}:interop"], capture_output=True, check=True, env=env)
    if shutil.which("umoci"):
        bundle = tmp_path / "bundle"
        rootless = ["--rootless"] if os.geteuid() else []
        subprocess.run(["umoci", "unpack", *rootless, "--image", f"{layout}:interop", str(bundle)],
                       capture_output=True, check=True)
        assert (bundle / "rootfs" / "payload.bin").stat().st_size == 4096


def test_push_of_a_pulled_image_mounts_or_skips_its_layers(sbx: SbxEnv, fresh: SbxEnv,
                                                          registry: RegistryServer) -> None:
    src = f"{registry.host}/team/src:1"
    push_bb(sbx, src)
    fresh.ok("pull", src)
    dst = f"{registry.host}/other/copy:1"
    fresh.ok("tag", src, dst)
    out = fresh.ok("push", dst)
    assert "Mounted from team/src" in out or "Layer already exists" in out
    digest_src = fresh.ok("images", "--digests", "--format", "{{.Digest}}", f"{registry.host}/team/src")
    assert digest_src.strip() in out  # same manifest: pushed unchanged


def test_run_pulls_a_docker_hub_name_through_a_loopback_mirror(sbx: SbxEnv, fresh: SbxEnv,
                                                               registry: RegistryServer) -> None:
    push_bb(sbx, f"{registry.host}/library/redis:latest")
    fresh.env["SBX_REGISTRY_MIRRORS"] = f"http://{registry.host}"
    r = fresh.run("run", "--rm", "redis", "echo", "from-mirror")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "from-mirror"
    assert "Unable to find image 'redis:latest' locally" in r.stderr
    assert "latest: Pulling from library/redis" in r.stderr
    assert "Status: Downloaded newer image for redis:latest" in r.stderr
    assert "redis:latest" in fresh.ok("images", "--format", "{{.Repository}}:{{.Tag}}")


def test_offline_run_of_a_missing_docker_hub_image_is_one_clear_line(fresh: SbxEnv) -> None:
    before = contents(fresh)
    r = fresh.run("run", "--rm", "redis")
    assert r.returncode == 125
    lines = r.stderr.strip().splitlines()
    assert lines[0] == "Unable to find image 'redis:latest' locally"
    assert len(lines) == 2, r.stderr
    assert "not found locally (offline" in lines[1] and "SBX_OFFLINE" in lines[1]
    assert contents(fresh) == before


def test_pull_never_does_not_contact_anything(fresh: SbxEnv) -> None:
    r = fresh.run("run", "--pull", "never", "--rm", "nosuchimage")
    assert r.returncode == 125
    assert "Pulling" not in r.stderr


def test_unknown_tag_is_manifest_unknown_and_stores_nothing(fresh: SbxEnv,
                                                            registry: RegistryServer) -> None:
    before = contents(fresh)
    r = fresh.run("pull", f"{registry.host}/team/bb:no-such-tag")
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1
    assert "manifest unknown" in r.stderr or "not known" in r.stderr
    assert contents(fresh) == before


def test_unreachable_registry_is_one_line(fresh: SbxEnv) -> None:
    from tests.registry_server import free_port

    r = fresh.run("pull", f"127.0.0.1:{free_port()}/team/x:1")
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1
    assert "unreachable" in r.stderr


def test_corrupt_blob_is_a_digest_mismatch_and_nothing_is_stored(
        sbx: SbxEnv, fresh: SbxEnv, registry: RegistryServer) -> None:
    name = f"{registry.host}/team/corrupt:1"
    unique_image(sbx, name, size=200_000)
    sbx.ok("push", name)
    manifest = requests.get(f"{registry.url}/v2/team/corrupt/manifests/1", timeout=10, headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"}).json()
    layer = manifest["layers"][0]["digest"].split(":", 1)[1]
    data = registry.workdir / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / \
        layer[:2] / layer / "data"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    before = contents(fresh)
    r = fresh.run("pull", name)
    assert r.returncode == 125
    assert "digest mismatch" in r.stderr.lower()
    assert len(r.stderr.strip().splitlines()) <= 3  # progress lines are on stdout
    assert contents(fresh) == before


def test_401_says_how_to_log_in_then_login_works(sbx: SbxEnv, fresh: SbxEnv,
                                                 basic_registry: RegistryServer) -> None:
    name = f"{basic_registry.host}/team/secret:1"
    sbx.env["SBX_CONFIG_DIR"] = str(fresh.root / "src-config")
    sbx.env["DOCKER_CONFIG"] = str(fresh.root / "src-docker")
    denied = sbx.run("tag", "bb", name), sbx.run("push", name)
    assert denied[1].returncode == 125
    assert f"sbx login {basic_registry.host}" in denied[1].stderr
    bad = sbx.run("login", "-u", "alice", "--password-stdin", basic_registry.host, input="nope\n")
    assert bad.returncode == 125
    sbx.ok("login", "-u", "alice", "--password-stdin", basic_registry.host, input="wonderland\n")
    sbx.ok("push", name)
    r = fresh.run("pull", name)
    assert r.returncode == 125 and "sbx login" in r.stderr
    fresh.ok("login", "-u", "alice", "--password-stdin", basic_registry.host, input="wonderland\n")
    fresh.ok("pull", name)
    assert "Removing login credentials" in fresh.ok("logout", basic_registry.host)
    sbx.ok("logout", basic_registry.host)


def test_429_reports_the_retry_after(fresh: SbxEnv) -> None:
    class Limited(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(429)
            self.send_header("Retry-After", "120")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Limited)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        r = fresh.run("pull", f"127.0.0.1:{server.server_address[1]}/team/x:1")
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode == 125
    assert "too many requests" in r.stderr and "retry after 120s" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# -- one store, many processes ------------------------------------------------------------

def _sbx_popen(env: SbxEnv, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "sbx", *args], env=env.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_eight_concurrent_pulls_download_each_blob_once(sbx: SbxEnv, fresh: SbxEnv,
                                                       registry: RegistryServer,
                                                       proxy: Proxy) -> None:
    unique_image(sbx, f"{registry.host}/team/many:1", size=300_000)
    sbx.ok("push", f"{registry.host}/team/many:1")
    name = f"{proxy.host}/team/many:1"
    procs = [_sbx_popen(fresh, "pull", name) for _ in range(8)]
    results = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    assert all(code == 0 for code, _ in results), results
    assert proxy.blob_gets and all(n == 1 for n in proxy.blob_gets.values()), proxy.blob_gets
    layer_dirs = [p for p in (fresh.root / "layers").iterdir() if p.is_dir()]
    assert len(layer_dirs) == 2  # bb and the pulled one
    assert fresh.ok("run", "--rm", name, "wc", "-c", "/payload.bin").split()[0] == "300000"


def test_sigkill_mid_pull_leaves_nothing_visible_and_next_pull_finishes(
        sbx: SbxEnv, fresh: SbxEnv, registry: RegistryServer, proxy: Proxy) -> None:
    unique_image(sbx, f"{registry.host}/team/killed:1", size=3_000_000)
    sbx.ok("push", f"{registry.host}/team/killed:1")
    name = f"{proxy.host}/team/killed:1"
    before = contents(fresh)
    proxy.delay = 0.05
    p = _sbx_popen(fresh, "pull", name)
    deadline = time.monotonic() + 30
    while proxy.bytes_sent < 200_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.bytes_sent >= 200_000, "the pull never started downloading"
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    for stream in (p.stdout, p.stderr):
        if stream:
            stream.close()
    after = contents(fresh)
    # no layer, image or tag appeared; a blob that is visible is whole (its name is its hash)
    assert {k: v for k, v in after.items() if k != "blobs"} == \
        {k: v for k, v in before.items() if k != "blobs"}
    for hexname in after["blobs"] - before["blobs"]:
        data = (fresh.root / "blobs" / "sha256" / hexname).read_bytes()
        assert hashlib.sha256(data).hexdigest() == hexname
    proxy.delay = 0.0
    r = fresh.run("pull", name)
    assert r.returncode == 0, r.stderr
    assert fresh.ok("run", "--rm", name, "wc", "-c", "/payload.bin").split()[0] == "3000000"


# -- removal ----------------------------------------------------------------------------------

def test_rmi_refuses_an_image_a_container_uses_and_prune_reports_space(
        sbx: SbxEnv, fresh: SbxEnv, registry: RegistryServer) -> None:
    name = f"{registry.host}/team/used:1"
    unique_image(sbx, name, size=100_000)
    sbx.ok("push", name)
    fresh.ok("pull", "-q", name)
    cid = fresh.ok("create", name, "true").strip()
    r = fresh.run("rmi", name)
    assert r.returncode != 0 and "conflict" in r.stderr
    fresh.ok("rm", cid)
    fresh.ok("rmi", name)
    out = fresh.ok("image", "prune", "-f")
    assert "Total reclaimed space:" in out
