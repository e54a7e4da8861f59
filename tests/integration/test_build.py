"""``sbx build`` for real: Docker's classic output, the layer cache (content, not mtimes),
RUN in temporary containers, COPY/ADD, multi-stage builds, errors with file and line,
and nothing left behind by a failed or interrupted build."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SEED = 'FROM bb\nRUN echo hi > /x\nCMD ["cat","/x"]\n'
ID = r"[0-9a-f]{12}"


def context(tmp_path: Path, dockerfile: str, files: dict[str, str | bytes] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return ctx


def inspect(sbx, image: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(sbx.ok("image", "inspect", image))[0]


def test_seed_build_prints_docker_classic_output_and_then_uses_the_cache(sbx, tmp_path: Path) -> None:
    ctx = context(tmp_path, SEED)
    out = sbx.ok("build", "-t", "cheese10/hello-test:latest", str(ctx))
    assert re.fullmatch(
        rf"Step 1/3 : FROM bb\n ---> {ID}\n"
        rf"Step 2/3 : RUN echo hi > /x\n ---> Running in {ID}\nRemoving intermediate container {ID}\n ---> {ID}\n"
        rf'Step 3/3 : CMD \["cat","/x"\]\n ---> Running in {ID}\nRemoving intermediate container {ID}\n ---> ({ID})\n'
        rf"Successfully built ({ID})\nSuccessfully tagged cheese10/hello-test:latest\n", out), out
    built = out.splitlines()[-2].split()[-1]
    again = sbx.ok("build", "-t", "cheese10/hello-test:latest", str(ctx))
    assert again.count(" ---> Using cache") == 2
    assert "Running in" not in again
    assert f"Successfully built {built}" in again
    assert sbx.ok("run", "--rm", "cheese10/hello-test") == "hi\n"
    assert sbx.ok("ps", "-a", "-q") == ""
    history = inspect(sbx, "cheese10/hello-test")["History"]
    assert history[-2]["created_by"] == "/bin/sh -c echo hi > /x"
    assert history[-1]["empty_layer"] is True


def test_the_step_cache_is_used_without_the_replay_record(sbx, tmp_path: Path) -> None:
    ctx = context(tmp_path, SEED + "LABEL step=cache\n")
    first = sbx.ok("build", str(ctx))
    sbx.ok("build", "-t", "other-tag", str(ctx))   # another tag, same build: replayed
    layout_builds = sbx.root / "build-cache" / "builds"
    for record in layout_builds.iterdir():
        record.unlink()
    again = sbx.ok("build", str(ctx))
    assert again.count(" ---> Using cache") == 3
    assert first.splitlines()[-1] == again.splitlines()[-1]


def test_changing_one_copied_file_rebuilds_that_step_and_the_ones_after(sbx, tmp_path: Path) -> None:
    dockerfile = ("FROM bb\nWORKDIR /app\nCOPY a.txt ./\nRUN cat a.txt > first\n"
                  "COPY b.txt ./\nRUN cat a.txt b.txt > both\nCMD [\"cat\", \"both\"]\n")
    ctx = context(tmp_path, dockerfile, {"a.txt": "A\n", "b.txt": "B\n"})
    sbx.ok("build", "-t", "chain", str(ctx))
    os.utime(ctx / "a.txt", (1, 1))   # a new mtime only: still cached
    touched = sbx.ok("build", "-t", "chain", str(ctx))
    assert touched.count("Using cache") == 6
    (ctx / "b.txt").write_text("B2\n")
    out = sbx.ok("build", "-t", "chain", str(ctx))
    steps = out.split("Step ")[1:]
    cached = ["Using cache" in s for s in steps]
    assert cached == [False, True, True, True, False, False, False], out  # FROM prints no cache line
    assert sbx.ok("run", "--rm", "chain") == "A\nB2\n"


def test_copy_add_workdir_env_arg_and_config(sbx, tmp_path: Path) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = b"from the tar\n"
        ti = tarfile.TarInfo("pkg/inside.txt")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    dockerfile = """\
ARG BASE=bb
FROM ${BASE}
ARG WHO=nobody
ENV GREETING="hello ${WHO}" DIR=/srv
WORKDIR $DIR/app
COPY --chown=1000:1000 --chmod=640 conf/*.conf ./conf/
COPY --chown=daemon:daemon dir /data/
COPY <<EOF /etc/motd
motd for $WHO
EOF
ADD pkg.tar.gz /opt/
RUN echo "$GREETING from $(pwd) as $WHO" > /srv/app/out && ls -ln conf /data >> /srv/app/out
USER daemon
EXPOSE 80 53/udp
VOLUME /cache
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s CMD true
LABEL org.example.name="my app"
ENTRYPOINT ["sh", "-c"]
CMD ["cat /srv/app/out /etc/motd /opt/pkg/inside.txt"]
"""
    ctx = context(tmp_path, dockerfile, {"conf/a.conf": "a", "conf/b.conf": "b", "conf/skip.txt": "s",
                                         "dir/sub/file": "f", "pkg.tar.gz": archive.getvalue(),
                                         ".dockerignore": "dir/sub/ignored\n", "dir/sub/ignored": "x"})
    sbx.ok("build", "-t", "full", "--build-arg", "WHO=tester", "--label", "built.by=sbx", str(ctx))
    out = sbx.ok("run", "--rm", "full")
    assert out.startswith("hello tester from /srv/app as tester\n")
    assert re.search(r"-rw-r-----\s+1 1000\s+1000\s+1 .* a\.conf", out)
    assert "skip.txt" not in out and "ignored" not in out
    assert re.search(r"drwxr-xr-x\s+\d+ 1\s+1\s+.* sub", out)   # daemon is 1:1 in busybox's passwd
    assert "motd for tester\n" in out and out.endswith("from the tar\n")
    cfg = inspect(sbx, "full")["Config"]
    assert cfg["User"] == "daemon" and cfg["WorkingDir"] == "/srv/app"
    assert "GREETING=hello tester" in cfg["Env"]
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp"} and set(cfg["Volumes"]) == {"/cache"}
    assert cfg["StopSignal"] == "SIGQUIT" and cfg["Healthcheck"]["Interval"] == 5_000_000_000
    assert cfg["Labels"] == {"org.example.name": "my app", "built.by": "sbx"}
    assert cfg["Entrypoint"] == ["sh", "-c"]


def test_multi_stage_target_and_unused_stages(sbx, tmp_path: Path) -> None:
    dockerfile = """\
FROM bb AS builder
RUN mkdir /out && echo built > /out/artifact
FROM bb AS broken
RUN false
FROM bb AS final
COPY --from=builder /out/artifact /artifact
COPY --from=0 /out /out-copy
CMD ["cat", "/artifact"]
FROM final AS debug
RUN echo debug > /debug
"""
    ctx = context(tmp_path, dockerfile)
    out = sbx.ok("build", "-t", "ms", "--target", "final", str(ctx))
    assert "RUN false" not in out and "echo debug" not in out
    assert "Step 6/6" in out
    assert sbx.ok("run", "--rm", "ms") == "built\n"
    assert sbx.ok("run", "--rm", "ms", "cat", "/out-copy/artifact") == "built\n"
    out = sbx.ok("build", "-t", "ms-debug", str(ctx))
    assert "RUN false" not in out
    assert sbx.ok("run", "--rm", "ms-debug", "cat", "/debug") == "debug\n"


def test_onbuild_triggers_run_in_the_child_build(sbx, tmp_path: Path) -> None:
    parent = context(tmp_path / "p", "FROM bb\nONBUILD COPY marker /marker\nONBUILD RUN echo child >> /marker\n")
    sbx.ok("build", "-t", "onbuild-base", str(parent))
    child = context(tmp_path / "c", "FROM onbuild-base\nCMD [\"cat\", \"/marker\"]\n", {"marker": "m\n"})
    out = sbx.ok("build", "-t", "onbuild-child", str(child))
    assert "# Executing 2 build triggers" in out
    assert sbx.ok("run", "--rm", "onbuild-child") == "m\nchild\n"
    assert "OnBuild" not in inspect(sbx, "onbuild-child")["Config"]


@pytest.mark.parametrize(("dockerfile", "args", "message"), [
    ("FROM bb\nRUN true\nRUNN x\n", (), "Dockerfile:3: unknown instruction: RUNN"),
    ("FROM bb\nRUN false\n", (), "The command '/bin/sh -c false' returned a non-zero code: 1"),
    ("FROM bb\nCOPY missing.txt /\n", (), "COPY failed: file not found in build context"),
    ("FROM bb\n", ("--target", "nope"), "failed to reach build target nope"),
    ("FROM no-such-image-here\n", (), "base image 'no-such-image-here' not found locally"),
    ("FROM bb\n", ("--bogus",), "unknown flag: --bogus"),
    ("FROM bb\nCOPY --from=nostage /x /\n", (), "COPY --from=nostage: no build stage or local image"),
    ("FROM bb\nADD http://127.0.0.1:9/file /\n", (), "cannot download, sbx is offline"),
])
def test_errors_are_one_clear_line_and_exit_1(sbx, tmp_path: Path, dockerfile: str,
                                             args: tuple[str, ...], message: str) -> None:
    ctx = context(tmp_path, dockerfile)
    before = sbx.ok("images", "-a", "-q")
    r = sbx.run("build", *args, str(ctx))
    assert r.returncode == 1, r
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert sbx.ok("ps", "-a", "-q") == ""
    if "false" not in dockerfile and "RUNN" not in dockerfile:
        assert sbx.ok("images", "-a", "-q") == before


def test_interrupted_build_leaves_no_container_mount_or_partial_image(sbx, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM bb\nRUN echo started && sleep 60 && touch /never\nCMD [\"true\"]\n")
    before = set(sbx.ok("images", "-a", "-q", "--no-trunc").split())
    proc = subprocess.Popen([sys.executable, "-m", "sbx", "build", "-t", "interrupted", str(ctx)],
                            env=sbx.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 30
    while b"\nstarted\n" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.read1(4096)
    assert b" ---> Running in" in seen
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    proc.stdout.close()
    proc.stderr.close()  # type: ignore[union-attr]
    assert sbx.ok("ps", "-a", "-q") == ""
    assert set(sbx.ok("images", "-a", "-q", "--no-trunc").split()) == before
    assert "interrupted" not in sbx.ok("images")
    assert not sbx.leaks()
    assert not [p for p in (sbx.root / "tmp").iterdir() if p.name.startswith(("build-", ".build"))]
    assert not list((sbx.root / "containers").iterdir())


def test_context_from_stdin_quiet_iidfile_and_prune(sbx, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM bb\nCOPY hello /hello\nCMD [\"cat\", \"/hello\"]\n", {"hello": "from stdin\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(ctx, arcname=".")
    iid = tmp_path / "iid"
    out = sbx.run("build", "-q", "--iidfile", str(iid), "-t", "stdin-ctx", "-", input=buf.getvalue())
    assert out.returncode == 0, out.stderr
    image_id = out.stdout.decode().strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id) and iid.read_text() == image_id
    assert sbx.ok("run", "--rm", "stdin-ctx") == "from stdin\n"
    dockerfile_only = sbx.run("build", "-q", "-", input=b"FROM bb\nLABEL only=dockerfile\n")
    assert dockerfile_only.returncode == 0, dockerfile_only.stderr
    cached = sbx.ok("build", str(ctx))
    assert "Using cache" in cached
    sbx.ok("builder", "prune", "-f")
    assert "Using cache" not in sbx.ok("build", str(ctx))
    sbx.ok("system", "prune", "-f")
    assert "Using cache" not in sbx.ok("build", str(ctx))


def test_engine_build_api_streams_output(sbx, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM bb\nRUN echo from-run-step\n")
    code = (
        "import sys\nfrom sbx.engine import Engine\nchunks = []\n"
        f"r = Engine.from_env().build({str(ctx)!r}, tags=['api-built'], output=chunks.append)\n"
        "sys.stdout.write(r.image_id + '\\n' + b''.join(chunks).decode())\n")
    out = subprocess.run([sys.executable, "-c", code], env=sbx.env, capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("sha256:")
    assert "from-run-step\n" in out and "Successfully tagged api-built:latest" in out
    assert inspect(sbx, "api-built")["Id"] == out.splitlines()[0]
