"""Keyrings: a container never reaches the session keyring of whoever started it.

Today's leak: containers shared the caller's session keyring (and uid 0's user keyring),
so a key a host login added was read inside.  Each container's init joins a fresh
session keyring (``_ses.<container id>``, as runc), ``sbx exec`` joins the container's,
and Docker's default profile refuses keyctl, add_key and request_key outright.  The host
side here is a process with a session keyring of its own holding a secret (as a login
has), which then starts the container."""

from __future__ import annotations

import errno
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.security import cprobes

pytestmark = pytest.mark.integration

ENOKEY = 126

# in a fresh anonymous session keyring linking the user keyring (a login's): add a secret
# to one of them, show that the host reads it, then start the container from there (it
# inherits that session keyring, as from a login)
HOST = textwrap.dedent("""
    import ctypes, os, subprocess, sys
    NR = {"x86_64": (248, 250), "aarch64": (217, 219)}[os.uname().machine]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    desc, payload, probe, where = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3], int(sys.argv[4])
    assert libc.syscall(NR[1], 1, None) > 0, ctypes.get_errno()  # join a new session keyring
    # link the user keyring into it, as pam_keyinit does for a login
    assert libc.syscall(NR[1], 8, ctypes.c_long(-4), ctypes.c_long(-3)) == 0, ctypes.get_errno()
    serial = libc.syscall(NR[0], b"user", desc, payload, len(payload), ctypes.c_long(where))
    assert serial > 0, ctypes.get_errno()
    host = subprocess.run([probe, f"key_get:{sys.argv[1]}"], capture_output=True, text=True).stdout
    try:
        out = subprocess.run([sys.executable, "-m", "sbx", *sys.argv[5:], f"key_read:{serial}",
                              f"key_search:{sys.argv[1]}", f"key_get:{sys.argv[1]}", f"key_steal:{sys.argv[1]}",
                              "session_name"],
                             capture_output=True, text=True)
    finally:
        gone = libc.syscall(NR[1], 21, ctypes.c_long(serial))  # KEYCTL_INVALIDATE: nothing stays
        assert gone == 0, ctypes.get_errno()
    print(host + out.stdout, end="")
    print(out.stderr, end="", file=sys.stderr)
""")

KEY_SPEC_SESSION_KEYRING = -3
KEY_SPEC_USER_KEYRING = -4


@pytest.fixture(scope="module")
def probe_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cprobes.build("syscalls", tmp_path_factory.mktemp("probe"))


def _from_a_session(sbx, probe_bin: Path, where: int, *run_args: str) -> tuple[dict[str, int], str]:
    if os.uname().machine not in ("x86_64", "aarch64"):
        from tests.needs import unavailable

        unavailable(f"no keyctl syscall numbers for {os.uname().machine} in this test")
    desc = f"sbx-test-{secrets.token_hex(6)}"
    cmd = [sys.executable, "-c", HOST, desc, secrets.token_hex(16), str(probe_bin), str(where),
           "run", "--rm", *run_args, "-v", f"{probe_bin}:/probe:ro", "bb", "/probe"]
    r = subprocess.run(cmd, env=sbx.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    host, inside = cprobes.results(lines[0]), "\n".join(lines[1:])
    assert host == {"key_get": 0}, "the host side must read its own key"
    return cprobes.results(inside), inside


def test_a_hosts_session_key_is_not_reachable_even_unconfined(sbx, probe_bin):
    got, text = _from_a_session(sbx, probe_bin, KEY_SPEC_SESSION_KEYRING,
                                "--security-opt", "seccomp=unconfined")
    assert got["key_search"] == ENOKEY    # the container's session keyring is its own
    assert got["key_get"] == ENOKEY
    assert got["key_read"] == errno.EACCES  # and the key, named by serial, is not possessed
    session = [ln for ln in text.splitlines() if ln.startswith("session=")]
    assert session and session[0].split(";")[-1].startswith("_ses.")


@pytest.mark.parametrize("where", [KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING])
def test_the_default_profile_refuses_the_keyring_calls(sbx, probe_bin, where):
    got, _ = _from_a_session(sbx, probe_bin, where)
    assert got == {"key_read": errno.EPERM, "key_search": errno.EPERM, "key_get": errno.EPERM,
                   "key_steal": errno.EPERM, "session_name": errno.EPERM}
    calls = cprobes.results(sbx.ok("run", "--rm", "-v", f"{probe_bin}:/probe:ro", "bb", "/probe",
                                 "keyctl", "add_key", "request_key"))
    assert calls == {"keyctl": errno.EPERM, "add_key": errno.EPERM, "request_key": errno.EPERM}


def test_each_container_has_its_own_session_keyring_and_exec_joins_it(sbx, probe_bin):
    bind = ("-v", f"{probe_bin}:/probe:ro", "--security-opt", "seccomp=unconfined")
    ids = [sbx.ok("run", "-d", *bind, "bb", "sleep", "300").strip() for _ in range(2)]

    def session(cid: str) -> str:
        out = sbx.ok("exec", cid, "/probe", "session_name")
        return [ln for ln in out.splitlines() if ln.startswith("session=")][0].split(";")[-1]

    assert [session(c) for c in ids] == [f"_ses.{c}" for c in ids]


@pytest.mark.root_only("uid 0's user keyring is the host's only in root mode")
def test_unconfined_root_still_reaches_uid0s_user_keyring(sbx, probe_bin):
    """Docker's and runc's limitation too, written down: the user keyring is per uid (per
    user namespace), not per session, so with seccomp off a root container can link a key
    of host root's user keyring into its session and read it.  The default profile is the
    protection (previous test); ``--userns`` remapping is the other one."""
    got, _ = _from_a_session(sbx, probe_bin, KEY_SPEC_USER_KEYRING, "--security-opt", "seccomp=unconfined")
    assert got["key_search"] == ENOKEY and got["key_read"] == errno.EACCES
    assert got["key_steal"] == 0
