"""Where the Docker tests cannot run, they skip with the reason and how to enable them —
unless CI requires them, where they fail."""

from __future__ import annotations

import pytest

from tests.docker.conftest import REQUIRE, cannot_run


def test_they_skip_with_the_reason_where_they_cannot_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        cannot_run("debootstrap is not installed (apt-get install debootstrap)")
    assert "apt-get install debootstrap" in str(skipped.value)
    assert f"set {REQUIRE}=1 to fail rather than skip" in str(skipped.value)


def test_they_fail_where_ci_requires_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE} is set, but the Docker "
                       "tests cannot run: no engine"):
        cannot_run("no engine")
