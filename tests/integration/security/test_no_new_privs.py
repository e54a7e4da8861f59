"""no_new_privs: off by default as in Docker (setuid programs in images, su and sudo,
work; safety comes from capabilities and seccomp), on with ``--security-opt
no-new-privileges`` (then a setuid binary no longer raises who the process runs as).
``sbx exec`` processes take the container's setting (as Docker), ``--privileged`` too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.security import cprobes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setuid_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe, setuid to its owner (uid 0 in the container: root, or in rootless mode
    the user the container's root maps to)."""
    d = tmp_path_factory.mktemp("suid")
    built = cprobes.build("syscalls", d)
    suid = d / "suid-probe"
    shutil.copy(built, suid)
    suid.chmod(0o4755)
    return suid


def _nnp(sbx, *flags: str) -> str:
    out = sbx.ok("run", "--rm", *flags, "bb", "grep", "NoNewPrivs", "/proc/self/status")
    return out.split()[1]


@pytest.mark.parametrize("flags, want", [
    ((), "0"),
    (("--security-opt", "no-new-privileges"), "1"),
    (("--security-opt", "no-new-privileges=true"), "1"),
    (("--security-opt", "no-new-privileges:true"), "1"),
    (("--security-opt", "no-new-privileges=false"), "0"),
    (("--privileged", "--security-opt", "no-new-privileges"), "1"),
])
def test_no_new_privs_follows_the_flag(sbx, flags, want):
    assert _nnp(sbx, *flags) == want


def test_a_bad_value_is_refused(sbx):
    r = sbx.run("run", "--rm", "--security-opt", "no-new-privileges=maybe", "bb", "true")
    assert r.returncode == 125 and "no-new-privileges=maybe" in r.stderr


def test_setuid_programs_work_unless_no_new_privileges(sbx, setuid_probe):
    bind = ("-v", f"{setuid_probe}:/suid:ro", "-u", "65534")
    assert cprobes.results(sbx.ok("run", "--rm", *bind, "bb", "/suid", "euid")) == {"euid": 0}
    got = sbx.ok("run", "--rm", "--security-opt", "no-new-privileges", *bind, "bb", "/suid", "euid")
    assert cprobes.results(got) == {"euid": 65534}


def test_exec_takes_the_containers_setting_and_inspect_shows_it(sbx):
    sbx.ok("run", "-d", "--name", "nnp-on", "--security-opt", "no-new-privileges", "bb", "sleep", "300")
    sbx.ok("run", "-d", "--name", "nnp-off", "bb", "sleep", "300")
    for name, want in (("nnp-on", "1"), ("nnp-off", "0")):
        for extra in ((), ("--privileged",)):
            out = sbx.ok("exec", *extra, name, "grep", "NoNewPrivs", "/proc/self/status")
            assert out.split()[1] == want, (name, extra)
    shown = json.loads(sbx.ok("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", "nnp-on"))
    assert shown == ["no-new-privileges"]
    assert sbx.ok("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", "nnp-off").strip() == "null"


def test_lsm_options_are_accepted_with_a_note(sbx):
    from sbx.runtime.securityopt import host_lsms

    r = sbx.run("run", "--rm", "--security-opt", "apparmor=docker-default",
                "--security-opt", "label=disable", "bb", "true")
    assert r.returncode == 0
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("sbx: --security-opt")]
    assert len(notes) == 2
    if "apparmor" not in host_lsms():
        assert "no AppArmor" in notes[0]
