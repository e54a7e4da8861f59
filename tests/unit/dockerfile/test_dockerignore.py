""".dockerignore: Docker's pattern rules, exceptions, and walking a build context."""

from __future__ import annotations

from pathlib import Path

import pytest
from sbx.build.dockerignore import IgnoreRules, walk_context
from sbx.errors import DockerfileError

# (patterns, path, excluded?) -- single patterns first, then interplay of several lines.
CASES = [
    ("file", "file", True),
    ("file", "other", False),
    ("file", "dir/file", False),  # patterns are anchored at the context root
    ("dir", "dir/sub/file", True),  # a matched directory takes its contents
    ("/dir", "dir/file", True),  # a leading / is dropped
    ("./dir/", "dir/file", True),  # ./ and a trailing / are cleaned away
    ("dir//sub/../x", "dir/x", True),
    ("*.md", "README.md", True),
    ("*.md", "docs/README.md", False),  # * does not cross /
    ("*/*.md", "docs/README.md", True),
    ("*", "anything/at/all", True),
    ("?.txt", "a.txt", True),
    ("?.txt", "ab.txt", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    ("abc.def", "abcXdef", False),  # . is literal
    ("a(b)c+d", "a(b)c+d", True),
    ("**", "deep/ly/nested", True),
    ("**/*.go", "main.go", True),  # ** matches zero directories too
    ("**/*.go", "cmd/x/main.go", True),
    ("**/*.go", "main.goo", False),
    ("**/node_modules", "node_modules/x", True),
    ("**/node_modules", "web/node_modules/x/y", True),
    ("dir/**", "dir", False),
    ("dir/**", "dir/a/b", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("**/.foo", "bar.foo", False),
    ("\\*star", "*star", True),
    ("\\*star", "xstar", False),
    ("# comment\n\n   \nfile", "file", True),
    ("  # not a comment once indented", "# not a comment once indented", True),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    ("!README.md\n*.md", "README.md", True),  # last match wins
    ("*\n!src", "src/app/main.py", False),  # an exception re-includes a whole directory
    ("*\n!src\nsrc/**/*.pyc", "src/a/b.pyc", True),
    ("*\n!src\nsrc/**/*.pyc", "src/a/b.py", False),
    ("docs\n!docs/keep.md", "docs/keep.md", False),
    ("docs\n!docs/keep.md", "docs/drop.md", True),
    ("**/*.log\n! important.log", "important.log", False),
    ("*", ".", False),  # the context root itself is never excluded
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), CASES)
def test_matches(patterns: str, path: str, excluded: bool) -> None:
    assert IgnoreRules.parse(patterns).matches(path) is excluded


def test_parse_cleans_patterns() -> None:
    rules = IgnoreRules.parse("\ufeff/a/\n./b\n!/c/./d\r\n  e  \n")
    assert [(p.text, p.exception) for p in rules.patterns] == [
        ("a", False), ("b", False), ("c/d", True), ("e", False)]
    assert rules.has_exceptions


@pytest.mark.parametrize(("text", "message"), [
    ("a\n!\n", '.dockerignore:2: illegal exclusion pattern: "!"'),
    ("[z-a]\n", ".dockerignore:1: syntax error in pattern"),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        IgnoreRules.parse(text)
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(("patterns", "directory", "expected"), [
    ("*\n!src", "node_modules", False),
    ("*\n!src", "src", True),
    ("*\n!src/app", "src", True),
    ("*\n!src/app", "lib", False),
    ("*\n!**/*.go", "anything", True),
    ("*\n!s*/x", "srv", True),
    ("*\n!s*/x", "lib", False),
    ("*", "src", False),
])
def test_may_reinclude_under(patterns: str, directory: str, expected: bool) -> None:
    assert IgnoreRules.parse(patterns).may_reinclude_under(directory) is expected


def make_tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)


TREE = ["Dockerfile", ".dockerignore", "app.py", "README.md", "docs/guide.md",
        "docs/keep.md", "node_modules/pkg/index.js", "src/main.py", "src/cache.pyc",
        "src/sub/deep.py", "empty/"]


@pytest.mark.parametrize(("ignore", "expected"), [
    ("", [".dockerignore", "Dockerfile", "README.md", "app.py", "docs", "docs/guide.md",
          "docs/keep.md", "empty", "node_modules", "node_modules/pkg",
          "node_modules/pkg/index.js", "src", "src/cache.pyc", "src/main.py", "src/sub",
          "src/sub/deep.py"]),
    ("node_modules\n**/*.pyc\n*.md\ndocs\n!docs/keep.md\n",
     [".dockerignore", "Dockerfile", "app.py", "docs/keep.md", "empty", "src", "src/main.py",
      "src/sub", "src/sub/deep.py"]),
    ("*\n!src\nsrc/sub\n", [".dockerignore", "Dockerfile", "src", "src/cache.pyc",
                            "src/main.py"]),
    # the Dockerfile and .dockerignore are sent even when excluded
    ("Dockerfile\n.dockerignore\n**\n!app.py\n", [".dockerignore", "Dockerfile", "app.py"]),
])
def test_walk_context(tmp_path: Path, ignore: str, expected: list[str]) -> None:
    make_tree(tmp_path, TREE)
    assert list(walk_context(tmp_path, IgnoreRules.parse(ignore))) == expected


def test_walk_prunes_excluded_directories(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Dockerfile", "node_modules/a/b.js", "src/x.py"])
    (tmp_path / "node_modules" / "a").chmod(0)  # unreadable: pruning must not enter it
    try:
        rules = IgnoreRules.parse("node_modules\n!src\n")
        assert list(walk_context(tmp_path, rules)) == ["Dockerfile", "src", "src/x.py"]
    finally:
        (tmp_path / "node_modules" / "a").chmod(0o755)


def test_walk_keeps_a_dockerfile_in_an_excluded_directory(tmp_path: Path) -> None:
    make_tree(tmp_path, ["build/Dockerfile", "build/other", "app.py"])
    rules = IgnoreRules.parse("build\n")
    assert list(walk_context(tmp_path, rules, dockerfile="build/Dockerfile")) == [
        "app.py", "build/Dockerfile"]


def test_walk_yields_symlinks_without_following(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Dockerfile", "real/file"])
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert list(walk_context(tmp_path, IgnoreRules())) == ["Dockerfile", "link", "real", "real/file"]


def test_load(tmp_path: Path) -> None:
    assert IgnoreRules.load(tmp_path) == IgnoreRules()
    (tmp_path / ".dockerignore").write_text("*.tmp\n")
    assert IgnoreRules.load(tmp_path).matches("x.tmp")
