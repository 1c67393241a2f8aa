"""What the grow-only counter's final phase writes and its checks read, defined once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pytest_dchaos.record.result import RunRecord

FINAL = "final"


@dataclass(frozen=True)
class FinalValues:
    settled_at: float | None  # when every live node first read the same; None: never
    values: Mapping[str, int | None]  # each live node's last read; None: no read succeeded


def final_values(record: RunRecord) -> FinalValues | None:
    found = record.observations.get(FINAL)
    return found if isinstance(found, FinalValues) else None
