"""A fresh redis and a fresh postgres for every test, from the service catalog.

The images come from the store, a registry, or (offline) pytest-sandbox's bundled Debian
recipes built on ``debian:bookworm`` (made by ``sbx bootstrap``, which needs mmdebstrap and
a Debian mirror).  These tests run when such images can be had: in CI, or after
``sbx bootstrap debian:bookworm`` (or ``sbx pull redis:7 postgres:16``) on your machine."""

from __future__ import annotations

import os
import shutil
import socket

import pytest
from sbx.engine import Engine


def _can_make_images() -> bool:
    store = Engine.from_env().images
    for ref in ("debian:bookworm", "sandbox/redis:bookworm", "redis:7"):
        try:
            store.resolve(ref)
            return True
        except Exception:  # noqa: BLE001 - not in the store (or no store yet)
            pass
    bootstrap = shutil.which("mmdebstrap") or shutil.which("debootstrap")
    return bool(bootstrap) and os.environ.get("CI") == "true"


pytestmark = pytest.mark.skipif(  # (never in CI: there a missing image is a failure)
    os.environ.get("CI") != "true" and not _can_make_images(),
    reason="no redis/postgres images and no way to make them here: run "
           "`sbx bootstrap debian:bookworm` once (needs mmdebstrap and a Debian mirror)")


def redis_command(host: str, port: int, *args: str) -> bytes:
    """One redis command over RESP, no client library needed."""
    req = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection((host, port)) as s:
        s.sendall(req.encode())
        return s.recv(4096)


@pytest.mark.container("redis")
@pytest.mark.parametrize("run", range(3))
def test_counter_starts_at_one(sandbox, run):
    r = sandbox["redis"]
    assert r.url == f"redis://127.0.0.1:{r.port(6379)}/0"
    assert redis_command(r.host, r.port(6379), "INCR", "n") == b":1\r\n"


@pytest.mark.container("postgres")
@pytest.mark.parametrize("run", range(2))
def test_fresh_database(sandbox, run):
    pg = sandbox["postgres"]
    psql = "psql -U postgres -tA -c"
    assert pg.exec(f"{psql} 'CREATE TABLE t (x int)'").exit_code == 0   # fails if t existed
    assert pg.exec(f"{psql} 'INSERT INTO t VALUES (42)'").exit_code == 0
    assert pg.exec(f"{psql} 'SELECT x FROM t'") == (0, "42\n")
    assert pg.url.startswith("postgresql://postgres:postgres@127.0.0.1:")


@pytest.mark.container("redis", scope="module", name="cache")
@pytest.mark.container("postgres")
def test_redis_and_postgres_together(sandbox):
    assert redis_command("127.0.0.1", sandbox["cache"].port(6379), "PING") == b"+PONG\r\n"
    assert sandbox["postgres"].exec("pg_isready -U postgres").exit_code == 0
