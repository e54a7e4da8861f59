"""libseccomp compile, the filter cache and a load in a forked child (no root needed:
with no_new_privs any process may install a filter)."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest
from sbx.linux import caps
from sbx.linux import seccomp as kseccomp
from sbx.linux.consts import PR_SET_NO_NEW_PRIVS
from sbx.oci.seccomp import Profile, kernel_version
from sbx.runtime import seccomp
from sbx.runtime.spec import ContainerSpec


def _spec(**kw) -> ContainerSpec:
    return ContainerSpec(image="bb", image_id="sha256:" + "0" * 64, argv=("true",), **kw)


@pytest.fixture(scope="module")
def compiled() -> kseccomp.Filter:
    uts = os.uname()
    pol = Profile.default().resolve(caps=caps.DOCKER_DEFAULT, machine=uts.machine,
                                    kernel=kernel_version(uts.release))
    return kseccomp.compile_filter(pol)


def test_compile_exports_a_bpf_program(compiled):
    assert len(compiled.program) % 8 == 0 and len(compiled.program) > 800
    assert kseccomp.Filter.from_bytes(compiled.to_bytes()) == compiled
    with pytest.raises(ValueError):
        kseccomp.Filter.from_bytes(b"short")


NR = {"x86_64": (250, 272), "aarch64": (219, 97)}  # keyctl, unshare


def test_a_loaded_filter_refuses_keyctl_and_unshare(compiled):
    if os.uname().machine not in NR:
        from tests.needs import unavailable

        unavailable(f"no syscall numbers for {os.uname().machine} in this test")
    keyctl, unshare = NR[os.uname().machine]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            compiled.load()
            libc.syscall.restype = ctypes.c_long
            out = []
            for call in ((keyctl, 0, ctypes.c_long(-3), 0), (unshare, 0x10000000)):
                rc = libc.syscall(*call)
                out.append(str(ctypes.get_errno() if rc < 0 else 0))
            out.append(str(kseccomp.mode()))
            os.write(w, ",".join(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert data == f"{errno.EPERM},{errno.EPERM},2"


def test_which_profile_applies():
    assert seccomp.profile_source(_spec()) is not None
    assert seccomp.profile_source(_spec(seccomp="unconfined")) is None
    assert seccomp.profile_source(_spec(privileged=True)) is None
    custom = '{"defaultAction":"SCMP_ACT_ALLOW"}'
    assert seccomp.profile_source(_spec(privileged=True, seccomp=custom)) == custom.encode()


def test_cache_key_covers_profile_caps_arch_kernel_and_library():
    base = (b"{}", ("CHOWN",), "x86_64", "6.1.0", "2.5.4")
    key = seccomp.cache_key(*base)
    assert seccomp.cache_key(b"{}", ("CHOWN",), "x86_64", "6.1.0", "2.5.4") == key
    for i, other in enumerate((b"{ }", ("KILL",), "aarch64", "6.1.1", "2.5.5")):
        changed = list(base)
        changed[i] = other
        assert seccomp.cache_key(*changed) != key


def test_prepare_compiles_once(tmp_path):
    spec = _spec(cap_add=("SYS_ADMIN",))
    path = seccomp.prepare(spec, tmp_path)
    assert path.startswith(str(tmp_path / "seccomp"))
    stamp = os.stat(path).st_mtime_ns
    assert seccomp.prepare(spec, tmp_path) == path and os.stat(path).st_mtime_ns == stamp
    assert seccomp.prepare(_spec(), tmp_path) != path
    assert seccomp.load_file(path) is not None and seccomp.load_file("") is None
    assert seccomp.prepare(_spec(seccomp="unconfined"), tmp_path) == ""
    assert seccomp.prepare(_spec(seccomp="{}"), tmp_path) == ""  # confines nothing


def test_effective_caps():
    assert seccomp.effective_caps(_spec()) == tuple(sorted(caps.DOCKER_DEFAULT))
    assert "SYS_ADMIN" in seccomp.effective_caps(_spec(cap_add=("CAP_SYS_ADMIN",)))
    assert "MKNOD" not in seccomp.effective_caps(_spec(cap_drop=("mknod",)))
    assert len(seccomp.effective_caps(_spec(privileged=True))) == len(caps.CAPS)
