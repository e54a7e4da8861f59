"""Lexer: directives, comments, continuations, escape characters, CRLF/BOM and heredocs."""

from __future__ import annotations

import pytest
from sbx.build.dockerfile.heredoc import Heredoc, heredocs_in_line
from sbx.build.dockerfile.lexer import Directives, lex
from sbx.errors import DockerfileError


def texts(source: str) -> list[tuple[str, int, int]]:
    return [(line.text, line.line, line.end_line) for line in lex(source).lines]


@pytest.mark.parametrize(("source", "expected"), [
    ("FROM a\nRUN b\n", [("FROM a", 1, 1), ("RUN b", 2, 2)]),
    ("  FROM a  \n", [("FROM a  ", 1, 1)]),
    ("\n\n# c\nFROM a", [("FROM a", 4, 4)]),
    ("RUN a \\\n  b\n", [("RUN a   b", 1, 2)]),
    ("RUN a\\\nb\n", [("RUN ab", 1, 2)]),
    ("RUN a \\   \n  b\n", [("RUN a   b", 1, 2)]),
    ("RUN a \\\n# comment\n  b\n", [("RUN a   b", 1, 3)]),
    ("RUN a \\\n    # indented comment\n  b\n", [("RUN a   b", 1, 3)]),
    ("RUN a \\\n\n  b\n", [("RUN a   b", 1, 3)]),
    ("RUN a \\\n  b \\\n  c\nRUN d\n", [("RUN a   b   c", 1, 3), ("RUN d", 4, 4)]),
    ("RUN a \\\\\nRUN b\n", [("RUN a \\\\", 1, 1), ("RUN b", 2, 2)]),
    ("RUN a \\", [("RUN a ", 1, 1)]),
    ("RUN a # not a comment\n", [("RUN a # not a comment", 1, 1)]),
    ("\\\nRUN a\n", [("RUN a", 1, 2)]),  # as BuildKit: a lone "\" opens the line
    ("FROM a\r\nRUN b \\\r\n c\r\n", [("FROM a", 1, 1), ("RUN b  c", 2, 3)]),
    ("\ufeffFROM a\n", [("FROM a", 1, 1)]),
])
def test_logical_lines(source: str, expected: list[tuple[str, int, int]]) -> None:
    assert texts(source) == expected


@pytest.mark.parametrize(("source", "directives"), [
    ("FROM a", Directives()),
    ("# escape=`\nFROM a", Directives(escape="`")),
    ("# ESCAPE = `\nFROM a", Directives(escape="`")),
    ("#escape=\\\nFROM a", Directives(escape="\\")),
    ("# syntax=docker/dockerfile:1\n# check=skip=all\nFROM a",
     Directives(syntax="docker/dockerfile:1", check="skip=all")),
    ("# Syntax = docker/dockerfile:1.7  \nFROM a", Directives(syntax="docker/dockerfile:1.7")),
    # a blank line, a plain comment or an instruction ends the directives
    ("\n# escape=`\nFROM a", Directives()),
    ("# hello\n# escape=`\nFROM a", Directives()),
    ("# unknown=1\n# escape=`\nFROM a", Directives()),
    ("FROM a\n# escape=`\n", Directives()),
    ("\ufeff# escape=`\nFROM a", Directives(escape="`")),
])
def test_directives(source: str, directives: Directives) -> None:
    assert lex(source).directives == directives


def test_backtick_escape_keeps_windows_paths() -> None:
    source = "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  /b\n"
    assert texts(source) == [
        ("FROM mcr.microsoft.com/windows/servercore", 2, 2),
        ("COPY testfile.txt c:\\", 3, 3),
        ("RUN dir c:\\   /b", 4, 5),
    ]


def test_backslash_escape_would_continue_windows_paths() -> None:
    # Docker's documented pitfall: without the directive, "c:\" continues the line.
    assert texts("FROM a\nCOPY x c:\\\nRUN dir c:\\\n") == [
        ("FROM a", 1, 1), ("COPY x c:RUN dir c:", 2, 3)]


@pytest.mark.parametrize(("source", "message"), [
    ("# escape=x\nFROM a", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
    ("# escape=`\n# escape=\\\nFROM a", "Dockerfile:2: only one escape parser directive can be used"),
    ("# syntax=a\n# SYNTAX=b\nFROM a", "Dockerfile:2: only one syntax parser directive can be used"),
])
def test_directive_errors(source: str, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        lex(source)
    assert caught.value.message == message


def test_empty_continuation_line_warns() -> None:
    lexed = lex("FROM a\nRUN a \\\n\n  b\n")
    assert [w.line for w in lexed.warnings] == [4]
    assert "Empty continuation line found in: RUN a   b" in lexed.warnings[0].message


def heredocs(source: str) -> list[tuple[str, str, bool, bool]]:
    return [(d.name, d.content, d.expand, d.chomp)
            for line in lex(source).lines for d in line.heredocs]


@pytest.mark.parametrize(("source", "expected"), [
    ("RUN <<EOF\necho hi\nEOF\n", [("EOF", "echo hi\n", True, False)]),
    ("RUN <<EOF\nEOF\n", [("EOF", "", True, False)]),
    ("RUN <<'EOF'\necho $HOME\nEOF\n", [("EOF", "echo $HOME\n", False, False)]),
    ('RUN <<"EOF"\necho $HOME\nEOF\n', [("EOF", "echo $HOME\n", False, False)]),
    ('RUN <<E"O"F\nx\nEOF\n', [("EOF", "x\n", False, False)]),
    ("RUN <<-EOF\n\techo hi\n\tEOF\n", [("EOF", "\techo hi\n", True, True)]),
    ("RUN << EOF\nx\nEOF\n", [("EOF", "x\n", True, False)]),
    ("run <<EOF bash\nx\nEOF\n", [("EOF", "x\n", True, False)]),
    ("RUN cat <<A <<B\na\nA\nb\nB\n", [("A", "a\n", True, False), ("B", "b\n", True, False)]),
    ("COPY <<a.txt <<b.txt /dir/\n1\na.txt\n2\nb.txt\n",
     [("a.txt", "1\n", True, False), ("b.txt", "2\n", True, False)]),
    ("ADD <<f /f\nx\nf\n", [("f", "x\n", True, False)]),
    ("ONBUILD RUN <<EOF\nx\nEOF\n", [("EOF", "x\n", True, False)]),
    ("RUN <<EOF\r\nline\r\nEOF\r\n", [("EOF", "line\n", True, False)]),
    # not heredocs: JSON form, other instructions, <<< and text in quotes
    ('RUN ["cat", "<<EOF"]\n', []),
    ("CMD <<EOF\n", []),
    ("ENV A=<<EOF\n", []),
    ("RUN cat <<<word\n", []),
    ("RUN echo '<<EOF'\n", []),
])
def test_heredocs(source: str, expected: list[tuple[str, str, bool, bool]]) -> None:
    assert heredocs(source) == expected


def test_heredoc_lines_count_into_end_line() -> None:
    lines = lex("FROM a\nRUN <<EOF\none\ntwo\nEOF\nRUN b\n").lines
    assert [(ln.line, ln.end_line) for ln in lines] == [(1, 1), (2, 5), (6, 6)]


def test_heredoc_in_continued_line() -> None:
    lines = lex("RUN cat \\\n  <<EOF\nbody\nEOF\n").lines
    assert lines[0].text == "RUN cat   <<EOF"
    assert lines[0].heredocs == (Heredoc("EOF", "body\n"),)
    assert lines[0].end_line == 4


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileError) as caught:
        lex("FROM a\nRUN <<EOF\necho\n")
    assert caught.value.message == "Dockerfile:2: unterminated heredoc"


def test_chomp_strips_tabs_only_in_data() -> None:
    doc = Heredoc("EOF", "\t\tone\n  two\n\tthree\n", chomp=True)
    assert doc.data == "one\n  two\nthree\n"
    assert Heredoc("EOF", "\tone\n").data == "\tone\n"


@pytest.mark.parametrize(("line", "names"), [
    ("RUN 3<<EOF cat /proc/self/fd/3", ["EOF"]),
    ("RUN python3 <<'PY' > out", ["PY"]),
    ("RUN echo 'unterminated <<EOF", []),
])
def test_heredocs_in_line(line: str, names: list[str]) -> None:
    assert [d.name for d in heredocs_in_line(line)] == names


def test_heredoc_fd_prefix() -> None:
    assert heredocs_in_line("RUN 3<<EOF cat")[0].fd == 3
