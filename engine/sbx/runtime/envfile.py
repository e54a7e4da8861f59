"""Environment variables from ``--env-file``, ``-e`` and the image, merged like Docker.

Env files follow the docker CLI's ``parseKeyValueFile``: one ``KEY=value`` per line,
leading whitespace dropped, lines starting with "#" and blank lines skipped, the value
kept verbatim (no quote processing, no trimming), a UTF-8 BOM dropped on the first
line, and a bare ``KEY`` taking its value from the caller's environment (skipped when
unset).  A name containing whitespace or an empty name is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sbx.errors import InvalidArgument

__all__ = ["parse_env_file", "parse_env_text", "parse_env_flag", "merge_env"]


def parse_env_text(text: str | bytes, source: str = "env file",
                   environ: Mapping[str, str] | None = None) -> list[str]:
    """Parse env-file contents; ``source`` names the file in errors."""
    import os

    env = os.environ if environ is None else environ
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    out: list[str] = []
    for number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        if line_bytes.endswith(b"\r"):
            line_bytes = line_bytes[:-1]
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(f"env file {source} contains invalid utf8 bytes at line {number}",
                                  hint="save the file as UTF-8") from None
        if number == 1:
            line = line.removeprefix("\ufeff")
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        name = name.lstrip(" \t")
        if " " in name or "\t" in name:
            raise InvalidArgument(
                f"poorly formatted environment: variable '{name}' contains whitespaces "
                f"({source}, line {number})", hint="write KEY=value with no space around the key")
        if not name:
            raise InvalidArgument(
                f"poorly formatted environment: no variable name on line '{line}' "
                f"({source}, line {number})", hint="write KEY=value")
        if eq:
            out.append(f"{name}={value}")
        elif line in env:
            out.append(f"{name.strip()}={env[line]}")
    return out


def parse_env_file(path: str | Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """Read and parse an ``--env-file``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {exc.strerror or exc}",
                              hint="check the --env-file path") from None
    return parse_env_text(data, str(path), environ)


def parse_env_flag(value: str, environ: Mapping[str, str] | None = None) -> str:
    """One ``-e`` value: "KEY=v" is kept; a bare "KEY" takes the caller's value when set and
    stays bare otherwise (a bare name later unsets the variable, see :func:`merge_env`)."""
    import os

    env = os.environ if environ is None else environ
    key, eq, _ = value.partition("=")
    if not key:
        raise InvalidArgument(f"invalid environment variable: {value}", hint="use -e KEY=value")
    if eq:
        return value
    if key in env:
        return f"{key}={env[key]}"
    return value


def merge_env(image_env: Iterable[str], overrides: Iterable[str]) -> list[str]:
    """Apply ``overrides`` to ``image_env`` like moby's ``ReplaceOrAppendEnvValues``.

    An override replaces the variable of the same name in place, or is appended; a bare
    name without "=" removes the variable.  Later overrides win.
    """
    result: list[str] = list(image_env)
    index = {e.partition("=")[0]: i for i, e in enumerate(result)}
    for entry in overrides:
        key = entry.partition("=")[0]
        if key in index:
            result[index[key]] = entry
        else:
            index[key] = len(result)
            result.append(entry)
    return [e for e in result if "=" in e]
