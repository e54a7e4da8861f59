"""The cache-hit fast path: replay a previous build when nothing it depended on changed.

A whole-build record (written by ``session.build``) is keyed on the Dockerfile's bytes,
its path, the context directory, the build args, the target and the labels.  It lists
the base images (a tag must still point at the same image id), the context sources every
COPY/ADD used with their content digests (recomputed here, with ``.dockerignore``), and
the cache-hit transcript.  If the final image is still in the store, the transcript is
printed and the tags are set -- without parsing the Dockerfile, opening the image store
or starting a container.  Any doubt (a missing file, a changed tag, a store without the
image) returns None and the caller does a normal build, which uses the step cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sbx.build import cache as cachemod
from sbx.build.context import BuildContext, read_dockerfile
from sbx.build.options import BuildOptions, BuildResult, Progress
from sbx.errors import BuildError
from sbx.layout import Layout


def _tags(layout: Layout) -> dict[str, str]:
    try:
        with open(layout.tags_file, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _has_image(layout: Layout, image_id: str) -> bool:
    return (layout.images / f"{image_id.split(':', 1)[-1]}.json").is_file()


def replay(layout: Layout, options: BuildOptions, progress: Progress,
           environ: dict[str, str] | None = None) -> BuildResult | None:
    """Replay the recorded build for these inputs, or None if it cannot be trusted."""
    from sbx.build.session import dockerfile_path, record_inputs

    if options.no_cache or options.pull or str(options.context) == "-":
        return None
    try:
        file_path, display, rel = dockerfile_path(options, options.context)
        data = read_dockerfile(file_path, display, options.context)
    except (OSError, BuildError):
        return None
    args = options.resolved_args(dict(os.environ if environ is None else environ))
    cache = cachemod.BuildCache(layout)
    record = cache.get_build(cachemod.build_key(record_inputs(options, options.context, file_path,
                                                                data, args)))
    if record is None or not _valid(layout, options.context, rel, record):
        return None
    image_id = str(record["image"])
    from sbx.oci.reference import Reference

    tags = _tags(layout)
    refs = [Reference.parse(t) for t in options.tags]
    stale = [r for r in refs if tags.get(str(r)) != image_id]
    if stale:
        from sbx.store import Store

        store = Store(layout)
        for r in stale:
            store.tag(image_id, str(r))
    for line in record.get("lines", ()):  # type: ignore[attr-defined]
        progress.line(str(line))
    warnings = tuple(str(w) for w in record.get("warnings", ()))  # type: ignore[attr-defined]
    for w in warnings:
        progress.line(w)
    progress.line(f"Successfully built {image_id.split(':', 1)[-1][:12]}")
    for r in refs:
        progress.line(f"Successfully tagged {r.familiar}")
    return BuildResult(image_id, options.tags, 0, 0, warnings)


def _valid(layout: Layout, context_root: Path, rel: str, record: dict[str, object]) -> bool:
    try:
        image_id = str(record["image"])
        if not _has_image(layout, image_id):
            return False
        tags: dict[str, str] | None = None
        for how, name, base_id in record.get("bases", ()):  # type: ignore[attr-defined]
            if how == "tag":
                tags = _tags(layout) if tags is None else tags
                if tags.get(name) != base_id or not _has_image(layout, base_id):
                    return False
            elif how in ("id", "digest"):
                if not _has_image(layout, base_id):
                    return False
        sources = record.get("sources", ())
        if sources:
            with BuildContext.from_directory(context_root, dockerfile=rel) as ctx:
                for patterns, digest in sources:  # type: ignore[attr-defined]
                    if ctx.digest(ctx.select(patterns)) != digest:
                        return False
        return True
    except Exception:  # noqa: BLE001 - any doubt means: build normally
        return False
