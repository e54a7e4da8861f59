"""``sbx.oci.image``: config parsing, canonical bytes, unknown fields kept on round trip.
(Lives here because tests/unit/oci belongs to nobody yet; move it when it does.)"""

from __future__ import annotations

import json

import pytest
from sbx.errors import InvalidArgument
from sbx.oci.digest import Digest
from sbx.oci.image import Healthcheck, History, Image, ImageConfig

DOCKER_CONFIG = {
    "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05.123456789Z",
    "docker_version": "24.0.7",
    "config": {
        "Hostname": "", "Env": ["PATH=/usr/local/bin:/usr/bin", "REDIS_VERSION=7.2.4"],
        "Cmd": ["redis-server"], "Entrypoint": ["docker-entrypoint.sh"], "WorkingDir": "/data",
        "User": "redis", "Labels": {"b": "2", "a": "1"}, "ExposedPorts": {"6379/tcp": {}},
        "Volumes": {"/data": {}}, "StopSignal": "SIGTERM", "ArgsEscaped": True,
        "Healthcheck": {"Test": ["CMD", "redis-cli", "ping"], "Interval": 5_000_000_000,
                        "Retries": 3},
        "Shell": ["/bin/bash", "-c"], "OnBuild": None,
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]},
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file"},
                {"created_by": "CMD [\"redis-server\"]", "empty_layer": True}],
}


def test_parse_docker_config() -> None:
    img = Image.from_json(json.dumps(DOCKER_CONFIG).encode())
    c = img.config
    assert c.cmd == ("redis-server",) and c.entrypoint == ("docker-entrypoint.sh",)
    assert c.env_map["REDIS_VERSION"] == "7.2.4"
    assert c.working_dir == "/data" and c.user == "redis"
    assert c.labels == (("a", "1"), ("b", "2"))
    assert c.exposed_ports == ("6379/tcp",) and c.volumes == ("/data",)
    assert c.healthcheck == Healthcheck(("CMD", "redis-cli", "ping"), interval=5_000_000_000, retries=3)
    assert c.shell == ("/bin/bash", "-c") and c.onbuild == ()
    assert img.diff_ids == (Digest.parse("sha256:" + "1" * 64), Digest.parse("sha256:" + "2" * 64))
    assert img.history[1].empty_layer and img.platform == "linux/amd64"


def test_round_trip_keeps_unknown_fields_and_is_canonical() -> None:
    img = Image.from_json(json.dumps(DOCKER_CONFIG).encode())
    raw = img.to_json()
    obj = json.loads(raw)
    assert obj["docker_version"] == "24.0.7"
    assert obj["config"]["ArgsEscaped"] is True and obj["config"]["Hostname"] == ""
    assert Image.from_json(raw) == img
    assert Image.from_json(raw).to_json() == raw
    assert raw == json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    assert img.id == Digest.of_bytes(raw)


def test_cmd_none_versus_empty() -> None:
    assert "Cmd" not in ImageConfig().to_json()
    assert ImageConfig(cmd=()).to_json()["Cmd"] == []
    assert ImageConfig.from_json({"Cmd": None}).cmd is None
    assert ImageConfig.from_json({"Cmd": []}).cmd == ()


def test_helpers() -> None:
    c = ImageConfig(env=("A=1", "B=2")).with_env("A", "3").with_labels({"x": "y"})
    assert c.env == ("A=3", "B=2") and c.label_map == {"x": "y"}
    img = Image().with_layer(Digest.of_bytes(b"l"), History(created_by="RUN x"))
    assert len(img.diff_ids) == 1 and img.history[0].created_by == "RUN x"
    assert hash(img)  # frozen and hashable


@pytest.mark.parametrize("bad", [b"not json", b"[]", b'{"config": {"Env": "A=1"}}',
                                 b'{"rootfs": {"type": "layers", "diff_ids": ["md5:x"]}}'])
def test_invalid(bad: bytes) -> None:
    with pytest.raises(InvalidArgument):
        Image.from_json(bad)
