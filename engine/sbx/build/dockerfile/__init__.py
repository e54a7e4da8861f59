"""The Dockerfile front end: text to typed, located instructions, and word expansion.

``parse(text, path=)`` (or ``load(path)``) gives a ``Dockerfile`` with its parser
``directives``, the meta ``args_before_from`` and ``stages``; each instruction knows
its ``line``, ``end_line`` and ``original`` text.  Errors are ``DockerfileError`` and
read like Docker's: ``Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)``.
BuildKit's ``frontend/dockerfile`` (parser, instructions, shell) is the reference.

Supported
    * Directives ``# escape=`` (backslash or backtick), ``# syntax=``, ``# check=``, only
      at the top; comments, continuations (also across comment and blank lines, with a
      warning as BuildKit gives), CRLF, a UTF-8 BOM.
    * Every instruction: FROM (``--platform``, ``AS name``, scratch), RUN (shell/exec
      form, ``--mount``, ``--network``, ``--security``), CMD, ENTRYPOINT, SHELL (JSON),
      ENV (``k=v`` and legacy ``k v``), ARG, LABEL, EXPOSE, WORKDIR, USER, COPY and ADD
      (``--from --chown --chmod --link --parents --exclude --keep-git-dir --checksum
      --unpack``, JSON form), VOLUME, STOPSIGNAL, HEALTHCHECK (durations in ns),
      ONBUILD (nested instruction; ONBUILD/FROM/MAINTAINER triggers refused), MAINTAINER.
      JSON arrays that do not parse fall back to the shell form, as in Docker.
    * Heredocs: ``<<EOF``, ``<<-EOF``, quoted delimiters (no expansion), several per
      line, in RUN, COPY and ADD.
    * Expansion (``expand_word``, ``expand_words``, ``Instruction.expand``): ``$V``,
      ``${V}``, ``${V:-w}``, ``${V-w}``, ``${V:+w}``, ``${V+w}``, ``${V:?m}``,
      ``${V?m}``, ``${V#p}``, ``${V%p}``, ``${V/p/r}``, quotes and the escape character,
      applied to the instructions Docker's builder expands.

Not yet (parsed and kept, for the builder to refuse with a clear message)
    * ``RUN --mount`` of any type, ``--network=none``, ``--security=insecure``;
      ``COPY --parents``/``--exclude``/``--link``, ``ADD`` of URLs and git, ``--checksum``.
    * ``# check=`` lint rules other than the parse-time ones; ``# syntax=`` front ends
      other than this one (the directive is recorded, not obeyed).
"""

from sbx.build.dockerfile.dockerfile import Dockerfile, Stage, load, parse
from sbx.build.dockerfile.expand import expand_word, expand_words
from sbx.build.dockerfile.heredoc import Heredoc
from sbx.build.dockerfile.instructions import (
    Add,
    Arg,
    ArgDefinition,
    Cmd,
    CommandLine,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from sbx.build.dockerfile.lexer import Directives, ParseWarning
from sbx.build.dockerfile.mounts import Mount

__all__ = [
    "Add", "Arg", "ArgDefinition", "Cmd", "CommandLine", "Copy", "Directives", "Dockerfile",
    "Entrypoint", "Env", "Expose", "From", "Healthcheck", "Heredoc", "Instruction",
    "KeyValue", "Label", "Maintainer", "Mount", "Onbuild", "ParseWarning", "Run", "Shell",
    "Stage", "StopSignal", "User", "Volume", "Workdir", "expand_word", "expand_words",
    "load", "parse",
]
