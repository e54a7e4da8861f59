"""``sbx.oci.manifest``: descriptors, manifests, indexes and platform selection.
(Lives here because tests/unit/oci belongs to nobody yet; move it when it does.)"""

from __future__ import annotations

import json

import pytest
from sbx.errors import InvalidArgument, NotFound
from sbx.oci import mediatypes as mt
from sbx.oci.manifest import Index, Manifest, Platform, parse_manifest_or_index

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def _entry(arch: str, variant: str = "", os: str = "linux", digest: str = D1, **extra: object) -> dict:  # type: ignore[type-arg]
    plat = {"os": os, "architecture": arch}
    if variant:
        plat["variant"] = variant
    return {"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": 100, "platform": plat, **extra}


def _index(*entries: dict) -> Index:  # type: ignore[type-arg]
    return Index.from_json(json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                       "manifests": list(entries)}))


def test_manifest_round_trip() -> None:
    body = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
            "config": {"mediaType": mt.DOCKER_CONFIG, "digest": D1, "size": 10},
            "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "digest": D2, "size": 20}],
            "x-extra": 1}
    m = Manifest.from_json(json.dumps(body))
    assert m.is_docker and m.layers[0].size == 20
    assert mt.layer_compression(m.layers[0].media_type) == "gzip"
    assert json.loads(m.to_json()) == body
    assert Manifest.from_json(m.to_json()) == m


def test_manifest_media_type_from_header() -> None:
    body = {"schemaVersion": 2, "config": {"mediaType": mt.OCI_CONFIG, "digest": D1, "size": 1},
            "layers": []}
    assert Manifest.from_json(json.dumps(body), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST


@pytest.mark.parametrize("body", [
    {"schemaVersion": 1, "name": "x"},
    {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": []},
    {"schemaVersion": 2, "config": {"mediaType": mt.OCI_CONFIG, "digest": "sha256:xyz", "size": 1}},
])
def test_invalid_manifests(body: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument):
        parse_manifest_or_index(json.dumps(body).encode())


def test_parse_either() -> None:
    idx = _index(_entry("amd64"))
    assert isinstance(parse_manifest_or_index(idx.to_json()), Index)


@pytest.mark.parametrize(("want", "entries", "expected"), [
    (("linux", "amd64", ""), [_entry("arm64", "v8", digest=D2), _entry("amd64")], D1),
    (("linux", "x86_64", ""), [_entry("amd64")], D1),
    (("linux", "aarch64", ""), [_entry("amd64", digest=D2), _entry("arm64", "v8")], D1),
    (("linux", "arm64", "v8"), [_entry("arm64")], D1),                 # v8 == no variant on arm64
    (("linux", "arm", "v7"), [_entry("arm", "v6", digest=D2), _entry("arm", "v7")], D1),
    (("linux", "arm", "v7"), [_entry("arm", "v6")], D1),               # v7 runs v6
    (("linux", "arm", ""), [_entry("arm", "v5", digest=D2), _entry("arm", "v7")], D1),
    (("linux", "amd64", ""), [_entry("unknown", os="unknown", digest=D2), _entry("amd64")], D1),
])
def test_select(want: tuple[str, str, str], entries: list[dict], expected: str) -> None:  # type: ignore[type-arg]
    assert str(_index(*entries).select(*want).digest) == expected


def test_select_skips_attestations_and_reports_no_match() -> None:
    idx = _index(_entry("amd64", annotations={"vnd.docker.reference.type": "attestation-manifest"}),
                 _entry("s390x"))
    with pytest.raises(NotFound, match="no matching manifest for linux/amd64"):
        idx.select("linux", "amd64")
    with pytest.raises(NotFound, match="linux/arm/v6"):
        _index(_entry("arm", "v7")).select("linux", "arm", "v6")


@pytest.mark.parametrize(("text", "expected"), [
    ("linux/amd64", Platform("linux", "amd64")),
    ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
    ("arm64", Platform("linux", "arm64")),
    ("linux/armhf", Platform("linux", "arm", "v7")),
])
def test_platform_parse(text: str, expected: Platform) -> None:
    assert Platform.parse(text) == expected


def test_platform_parse_invalid() -> None:
    with pytest.raises(InvalidArgument):
        Platform.parse("linux//v7")
