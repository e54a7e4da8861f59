"""Symlinks in a build context are resolved inside it (``resolve_in_scope``,
``read_dockerfile``, ``.dockerignore``): nothing outside the context is ever read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sbx.build.context import BuildContext, read_dockerfile, resolve_in_scope
from sbx.build.dockerignore import IgnoreRules
from sbx.errors import BuildError
from sbx.linux.inroot import read_in_root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    f = tmp_path / "outside.txt"
    f.write_text("OUTSIDE first line\n")
    return f


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    (c / "sub").mkdir(parents=True)
    (c / "sub" / "f").write_text("in\n")
    return c


def test_resolve_in_scope_keeps_every_link_inside(ctx: Path, outside: Path) -> None:
    (ctx / "rel").symlink_to("sub/f")
    (ctx / "abs").symlink_to("/sub/f")
    (ctx / "up").symlink_to("../../../../sub")
    (ctx / "out").symlink_to(outside)
    (ctx / "dirlink").symlink_to("sub")
    (ctx / "loop").symlink_to("loop")
    assert resolve_in_scope(ctx, "rel") == "sub/f"
    assert resolve_in_scope(ctx, "abs") == "sub/f"
    assert resolve_in_scope(ctx, "up/f") == "sub/f"  # .. stops at the context root
    assert resolve_in_scope(ctx, "dirlink/f") == "sub/f"
    assert resolve_in_scope(ctx, "out") is None  # <ctx>/<outside path>: not there
    assert resolve_in_scope(ctx, "loop") is None
    assert resolve_in_scope(ctx, "sub/f/x") is None
    assert resolve_in_scope(ctx, ".") == "."


def test_read_in_root_never_leaves_the_root(ctx: Path, outside: Path) -> None:
    (ctx / "out").symlink_to(outside)
    (ctx / "rel-out").symlink_to(os.path.relpath(outside, ctx))
    (ctx / "abs").symlink_to("/sub/f")
    for name in ("out", "rel-out"):
        with pytest.raises(FileNotFoundError):
            read_in_root(ctx, name)
    assert read_in_root(ctx, "abs") == b"in\n"
    os.mkfifo(ctx / "fifo")
    with pytest.raises(OSError):
        read_in_root(ctx, "fifo")  # refused before anything could block on it


def test_read_dockerfile_refuses_a_link_out_and_never_quotes_it(ctx: Path, outside: Path) -> None:
    (ctx / "Dockerfile").symlink_to(outside)
    with pytest.raises(BuildError) as info:
        read_dockerfile(ctx / "Dockerfile", "Dockerfile", ctx)
    text = info.value.one_line()
    assert text.startswith("unable to open Dockerfile")
    assert "OUTSIDE first line" not in text
    (ctx / "Dockerfile").unlink()
    (ctx / "Dockerfile").symlink_to("sub/f")
    assert read_dockerfile(ctx / "Dockerfile", "Dockerfile", ctx) == b"in\n"


def test_read_dockerfile_outside_the_context_is_scoped_to_its_directory(
        tmp_path: Path, ctx: Path, outside: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "Dockerfile").write_text("FROM bb\n")
    assert read_dockerfile(other / "Dockerfile", "x", ctx) == b"FROM bb\n"  # -f elsewhere: fine
    (other / "link").symlink_to(outside)
    with pytest.raises(BuildError):
        read_dockerfile(other / "link", "x", ctx)


def test_a_dockerignore_link_out_of_the_context_is_no_dockerignore(ctx: Path, outside: Path) -> None:
    outside.write_text("[broken pattern OUTSIDE\n")
    (ctx / ".dockerignore").symlink_to(outside)
    assert IgnoreRules.load(ctx).patterns == ()
    (ctx / ".dockerignore").unlink()
    (ctx / "ignore.txt").write_text("sub\n")
    (ctx / ".dockerignore").symlink_to("ignore.txt")
    assert IgnoreRules.load(ctx).matches("sub")


def test_copy_sources_follow_links_only_inside(ctx: Path, outside: Path) -> None:
    (ctx / "out").symlink_to(outside)
    (ctx / "in").symlink_to("/sub")
    c = BuildContext.from_directory(ctx)
    with pytest.raises(BuildError, match="not found in build context"):
        c.select(["out"])
    (src,) = c.select(["in"])
    assert src.is_dir and src.target == "sub" and c.entries(src) == ["sub/f"]
    (f,) = c.select(["in/f"])
    assert f.path == ctx / "sub" / "f" and not f.is_dir
