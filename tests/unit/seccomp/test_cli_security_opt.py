"""``sbx run/create --security-opt``: the flag reaches RunOptions (a profile file inlined,
as the docker CLI) and the ContainerSpec's fields; exec has no such flag (Docker)."""

from __future__ import annotations

import json

import pytest
from sbx.cli import containers
from sbx.cli.flags import parse
from sbx.errors import InvalidArgument
from sbx.runtime.spec import RunOptions, from_image


def _opts(*argv: str) -> RunOptions:
    return containers.run_options(parse(containers.RUN, [*argv, "bb", "true"]))


def _spec(opts: RunOptions):
    return from_image("bb", "sha256:" + "0" * 64, {"Cmd": ["true"]}, opts, hostname="h")


def test_default_is_dockers_profile_without_no_new_privs():
    spec = _spec(_opts())
    assert (spec.seccomp, spec.no_new_privs, spec.security_opt) == ("", False, ())


def test_flags_reach_the_spec(tmp_path, capsys):
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}, indent=4))
    opts = _opts("--security-opt", f"seccomp={prof}", "--security-opt", "no-new-privileges",
                 "--security-opt", "apparmor=unconfined")
    assert opts.security_opt == ('seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
                                 "no-new-privileges", "apparmor=unconfined")
    spec = _spec(opts)
    assert spec.seccomp == '{"defaultAction":"SCMP_ACT_ALLOW"}' and spec.no_new_privs
    assert spec.security_opt == opts.security_opt
    assert capsys.readouterr().err.count("sbx: --security-opt apparmor=unconfined") == 1
    # the stored record loads back with its fields
    from sbx.runtime.spec import ContainerSpec

    again = ContainerSpec.from_json(json.loads(spec.dumps()))
    assert again == spec
    old = json.loads(spec.dumps())
    for k in ("seccomp", "no_new_privs", "security_opt"):
        del old[k]
    assert ContainerSpec.from_json(old).seccomp == ""  # an old record: the default profile


def test_unconfined_and_bad_values():
    assert _spec(_opts("--security-opt", "seccomp=unconfined")).seccomp == "unconfined"
    with pytest.raises(InvalidArgument):
        _opts("--security-opt", "no-new-privileges=sometimes")


def test_exec_has_no_security_opt():
    with pytest.raises(InvalidArgument):
        parse(containers.EXEC, ["--security-opt", "seccomp=unconfined", "c", "true"])
