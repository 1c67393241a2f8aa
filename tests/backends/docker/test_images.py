"""Whether the Docker backend's base image can be had on this machine, told before a run."""

from __future__ import annotations

import docker.errors
import pytest

from pytest_dchaos.backends.docker import images
from pytest_dchaos.errors import HarnessError


class FakeImages:
    def __init__(self, present: bool) -> None:
        self.present = present

    def get(self, tag: str) -> object:
        if not self.present:
            raise docker.errors.ImageNotFound(tag)
        return object()


class FakeClient:
    def __init__(self, present: bool) -> None:
        self.images = FakeImages(present)


def test_no_image_and_no_debootstrap_says_how_to_get_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "_debootstrap", lambda: None)
    why = images.base_image_unavailable(FakeClient(present=False))
    assert why is not None and "apt-get install debootstrap" in why
    with pytest.raises(HarnessError, match="apt-get install debootstrap"):
        images.base_image(FakeClient(present=False), lambda text: None)


def test_without_root_debootstrap_cannot_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "_debootstrap", lambda: "/usr/sbin/debootstrap")
    monkeypatch.setattr(images.os, "geteuid", lambda: 1000)
    why = images.base_image_unavailable(FakeClient(present=False))
    assert why is not None and "needs root" in why


def test_an_image_here_or_one_that_can_be_built_is_available(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "_debootstrap", lambda: None)
    assert images.base_image_unavailable(FakeClient(present=True)) is None
    monkeypatch.setattr(images, "_debootstrap", lambda: "/usr/sbin/debootstrap")
    monkeypatch.setattr(images.os, "geteuid", lambda: 0)
    assert images.base_image_unavailable(FakeClient(present=False)) is None
