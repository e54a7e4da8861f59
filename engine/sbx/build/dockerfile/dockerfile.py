"""A parsed Dockerfile: directives, meta ARGs before the first FROM, and build stages.

``parse(text)`` runs the lexer and the per-instruction parser, then groups instructions
into stages the way BuildKit's ``instructions.Parse`` does: ARGs before the first FROM
are the meta (global) ARGs, every FROM opens a stage, and any other instruction before
the first FROM is an error ("no build stage in current context").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sbx.build.dockerfile.instructions import Arg, From, Instruction
from sbx.build.dockerfile.lexer import Directives, ParseWarning, lex
from sbx.build.dockerfile.parser import parse_instruction
from sbx.errors import DockerfileError


@dataclass(frozen=True)
class Stage:
    """One build stage: from its FROM to the next.

    ``name`` is the lower-cased ``AS`` name (None if unnamed); ``base`` and ``platform``
    are as written (expand them with the meta ARGs: ``stage.header.expand(args)``).
    """

    index: int
    name: str | None
    base: str
    platform: str | None
    instructions: tuple[Instruction, ...]
    header: From

    @property
    def line(self) -> int:
        return self.header.line


@dataclass(frozen=True)
class Dockerfile:
    """The whole file: what ``docker build`` works from."""

    path: str
    directives: Directives
    args_before_from: tuple[Arg, ...]
    stages: tuple[Stage, ...]
    warnings: tuple[ParseWarning, ...] = ()

    @property
    def escape(self) -> str:
        return self.directives.escape

    def stage(self, ref: str | int) -> Stage:
        """A stage by ``AS`` name (any case) or by index, as ``COPY --from`` takes them."""
        if isinstance(ref, int) or ref.isdecimal():
            index = int(ref)
            if 0 <= index < len(self.stages):
                return self.stages[index]
        else:
            for stage in self.stages:
                if stage.name == ref.lower():
                    return stage
        names = ", ".join(s.name for s in self.stages if s.name) or "none"
        raise DockerfileError(f"build stage {ref!r} not found", path=self.path,
                              hint=f"stages are numbered 0..{len(self.stages) - 1}; named: {names}")

    def expand(self, instruction: Instruction, env: Mapping[str, str]) -> Instruction:
        """``instruction.expand(env)`` with this file's escape character and path."""
        return instruction.expand(env, escape=self.escape, path=self.path)


def parse(text: str, *, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text; raises ``DockerfileError`` naming ``path`` and the line."""
    lexed = lex(text, path=path)
    if not lexed.lines:
        raise DockerfileError("file with no instructions", path=path,
                              hint="a Dockerfile needs at least a FROM instruction")
    meta_args: list[Arg] = []
    stages: list[Stage] = []
    header: From | None = None
    body: list[Instruction] = []
    names: dict[str, int] = {}

    def close_stage() -> None:
        if header is not None:
            stages.append(Stage(len(stages), header.name, header.base, header.platform,
                                tuple(body), header))

    for line in lexed.lines:
        instruction = parse_instruction(line, escape=lexed.directives.escape, path=path)
        if isinstance(instruction, From):
            close_stage()
            header, body = instruction, []
            if instruction.name is not None:
                if instruction.name in names:
                    raise DockerfileError(
                        f'duplicate stage name "{instruction.name}", stage names should be unique',
                        path=path, line=instruction.line,
                        hint=f"the first stage with that name starts at line {names[instruction.name]}")
                names[instruction.name] = instruction.line
        elif header is None:
            if isinstance(instruction, Arg):
                meta_args.append(instruction)
                continue
            raise DockerfileError("no build stage in current context", path=path,
                                  line=instruction.line,
                                  hint=f"only ARG may come before the first FROM, not {instruction.keyword}")
        else:
            body.append(instruction)
    close_stage()
    if not stages:
        raise DockerfileError("dockerfile contains no stages to build", path=path,
                              line=lexed.lines[-1].line, hint="add a FROM instruction")
    return Dockerfile(path, lexed.directives, tuple(meta_args), tuple(stages), lexed.warnings)


def load(path: Path, *, name: str | None = None) -> Dockerfile:
    """Read and parse a Dockerfile (UTF-8); ``name`` is how errors call it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DockerfileError(f"not UTF-8 text: {err.reason} at byte {err.start}",
                              path=name or str(path)) from None
    except OSError as err:
        raise DockerfileError(f"cannot read the Dockerfile: {err.strerror}",
                              path=name or str(path),
                              hint="check the path given with -f") from None
    return parse(text, path=name or str(path))
