"""The Docker tests' engine: skipped, with the reason and how to enable them, where they
cannot run — no Docker engine answers, or the base image is not here and cannot be built
(no debootstrap, not root). Where debootstrap is present, the first test builds the image,
and a build that breaks fails that test: it is not skipped.

CI sets ``DCHAOS_REQUIRE_DOCKER=1``, which turns each of those skips into a failure, so a
machine that lost its engine or its debootstrap cannot pass CI without the Docker tests.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from typing import NoReturn

import docker
import docker.errors
import pytest

from pytest_dchaos.backends.docker import dockerenv, images
from pytest_dchaos.errors import HarnessError
from tests.docker.second_engine import SecondEngine, unavailable
from tests.docker.second_engine import second_engine as start_second_engine

REQUIRE = "DCHAOS_REQUIRE_DOCKER"


def cannot_run(reason: str) -> NoReturn:
    """Skip the Docker tests with ``reason`` — or fail them, where they are required."""
    if os.environ.get(REQUIRE, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE} is set, but the Docker tests cannot run: {reason}",
                    pytrace=False)
    pytest.skip(f"{reason} (the Docker tests run where they can; set {REQUIRE}=1 to fail "
                "rather than skip)")


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """A Docker engine on which the Docker backend can run."""
    try:
        client = dockerenv.connect()
    except HarnessError as exc:
        cannot_run(f"no Docker engine here: {exc}")
    why = images.base_image_unavailable(client)
    if why is not None:
        cannot_run(why)
    return client


@pytest.fixture
def second_engine(engine: docker.DockerClient) -> Iterator[SecondEngine]:
    """A second, empty Docker engine with an address of its own, as on another machine
    (tests/docker/second_engine.py); gone, with all it held, after the test."""
    why = unavailable()
    if why is not None:
        cannot_run(why)
    with start_second_engine(engine.info()["Driver"]) as started:
        yield started


@pytest.fixture(scope="session")
def swarm(engine: docker.DockerClient) -> Iterator[docker.DockerClient]:
    """This machine's engine as a one-machine swarm's manager: ``docker swarm init`` where it
    is in no swarm, and, after the session, the swarm left and the bridge Swarm made
    (docker_gwbridge) removed, as they were found. An engine already a manager is used as
    it is, and left so."""
    state = engine.info().get("Swarm") or {}
    if state.get("LocalNodeState") == "active":
        if not state.get("ControlAvailable"):
            cannot_run("this Docker engine is a swarm worker; the Swarm tests need a manager")
        yield engine
        return
    had_bridge = bool(engine.networks.list(names=["docker_gwbridge"]))
    engine.swarm.init(advertise_addr="127.0.0.1")
    try:
        yield engine
    finally:
        engine.swarm.leave(force=True)
        if not had_bridge:
            remove_gwbridge(engine)


def remove_gwbridge(engine: docker.DockerClient, patience: float = 15.0) -> None:
    """Remove the bridge Swarm made. Its last endpoint (the ingress sandbox's) can outlive
    ``swarm leave`` for a while; an endpoint the engine lost for good (moby#37018: "has
    active endpoints", none listed) only a daemon restart clears, and that is said."""
    deadline = time.monotonic() + patience
    while True:
        found = engine.networks.list(names=["docker_gwbridge"])
        if not found:
            return
        try:
            found[0].remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if time.monotonic() > deadline:
                warnings.warn(f"docker_gwbridge, made by the Swarm tests' swarm init, could "
                              f"not be removed ({exc.explanation}); a restart of dockerd "
                              "clears it (moby#37018)", stacklevel=1)
                return
            time.sleep(0.5)


@pytest.fixture
def user_images(engine: docker.DockerClient) -> Iterator[list[str]]:
    """Tags of user images a test builds; removed after it."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        with contextlib.suppress(docker.errors.APIError):
            engine.images.remove(tag, force=True)
