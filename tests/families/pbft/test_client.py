"""The PBFT clients' reply log: the view the cluster is in, as the replies show it."""

from __future__ import annotations

from pytest_dchaos.families.pbft.client import ReplyLog


def reply(member: str, view: object, kind: str = "reply") -> tuple[object, ...]:
    return (0.0, "c1", 1, {}, member, kind, view, b"", 1)


def test_the_current_view_needs_f_plus_1_replicas() -> None:
    log = ReplyLog()
    assert log.current_view(2, str) == 0  # no reply yet: every replica starts in view 0
    log.raw += [reply("n1", 0), reply("n2", 0), reply("n4", 3)]  # type: ignore[list-item]
    assert log.current_view(2, str) == 0  # one replica alone (maybe a liar) moves nothing
    log.raw += [reply("n4", 3), reply("n3", 3, "error"), reply("n2", True)]  # type: ignore[list-item]
    assert log.current_view(2, str) == 0  # the same replica twice, an error, a bool
    log.raw.append(reply("n3", 3))  # type: ignore[arg-type]
    assert log.current_view(2, str) == 3
    # A twin speaks as its node: two members with one identity count once.
    log.raw += [reply("n1", 5), reply("n1b", 5)]  # type: ignore[list-item]
    assert log.current_view(2, lambda m: m.rstrip("b")) == 3
