"""``sbx export`` of a running container that races symlinks against the walk.

The container keeps swapping a regular file for a symlink to a host file only root can
read (and a directory for a symlink to the host directory holding it).  An export that
checks a name and then opens it by path archives the host's file in a few exports out of
forty; the walk through pinned descriptors (``sbx.layers.walk``) archives the link as a
link and never a byte of the target.
"""

from __future__ import annotations

import os
import secrets
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXPORTS = 40


@pytest.fixture
def host_secret(tmp_path: Path) -> tuple[Path, bytes]:
    """A root-only host file (0600 in a 0700 directory) the container never sees."""
    d = tmp_path / "hostonly"
    d.mkdir(mode=0o700)
    token = secrets.token_hex(24).encode()
    secret = d / "secret"
    secret.write_bytes(b"HOST-SECRET " + token + b"\n")
    secret.chmod(0o600)
    return secret, token


def test_export_never_follows_a_symlink_the_container_plants(sbx, host_secret, tmp_path):
    secret, token = host_secret
    plain = "p" * (secret.stat().st_size - 1)  # same size: a followed link would be read whole
    # /tmp/a.big widens the window between listing /tmp and reaching /tmp/x* (as an
    # attacker would); each x* flips between a regular file and a symlink to the secret,
    # /tmp/d between a directory and a symlink to the secret's directory
    loop = (
        "dd if=/dev/zero of=/tmp/a.big bs=1M count=8 2>/dev/null; "
        "while :; do for n in 1 2 3 4; do "
        f"rm -f /tmp/x$n; echo {plain} > /tmp/x$n; ln -sf {secret} /tmp/x$n; "
        "done; "
        "mkdir -p /tmp/d; echo plain > /tmp/d/secret; "
        f"rm -rf /tmp/d; ln -s {secret.parent} /tmp/d; rm -f /tmp/d; "
        "done"
    )
    cid = sbx.ok("run", "-d", "bb", "sh", "-c", loop).strip()
    links = regular = 0
    try:
        for i in range(EXPORTS):
            out = tmp_path / f"e{i}.tar"
            r = sbx.run("export", "-o", str(out), cid, timeout=60)
            # files appear and vanish under the walk: that is never an error
            assert r.returncode == 0, r.stderr
            data = out.read_bytes()
            assert token not in data and b"HOST-SECRET" not in data, \
                f"export {i} of {EXPORTS} holds the host's root-only file"
            with tarfile.open(out) as tar:
                for m in tar.getmembers():
                    name = m.name.lstrip("./")
                    if name.startswith("tmp/x") or name == "tmp/d":
                        if m.issym():
                            links += 1
                            assert m.linkname in (str(secret), str(secret.parent))
                        else:
                            regular += 1
            out.unlink()
    finally:
        sbx.run("rm", "-f", cid)
    # the race was really on: both forms of the names were caught
    assert links and regular, (links, regular)


def test_export_of_a_stopped_container_keeps_links_as_links(sbx, host_secret, tmp_path):
    secret, token = host_secret
    sbx.ok("run", "--name", "planted", "bb", "sh", "-c",
           f"ln -s {secret} /planted; ln -s {secret.parent} /planted-dir; echo data > /mine")
    out = tmp_path / "p.tar"
    sbx.ok("export", "-o", str(out), "planted")
    assert token not in out.read_bytes()
    with tarfile.open(out) as tar:
        byname = {m.name.lstrip("./"): m for m in tar.getmembers()}
        assert byname["planted"].issym() and byname["planted"].linkname == str(secret)
        assert byname["planted-dir"].issym()
        assert not any(n.startswith("planted-dir/") for n in byname)
        assert tar.extractfile(byname["mine"]).read() == b"data\n"  # type: ignore[union-attr]
    assert os.stat(secret).st_mode & 0o777 == 0o600
