"""A container's seccomp filter: which profile applies (Docker's rules), compiled once.

- ``--security-opt seccomp=unconfined``: none.  ``--privileged``: none, unless a profile
  was given explicitly (as current Docker).  Otherwise the container's profile (its JSON
  stored in the spec) or Docker's default one (``sbx.oci.seccomp_default.json``).
- The profile is resolved for the container's bounding set (``includes.caps``), the host's
  architecture and kernel, and compiled by libseccomp into a BPF program, cached under
  ``<runroot>/seccomp/<key>.bpf`` (written atomically), the key a sha256 of the profile,
  the capabilities, the architecture, the kernel's major.minor and libseccomp's version.
  A start whose filter is cached reads one small file; the child loads it with one
  seccomp(2) call just before execve (``process.become``).
- ``sbx exec`` processes get the container's filter (Docker: ``exec --privileged`` gives
  every capability but keeps the container's seccomp profile and no_new_privs)."""

from __future__ import annotations

import os
from pathlib import Path

from sbx import oci
from sbx.linux import caps as capsmod
from sbx.linux.seccomp import Filter, library_version
from sbx.runtime.spec import ContainerSpec

try:  # the C sha256 alone: hashlib pulls in OpenSSL (~3 ms), too much for every start
    from _sha256 import sha256  # type: ignore[import-not-found]  # CPython <= 3.11
except ImportError:
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,no-redef]  # CPython 3.12+
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment]

UNCONFINED = "unconfined"
DEFAULT_PROFILE = Path(oci.__file__).with_name("seccomp_default.json")
_default_bytes: bytes | None = None


def effective_caps(spec: ContainerSpec) -> tuple[str, ...]:
    """The container's bounding set (what ``includes.caps`` is checked against)."""
    if spec.privileged:
        return tuple(sorted(capsmod.CAPS))
    return capsmod.container_set(spec.cap_add, spec.cap_drop)


def profile_source(spec: ContainerSpec) -> bytes | None:
    """The profile's JSON for this container, or None: no filter."""
    global _default_bytes
    choice = spec.seccomp
    if choice == UNCONFINED:
        return None
    if choice:
        return choice.encode()
    if spec.privileged:
        return None
    if _default_bytes is None:
        _default_bytes = DEFAULT_PROFILE.read_bytes()
    return _default_bytes


def cache_key(source: bytes, caps: tuple[str, ...], machine: str, release: str,
              libversion: str) -> str:
    """(``release``: the whole uname release, so minKernel rules are re-resolved after a
    kernel update; the cache lives on the runroot, a tmpfs, anyway.)"""
    h = sha256(b"sbx-seccomp-1\0")
    h.update(source)
    h.update(f"\0{','.join(sorted(caps))}\0{machine}\0{release}\0{libversion}".encode())
    return h.hexdigest()


def prepare(spec: ContainerSpec, runroot: Path | str) -> str:
    """The path of the container's compiled filter (compiled now if not cached), or ""."""
    source = profile_source(spec)
    if source is None:
        return ""
    caps = effective_caps(spec)
    uts = os.uname()
    key = cache_key(source, caps, uts.machine, uts.release, library_version())
    path = Path(runroot) / "seccomp" / f"{key}.bpf"
    if path.exists():
        return str(path)
    if not os.path.exists("/proc/sys/kernel/seccomp/actions_avail"):  # no CONFIG_SECCOMP_FILTER
        if source is not _default_bytes:
            from sbx.errors import InvalidArgument

            raise InvalidArgument("seccomp is not enabled in this kernel, cannot run a custom "
                                  "seccomp profile", hint="drop --security-opt seccomp=...")
        return ""  # as Docker: the default profile is skipped where the kernel has none
    from sbx.linux.seccomp import compile_filter
    from sbx.oci.seccomp import Profile, kernel_version

    policy = Profile.parse(source, "seccomp profile").resolve(
        caps=caps, machine=uts.machine, kernel=kernel_version(uts.release))
    if policy is None:
        return ""
    compiled = compile_filter(policy)
    from sbx.atomic import write_bytes

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_bytes(path, compiled.to_bytes(), mode=0o600)
    return str(path)


def load_file(path: str) -> Filter | None:
    """Read a filter ``prepare`` made (before pivot_root: it is a host path)."""
    if not path:
        return None
    with open(path, "rb") as f:
        return Filter.from_bytes(f.read())
