"""``--filter key=value`` for ``ps`` and ``images``: parsing, validation and matching.

As in moby's ``filters`` package: the flag is repeatable, values of the same key are
OR-ed and different keys are AND-ed; keys are case-insensitive and values are trimmed.
Container keys: id (prefix), name (regular expression search), label (``key`` or
``key=value``), status, exited, ancestor, before, since.  Image keys: dangling,
label, reference (Go ``path.Match`` glob on the familiar "name:tag" or "name"),
before, since.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sbx.errors import InvalidArgument

__all__ = ["Filters", "ContainerFacts", "ImageFacts", "CONTAINER_FILTERS", "IMAGE_FILTERS",
           "CONTAINER_STATES", "path_match"]

CONTAINER_FILTERS = frozenset({"id", "name", "label", "status", "exited", "ancestor",
                               "before", "since"})
IMAGE_FILTERS = frozenset({"dangling", "label", "reference", "before", "since"})
CONTAINER_STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")

_HINT = "use --filter key=value"


@dataclass(frozen=True)
class ContainerFacts:
    """What the filters need to know about one container."""

    id: str
    name: str
    image: str = ""
    image_id: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    status: str = "created"
    exit_code: int | None = None
    created: float = 0.0


@dataclass(frozen=True)
class ImageFacts:
    """What the filters need to know about one image (repo_tags in familiar form)."""

    id: str
    repo_tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0

    @property
    def dangling(self) -> bool:
        return not self.repo_tags


def _bad(key: str, value: str | None = None) -> InvalidArgument:
    text = f"invalid filter '{key}'" if value is None else f"invalid filter '{key}={value}'"
    return InvalidArgument(text, hint=_HINT)


@dataclass(frozen=True)
class Filters:
    """Parsed filters: each key maps to the values given for it, in order."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, args: Iterable[str], accepted: frozenset[str] = CONTAINER_FILTERS) -> Filters:
        """Parse repeated ``key=value`` flag values and validate keys against ``accepted``."""
        values: dict[str, list[str]] = {}
        for arg in args:
            if "=" not in arg:
                raise InvalidArgument(f"bad format of filter (expected name=value): {arg!r}",
                                      hint=_HINT)
            key, _, value = arg.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if key not in accepted:
                raise _bad(key)
            bucket = values.setdefault(key, [])
            if value not in bucket:
                bucket.append(value)
        filters = cls({k: tuple(v) for k, v in values.items()})
        filters._validate()
        return filters

    def _validate(self) -> None:
        for value in self.values.get("status", ()):
            if value not in CONTAINER_STATES:
                raise InvalidArgument(f"Unrecognised filter value for status: {value}",
                                      hint="status is one of " + ", ".join(CONTAINER_STATES))
        for value in self.values.get("exited", ()):
            if not value.lstrip("-").isdigit():
                raise _bad("exited", value)
        for value in self.values.get("dangling", ()):
            if value.lower() not in ("true", "false", "1", "0"):
                raise _bad("dangling", value)
        if len({v.lower() in ("true", "1") for v in self.values.get("dangling", ())}) > 1:
            raise _bad("dangling", ",".join(self.values["dangling"]))
        for value in self.values.get("name", ()):
            try:
                re.compile(value)
            except re.error as exc:
                raise InvalidArgument(f"invalid filter 'name={value}': {exc}", hint=_HINT) from None

    def __bool__(self) -> bool:
        return bool(self.values)

    def get(self, key: str) -> tuple[str, ...]:
        return tuple(self.values.get(key, ()))

    # ------------------------------------------------------------ containers

    def match_container(self, c: ContainerFacts, *,
                        lookup: Callable[[str], ContainerFacts | None] | None = None,
                        resolve_image: Callable[[str], str | None] | None = None) -> bool:
        """True when ``c`` passes every filter.

        ``lookup`` finds the container named by before/since (by name or id);
        ``resolve_image`` turns an ancestor value into an image id (when it returns
        None, or is not given, the value is compared with the image name and id).
        """
        v = self.values
        if "id" in v and not any(c.id.startswith(x) for x in v["id"]):
            return False
        if "name" in v and not any(re.search(x, c.name) or re.search(x, "/" + c.name)
                                   for x in v["name"]):
            return False
        if "label" in v and not _match_labels(v["label"], c.labels):
            return False
        if "status" in v and c.status not in v["status"]:
            return False
        if "exited" in v:
            if c.status != "exited" or c.exit_code is None \
                    or str(c.exit_code) not in {str(int(x)) for x in v["exited"]}:
                return False
        if "ancestor" in v and not any(_is_ancestor(x, c, resolve_image) for x in v["ancestor"]):
            return False
        return self._in_time_window(c.created, lookup, "container")

    # ------------------------------------------------------------ images

    def match_image(self, img: ImageFacts, *,
                    lookup: Callable[[str], ImageFacts | None] | None = None) -> bool:
        """True when ``img`` passes every filter; ``lookup`` resolves before/since."""
        v = self.values
        if "dangling" in v:
            want = v["dangling"][0].lower() in ("true", "1")
            if img.dangling != want:
                return False
        if "label" in v and not _match_labels(v["label"], img.labels):
            return False
        if "reference" in v:
            if not any(_reference_match(p, tag) for p in v["reference"] for tag in img.repo_tags):
                return False
        return self._in_time_window(img.created, lookup, "image")

    def _in_time_window(self, created: float, lookup: Callable[[str], Any] | None,
                        what: str) -> bool:
        """``before=REF`` / ``since=REF``: created before or after the object REF names."""
        for key in ("before", "since"):
            for ref in self.values.get(key, ()):
                if lookup is None:
                    raise InvalidArgument(f"filter '{key}' is not supported here", hint=_HINT)
                other = lookup(ref)
                if other is None:
                    raise InvalidArgument(f"No such {what}: {ref}",
                                          hint=f"the {key} filter names {'an' if what == 'image' else 'a'} {what}")
                if key == "before" and not created < other.created:
                    return False
                if key == "since" and not created > other.created:
                    return False
        return True


def _match_labels(wanted: Iterable[str], labels: Mapping[str, str]) -> bool:
    """Every ``key`` or ``key=value`` must hold (docker's ``MatchKVList``)."""
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels:
            return False
        if eq and labels[key] != value:
            return False
    return True


def _is_ancestor(value: str, c: ContainerFacts,
                 resolve_image: Callable[[str], str | None] | None) -> bool:
    if resolve_image is not None:
        image_id = resolve_image(value)
        if image_id is not None:
            return image_id == c.image_id
    bare = value.removeprefix("sha256:")
    if c.image_id and len(bare) >= 4 and c.image_id.removeprefix("sha256:").startswith(bare):
        return True
    if value == c.image:
        return True
    with_tag = value if ":" in value.rsplit("/", 1)[-1] or "@" in value else value + ":latest"
    return with_tag == c.image


def _reference_match(pattern: str, repo_tag: str) -> bool:
    if path_match(pattern, repo_tag):
        return True
    name = repo_tag.split("@", 1)[0]
    last = name.rfind(":")
    if last > name.rfind("/"):
        name = name[:last]
    return path_match(pattern, name)


def path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match`` (``sbx.gomatch``)."""
    from sbx.gomatch import compile_pattern

    try:
        return compile_pattern(pattern).match(name) is not None
    except ValueError:
        raise InvalidArgument(f"invalid reference filter {pattern!r}: syntax error in pattern",
                              hint="close the [ character class") from None
