"""Build contexts: source matching with Docker's rules, .dockerignore, content digests."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from sbx.build.context import BuildContext, clean_source
from sbx.errors import BuildError


@pytest.fixture
def ctx(tmp_path: Path) -> BuildContext:
    root = tmp_path / "ctx"
    for name, data in {"Dockerfile": "FROM bb\n", "a.txt": "a", "b.txt": "b", "c.md": "c",
                       "src/x.py": "x", "src/deep/y.py": "y", "secret.key": "k",
                       ".dockerignore": "*.key\nsrc/deep\n"}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
    return BuildContext.from_directory(root)


def test_clean_source_stays_inside_the_context() -> None:
    assert clean_source("/a/./b") == "a/b"
    assert clean_source("../../etc/passwd") == "etc/passwd"
    assert clean_source(".") == "." and clean_source("./") == "."


def test_wildcards_do_not_cross_directories(ctx: BuildContext) -> None:
    assert [s.rel for s in ctx.select(["*.txt"])] == ["a.txt", "b.txt"]
    assert [s.rel for s in ctx.select(["src/*.py"])] == ["src/x.py"]
    assert [s.rel for s in ctx.select(["[ab].txt", "?.md"])] == ["a.txt", "b.txt", "c.md"]


def test_dockerignore_hides_files_and_directories(ctx: BuildContext) -> None:
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        ctx.select(["secret.key"])
    with pytest.raises(BuildError, match="not found in build context"):
        ctx.select(["nope.txt"])
    with pytest.raises(BuildError, match="no source files were specified"):
        ctx.select(["*.rs"])
    (src,) = ctx.select(["src"])
    assert src.is_dir and ctx.entries(src) == ["src/x.py"]
    assert "secret.key" not in ctx.paths and "Dockerfile" in ctx.paths


def test_digest_follows_content_not_mtime(ctx: BuildContext) -> None:
    before = ctx.digest(ctx.select(["src", "a.txt"]))
    os.utime(ctx.root / "a.txt", (1, 1))
    os.utime(ctx.root / "src" / "x.py", (1, 1))
    fresh = BuildContext.from_directory(ctx.root)
    assert fresh.digest(fresh.select(["src", "a.txt"])) == before
    (ctx.root / "src" / "x.py").write_text("changed")
    changed = BuildContext.from_directory(ctx.root)
    assert changed.digest(changed.select(["src", "a.txt"])) != before
    assert changed.digest(changed.select(["a.txt"])) == fresh.digest(fresh.select(["a.txt"]))


def test_digest_sees_modes_and_new_files(ctx: BuildContext) -> None:
    before = ctx.digest(ctx.select(["src"]))
    os.chmod(ctx.root / "src" / "x.py", 0o755)
    assert BuildContext.from_directory(ctx.root).digest(
        BuildContext.from_directory(ctx.root).select(["src"])) != before
    (ctx.root / "src" / "new.py").write_text("n")
    again = BuildContext.from_directory(ctx.root)
    assert "src/new.py" in again.entries(again.select(["src"])[0])


def test_context_from_a_tar_stream_or_a_bare_dockerfile(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("Dockerfile", b"FROM bb\n"), ("f.txt", b"f")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    with BuildContext.from_stream(buf, tmp_path / "scratch") as ctx:
        root = ctx.root
        assert (root / "f.txt").read_bytes() == b"f"
        assert [s.rel for s in ctx.select(["f.txt"])] == ["f.txt"]
    assert not root.exists()
    with BuildContext.from_stream(io.BytesIO(b"FROM bb\nRUN true\n"), tmp_path / "scratch") as ctx:
        assert (ctx.root / "Dockerfile").read_text() == "FROM bb\nRUN true\n"
        assert ctx.paths == ["Dockerfile"]
