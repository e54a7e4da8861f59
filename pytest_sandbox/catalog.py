"""The service catalog: what ``@pytest.mark.container("redis")`` means (image, default
port, readiness check, default env, connection URL, and an offline recipe).

A name that is not in the catalog is an image reference.  Third-party packages add
services with the ``pytest_sandbox_services`` hook (see ``hookspecs``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_sandbox import wait

RECIPES = Path(__file__).parent / "recipes"


@dataclass(frozen=True)
class Service:
    """One catalog entry.  ``url`` is a format string with ``{host}``, ``{port}`` (the
    published default port) and the service's env (``{POSTGRES_PASSWORD}``...).
    ``recipe`` names a directory with a Dockerfile that builds the service offline on a
    Debian base (``None``: no offline recipe)."""

    name: str
    image: str
    port: int
    ready: wait.Strategy | None = None
    env: tuple[tuple[str, str], ...] = ()
    url: str = ""
    recipe: Path | None = None
    aliases: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    extra_ports: tuple[int, ...] = ()

    @property
    def recipe_tag(self) -> str:
        """The local tag an offline recipe is built under."""
        return f"sandbox/{self.name}:bookworm"

    def format_url(self, host: str, port: int, env: dict[str, str]) -> str:
        if not self.url:
            return ""
        return self.url.format(host=host, port=port, **env)


def _recipe(name: str) -> Path | None:
    path = RECIPES / name
    return path if (path / "Dockerfile").is_file() else None


BUILTIN: tuple[Service, ...] = (
    Service("redis", "redis:7", 6379, wait.RedisPing(6379), url="redis://{host}:{port}/0",
            recipe=_recipe("redis")),
    Service("postgres", "postgres:16", 5432, wait.PostgresReady(5432),
            env=(("POSTGRES_USER", "postgres"), ("POSTGRES_PASSWORD", "postgres"),
                 ("POSTGRES_DB", "postgres")),
            url="postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{host}:{port}/{POSTGRES_DB}",
            recipe=_recipe("postgres"), aliases=("postgresql",)),
    Service("mariadb", "mariadb:11", 3306, wait.MySQLGreeting(3306),
            env=(("MARIADB_ROOT_PASSWORD", "root"), ("MARIADB_DATABASE", "test"),
                 ("MYSQL_ROOT_PASSWORD", "root"), ("MYSQL_DATABASE", "test")),
            url="mysql://root:{MARIADB_ROOT_PASSWORD}@{host}:{port}/{MARIADB_DATABASE}",
            recipe=_recipe("mariadb"), aliases=("mysql",)),
    Service("mongo", "mongo:7", 27017, wait.MongoHello(27017), url="mongodb://{host}:{port}",
            aliases=("mongodb",)),
    Service("memcached", "memcached:1", 11211, wait.MemcachedVersion(11211),
            url="memcache://{host}:{port}", recipe=_recipe("memcached")),
    Service("nginx", "nginx:1", 80, wait.Http(80, "/"), url="http://{host}:{port}",
            recipe=_recipe("nginx")),
)


@dataclass
class Catalog:
    """Services by name and alias; later registrations win (plugins override built-ins)."""

    services: dict[str, Service] = field(default_factory=dict)

    @classmethod
    def default(cls, extra: Iterable[Iterable[Service]] = ()) -> Catalog:
        cat = cls()
        for svc in BUILTIN:
            cat.add(svc)
        for group in extra:
            for svc in group or ():
                cat.add(svc)
        return cat

    def add(self, svc: Service) -> None:
        for key in (svc.name, *svc.aliases):
            self.services[key] = svc

    def get(self, name: str) -> Service | None:
        return self.services.get(name)

    def names(self) -> list[str]:
        return sorted({s.name for s in self.services.values()})


