"""``sbx build`` never reads a file outside the build context through a symlink the
context holds (a cloned repository is hostile input): not as the Dockerfile, not as
``.dockerignore``, not as a COPY/ADD source; and no byte of such a file ever appears in
an error.  Symlinks are followed only inside the context, as BuildKit does."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, str]:
    """A host file (0600 in a 0700 directory) whose first line a parser would quote."""
    d = tmp_path / "hostonly"
    d.mkdir(mode=0o700)
    token = "SECRET" + secrets.token_hex(16)
    f = d / "secret"
    # a line that is a bad Dockerfile instruction and a bad .dockerignore pattern alike
    f.write_text(f"[{token} root:x:0:0\nsecond {token}\n")
    f.chmod(0o600)
    return f, token


def _ctx(tmp_path: Path, dockerfile: str | None = "FROM bb\nRUN true\n") -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    if dockerfile is not None:
        (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def _clean(r: subprocess.CompletedProcess[str], token: str) -> None:
    assert token not in r.stdout and token not in r.stderr, (r.stdout, r.stderr)


def test_a_dockerfile_symlink_out_of_the_context_is_refused(sbx, tmp_path, secret):
    f, token = secret
    ctx = _ctx(tmp_path, None)
    (ctx / "Dockerfile").symlink_to(f)
    r = sbx.run("build", str(ctx))
    assert r.returncode == 1
    assert "unable to open Dockerfile" in r.stderr
    _clean(r, token)
    # also by -f, by a relative link, and through a context piped on stdin
    (ctx / "Dockerfile.dev").symlink_to(os.path.relpath(f, ctx))
    r = sbx.run("build", "-f", str(ctx / "Dockerfile.dev"), str(ctx))
    assert r.returncode == 1 and "unable to open Dockerfile" in r.stderr
    _clean(r, token)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("Dockerfile")
        ti.type, ti.linkname = tarfile.SYMTYPE, str(f)
        tar.addfile(ti)
    r2 = subprocess.run([sys.executable, "-m", "sbx", "build", "-"], env=sbx.env,
                        input=buf.getvalue(), capture_output=True, timeout=60)
    assert r2.returncode == 1 and b"unable to open Dockerfile" in r2.stderr
    assert token.encode() not in r2.stdout + r2.stderr


def test_a_dockerfile_symlink_inside_the_context_is_followed_there(sbx, tmp_path):
    ctx = _ctx(tmp_path, None)
    (ctx / "build").mkdir()
    (ctx / "build" / "real.df").write_text("FROM bb\nRUN echo inside > /x\n")
    (ctx / "Dockerfile").symlink_to("build/real.df")
    (ctx / "abs.df").symlink_to("/build/real.df")  # absolute: from the context's root
    sbx.ok("build", "-t", "via-link", str(ctx))
    sbx.ok("build", "-t", "via-abs", "-f", str(ctx / "abs.df"), str(ctx))
    assert sbx.ok("run", "--rm", "via-abs", "cat", "/x") == "inside\n"


def test_a_dockerignore_symlink_out_of_the_context_is_not_read(sbx, tmp_path, secret):
    f, token = secret
    ctx = _ctx(tmp_path)
    (ctx / ".dockerignore").symlink_to(f)
    # read, its first line "[SECRET..." would be a pattern syntax error quoting it
    r = sbx.run("build", "--no-cache", str(ctx))
    assert r.returncode == 0, r.stderr
    _clean(r, token)


def test_copy_never_copies_a_file_outside_the_context(sbx, tmp_path, secret):
    f, token = secret
    ctx = _ctx(tmp_path)
    (ctx / "top").symlink_to(f)
    (ctx / "hostdir").symlink_to(f.parent)
    (ctx / "d").mkdir()
    (ctx / "d" / "inner").symlink_to(f)
    (ctx / "d" / "mine").write_text("mine\n")
    for source in ("top", "hostdir/secret", "t*", "hostdir"):
        (ctx / "Dockerfile").write_text(f"FROM bb\nCOPY {source} /x\n")
        r = sbx.run("build", "--no-cache", str(ctx))
        assert r.returncode == 1 and "not found in build context" in r.stderr, (source, r.stderr)
        _clean(r, token)
    # inside a copied directory, a link is copied as the link itself (as Docker does)
    (ctx / "Dockerfile").write_text("FROM bb\nCOPY d /d\nADD d /e\n")
    sbx.ok("build", "--no-cache", "-t", "links", str(ctx))
    out = sbx.ok("run", "--rm", "links", "sh", "-c",
                 "readlink /d/inner; readlink /e/inner; cat /d/mine; cat /d/inner /e/inner 2>&1 || true")
    assert out.splitlines()[:3] == [str(f), str(f), "mine"]
    assert token not in out
    assert os.stat(f).st_mode & 0o777 == 0o600
