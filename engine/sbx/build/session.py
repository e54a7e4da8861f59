"""One build from start to end: open the context, read the Dockerfile, run the ``Builder``,
print Docker's closing lines, and record the build for the replay fast path.

``build(engine, options, progress)`` is what ``Engine.build`` and ``sbx build`` call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from sbx.build import cache as cachemod
from sbx.build.context import BuildContext, read_dockerfile
from sbx.build.options import BuildOptions, BuildResult, Progress
from sbx.errors import BuildError


def dockerfile_path(options: BuildOptions, context_root: Path) -> tuple[Path, str, str]:
    """(file to read, name used in errors, path relative to the context for .dockerignore)."""
    if options.dockerfile is None:
        return context_root / "Dockerfile", "Dockerfile", "Dockerfile"
    path = options.dockerfile if options.dockerfile.is_absolute() else Path.cwd() / options.dockerfile
    try:
        rel = str(path.resolve().relative_to(context_root.resolve()))
    except (ValueError, OSError):
        rel = path.name
    return path, str(options.dockerfile), rel


def record_inputs(options: BuildOptions, context_root: Path, dockerfile: Path,
                  data: bytes, args: dict[str, str]) -> dict[str, object]:
    """What a whole-build record is keyed on (see ``replay``)."""
    import hashlib

    return {"dockerfile": hashlib.sha256(data).hexdigest(), "dockerfile_path": str(dockerfile),
            "context": str(context_root.resolve()), "args": args, "target": options.target or "",
            "labels": [list(kv) for kv in options.labels]}


def build(engine: object, options: BuildOptions, progress: Progress, *,
          stdin: BinaryIO | None = None, environ: dict[str, str] | None = None) -> BuildResult:
    """Build the image ``options`` describe; ``stdin`` is read when the context is ``-``."""
    from sbx.build import dockerfile as df
    from sbx.build.builder import Builder

    env = dict(os.environ if environ is None else environ)
    layout = engine.layout  # type: ignore[attr-defined]
    if str(options.context) == "-":
        if stdin is None:
            raise BuildError("the build context is - but there is no input to read it from")
        name = str(options.dockerfile) if options.dockerfile else "Dockerfile"
        context = BuildContext.from_stream(stdin, layout.tmp, dockerfile=name)
        file_path, display, rel = context.root / name, name, name
    else:
        file_path, display, rel = dockerfile_path(options, options.context)
        context = BuildContext.from_directory(options.context, dockerfile=rel)
    with context:
        data = read_dockerfile(file_path, display, context.root if str(options.context) == "-"
                               else options.context)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BuildError(f"{display}: not UTF-8 text at byte {err.start}") from None
        parsed = df.parse(text, path=display)
        builder = Builder(engine, options, context, parsed, progress, environ=env)
        result = builder.build()
        for warning in result.warnings:
            progress.line(warning)
        closing = [f"Successfully built {result.short_id}",
                   *(f"Successfully tagged {_familiar(t)}" for t in options.tags)]
        for line in closing:
            progress.line(line)
        if str(options.context) != "-" and builder.transcript.replayable:
            inputs = record_inputs(options, options.context, file_path, data, builder.build_args)
            cachemod.BuildCache(layout).put_build(cachemod.build_key(inputs), {
                "image": result.image_id, "lines": builder.transcript.lines,
                "bases": builder.transcript.bases, "sources": builder.transcript.sources,
                "dockerfile": rel, "warnings": list(result.warnings)})
        return result


def _familiar(tag: str) -> str:
    from sbx.oci.reference import Reference

    return Reference.parse(tag).familiar
