"""Descriptors, image manifests and indexes (Docker schema 2 and OCI), and platform matching."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sbx.errors import InvalidArgument, NotFound
from sbx.oci import mediatypes as mt
from sbx.oci.digest import Digest
from sbx.oci.image import Extra, canonical_json, freeze_extra, thaw_extra

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
                 "armel": "arm", "i386": "386", "i686": "386"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
#: Older variants each variant can also run, best first (containerd's rules for arm).
_COMPATIBLE_VARIANTS = {("arm", "v8"): ("v8", "v7", "v6", "v5"), ("arm", "v7"): ("v7", "v6", "v5"),
                        ("arm", "v6"): ("v6", "v5"), ("arm64", "v8"): ("v8", "")}


def normalize_arch(arch: str, variant: str = "") -> tuple[str, str]:
    """Canonical ``(architecture, variant)``: ``aarch64`` -> ``arm64``, ``armhf`` -> ``arm/v7``."""
    a = arch.lower()
    v = variant.lower()
    if a == "armhf" and not v:
        v = "v7"
    if a == "armel" and not v:
        v = "v6"
    a = _ARCH_ALIASES.get(a, a)
    if a == "arm64" and v == "8":
        v = "v8"
    return a, v


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8``, ``linux/amd64`` or ``arm64`` (os defaults to linux)."""
        parts = [p for p in text.strip().split("/")]
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise InvalidArgument(f"invalid platform {text!r}", hint="expected os/arch[/variant]")
        if len(parts) == 1:
            parts = ["linux", parts[0]]
        arch, variant = normalize_arch(parts[1], parts[2] if len(parts) == 3 else "")
        return cls(parts[0].lower(), arch, variant)

    @classmethod
    def current(cls) -> Platform:
        """The platform of this machine (linux only)."""
        import os as _os

        arch, variant = normalize_arch(_os.uname().machine)
        if arch == "arm" and not variant:
            variant = "v7"
        return cls("linux", arch, variant)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        return cls(os=obj.get("os", ""), architecture=obj.get("architecture", ""),
                   variant=obj.get("variant", "") or "", os_version=obj.get("os.version", "") or "",
                   os_features=tuple(obj.get("os.features") or ()))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


_DESCRIPTOR_KEYS = ("mediaType", "digest", "size", "urls", "annotations", "platform",
                    "artifactType")


@dataclass(frozen=True)
class Descriptor:
    """A typed, sized pointer to content: ``{mediaType, digest, size}`` plus optional fields."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    platform: Platform | None = None
    artifact_type: str = ""
    extra: Extra = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Descriptor:
        try:
            size = int(obj["size"])
            digest = Digest.parse(obj["digest"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid descriptor {dict(obj)!r}: {exc}") from None
        if size < 0:
            raise InvalidArgument(f"invalid descriptor: negative size {size}")
        plat = obj.get("platform")
        return cls(media_type=obj.get("mediaType", ""), digest=digest, size=size,
                   urls=tuple(obj.get("urls") or ()),
                   annotations=tuple(sorted((obj.get("annotations") or {}).items())),
                   platform=Platform.from_json(plat) if plat else None,
                   artifact_type=obj.get("artifactType", "") or "",
                   extra=freeze_extra(obj, _DESCRIPTOR_KEYS))

    def to_json(self) -> dict[str, Any]:
        out = thaw_extra(self.extra)
        out.update({"mediaType": self.media_type, "digest": str(self.digest), "size": self.size})
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @property
    def annotation_map(self) -> dict[str, str]:
        return dict(self.annotations)


def _load_object(data: bytes | str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    if obj.get("schemaVersion") != 2:
        raise InvalidArgument(f"{what}: unsupported schemaVersion {obj.get('schemaVersion')!r}",
                              hint="only schema 2 (Docker v2 and OCI) manifests are supported")
    return obj


_MANIFEST_KEYS = ("schemaVersion", "mediaType", "config", "layers", "annotations", "subject",
                  "artifactType")


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config blob and its layer blobs, lowest layer first."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    annotations: tuple[tuple[str, str], ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""
    extra: Extra = ()

    @classmethod
    def from_json(cls, data: bytes | str, media_type: str | None = None) -> Manifest:
        """Parse; ``media_type`` is the Content-Type when the body does not name one."""
        obj = _load_object(data, "manifest")
        mtype = obj.get("mediaType") or media_type or mt.OCI_MANIFEST
        if mtype not in mt.MANIFEST_TYPES:
            raise InvalidArgument(f"manifest: unexpected media type {mtype!r}")
        if "config" not in obj:
            raise InvalidArgument("manifest has no config descriptor")
        subject = obj.get("subject")
        return cls(config=Descriptor.from_json(obj["config"]),
                   layers=tuple(Descriptor.from_json(d) for d in obj.get("layers") or ()),
                   media_type=mtype,
                   annotations=tuple(sorted((obj.get("annotations") or {}).items())),
                   subject=Descriptor.from_json(subject) if subject else None,
                   artifact_type=obj.get("artifactType", "") or "",
                   extra=freeze_extra(obj, _MANIFEST_KEYS))

    def to_json(self) -> bytes:
        out = thaw_extra(self.extra)
        out.update({"schemaVersion": 2, "mediaType": self.media_type,
                    "config": self.config.to_json(),
                    "layers": [d.to_json() for d in self.layers]})
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return canonical_json(out)

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST


_INDEX_KEYS = ("schemaVersion", "mediaType", "manifests", "annotations", "subject",
               "artifactType")


def _is_attestation(d: Descriptor) -> bool:
    ann = d.annotation_map
    return ("vnd.docker.reference.type" in ann
            or (d.platform is not None and d.platform.os == "unknown"))


@dataclass(frozen=True)
class Index:
    """A manifest list (Docker) or image index (OCI): one manifest per platform."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    annotations: tuple[tuple[str, str], ...] = ()
    extra: Extra = ()

    @classmethod
    def from_json(cls, data: bytes | str, media_type: str | None = None) -> Index:
        obj = _load_object(data, "image index")
        mtype = obj.get("mediaType") or media_type or mt.OCI_INDEX
        if mtype not in mt.INDEX_TYPES:
            raise InvalidArgument(f"image index: unexpected media type {mtype!r}")
        return cls(manifests=tuple(Descriptor.from_json(d) for d in obj.get("manifests") or ()),
                   media_type=mtype,
                   annotations=tuple(sorted((obj.get("annotations") or {}).items())),
                   extra=freeze_extra(obj, _INDEX_KEYS))

    def to_json(self) -> bytes:
        out = thaw_extra(self.extra)
        out.update({"schemaVersion": 2, "mediaType": self.media_type,
                    "manifests": [d.to_json() for d in self.manifests]})
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return canonical_json(out)

    def select(self, os: str = "linux", arch: str | None = None, variant: str = "") -> Descriptor:
        """The best manifest for a platform (default: this machine), as containerd picks it.

        An exact variant wins; for arm an older compatible variant comes next; with no
        variant asked, an entry without variant, then the architecture's default variant.
        Attestation manifests (``unknown/unknown``) are never chosen.
        """
        if arch is None:
            here = Platform.current()
            arch, variant = here.architecture, variant or here.variant
        want_arch, want_variant = normalize_arch(arch, variant)
        candidates: list[tuple[str, Descriptor]] = []
        for d in self.manifests:
            if d.platform is None or _is_attestation(d):
                continue
            a, v = normalize_arch(d.platform.architecture, d.platform.variant)
            if d.platform.os == os and a == want_arch:
                candidates.append((v, d))
        wanted = want_variant or _DEFAULT_VARIANT.get(want_arch, "")
        order = _COMPATIBLE_VARIANTS.get((want_arch, wanted), (wanted,))
        if not want_variant:
            order = ("", *order)
        for v in order:
            for cv, d in candidates:
                if cv == v or (want_arch == "arm64" and {cv, v} <= {"", "v8"}):
                    return d
        shown = "/".join(p for p in (os, want_arch, want_variant) if p)
        raise NotFound(f"no matching manifest for {shown} in the manifest list entries",
                       hint="pick another platform with --platform, or use an image built for it")

    def platforms(self) -> list[Platform]:
        return [d.platform for d in self.manifests if d.platform is not None and not _is_attestation(d)]


def parse_manifest_or_index(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse a registry response that may be either kind, by media type or by shape."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"manifest is not valid JSON: {exc}") from None
    mtype = (obj.get("mediaType") if isinstance(obj, dict) else None) or media_type or ""
    if mtype in mt.SCHEMA1_TYPES or (isinstance(obj, dict) and obj.get("schemaVersion") == 1):
        raise InvalidArgument("Docker schema 1 manifests are not supported",
                              hint="push the image again with a current client (schema 2)")
    if mtype in mt.INDEX_TYPES or (isinstance(obj, dict) and "manifests" in obj and not mtype):
        return Index.from_json(data, mtype or None)
    return Manifest.from_json(data, mtype or None)
