"""Metadata instructions as config changes, with Docker's rules."""

from __future__ import annotations

import pytest
from sbx.build import config_steps
from sbx.build.dockerfile import parse
from sbx.errors import BuildError
from sbx.oci.image import Healthcheck, ImageConfig


def apply(lines: str, config: ImageConfig | None = None, *, cmd_set: bool = False) -> ImageConfig:
    config = config or ImageConfig()
    for instr in parse("FROM x\n" + lines).stages[0].instructions:
        config = config_steps.apply(instr.expand(config.env_map), config, cmd_set_here=cmd_set,
                                    where="Dockerfile:2")
    return config


def test_shell_and_exec_forms_use_the_current_shell() -> None:
    assert apply("CMD echo hi").cmd == ("/bin/sh", "-c", "echo hi")
    assert apply('CMD ["a", "b"]').cmd == ("a", "b")
    assert apply('SHELL ["/bin/bash", "-ec"]\nCMD echo hi').cmd == ("/bin/bash", "-ec", "echo hi")


def test_entrypoint_clears_an_inherited_cmd_but_not_one_of_this_stage() -> None:
    base = ImageConfig(cmd=("inherited",))
    assert apply('ENTRYPOINT ["run"]', base).cmd is None
    assert apply('ENTRYPOINT ["run"]', base, cmd_set=True).cmd == ("inherited",)


def test_env_label_expose_volume_user_workdir() -> None:
    cfg = apply('ENV A=1 B="two words"\nENV C=$A-x\nLABEL k=v\nEXPOSE 80 53/UDP 8000-8001\n'
                "VOLUME /data /cache\nUSER app:app\nWORKDIR /srv\nWORKDIR app\n")
    assert cfg.env == ("A=1", "B=two words", "C=1-x")
    assert cfg.label_map == {"k": "v"}
    assert cfg.exposed_ports == ("53/udp", "80/tcp", "8000/tcp", "8001/tcp")
    assert cfg.volumes == ("/cache", "/data") and cfg.user == "app:app"
    assert cfg.working_dir == "/srv/app"


def test_healthcheck_inherits_zero_timings_and_none_disables() -> None:
    base = ImageConfig(healthcheck=Healthcheck(test=("CMD", "old"), interval=7, retries=3))
    cfg = apply("HEALTHCHECK --timeout=2s CMD true", base)
    assert cfg.healthcheck == Healthcheck(test=("CMD-SHELL", "true"), interval=7,
                                          timeout=2_000_000_000, retries=3)
    assert apply("HEALTHCHECK NONE", base).healthcheck == Healthcheck(test=("NONE",))


def test_onbuild_stopsignal_and_bad_ports() -> None:
    cfg = apply("ONBUILD RUN echo hi\nSTOPSIGNAL SIGQUIT\n")
    assert cfg.onbuild == ("RUN echo hi",) and cfg.stop_signal == "SIGQUIT"
    with pytest.raises(BuildError, match="Dockerfile:2: invalid port"):
        apply("EXPOSE 70000")


def test_history_lines_read_like_the_classic_builder() -> None:
    (instr,) = parse('FROM x\nCMD ["a", "b"]\n').stages[0].instructions
    assert config_steps.created_by(instr, ImageConfig()) == '/bin/sh -c #(nop)  CMD ["a", "b"]'
