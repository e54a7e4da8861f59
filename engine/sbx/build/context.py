"""The build context: a directory (or a tar read from stdin, unpacked into the store's
scratch space), filtered by ``.dockerignore``, with content digests of COPY/ADD sources.

Sources are matched as Docker matches them: paths relative to the context root (a
leading ``/`` and ``..`` that would leave the context are cut off), wildcards with Go's
``filepath.Match`` rules (``*`` and ``?`` never cross ``/``), a directory meaning its
included contents.  A source's digest covers names, file types, permission bits, link
targets and file *contents* -- never mtimes or owners -- so touching a file keeps the
cache and changing one byte invalidates exactly the steps that copy it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sbx.build.dockerignore import IgnoreRules, walk_context
from sbx.errors import BuildError, StoreError

_WILDCARD = re.compile(r"[*?\[]")
_TAR_MAGIC_OFFSET = 257


@dataclass(frozen=True)
class Source:
    """One matched source: its path in the context (``.`` for the root) and whether it is
    a directory (then its included contents are copied, not the directory itself)."""

    rel: str
    path: Path
    is_dir: bool
    inner: str = ""  # where ``rel`` leads in the context (a symlink resolved in scope)

    @property
    def target(self) -> str:
        return self.inner or self.rel


def has_wildcard(pattern: str) -> bool:
    return _WILDCARD.search(pattern) is not None


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` for a COPY/ADD source (``sbx.gomatch``)."""
    from sbx.gomatch import compile_pattern

    try:
        return compile_pattern(pattern)
    except ValueError:
        raise BuildError(f"bad wildcard pattern {pattern!r}: unclosed [",
                         hint="escape a literal [ as \\[") from None


def clean_source(source: str) -> str:
    """A source as a context-relative path: ``/a/./b`` and ``../a`` give ``a/b`` and ``a``."""
    cleaned = posixpath.normpath("/" + source)
    return cleaned.lstrip("/") or "."


class BuildContext:
    """An open build context; ``close()`` removes a context unpacked from a tar."""

    def __init__(self, root: Path, rules: IgnoreRules, *, dockerfile: str = "Dockerfile",
                 owned: bool = False) -> None:
        self.root = root
        self.rules = rules
        self.dockerfile = dockerfile
        self._owned = owned
        self._paths: list[str] | None = None
        self._set: frozenset[str] | None = None
        self._content: dict[str, str] = {}

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def from_directory(cls, root: Path, *, dockerfile: str = "Dockerfile") -> BuildContext:
        if not root.is_dir():
            raise BuildError(f"unable to prepare context: path {str(root)!r} not found",
                             hint="give a directory, or - to read a tar from stdin")
        return cls(root, IgnoreRules.load(root), dockerfile=dockerfile)

    @classmethod
    def from_stream(cls, stream: BinaryIO, scratch: Path, *,
                    dockerfile: str = "Dockerfile") -> BuildContext:
        """A context read from stdin: a (possibly compressed) tar, or a bare Dockerfile
        (then the context is empty), as ``docker build -`` accepts."""
        import tarfile

        scratch.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="build-context-", dir=scratch))
        try:
            data = stream.read()
            if _looks_like_tar(data):
                import io

                from sbx.layers.unpack import unpack
                from sbx.layers.whiteouts import WhiteoutMode

                # the layer unpacker's checks (no escapes, no devices), owners not kept
                unpack(io.BytesIO(data), root, whiteouts=WhiteoutMode.KEEP, preserve_owner=False)
            else:
                (root / "Dockerfile").write_bytes(data)
                dockerfile = "Dockerfile"
            return cls(root, IgnoreRules.load(root), dockerfile=dockerfile, owned=True)
        except (tarfile.TarError, OSError, StoreError) as err:
            shutil.rmtree(root, ignore_errors=True)
            raise BuildError(f"cannot read the build context from stdin: {err}",
                             hint="pipe a tar of the context (tar -C DIR -c .) or a Dockerfile") from None
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)
            self._owned = False

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- matching ---------------------------------------------------------------------
    @property
    def paths(self) -> list[str]:
        """Every included path, sorted (a directory sorts before its contents)."""
        if self._paths is None:
            self._paths = sorted(walk_context(self.root, self.rules, dockerfile=self.dockerfile),
                                 key=lambda p: p.split("/"))
        return self._paths

    def _included(self, rel: str) -> bool:
        if self._set is None:
            self._set = frozenset(self.paths)
        return rel in self._set

    def select(self, sources: Iterable[str], *, what: str = "COPY") -> list[Source]:
        """The context entries ``sources`` name; raises ``BuildError`` for a missing one."""
        out: list[Source] = []
        for raw in sources:
            rel = clean_source(raw)
            if has_wildcard(rel):
                regex = _glob_regex(rel)
                matched = [p for p in self.paths if regex.match(p)]
                if not matched:
                    raise BuildError(f"{what} failed: no source files were specified: "
                                     f"{raw!r} matches nothing in the build context",
                                     hint="check the pattern and .dockerignore")
                out.extend(self._source(p, raw, what) for p in matched)
            else:
                out.append(self._source(rel, raw, what))
        return out

    def _source(self, rel: str, raw: str, what: str) -> Source:
        """A source as Docker resolves it: symlinks on the way (and a top-level link
        itself) are followed *inside* the context (an absolute target starts at the
        context root, ``..`` stops there), so a link out of the context finds nothing
        outside; links inside a copied directory are copied as links."""
        if rel == ".":
            return Source(".", self.root, True)
        inner = rel
        if not self._included(rel) or os.path.islink(self.root / rel):
            inner = resolve_in_scope(self.root, rel) or ""
            if not inner or not (inner == "." or self._included(inner)):
                reason = "excluded by .dockerignore" if inner else "not found in build context"
                raise BuildError(f"{what} failed: file {reason}: stat {raw}: file does not exist",
                                 hint="check the path (relative to the context directory) and "
                                      ".dockerignore; a symbolic link is followed only inside the context")
        path = self.root if inner == "." else self.root / inner
        st = os.lstat(path)
        return Source(rel, path, stat.S_ISDIR(st.st_mode), "" if inner == rel else inner)

    def entries(self, source: Source) -> list[str]:
        """Context paths inside a directory source, parents first (the dir itself excluded)."""
        if not source.is_dir:
            return []
        if source.target == ".":
            return list(self.paths)
        prefix = source.target + "/"
        return [p for p in self.paths if p.startswith(prefix)]

    # -- digests ----------------------------------------------------------------------
    def file_digest(self, rel: str, path: Path) -> str:
        digest = self._content.get(rel)
        if digest is None:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            digest = self._content[rel] = h.hexdigest()
        return digest

    def digest(self, sources: list[Source]) -> str:
        """sha256 over what the sources would copy: names, types, modes, contents, links."""
        h = hashlib.sha256()
        for src in sources:
            h.update(f"source\0{src.rel}\0{int(src.is_dir)}\n".encode())
            if not src.is_dir:
                st = os.stat(src.path)
                h.update(self._entry_line(".", src.path, st, follow=True))
                continue
            base = "" if src.target == "." else src.target + "/"
            for rel in self.entries(src):
                path = self.root / rel
                h.update(self._entry_line(rel[len(base):] if src.inner else rel, path, os.lstat(path)))
        return "sha256:" + h.hexdigest()

    def _entry_line(self, rel: str, path: Path, st: os.stat_result, follow: bool = False) -> bytes:
        mode = st.st_mode
        if stat.S_ISREG(mode):
            what = self.file_digest(str(path.relative_to(self.root)) if follow else rel, path)
        elif stat.S_ISLNK(mode):
            what = os.readlink(path)
        else:
            what = ""
        return f"{rel}\0{stat.S_IFMT(mode):o}\0{stat.S_IMODE(mode):o}\0{what}\n".encode(
            "utf-8", "surrogateescape")


_MAX_LINKS = 40  # as the kernel's ELOOP limit


def resolve_in_scope(root: Path, rel: str) -> str | None:
    """``rel`` with its symlinks resolved as if ``root`` were ``/`` (Docker's
    ``FollowSymlinkInScope``): the context-relative path it leads to (``.`` for the root),
    or None when a component is missing or links loop.  Nothing outside ``root`` is ever
    looked at."""
    todo = [p for p in rel.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                return None
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
            continue
        if todo and not stat.S_ISDIR(st.st_mode):
            return None
        done.append(part)
    return "/".join(done) or "."


def read_scoped(root: Path, rel: str) -> bytes:
    """The regular file ``rel`` of ``root``, its symlinks resolved inside ``root`` (as
    BuildKit scopes paths to the context): a link out of it opens nothing outside."""
    from sbx.linux.inroot import read_in_root

    return read_in_root(root, rel)


def read_dockerfile(path: Path, display: str, context_root: Path) -> bytes:
    """The Dockerfile's bytes, never a byte of a file outside its directory tree.

    A Dockerfile inside the context (the default, or ``-f`` naming a path in it) is
    resolved inside the context; one ``-f`` names elsewhere inside its own directory.  A
    symbolic link is followed only as far as that root: ``Dockerfile -> /etc/shadow``
    opens the context's ``etc/shadow`` (no such file) and the build stops with Docker's
    words, "unable to open Dockerfile", naming the link and never quoting its target."""
    full = os.path.abspath(path)
    ctx = os.path.abspath(context_root)
    if full == ctx or full.startswith(ctx.rstrip("/") + "/"):
        root, rel = ctx, os.path.relpath(full, ctx)
    else:
        root, rel = os.path.dirname(full), os.path.basename(full)
    try:
        return read_scoped(Path(root), rel)
    except OSError as err:
        hint = "give its path with -f, or add a Dockerfile to the context"
        try:
            if os.path.islink(full):
                hint = (f"{display} is a symbolic link to {os.readlink(full)!r}; links are "
                        f"resolved inside {root} (as Docker does), so point it at a file there")
        except OSError:
            pass
        raise BuildError(f"unable to open Dockerfile: open {display}: {(err.strerror or str(err)).lower()}",
                         hint=hint) from None


def _looks_like_tar(data: bytes) -> bool:
    if data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00" \
            or data[:4] == b"\x28\xb5\x2f\xfd":
        return True
    return data[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] == b"ustar"
