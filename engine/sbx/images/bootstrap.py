"""``sbx bootstrap``: Debian and Ubuntu base images made with mmdebstrap, as the official ones are.

``sbx bootstrap debian:bookworm --variant minbase --include ca-certificates`` runs
``mmdebstrap`` (``debootstrap`` when mmdebstrap is missing) against the mirror the
machine's own apt sources use, takes the root filesystem tar it writes, and stores it as
a one-layer image with Docker's usual config (``CMD ["bash"]``, the standard ``PATH``),
tagged so that ``FROM debian:bookworm`` and ``sbx run debian:bookworm`` resolve locally.
The tar is kept as the layer's blob, so the image can be pushed and saved unchanged.
mmdebstrap's progress goes to ``out``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

from sbx.errors import InvalidArgument, NotFound, SbxError
from sbx.images.layerblobs import LayerBlob, record_blob
from sbx.layers import Compression
from sbx.oci.image import History, Image, ImageConfig
from sbx.oci.manifest import Platform
from sbx.oci.reference import Reference
from sbx.store import Store
from sbx.store.images import ImageRecord
from sbx.store.store import now_rfc3339

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_MIRRORS = {"debian": "http://deb.debian.org/debian",
                   "ubuntu": "http://archive.ubuntu.com/ubuntu"}
VARIANTS = ("extract", "custom", "essential", "apt", "required", "minbase", "buildd",
            "important", "debootstrap", "standard")
_PKG = re.compile(r"^[a-z0-9][a-z0-9+.:=/~-]*-?$")
_SUITE = re.compile(r"^[a-z][a-z0-9.-]*$")


@dataclass(frozen=True)
class BootstrapSpec:
    """What to bootstrap: ``debian``/``ubuntu``, a suite, the package set and the tag."""

    distro: str
    suite: str
    tag: str
    variant: str = "minbase"
    include: tuple[str, ...] = ()
    mirror: str = ""
    architecture: str = ""

    @classmethod
    def parse(cls, name: str, *, tag: str | None = None, variant: str = "minbase",
              include: str | list[str] | tuple[str, ...] = (), mirror: str | None = None,
              architecture: str | None = None) -> BootstrapSpec:
        """``debian:bookworm`` or ``ubuntu:noble`` (``debian`` alone means ``debian:stable``)."""
        ref = Reference.parse(name)
        distro = ref.path.rpartition("/")[2]
        if distro not in DEFAULT_MIRRORS or ref.digest is not None:
            raise InvalidArgument(f"cannot bootstrap {name!r}: expected debian:SUITE or ubuntu:SUITE",
                                  hint="e.g. sbx bootstrap debian:bookworm")
        suite = ref.tag if ref.tag and ref.tag != "latest" else ("stable" if distro == "debian" else "")
        if not suite or not _SUITE.match(suite):
            raise InvalidArgument(f"cannot bootstrap {name!r}: name the suite as the tag",
                                  hint=f"e.g. sbx bootstrap {distro}:{'noble' if distro == 'ubuntu' else 'bookworm'}")
        if variant not in VARIANTS:
            raise InvalidArgument(f"unknown variant {variant!r}", hint=f"one of {', '.join(VARIANTS)}")
        items = include.split(",") if isinstance(include, str) else \
            [p for i in include for p in i.split(",")]
        pkgs = tuple(p.strip() for p in items if p.strip())
        for p in pkgs:
            if not _PKG.match(p):
                raise InvalidArgument(f"invalid package name {p!r} in --include")
        out_tag = str(Reference.parse(tag)) if tag else str(ref)
        arch = architecture or _dpkg_arch(Platform.current().architecture)
        return cls(distro, suite, out_tag, variant, pkgs, mirror or apt_mirror(distro), arch)

    def sources(self) -> str:
        return f"deb {self.mirror} {self.suite} main"


def _dpkg_arch(oci_arch: str) -> str:
    return {"arm": "armhf", "386": "i386"}.get(oci_arch, oci_arch)


def _source_uris(root: Path) -> Iterator[str]:
    """Every ``deb`` URI in the machine's apt sources (one-line and deb822 formats)."""
    one_line = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for path in one_line:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split("#", 1)[0].split()
                if words and words[0] == "deb":
                    rest = [w for w in words[1:] if not w.startswith("[")]
                    if rest:
                        yield rest[0]
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        with contextlib.suppress(OSError):
            for block in path.read_text().split("\n\n"):
                fields = dict(line.split(":", 1) for line in block.splitlines()
                              if ":" in line and not line.startswith(("#", " ")))
                if "deb" in fields.get("Types", "").split() and \
                        fields.get("Enabled", "yes").strip() != "no":
                    yield from fields.get("URIs", "").split()


def apt_mirror(distro: str, apt_dir: Path = Path("/etc/apt")) -> str:
    """The machine's mirror for ``distro`` (``.../debian`` or ``.../ubuntu``), or the default."""
    for uri in _source_uris(apt_dir):
        path = uri.rstrip("/")
        if path.endswith(f"/{distro}") and "security" not in path:
            return path
    return DEFAULT_MIRRORS[distro]


def _tool() -> str:
    for name in ("mmdebstrap", "debootstrap"):
        if shutil.which(name):
            return name
    raise NotFound("neither mmdebstrap nor debootstrap is installed",
                   hint="apt-get install mmdebstrap")


def _relay(stream: IO[bytes], out: TextIO | None) -> threading.Thread:
    def run() -> None:
        for line in iter(stream.readline, b""):
            if out is not None:
                out.write(line.decode("utf-8", "replace"))
                out.flush()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _mmdebstrap_cmd(spec: BootstrapSpec, *, unshare: bool = False) -> list[str]:
    cmd = ["mmdebstrap", f"--variant={spec.variant}", "--format=tar",
           f"--architectures={spec.architecture}"]
    if unshare:  # an ordinary user: mmdebstrap makes its own user namespace (subuid)
        cmd.append("--mode=unshare")
    if spec.include:
        cmd.append("--include=" + ",".join(spec.include))
    return [*cmd, spec.suite, "-", spec.sources()]


def start_unprivileged(spec: BootstrapSpec) -> subprocess.Popen[bytes] | None:
    """Rootless mode: start mmdebstrap in its own ``unshare`` mode before this process
    joins the user's namespace (from inside it, newuidmap cannot work).  None for root or
    without mmdebstrap."""
    from sbx.rootless.idmap import current

    mode = current()
    if not mode.rootless or mode.in_userns or _tool() != "mmdebstrap":
        return None
    return subprocess.Popen(_mmdebstrap_cmd(spec, unshare=True), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run_mmdebstrap(store: Store, spec: BootstrapSpec, out: TextIO | None,
                    started: subprocess.Popen[bytes] | None = None):  # type: ignore[no-untyped-def]
    proc = started or subprocess.Popen(_mmdebstrap_cmd(spec), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    relay = _relay(proc.stderr, out)
    try:
        with store.ingest() as writer:
            writer.copy_from(proc.stdout)  # type: ignore[arg-type]
            if proc.wait() != 0:
                relay.join(5)
                raise SbxError(f"mmdebstrap failed with exit code {proc.returncode} "
                               f"bootstrapping {spec.distro} {spec.suite} from {spec.mirror}",
                               hint="see its output above; check the suite name and the network")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        relay.join(5)
    assert writer.digest is not None
    return writer.digest


def _run_debootstrap(store: Store, spec: BootstrapSpec, out: TextIO | None):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory(dir=store.layout.tmp, prefix="bootstrap-") as tmp:
        target = Path(tmp) / "rootfs"
        cmd = ["debootstrap", f"--variant={spec.variant}", f"--arch={spec.architecture}"]
        if spec.include:
            cmd.append("--include=" + ",".join(spec.include))
        cmd += [spec.suite, str(target), spec.mirror]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        _relay(proc.stdout, out).join()
        if proc.wait() != 0:
            raise SbxError(f"debootstrap failed with exit code {proc.returncode}",
                           hint="see its output above")
        with store.ingest() as writer:
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for name in sorted(os.listdir(target)):
                    tar.add(target / name, arcname=name)
        assert writer.digest is not None
        return writer.digest


def bootstrap(store: Store, spec: BootstrapSpec, *, out: TextIO | None = None,
              started: subprocess.Popen[bytes] | None = None) -> ImageRecord:
    """Bootstrap the root filesystem and commit it as a one-layer image tagged ``spec.tag``
    (``started``: the mmdebstrap that ``start_unprivileged`` began)."""
    tool = "mmdebstrap" if started is not None else _tool()
    if out is not None:
        out.write(f"Bootstrapping {spec.distro} {spec.suite} ({spec.variant}) from "
                  f"{spec.mirror} with {tool}\n")
        out.flush()
    with store.lease():
        if tool == "mmdebstrap":
            blob = _run_mmdebstrap(store, spec, out, started)
        else:
            blob = _run_debootstrap(store, spec, out)
        layer = store.layers.add(store.blobs.path(blob), compression=Compression.NONE)
        size = store.blobs.size(blob)
        record_blob(store, LayerBlob(layer.diff_id, blob, size, size, Compression.NONE))
        created = now_rfc3339()
        plat = Platform.current()
        packages = f" --include={','.join(spec.include)}" if spec.include else ""
        image = Image(architecture=plat.architecture, os="linux", variant=plat.variant,
                      config=ImageConfig(env=(DEFAULT_PATH,), cmd=("bash",)),
                      diff_ids=(layer.diff_id,), created=created,
                      history=(History(created=created, created_by=(
                          f"sbx bootstrap {spec.distro}:{spec.suite} --variant {spec.variant}"
                          f"{packages} ({spec.mirror})")),))
        return store.commit_image(image, [spec.tag])
