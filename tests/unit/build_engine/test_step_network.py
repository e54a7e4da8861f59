"""Which network a RUN step gets: Docker's rules for ``sbx build --network`` and
``RUN --network``, the network.host entitlement, and no NAT where it cannot run."""

from __future__ import annotations

import pytest
from sbx.build.run_step import StepNetwork, step_network
from sbx.errors import BuildError


def net(build: str, flag: str | None, *, allowed: bool = False, missing: str | None = None):  # type: ignore[no-untyped-def]
    asked = []

    def nat_missing() -> str | None:
        asked.append(1)
        return missing

    got = step_network(build, flag, host_allowed=allowed, nat_missing=nat_missing, where="Dockerfile:2")
    return got, bool(asked)


def test_default_is_a_private_namespace_with_the_nat():
    assert net("default", None) == (StepNetwork("private", outbound=True), True)
    assert net("default", "default") == (StepNetwork("private", outbound=True), True)


def test_run_default_takes_the_builds_network():
    assert net("none", "default")[0] == StepNetwork("none")
    assert net("host", "default")[0] == StepNetwork("host")


def test_none_and_host_never_ask_for_the_nat():
    assert net("none", None) == (StepNetwork("none"), False)
    assert net("host", None) == (StepNetwork("host"), False)
    assert net("default", "none") == (StepNetwork("none"), False)


def test_run_network_host_needs_the_entitlement():
    with pytest.raises(BuildError, match="Dockerfile:2: RUN --network=host needs the network.host"):
        net("default", "host")
    assert net("default", "host", allowed=True)[0] == StepNetwork("host")


def test_without_the_nat_a_default_step_has_loopback_only():
    assert net("default", None, missing="no tun")[0] == StepNetwork("private", outbound=False)


def test_the_cli_takes_dockers_values_and_the_entitlement():
    from sbx.cli.build import BUILD, options_from
    from sbx.cli.flags import parse

    def opts(*argv: str):  # type: ignore[no-untyped-def]
        return options_from(parse(BUILD, [*argv, "."]))

    assert opts().network == "default" and not opts().host_network_allowed
    assert opts("--network", "bridge").network == "default"
    assert opts("--network", "host").host_network_allowed
    assert opts("--allow", "network.host").host_network_allowed
    assert opts("--network", "none").network == "none"
    with pytest.raises(BuildError, match="invalid --network value 'nope'"):
        opts("--network", "nope")
    with pytest.raises(BuildError, match="invalid --allow value 'security.insecure'"):
        opts("--allow", "security.insecure")
