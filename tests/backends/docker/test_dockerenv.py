"""Where the Docker engine is, from DOCKER_HOST: what the backend may assume about files and
ports. (The engine itself is exercised in tests/docker.)"""

from __future__ import annotations

import pytest

from pytest_dchaos.backends.docker.dockerenv import REMOTE_ENV, Engine


@pytest.mark.parametrize("host", ["", "unix:///var/run/docker.sock", "tcp://127.0.0.1:2375",
                                  "tcp://localhost:2376", "npipe:////./pipe/docker_engine"])
def test_a_local_engine_shares_files_and_publishes_on_loopback(host: str) -> None:
    engine = Engine.from_env({"DOCKER_HOST": host} if host else {})
    assert engine == Engine("127.0.0.1", "127.0.0.1", shares_files=True)


@pytest.mark.parametrize(("host", "address"), [("tcp://10.1.2.3:2376", "10.1.2.3"),
                                               ("ssh://ci@build-7.example", "build-7.example")])
def test_a_remote_engine_copies_files_and_is_reached_by_its_name(host: str,
                                                                 address: str) -> None:
    engine = Engine.from_env({"DOCKER_HOST": host})
    assert engine == Engine(address, "0.0.0.0", shares_files=False, on_this_machine=False)


def test_a_local_engine_can_be_treated_as_remote_for_files() -> None:
    engine = Engine.from_env({REMOTE_ENV: "1"})
    assert not engine.shares_files
    assert engine.publish == "127.0.0.1"  # still reached, and published, on loopback
    assert engine.on_this_machine  # its images are its own: nothing to carry
