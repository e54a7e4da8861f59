"""``RUN --mount=type=...,target=...`` specs (BuildKit's ``commands_runmount.go``).

The spec is a CSV list of ``key=value`` fields (plus bare ``ro``/``rw``/``required``).
Parsing records every mount so that the builder can act on it or say it is not
supported yet; values holding ``$`` are only checked once expanded (``Mount.parse``
with an ``expand`` function, as ``Run.expand`` does).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass

from sbx.build.dockerfile.flags import FlagError
from sbx.build.dockerfile.suggest import closest

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_KEYS = ("type", "from", "source", "target", "readonly", "id", "sharing", "required",
         "size", "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw",
         "readwrite", "env")
_ALIASES = {"src": "source", "dst": "target", "destination": "target", "from": "from_"}
_STRING_FIELDS = ("type", "target", "source", "from_", "id", "sharing", "env")
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Mount:
    """One ``--mount`` of a ``RUN`` step; ``spec`` is the text as written."""

    spec: str
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = ""
    readonly: bool = True
    required: bool = False
    size: int = 0
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    env: str | None = None

    @classmethod
    def parse(cls, spec: str, expand: Callable[[str], str] | None = None) -> Mount:
        """Parse a mount spec; raises ``FlagError``.  Without ``expand``, values that
        mention ``$`` are kept as written and not checked."""
        try:
            fields = next(csv.reader([spec]), [])
        except csv.Error as err:
            raise FlagError(f"failed to parse csv mounts: {err}") from None
        values: dict[str, object] = {"type": "bind"}
        readonly: bool | None = None
        for field in fields:
            key, has_value, value = field.partition("=")
            key = key.lower()
            if not has_value:
                if key in ("readonly", "ro"):
                    readonly = True
                elif key in ("readwrite", "rw"):
                    readonly = False
                elif key == "required":
                    _needs_type(values, key, ("secret", "ssh"))
                    values["required"] = True
                else:
                    raise FlagError(f"invalid field '{field}' must be a key=value pair")
                continue
            if key == "from" and "$" in value[:-1]:
                raise FlagError("'from' doesn't support variable expansion, "
                                "define alias stage instead")
            if expand is not None:
                value = expand(value)
            elif "$" in value:
                deferred = _ALIASES.get(key, key)
                if deferred in _STRING_FIELDS:
                    values[deferred] = value
                continue
            if key in ("readonly", "ro", "readwrite", "rw"):
                flag = _parse_bool(key, value)
                readonly = flag if key in ("readonly", "ro") else not flag
            else:
                _set_field(values, key, value, field)
        if readonly is None:
            readonly = values["type"] not in ("cache", "tmpfs")
        values["readonly"] = readonly
        mount = cls(spec=spec, **values)  # type: ignore[arg-type]
        mount._check()
        return mount

    def _check(self) -> None:
        if self.type not in ("secret", "ssh", "cache"):
            for name in ("mode", "uid", "gid"):
                if getattr(self, name) is not None:
                    raise FlagError(f'{name} not allowed for "{self.type}" type mounts')
        if self.type == "secret":
            if self.from_:
                raise FlagError("secret mount should not have a from")
            if self.sharing:
                raise FlagError("secret mount should not define sharing")
            if not (self.source or self.target or self.id):
                raise FlagError("invalid secret mount. one of source, target required")
            if self.source and self.id:
                raise FlagError("both source and id can't be set")
        if self.sharing and self.type != "cache":
            raise FlagError(f"invalid cache sharing set for {self.type} mount")


def _canonical_key(key: str, field: str) -> str:
    key = _ALIASES.get(key, key)
    if key not in _STRING_FIELDS:
        raise FlagError(f"unexpected key '{key}' in '{field}'")
    return key


def _needs_type(values: dict[str, object], key: str, types: tuple[str, ...]) -> None:
    if values["type"] not in types:
        raise FlagError(f"unexpected key '{key}' for mount type '{values['type']}'")


def _parse_bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise FlagError(f"invalid value for {key}: {value}")


def _parse_uint(key: str, value: str, base: int) -> int:
    try:
        number = int(value, base)
    except ValueError:
        raise FlagError(f"invalid value {value} for {key}") from None
    if number < 0 or number >= 2**32:
        raise FlagError(f"invalid value {value} for {key}")
    return number


def _set_field(values: dict[str, object], key: str, value: str, field: str) -> None:
    if key == "type":
        lowered = value.lower()
        if lowered not in MOUNT_TYPES:
            suggestion = closest(value, MOUNT_TYPES, case_sensitive=True)
            raise FlagError(f'unsupported mount type "{value}"',
                            f"did you mean {suggestion}?" if suggestion
                            else "use one of " + ", ".join(MOUNT_TYPES))
        values["type"] = lowered
    elif key == "sharing":
        lowered = value.lower()
        if lowered not in SHARING_MODES:
            raise FlagError(f'unsupported sharing value "{value}"',
                            "use one of " + ", ".join(SHARING_MODES))
        values["sharing"] = lowered
    elif key == "required":
        _needs_type(values, key, ("secret", "ssh"))
        values["required"] = _parse_bool(key, value)
    elif key == "size":
        _needs_type(values, key, ("tmpfs",))
        values["size"] = _parse_size(value)
    elif key == "mode":
        values["mode"] = _parse_uint(key, value, 8)
    elif key in ("uid", "gid"):
        values[key] = _parse_uint(key, value, 10)
    elif key in _KEYS:
        values[_canonical_key(key, field)] = value
    else:
        suggestion = closest(key, _KEYS, case_sensitive=True)
        raise FlagError(f"unexpected key '{key}' in '{field}'",
                        f"did you mean {suggestion}?" if suggestion else None)


def _parse_size(value: str) -> int:
    match = _SIZE.match(value.strip())
    if not match:
        raise FlagError(f"invalid value for size: {value}")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " kmgtp".index(unit.lower() or " "))
